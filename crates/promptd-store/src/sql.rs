//! The `Store` implementation shared by both backends.

use std::time::Duration;

use async_trait::async_trait;
use promptd_core::ledger::RETENTION_ACTOR;
use promptd_core::{
    Act, Append, BatchError, BatchOp, BatchOutcome, Check, Environment, Event, EventQuery,
    JsonObject, KeyRecord, Kind, PromptId, PromptRecord, PromptSource, Provenance, Role, Selection,
    Store, StoreError, TrashedVersion, Version, content_sha256,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::backend::{Backend, redact_url};
use crate::migrate::{SchemaStatus, migrator, schema_status};
use crate::queries as q;
use crate::writes;

/// Pool settings; the defaults suit one promptd instance.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL pool size (SQLite always uses one connection: it has one writer anyway).
    pub max_connections: u32,
    /// How long a request waits for a connection (including opening one) before failing with
    /// "unavailable".
    pub acquire_timeout: Duration,
    /// How long one store operation may take once it has its connection; `None` = unbounded
    /// (migrations). On PostgreSQL it is also the server's `lock_timeout` and
    /// `idle_in_transaction_session_timeout`, so a stalled instance cannot hold row locks.
    pub statement_timeout: Option<Duration>,
    /// How long opening the change listener's connection (and its LISTEN) may take.
    pub connect_timeout: Duration,
    /// How often the change listener checks a quiet connection with a ping (PostgreSQL).
    pub keepalive_interval: Duration,
    /// How long loading every prompt or key may take (startup, resynchronisation).
    pub load_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(10),
            load_timeout: Duration::from_secs(60),
        }
    }
}

impl StoreOptions {
    /// How long an idle pooled connection may take to answer the ping that precedes its reuse:
    /// a quarter of the acquire timeout (50 ms to 2 s), so a silently dead connection is
    /// replaced within the same acquire.
    pub fn idle_ping_timeout(&self) -> Duration {
        (self.acquire_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(2))
    }
}

/// Runs a ping with a time limit; a ping that does not answer in time is an I/O time-out, so
/// sqlx closes the connection without trying to talk to it again.
async fn ping_within(conn: &mut sqlx::AnyConnection, limit: Duration) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    match tokio::time::timeout(limit, conn.ping()).await {
        Ok(r) => r,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the database did not answer a ping within {} ms",
                limit.as_millis()
            ),
        ))),
    }
}

/// Per-session settings for PostgreSQL: a stalled client cannot hold locks for long, and the
/// server notices a vanished client by TCP keepalive.
fn postgres_session_sql(opts: &StoreOptions) -> Option<String> {
    let ms = opts.statement_timeout?.as_millis().max(1);
    let keepalive = opts.keepalive_interval.as_secs().max(1);
    Some(format!(
        "SET lock_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}; \
         SET tcp_keepalives_idle = {keepalive}; SET tcp_keepalives_interval = {keepalive}; \
         SET tcp_keepalives_count = 3;"
    ))
}

/// A [`Store`] on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Connects without touching the schema. For SQLite the file is created if missing.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)
            .map_err(|e| StoreError::internal("the database URL", Some(Box::new(e))))?;
        let pool = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(opts.acquire_timeout)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL for concurrent readers, FULL sync so an acknowledged write
                            // survives a power cut, and a busy timeout for external tools.
                            sqlx::raw_sql(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                 PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
                            )
                            .execute(conn)
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
            }
            Backend::Postgres => {
                let session = postgres_session_sql(opts);
                let idle_ping = opts.idle_ping_timeout();
                let release_ping = opts.statement_timeout.unwrap_or(opts.acquire_timeout);
                AnyPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    // sqlx's own pre-use ping has no limit but the whole acquire: a silently
                    // dead idle connection would use it all up. This one gives up early, and
                    // the acquire opens a fresh connection instead.
                    .test_before_acquire(false)
                    .before_acquire(move |conn, _| {
                        Box::pin(async move { ping_within(conn, idle_ping).await.map(|()| true) })
                    })
                    // A connection comes back here also when an operation was abandoned at its
                    // time limit, possibly mid-statement: sqlx then pings it without a limit,
                    // which on a stalled network holds the pool slot forever. Ping it with a
                    // limit first; a connection that does not answer is closed, not reused.
                    .after_release(move |conn, _| {
                        Box::pin(
                            async move { ping_within(conn, release_ping).await.map(|()| true) },
                        )
                    })
                    .after_connect(move |conn, _| {
                        let session = session.clone();
                        Box::pin(async move {
                            if let Some(sql) = session {
                                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                                    .execute(conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
            }
        }
        .map_err(|e| {
            StoreError::unavailable(
                format!("cannot open {}", redact_url(url)),
                Some(Box::new(e)),
            )
        })?;
        Ok(SqlStore { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies every embedded migration that is not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.backend)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::internal("migration failed", Some(Box::new(e))))
    }

    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        schema_status(&self.pool, self.backend)
            .await
            .map_err(|e| StoreError::internal("cannot read the schema version", Some(e.into())))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://file.db` → `sqlite://file.db?mode=rwc` so a missing file is created.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => {
            StoreError::unavailable("the database connection failed", Some(Box::new(e)))
        }
        // Connection exceptions (08), too many connections (53), shutdowns and terminated
        // sessions (57), and "database not accepting connections" (55000): the database is
        // not reachable right now, which is not the caller's fault and may pass.
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("53") || c.starts_with("57") || c == "55000"
            }) =>
        {
            StoreError::unavailable("the database refused the operation", Some(Box::new(e)))
        }
        // Transaction rollbacks (40: a deadlock or a serialization failure) write nothing and
        // succeed when retried: the database is busy, not broken.
        sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("40")) => {
            StoreError::unavailable(
                "the database rolled the transaction back (a deadlock with another writer); nothing was written, retry",
                Some(Box::new(e)),
            )
        }
        _ => StoreError::internal("the query failed", Some(Box::new(e))),
    }
}

fn json_text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".to_owned())
}

pub(crate) fn prompt_row(row: &AnyRow) -> Result<PromptRecord, sqlx::Error> {
    let version: i64 = row.try_get("version")?;
    let litellm_params: String = row.try_get("litellm_params")?;
    let prompt_info: String = row.try_get("prompt_info")?;
    let hash: Option<String> = row.try_get("content_sha256")?;
    let origin: String = row.try_get("origin")?;
    Ok(PromptRecord {
        id: row.try_get("id")?,
        prompt_id: PromptId::from_trusted(row.try_get::<String, _>("prompt_id")?),
        version: u32::try_from(version).unwrap_or(u32::MAX),
        environment: Environment::from_trusted(row.try_get::<String, _>("environment")?),
        created_by: row.try_get("created_by")?,
        prompt_info: JsonObject::from_stored(&prompt_info),
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        source: PromptSource::Db,
        provenance: Provenance {
            origin: Kind::parse(&origin),
            source: row.try_get("origin_source")?,
            message: row.try_get("message")?,
            actor: row.try_get("actor")?,
        },
        // Rows written before the ledger have no stored hash: compute it.
        content_sha256: hash.unwrap_or_else(|| content_sha256(&litellm_params)),
        litellm_params: JsonObject::from_stored(&litellm_params),
    })
}

fn event_row(row: &AnyRow) -> Result<Event, sqlx::Error> {
    let env: Option<String> = row.try_get("environment")?;
    let version: Option<i64> = row.try_get("version")?;
    let kind: String = row.try_get("kind")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        prompt_id: PromptId::from_trusted(row.try_get::<String, _>("prompt_id")?),
        environment: env.map(Environment::from_trusted),
        version: version.and_then(|v| u32::try_from(v).ok()),
        kind: Kind::parse(&kind),
        source: row.try_get("source")?,
        message: row.try_get("message")?,
        actor: row.try_get("actor")?,
        content_sha256: row.try_get("content_sha256")?,
        at: row.try_get("created_at")?,
    })
}

fn key_row(row: &AnyRow) -> Result<KeyRecord, sqlx::Error> {
    let role: String = row.try_get("user_role")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(KeyRecord {
        token: row.try_get("token")?,
        key_name: row.try_get("key_name")?,
        key_alias: row.try_get("key_alias")?,
        user_id: row.try_get("user_id")?,
        user_role: Role::parse(&role).unwrap_or(Role::InternalUser),
        metadata: JsonObject::from_stored(&metadata).to_map(),
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

#[async_trait]
impl Store for SqlStore {
    async fn append_batch(&self, batch: Vec<Append>) -> Vec<Result<PromptRecord, StoreError>> {
        let n = batch.len();
        let run = async {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            let results = writes::append_batch(&mut tx, batch).await?;
            tx.commit().await.map_err(map_err)?;
            Ok::<_, StoreError>(results)
        };
        match run.await {
            Ok(results) => results,
            // Nothing was committed: every append of the batch failed with this error.
            Err(e) => {
                let text = promptd_core::error_chain(&e);
                let mut out = Vec::with_capacity(n);
                out.push(Err(e));
                out.extend((1..n).map(|_| {
                    Err(StoreError::unavailable(
                        format!("the batch this write was committed with failed: {text}"),
                        None,
                    ))
                }));
                out
            }
        }
    }

    async fn version(
        &self,
        prompt_id: &PromptId,
        environment: &Environment,
        version: Version,
    ) -> Result<Option<PromptRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::one_version(&mut conn, prompt_id, environment, version).await
    }

    async fn apply_batch(&self, ops: Vec<BatchOp>) -> Result<Vec<BatchOutcome>, BatchError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        match writes::apply_batch(&mut tx, ops).await? {
            Ok(outcomes) => {
                tx.commit().await.map_err(map_err)?;
                Ok(outcomes)
            }
            Err(refused) => {
                tx.rollback().await.map_err(map_err)?;
                Err(BatchError::Refused(refused))
            }
        }
    }

    async fn prompt_versions(&self, prompt_id: &PromptId) -> Result<Vec<PromptRecord>, StoreError> {
        let rows = sqlx::query(q::SELECT_PROMPT)
            .bind(prompt_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(prompt_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn all_versions(&self) -> Result<Vec<PromptRecord>, StoreError> {
        // Streamed and converted row by row: at 100,000 versions, holding every raw row and
        // every record at once would double the peak memory of startup.
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query(q::SELECT_ALL).fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            out.push(prompt_row(&row).map_err(map_err)?);
        }
        Ok(out)
    }

    async fn trash_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = writes::trash(&mut tx, sel, act, check).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn restore_versions(
        &self,
        sel: &Selection,
        act: &Act,
        check: Option<Check>,
    ) -> Result<Vec<PromptRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = writes::restore(&mut tx, sel, act, check).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn purge_versions(
        &self,
        sel: &Selection,
        act: &Act,
    ) -> Result<Vec<(Environment, Version)>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = writes::purge(&mut tx, sel, act).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn purge_trashed_before(&self, cutoff_ms: i64) -> Result<Vec<PromptId>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let out = writes::purge_trashed_before(&mut tx, cutoff_ms, RETENTION_ACTOR).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn trash(&self, prompt_id: Option<&PromptId>) -> Result<Vec<TrashedVersion>, StoreError> {
        let order = " ORDER BY deleted_at DESC, prompt_id, environment, version DESC";
        let rows = match prompt_id {
            Some(id) => {
                sqlx::query(AssertSqlSafe(format!(
                    "{} AND prompt_id = $1{order}",
                    q::SELECT_TRASH
                )))
                .bind(id.as_str().to_owned())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(AssertSqlSafe(format!("{}{order}", q::SELECT_TRASH)))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                Ok(TrashedVersion {
                    record: prompt_row(row)?,
                    deleted_at: row.try_get("deleted_at")?,
                    deleted_by: row.try_get("deleted_by")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let mut sql = format!("SELECT {} FROM prompt_events WHERE 1 = 1", q::EVENT_COLS);
        let mut n = 0;
        let mut param = || {
            n += 1;
            n
        };
        if query.prompt_id.is_some() {
            sql.push_str(&format!(" AND prompt_id = ${}", param()));
        }
        if query.before.is_some() {
            sql.push_str(&format!(" AND seq < ${}", param()));
        }
        if query.after.is_some() {
            sql.push_str(&format!(" AND seq > ${}", param()));
        }
        sql.push_str(if query.newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq"
        });
        sql.push_str(&format!(" LIMIT {}", query.limit));
        let mut qy = sqlx::query(AssertSqlSafe(sql));
        if let Some(id) = &query.prompt_id {
            qy = qy.bind(id.as_str().to_owned());
        }
        if let Some(b) = query.before {
            qy = qy.bind(b);
        }
        if let Some(a) = query.after {
            qy = qy.bind(a);
        }
        let rows = qy.fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter()
            .map(event_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(q::INSERT_KEY)
            .bind(&key.token)
            .bind(&key.key_name)
            .bind(key.key_alias.clone())
            .bind(key.user_id.clone())
            .bind(key.user_role.as_str())
            .bind(json_text(&key.metadata))
            .bind(key.expires_at)
            .bind(key.created_at)
            .bind(key.created_by.clone())
            .execute(&self.pool)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "a key with alias '{}' already exists; choose another key_alias",
                    key.key_alias.as_deref().unwrap_or("")
                )),
                other => other,
            })?;
        Ok(())
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(q::SELECT_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(key_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn delete_keys(&self, tokens: &[String]) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut gone = Vec::new();
        for t in tokens {
            let row: Option<String> = sqlx::query_scalar(q::DELETE_KEY)
                .bind(t)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            gone.extend(row);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(gone)
    }

    async fn import_version(&self, rec: &PromptRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = writes::import(&mut tx, rec).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(q::PING)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
