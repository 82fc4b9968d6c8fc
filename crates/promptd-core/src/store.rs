//! The persistence boundary. Implementations live in `promptd-store`; this trait names
//! intentions and leaks no driver type.

use crate::ids::{Environment, PromptId, Version};
use crate::ledger::{Event, EventQuery};
use crate::record::{KeyRecord, NewVersion, PromptRecord, TrashedVersion};
use async_trait::async_trait;

/// A change another instance (or tool) made to the shared database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Some version of this prompt was written, trashed, restored or purged: re-read it.
    Prompt(PromptId),
    /// This version was added (and nothing else changed).
    Version {
        prompt_id: PromptId,
        environment: Environment,
        version: Version,
    },
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

/// One append of a batch: the next version of (prompt, environment), built by `derive` from
/// the base read in the same transaction (`base`: `None` = no base needed, `Some(None)` = the
/// latest of the environment, `Some(Some(v))` = version v).
pub struct Append {
    pub prompt_id: PromptId,
    pub environment: Environment,
    pub base: Option<Option<Version>>,
    /// Compare-and-swap: an `If-Match` header the environment's latest version must satisfy
    /// (checked after the number is taken); otherwise the append is rejected with
    /// [`crate::ledger::PreconditionFailed`] and nothing is written.
    pub if_match: Option<String>,
    pub derive: Derive,
}

impl Append {
    /// A plain append of `new` (no base read).
    pub fn plain(new: NewVersion) -> Append {
        Append {
            prompt_id: new.prompt_id.clone(),
            environment: new.environment.clone(),
            base: None,
            if_match: None,
            derive: Box::new(move |_| Ok(new)),
        }
    }
}

/// Which versions of one prompt an operation touches: all, one environment, or one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub prompt_id: PromptId,
    pub environment: Option<Environment>,
    /// Needs `environment`.
    pub version: Option<Version>,
}

impl Selection {
    pub fn covers(&self, env: &Environment, version: Version) -> bool {
        self.environment.as_ref().is_none_or(|e| e == env)
            && self.version.is_none_or(|v| v == version)
    }
}

/// A check run inside a transaction on the prompt's live versions, after the environments
/// concerned are locked (compare-and-swap): an error stops the operation, nothing is written,
/// and the error comes back as [`StoreError::Rejected`].
pub type Check =
    Box<dyn FnOnce(&[PromptRecord]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send>;

/// One change of an atomic batch ([`Store::apply_batch`]).
pub enum BatchOp {
    /// The next version of (prompt, environment), as [`Append`] (base, `If-Match`, derive).
    /// With `skip_unchanged`, nothing is written when the derived `litellm_params` hash the
    /// same as the environment's latest live version (the outcome is then
    /// [`BatchOutcome::Unchanged`]).
    Append {
        append: Append,
        skip_unchanged: bool,
    },
    /// Every live version of (prompt, environment) to the trash, with one `delete` event each.
    /// `if_match` is checked against the environment's latest live version.
    Trash {
        prompt_id: PromptId,
        environment: Environment,
        if_match: Option<String>,
        act: Act,
    },
}

/// What one [`BatchOp`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// A new version was written.
    Created(PromptRecord),
    /// Nothing was written: the content equals the environment's latest, which is this.
    Unchanged(PromptRecord),
    /// These versions went to the trash (possibly none, if the environment had none left).
    Trashed(Vec<PromptRecord>),
}

/// Why an atomic batch wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// These operations (by index in the batch) were refused: a failed `If-Match`
    /// ([`crate::ledger::PreconditionFailed`]) or the caller's own `derive` error. Every
    /// operation was tried, so every refusal is listed; the transaction was rolled back.
    #[error("{} operation(s) of the batch were refused; nothing was written", .0.len())]
    Refused(Vec<(usize, BoxError)>),
    /// The database failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who does a ledger-recorded operation, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Act {
    /// As shown to people (key alias or abbreviation, `master key`).
    pub actor: Option<String>,
    pub message: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends versions, each the next of its (prompt, environment), in ONE transaction with one
    /// ledger event each (group commit: one durable commit for many writes). Each append's
    /// number is allocated atomically: concurrent appends get consecutive numbers and never
    /// collide. An append whose `derive` fails is left out (its result is
    /// [`StoreError::Rejected`]) and the others are still written; a database error fails every
    /// append of the batch that was not yet committed (the caller may retry them one by one).
    /// Results come back in the order of `batch`.
    async fn append_batch(&self, batch: Vec<Append>) -> Vec<Result<PromptRecord, StoreError>>;

    /// Applies every operation of `ops` in ONE transaction, all or nothing: if any operation is
    /// refused (its `If-Match` fails or its `derive` errs), the rest are still tried so that
    /// every refusal is reported by index, and then the whole transaction is rolled back.
    /// Each written version gets its own number and event, in the order of `ops`.
    async fn apply_batch(&self, ops: Vec<BatchOp>) -> Result<Vec<BatchOutcome>, BatchError>;

    /// Appends the next version for (prompt, environment): a batch of one.
    async fn append_version(&self, new: NewVersion) -> Result<PromptRecord, StoreError> {
        one(self.append_batch(vec![Append::plain(new)]).await)
    }

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
    ) -> Result<PromptRecord, StoreError> {
        one(self
            .append_batch(vec![Append {
                prompt_id: prompt_id.clone(),
                environment: environment.clone(),
                base: Some(base_version),
                if_match: None,
                derive,
            }])
            .await)
    }

    /// One live version (`None` when it does not exist or is in the trash).
    async fn version(
        &self,
        prompt_id: &PromptId,
        environment: &Environment,
        version: Version,
    ) -> Result<Option<PromptRecord>, StoreError>;

    /// Every live version of one prompt, in all environments.
    async fn prompt_versions(&self, prompt_id: &PromptId) -> Result<Vec<PromptRecord>, StoreError>;

    /// Every live version of every prompt (used to build the in-memory index at startup).
    async fn all_versions(&self) -> Result<Vec<PromptRecord>, StoreError>;

    /// Moves the live versions `sel` names to the trash, with one `delete` event each, after
    /// `check` (if any) accepted the prompt's live versions. Returns what was moved (possibly
    /// nothing). Numbers stay taken while a version is in the trash.
    async fn trash_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError>;

    /// Brings the trashed versions `sel` names back with their numbers, with one `restore` event
    /// each. Returns what came back (possibly nothing).
    async fn restore_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError>;

    /// Destroys the versions `sel` names, live and trashed, with one `purge` event each; an
    /// environment left without any version (live or trashed) forgets its numbering. Returns
    /// (environment, version) of each destroyed version.
    async fn purge_versions(
        &self,
        sel: &Selection,
        act: &Act,
    ) -> Result<Vec<(Environment, Version)>, StoreError>;

    /// Destroys every trashed version deleted before `cutoff_ms` (the trash's retention), with
    /// one `purge` event each. Returns the prompts it touched.
    async fn purge_trashed_before(&self, cutoff_ms: i64) -> Result<Vec<PromptId>, StoreError>;

    /// The trash: every trashed version (of one prompt, or of all), newest deletion first.
    async fn trash(&self, prompt_id: Option<&PromptId>) -> Result<Vec<TrashedVersion>, StoreError>;

    /// Ledger events, as the query asks.
    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError>;

    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Deletes keys by token; returns the tokens that existed.
    async fn delete_keys(&self, tokens: &[String]) -> Result<Vec<String>, StoreError>;

    /// Copies a version from another system, keeping its number, row id, author and times, with
    /// an `import` event. Returns `false` when that (prompt, environment, version) or row id
    /// already exists (live or trashed).
    async fn import_version(&self, rec: &PromptRecord) -> Result<bool, StoreError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The single result of a batch of one.
fn one(mut results: Vec<Result<PromptRecord, StoreError>>) -> Result<PromptRecord, StoreError> {
    results
        .pop()
        .unwrap_or_else(|| Err(StoreError::internal("a batch of one gave no result", None)))
}
