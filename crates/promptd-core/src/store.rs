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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation for a transient reason.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (e.g. a key alias that already exists).
    #[error("{0}")]
    Conflict(String),
    /// Anything else the database reported; not the caller's fault.
    #[error("database error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends the next version for (prompt, environment), allocating the number atomically:
    /// concurrent appends get consecutive numbers and never collide.
    async fn append_version(&self, new: NewVersion) -> Result<PromptRecord, StoreError>;

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
