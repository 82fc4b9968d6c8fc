//! promptd's domain: what a prompt, a version, an environment and a caller are, how reads
//! resolve to one version, and the `Store` trait that persistence adapters implement.
//!
//! **Architecture invariant:** this crate performs no IO and knows nothing about HTTP, SQL or
//! async runtimes (the `Store` trait is declared here but implemented elsewhere).

pub mod ids;
pub mod index;
pub mod principal;
pub mod record;
pub mod store;
pub mod time_fmt;

pub use ids::{Environment, IdError, PromptId, PromptRef, Version, split_version_suffix};
pub use index::{Entry, Index, Resolved};
pub use principal::{
    Denied, KeyAdmin, KeyViewer, Operator, Principal, PromptAdmin, Reach, Reader, Role, Writer,
};
pub use record::{JsonObject, KeyRecord, NewVersion, PromptRecord, PromptSource};
pub use store::{BoxError, Change, Derive, Store, StoreError, error_chain};
