//! SQLite and PostgreSQL implementations of [`promptd_core::Store`] on sqlx's `Any` driver:
//! one set of portable queries, per-backend migrations embedded in the binary.
//!
//! **Architecture invariant:** version numbers are allocated inside one transaction that
//! increments a counter row (`prompt_counters`) and inserts the version, so concurrent writers
//! (threads or whole instances) get consecutive numbers and a failed write leaves no row.

mod backend;
pub mod backup;
mod bounded;
pub mod import;
pub mod listen;
mod migrate;
mod outbox;
mod queries;
mod sql;
mod writes;

pub use backend::{Backend, UnsupportedUrl, redact_url};
pub use bounded::Bounded;
pub use migrate::{SchemaStatus, schema_status};
pub use sql::{SqlStore, StoreOptions};
