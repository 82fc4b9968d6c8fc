//! promptd's domain: what a prompt, a version, an environment and a caller are, how reads
//! resolve to one version, and the `Store` trait that persistence adapters implement.
//!
//! **Architecture invariant:** this crate performs no IO and knows nothing about HTTP, SQL or
//! async runtimes (the `Store` trait is declared here but implemented elsewhere).

pub mod ids;
pub mod index;
pub mod ledger;
pub mod principal;
pub mod record;
pub mod store;
pub mod time_fmt;
pub mod webhook;

pub use ids::{Environment, IdError, PromptId, PromptRef, Version, split_version_suffix};
pub use index::{Entry, Index, Resolved};
pub use ledger::{
    Event, EventQuery, Kind, NewEvent, PreconditionFailed, Provenance, content_sha256,
    content_sha256_of, etag, if_match_allows,
};
pub use principal::{
    Auditor, Denied, KeyAdmin, KeyViewer, Operator, Principal, PromptAdmin, Reach, Reader, Role,
    Writer,
};
pub use record::{JsonObject, KeyRecord, NewVersion, PromptRecord, PromptSource, TrashedVersion};
pub use store::{
    Act, Append, BatchError, BatchOp, BatchOutcome, BoxError, Change, Check, Derive, Selection,
    Store, StoreError, error_chain,
};
pub use webhook::{AttemptResult, Due, Message, Next, Webhook, WebhookStore};
