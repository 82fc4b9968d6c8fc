//! promptd's web UI, served at `/ui` by `promptd serve`: server-rendered pages (minijinja, HTML
//! auto-escaping on), a small hand-written JavaScript layer over the JSON API, and the session
//! store behind sign-in.
//!
//! **Architecture invariant:** this crate knows no HTTP framework. A page is a function from
//! (who asks, the in-memory index, the query) to an HTML string; promptd-server's `/ui` routes
//! extract the request, call these, and send the answer. Every permission is decided by the same
//! `Principal` capabilities the JSON API uses.

pub mod assets;
pub mod highlight;
pub mod pages;
pub mod session;
pub mod templates;

pub use pages::{ListParams, PageError, Site, Viewer};
pub use session::{Credential, SessionLimits, Sessions};
