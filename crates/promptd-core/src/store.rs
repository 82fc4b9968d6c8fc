//! The persistence boundary. Implementations live in `promptd-store`; this trait names
//! intentions and leaks no driver type.

use crate::ids::{Environment, PromptId, Version};
use crate::record::{KeyRecord, NewVersion, PromptRecord};
use async_trait::async_trait;

/// A change another instance (or tool) made to the shared database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Some version of this prompt was written or deleted.
    Prompt(PromptId),
    /// Some key was created or deleted.
    Keys,
    /// Changes may have been missed (e.g. the notification connection dropped): reload all.
    Resync,
}

/// Any error, boxed, as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation for a transient reason.
    /// `context` says what promptd was doing; `source` is the driver's error, when there is one.
    #[error("the database is unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A uniqueness rule was broken (e.g. a key alias that already exists).
    #[error("{0}")]
    Conflict(String),
    /// Anything else the database reported; not the caller's fault.
    #[error("database error: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The caller's [`Derive`] refused to build a version from the base it was given; nothing
    /// was written. The boxed error is the caller's own, handed back unchanged.
    #[error("{0}")]
    Rejected(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(context: impl Into<String>, source: Option<BoxError>) -> StoreError {
        StoreError::Unavailable {
            context: context.into(),
            source,
        }
    }

    pub fn internal(context: impl Into<String>, source: Option<BoxError>) -> StoreError {
        StoreError::Internal {
            context: context.into(),
            source,
        }
    }
}

/// An error and every source under it, as one line (`a: b: c`), for logs and answers that must
/// show the cause.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// Builds a new version from the base version read inside the writing transaction (`None`
/// when there is none). Used by every read-modify-write (PATCH, PUT restoring secrets, and
/// later promote, rollback, restore), so a concurrent write can never be silently reverted by
/// a writer that read its base before the other one committed.
pub type Derive = Box<
    dyn FnOnce(
            Option<&PromptRecord>,
        ) -> Result<NewVersion, Box<dyn std::error::Error + Send + Sync>>
        + Send,
>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends the next version for (prompt, environment), allocating the number atomically:
    /// concurrent appends get consecutive numbers and never collide.
    async fn append_version(&self, new: NewVersion) -> Result<PromptRecord, StoreError>;

    /// Appends the next version for (prompt, environment) built by `derive` from the base it
    /// reads in the same transaction, after the version number (and with it the right to
    /// write this environment) was taken: `base_version` names the base, `None` = the latest of
    /// the environment. If `derive` fails nothing is written and its error comes back as
    /// [`StoreError::Rejected`]. The version `derive` returns must be for the same prompt and
    /// environment.
    async fn append_derived(
        &self,
        prompt_id: &PromptId,
        environment: &Environment,
        base_version: Option<Version>,
        derive: Derive,
    ) -> Result<PromptRecord, StoreError>;

    /// Every stored version of one prompt, in all environments.
    async fn prompt_versions(&self, prompt_id: &PromptId) -> Result<Vec<PromptRecord>, StoreError>;

    /// Every stored version of every prompt (used to build the in-memory index at startup).
    async fn all_versions(&self) -> Result<Vec<PromptRecord>, StoreError>;

    /// Deletes versions of a prompt: one version, one environment, or everything. Returns how
    /// many rows went. Deleting every version of an environment also resets its numbering.
    async fn delete_versions(
        &self,
        prompt_id: &PromptId,
        environment: Option<&Environment>,
        version: Option<Version>,
    ) -> Result<u64, StoreError>;

    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Deletes keys by token; returns the tokens that existed.
    async fn delete_keys(&self, tokens: &[String]) -> Result<Vec<String>, StoreError>;

    /// Copies a version from another system, keeping its number, row id, author and times.
    /// Returns `false` when that (prompt, environment, version) or row id already exists.
    async fn import_version(&self, rec: &PromptRecord) -> Result<bool, StoreError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}
