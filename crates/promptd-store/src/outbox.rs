//! Webhooks and their durable outbox: [`fill`] queues the messages of new ledger events inside
//! the writing transaction; [`WebhookStore`] registers endpoints, leases due messages to
//! delivery workers and records attempts.
//!
//! **Exactly one worker per message at a time:** a lease is taken by one `UPDATE … RETURNING`
//! that only picks messages whose lease is absent or expired; on PostgreSQL the rows are chosen
//! with `FOR UPDATE SKIP LOCKED`, so instances polling at the same moment split the work
//! instead of queueing on each other's row locks (SQLite has a single writer). A worker that
//! dies mid-attempt (kill -9) leaves its lease to expire, after which another worker retries the
//! message: delivery is at-least-once.

use async_trait::async_trait;
use promptd_core::{
    AttemptResult, Due, Message, Next, PromptId, StoreError, Webhook, WebhookStore,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::backend::Backend;
use crate::bounded::Bounded;
use crate::sql::{SqlStore, map_err};

/// Queues one message per (event `first..=last`, enabled endpoint that wants it). Runs inside
/// the transaction that inserted the events.
const FILL: &str = "INSERT INTO webhook_outbox \
     (webhook_id, event_seq, event_type, state, attempts, created_at, next_attempt_at) \
     SELECT w.id, e.seq, 'prompt.' || e.kind, 'pending', 0, $3, $3 \
     FROM prompt_events e, webhooks w \
     WHERE e.seq >= $1 AND e.seq <= $2 AND w.disabled_at IS NULL \
       AND w.event_types LIKE ('%,prompt.' || e.kind || ',%') \
       AND (w.prompt_filter = 0 OR EXISTS (SELECT 1 FROM webhook_prompts p \
            WHERE p.webhook_id = w.id AND p.prompt_id = e.prompt_id)) \
     ORDER BY e.seq, w.id";

pub(crate) async fn fill(
    tx: &mut AnyConnection,
    first: i64,
    last: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(FILL)
        .bind(first)
        .bind(last)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

const HOOK_COLS: &str = "id, url, event_types, prompt_filter, description, created_at, created_by, \
     disabled_at, disabled_reason, failing_since";

const INSERT_HOOK: &str = "INSERT INTO webhooks (id, url, secret, event_types, prompt_filter, \
     description, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const INSERT_HOOK_PROMPT: &str =
    "INSERT INTO webhook_prompts (webhook_id, prompt_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const SELECT_HOOK_PROMPTS: &str =
    "SELECT webhook_id, prompt_id FROM webhook_prompts ORDER BY webhook_id, prompt_id";

/// The due messages a lease may take (`$3` now, `$5` attempts in flight per endpoint at most):
/// messages of enabled endpoints, numbered per endpoint so that an endpoint that hangs can hold
/// at most `$5` leases at once (across every instance) and never the whole worker.
const CANDIDATES: &str = "SELECT c.id FROM (SELECT o.id, o.webhook_id, \
       ROW_NUMBER() OVER (PARTITION BY o.webhook_id ORDER BY o.id) AS rn \
       FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id \
       WHERE o.state = 'pending' AND o.next_attempt_at <= $3 \
         AND (o.lease_until IS NULL OR o.lease_until < $3) AND w.disabled_at IS NULL) c \
     WHERE c.rn + (SELECT COUNT(*) FROM webhook_outbox x WHERE x.webhook_id = c.webhook_id \
         AND x.state = 'pending' AND x.lease_until >= $3) <= $5";

fn lease_sql(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!(
            "UPDATE webhook_outbox SET lease_until = $1, lease_owner = $2 \
             WHERE id IN ({CANDIDATES} ORDER BY c.id LIMIT $4) RETURNING id"
        ),
        // FOR UPDATE cannot sit with a window function, so the rows are locked one level up;
        // the state and lease conditions are repeated there because PostgreSQL re-checks them
        // on the newest row version after a concurrent lease committed.
        Backend::Postgres => format!(
            "UPDATE webhook_outbox SET lease_until = $1, lease_owner = $2 \
             WHERE id IN (SELECT o.id FROM webhook_outbox o WHERE o.id IN ({CANDIDATES}) \
               AND o.state = 'pending' AND (o.lease_until IS NULL OR o.lease_until < $3) \
               ORDER BY o.id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
        ),
    }
}

/// The leased messages (`id IN (...)` appended by the caller).
const SELECT_DUE: &str = "SELECT o.id, o.webhook_id, w.url, w.secret, o.event_type, o.payload, \
     o.attempts, o.created_at, w.failing_since, \
     e.seq, e.prompt_id, e.environment, e.version, e.kind, e.source, e.message, e.actor, \
     e.content_sha256, e.created_at AS event_at \
     FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id \
     LEFT JOIN prompt_events e ON e.seq = o.event_seq \
     WHERE o.lease_owner = $1 AND o.state = 'pending' AND o.id IN ";

const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts \
     (outbox_id, webhook_id, attempt, at, duration_ms, status, response, error, worker) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

impl SqlStore {
    fn hook_row(row: &AnyRow, prompts: Option<Vec<PromptId>>) -> Result<Webhook, sqlx::Error> {
        let types: String = row.try_get("event_types")?;
        let filter: i64 = row.try_get("prompt_filter")?;
        Ok(Webhook {
            id: row.try_get("id")?,
            url: row.try_get("url")?,
            event_types: types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            prompt_ids: (filter != 0).then(|| prompts.unwrap_or_default()),
            description: row.try_get("description")?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            disabled_at: row.try_get("disabled_at")?,
            disabled_reason: row.try_get("disabled_reason")?,
            failing_since: row.try_get("failing_since")?,
        })
    }

    async fn hook_prompts(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<PromptId>>, StoreError> {
        let rows = sqlx::query(SELECT_HOOK_PROMPTS)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        let mut map: std::collections::HashMap<String, Vec<PromptId>> = Default::default();
        for row in rows {
            let hook: String = row.try_get("webhook_id").map_err(map_err)?;
            let prompt: String = row.try_get("prompt_id").map_err(map_err)?;
            map.entry(hook)
                .or_default()
                .push(PromptId::from_trusted(prompt));
        }
        Ok(map)
    }
}

fn due_row(row: &AnyRow) -> Result<Due, sqlx::Error> {
    let seq: Option<i64> = row.try_get("seq")?;
    let event = match seq {
        None => None,
        Some(seq) => {
            let env: Option<String> = row.try_get("environment")?;
            let version: Option<i64> = row.try_get("version")?;
            let kind: String = row.try_get("kind")?;
            Some(promptd_core::Event {
                seq,
                prompt_id: PromptId::from_trusted(row.try_get::<String, _>("prompt_id")?),
                environment: env.map(promptd_core::Environment::from_trusted),
                version: version.and_then(|v| u32::try_from(v).ok()),
                kind: promptd_core::Kind::parse(&kind),
                source: row.try_get("source")?,
                message: row.try_get("message")?,
                actor: row.try_get("actor")?,
                content_sha256: row.try_get("content_sha256")?,
                at: row.try_get("event_at")?,
            })
        }
    };
    let attempts: i64 = row.try_get("attempts")?;
    Ok(Due {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        event_type: row.try_get("event_type")?,
        event,
        payload: row.try_get("payload")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: row.try_get("created_at")?,
        failing_since: row.try_get("failing_since")?,
    })
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, hook: &Webhook, secret: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        sqlx::query(INSERT_HOOK)
            .bind(&hook.id)
            .bind(&hook.url)
            .bind(secret)
            .bind(format!(",{},", hook.event_types.join(",")))
            .bind(i64::from(hook.prompt_ids.is_some()))
            .bind(hook.description.clone())
            .bind(hook.created_at)
            .bind(hook.created_by.clone())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        for p in hook.prompt_ids.iter().flatten() {
            sqlx::query(INSERT_HOOK_PROMPT)
                .bind(&hook.id)
                .bind(p.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let mut prompts = self.hook_prompts().await?;
        let sql = format!("SELECT {HOOK_COLS} FROM webhooks ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                SqlStore::hook_row(r, prompts.remove(&id))
            })
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        Ok(self.webhooks().await?.into_iter().find(|h| h.id == id))
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        for sql in [
            "DELETE FROM webhook_attempts WHERE webhook_id = $1",
            "DELETE FROM webhook_outbox WHERE webhook_id = $1",
            "DELETE FROM webhook_prompts WHERE webhook_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(gone > 0)
    }

    async fn enqueue_message(
        &self,
        webhook_id: &str,
        event_type: &str,
        payload: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO webhook_outbox (webhook_id, event_type, payload, state, attempts, \
             created_at, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4) RETURNING id",
        )
        .bind(webhook_id)
        .bind(event_type)
        .bind(payload)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(map_err)
    }

    async fn lease_due(
        &self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Due>, StoreError> {
        let leased: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(lease_sql(self.backend())))
            .bind(lease_until)
            .bind(owner)
            .bind(now)
            .bind(i64::from(limit))
            .bind(i64::from(per_endpoint))
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = leased.iter().map(i64::to_string).collect();
        let sql = format!("{SELECT_DUE}({}) ORDER BY o.id", ids.join(", "));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(due_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn record_attempt(
        &self,
        due: &Due,
        result: &AttemptResult,
        next: &Next,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        sqlx::query(INSERT_ATTEMPT)
            .bind(due.id)
            .bind(&due.webhook_id)
            .bind(i64::from(due.attempts) + 1)
            .bind(result.at)
            .bind(result.duration_ms)
            .bind(result.status.map(i64::from))
            .bind(result.response.clone())
            .bind(result.error.clone())
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let (state, next_at, delivered_at) = match next {
            Next::Delivered => ("delivered", None, Some(result.at)),
            Next::RetryAt(t) => ("pending", Some(*t), None),
            Next::GiveUp => ("failed", None, None),
            Next::Disable(_) => ("disabled", None, None),
        };
        sqlx::query(
            "UPDATE webhook_outbox SET state = $1, attempts = attempts + 1, \
             next_attempt_at = COALESCE($2, next_attempt_at), delivered_at = $3, \
             lease_until = NULL, lease_owner = NULL WHERE id = $4",
        )
        .bind(state)
        .bind(next_at)
        .bind(delivered_at)
        .bind(due.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let hook_update = if result.succeeded() {
            "UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND $2 >= 0"
        } else {
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) WHERE id = $1"
        };
        sqlx::query(hook_update)
            .bind(&due.webhook_id)
            .bind(result.at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if let Next::Disable(reason) = next {
            sqlx::query(
                "UPDATE webhooks SET disabled_at = $1, disabled_reason = $2 \
                 WHERE id = $3 AND disabled_at IS NULL",
            )
            .bind(result.at)
            .bind(reason)
            .bind(&due.webhook_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "UPDATE webhook_outbox SET state = 'disabled', lease_until = NULL, \
                 lease_owner = NULL WHERE webhook_id = $1 AND state = 'pending'",
            )
            .bind(&due.webhook_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn messages(&self, webhook_id: &str, limit: u32) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event_type, event_seq, state, attempts, created_at, next_attempt_at, \
             delivered_at FROM webhook_outbox WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id").map_err(map_err)?;
            let state: String = row.try_get("state").map_err(map_err)?;
            let attempts: i64 = row.try_get("attempts").map_err(map_err)?;
            let next: i64 = row.try_get("next_attempt_at").map_err(map_err)?;
            let tries = sqlx::query(
                "SELECT at, duration_ms, status, response, error FROM webhook_attempts \
                 WHERE outbox_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| {
                let status: Option<i64> = r.try_get("status")?;
                Ok(AttemptResult {
                    at: r.try_get("at")?,
                    duration_ms: r.try_get("duration_ms")?,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    response: r.try_get("response")?,
                    error: r.try_get("error")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(map_err)?;
            out.push(Message {
                id,
                event_type: row.try_get("event_type").map_err(map_err)?,
                event_seq: row.try_get("event_seq").map_err(map_err)?,
                next_attempt_at: (state == "pending").then_some(next),
                state,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                created_at: row.try_get("created_at").map_err(map_err)?,
                delivered_at: row.try_get("delivered_at").map_err(map_err)?,
                tries,
            });
        }
        Ok(out)
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT MIN(CASE WHEN o.lease_until IS NOT NULL AND o.lease_until > o.next_attempt_at \
             THEN o.lease_until ELSE o.next_attempt_at END) FROM webhook_outbox o \
             JOIN webhooks w ON w.id = o.webhook_id \
             WHERE o.state = 'pending' AND w.disabled_at IS NULL",
        )
        .fetch_one(self.pool())
        .await
        .map_err(map_err)
    }
}

#[async_trait]
impl<S: WebhookStore + promptd_core::Store> WebhookStore for Bounded<S> {
    async fn create_webhook(&self, hook: &Webhook, secret: &str) -> Result<(), StoreError> {
        self.limit(
            "registering a webhook",
            self.inner().create_webhook(hook, secret),
        )
        .await
    }
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.limit("reading webhooks", self.inner().webhooks())
            .await
    }
    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        self.limit("reading a webhook", self.inner().webhook(id))
            .await
    }
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        self.limit("deleting a webhook", self.inner().delete_webhook(id))
            .await
    }
    async fn enqueue_message(
        &self,
        webhook_id: &str,
        event_type: &str,
        payload: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.limit(
            "queueing a webhook message",
            self.inner()
                .enqueue_message(webhook_id, event_type, payload, now),
        )
        .await
    }
    async fn lease_due(
        &self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Due>, StoreError> {
        self.limit(
            "leasing webhook messages",
            self.inner()
                .lease_due(now, lease_until, owner, limit, per_endpoint),
        )
        .await
    }
    async fn record_attempt(
        &self,
        due: &Due,
        result: &AttemptResult,
        next: &Next,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.limit(
            "recording a webhook attempt",
            self.inner().record_attempt(due, result, next, owner),
        )
        .await
    }
    async fn messages(&self, webhook_id: &str, limit: u32) -> Result<Vec<Message>, StoreError> {
        self.limit(
            "reading webhook deliveries",
            self.inner().messages(webhook_id, limit),
        )
        .await
    }
    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.limit("reading the webhook outbox", self.inner().next_due())
            .await
    }
}
