//! A [`Store`] whose every operation answers within a known time, whatever the network does.
//!
//! A database behind a network that silently drops packets never answers and never fails: a
//! write would wait as long as the stall. [`Bounded`] gives each operation a deadline of
//! `acquire_timeout + statement_timeout` (bulk loads: `acquire_timeout + load_timeout`) and
//! reports `Unavailable` when it passes. The abandoned connection is not reused: the pool pings
//! it with a limit on release and closes it if it does not answer (see `SqlStore::connect`).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use promptd_core::{
    Act, Append, BatchError, BatchOp, BatchOutcome, Check, Environment, Event, EventQuery,
    KeyRecord, PromptId, PromptRecord, Selection, Store, StoreError, TrashedVersion, Version,
};

use crate::sql::StoreOptions;

/// `S` with a time limit on every operation.
#[derive(Debug, Clone)]
pub struct Bounded<S> {
    inner: S,
    /// Limit for one operation (a write, a read of one prompt, a ping).
    op_limit: Duration,
    /// Limit for loading everything (all versions, all keys).
    load_limit: Duration,
}

impl<S: Store> Bounded<S> {
    /// Limits from the store options; without a statement timeout the operations only wait
    /// for the acquire timeout twice.
    pub fn new(inner: S, opts: &StoreOptions) -> Bounded<S> {
        Bounded {
            inner,
            op_limit: opts.acquire_timeout + opts.statement_timeout.unwrap_or(opts.acquire_timeout),
            load_limit: opts.acquire_timeout + opts.load_timeout,
        }
    }

    /// The most a write (or any single operation) waits before failing.
    pub fn op_limit(&self) -> Duration {
        self.op_limit
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Runs `op` within the limit of one operation.
    pub(crate) async fn limit<T>(
        &self,
        what: &str,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        within(self.op_limit, what, op).await
    }
}

async fn within<T>(
    limit: Duration,
    what: &str,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, op).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::unavailable(
            format!(
                "no answer from the database within {} ms while {what} (database_acquire_timeout_ms + \
             database_statement_timeout_ms); the network to the database or the database itself is stalled",
                limit.as_millis()
            ),
            None,
        )),
    }
}

#[async_trait]
impl<S: Store> Store for Bounded<S> {
    async fn append_batch(&self, batch: Vec<Append>) -> Vec<Result<PromptRecord, StoreError>> {
        let n = batch.len();
        match within(self.op_limit, "writing versions", async {
            Ok(self.inner.append_batch(batch).await)
        })
        .await
        {
            Ok(results) => results,
            Err(e) => {
                let text = e.to_string();
                (0..n)
                    .map(|_| Err(StoreError::unavailable(text.clone(), None)))
                    .collect()
            }
        }
    }

    async fn version(
        &self,
        prompt_id: &PromptId,
        environment: &Environment,
        version: Version,
    ) -> Result<Option<PromptRecord>, StoreError> {
        within(
            self.op_limit,
            "reading a version",
            self.inner.version(prompt_id, environment, version),
        )
        .await
    }

    async fn apply_batch(&self, ops: Vec<BatchOp>) -> Result<Vec<BatchOutcome>, BatchError> {
        // A batch may hold thousands of writes: it gets the bulk limit, like loading everything.
        match tokio::time::timeout(self.load_limit, self.inner.apply_batch(ops)).await {
            Ok(r) => r,
            Err(_) => Err(BatchError::Store(StoreError::unavailable(
                format!(
                    "no answer from the database within {} ms while applying a batch \
                     (database_acquire_timeout_ms + database_load_timeout_ms); nothing was written \
                     unless the commit itself was cut off: read the prompts before retrying",
                    self.load_limit.as_millis()
                ),
                None,
            ))),
        }
    }

    async fn prompt_versions(&self, prompt_id: &PromptId) -> Result<Vec<PromptRecord>, StoreError> {
        within(
            self.op_limit,
            "reading a prompt",
            self.inner.prompt_versions(prompt_id),
        )
        .await
    }

    async fn all_versions(&self) -> Result<Vec<PromptRecord>, StoreError> {
        within(
            self.load_limit,
            "loading every prompt",
            self.inner.all_versions(),
        )
        .await
    }

    async fn trash_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError> {
        within(
            self.op_limit,
            "moving versions to the trash",
            self.inner.trash_versions(sel, act, check),
        )
        .await
    }

    async fn restore_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError> {
        within(
            self.op_limit,
            "restoring versions",
            self.inner.restore_versions(sel, act, check),
        )
        .await
    }

    async fn purge_versions(
        &self,
        sel: &Selection,
        act: &Act,
    ) -> Result<Vec<(Environment, Version)>, StoreError> {
        within(
            self.op_limit,
            "purging versions",
            self.inner.purge_versions(sel, act),
        )
        .await
    }

    async fn purge_trashed_before(&self, cutoff_ms: i64) -> Result<Vec<PromptId>, StoreError> {
        within(
            self.load_limit,
            "emptying the trash",
            self.inner.purge_trashed_before(cutoff_ms),
        )
        .await
    }

    async fn trash(&self, prompt_id: Option<&PromptId>) -> Result<Vec<TrashedVersion>, StoreError> {
        within(
            self.op_limit,
            "reading the trash",
            self.inner.trash(prompt_id),
        )
        .await
    }

    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        within(
            self.op_limit,
            "reading the history",
            self.inner.events(query),
        )
        .await
    }

    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        within(self.op_limit, "saving a key", self.inner.insert_key(key)).await
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        within(self.load_limit, "loading every key", self.inner.all_keys()).await
    }

    async fn delete_keys(&self, tokens: &[String]) -> Result<Vec<String>, StoreError> {
        within(
            self.op_limit,
            "deleting keys",
            self.inner.delete_keys(tokens),
        )
        .await
    }

    async fn import_version(&self, rec: &PromptRecord) -> Result<bool, StoreError> {
        within(
            self.op_limit,
            "importing a version",
            self.inner.import_version(rec),
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        within(self.op_limit, "checking the database", self.inner.ping()).await
    }
}
