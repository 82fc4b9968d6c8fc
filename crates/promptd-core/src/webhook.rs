//! Webhooks: endpoints that are told about ledger events, and the durable outbox their
//! messages wait in until an endpoint acknowledged them.
//!
//! **Invariant:** a message for a ledger event is written into the outbox by the transaction
//! that writes the event, so a committed change always has its messages and a rolled-back one
//! never does. Delivery is at-least-once: a message leaves the outbox's `pending` state only
//! after a 2xx answer, after its retry window passed, or when its endpoint is disabled.

use async_trait::async_trait;

use crate::ids::PromptId;
use crate::ledger::{Event, Kind};
use crate::store::StoreError;

/// The message type of a ledger event of `kind` (`prompt.create`, `prompt.delete`, ...).
pub fn event_type(kind: Kind) -> String {
    format!("prompt.{}", kind.as_str())
}

/// Every message type an endpoint can subscribe to: one per ledger kind, plus `webhook.test`
/// (sent by `POST /webhooks/{id}/test` whatever the subscription).
pub fn event_types() -> Vec<String> {
    Kind::ALL.iter().map(|k| event_type(*k)).collect()
}

/// The type of the message `POST /webhooks/{id}/test` sends.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// A registered endpoint (without its secret, which is only shown when it is created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `wh_` + 24 hex digits.
    pub id: String,
    pub url: String,
    /// Subscribed message types (see [`event_types`]).
    pub event_types: Vec<String>,
    /// Only events of these prompts; every prompt when `None`.
    pub prompt_ids: Option<Vec<PromptId>>,
    pub description: Option<String>,
    pub created_at: i64,
    pub created_by: Option<String>,
    /// Set when deliveries failed for the whole `webhooks_disable_after_s`.
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    /// When the current run of failed attempts began (`None` after a success).
    pub failing_since: Option<i64>,
}

/// A message leased to one delivery worker, with everything needed to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The outbox row: `msg_<id>` is the message's `webhook-id`, the same on every attempt.
    pub id: i64,
    pub webhook_id: String,
    pub url: String,
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
    pub event_type: String,
    /// The ledger event the message tells about (`None` for a test message).
    pub event: Option<Event>,
    /// The message body as queued, for messages that are not ledger events.
    pub payload: Option<String>,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the message was queued (unix ms): the retry window starts here.
    pub created_at: i64,
    /// When the endpoint's current run of failures began.
    pub failing_since: Option<i64>,
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub at: i64,
    pub duration_ms: i64,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The first bytes of the answer's body.
    pub response: Option<String>,
    /// Why no acceptable answer came (connection refused, timeout, a non-2xx status).
    pub error: Option<String>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What happens to a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Acknowledged: done.
    Delivered,
    /// Try again at this time (unix ms).
    RetryAt(i64),
    /// The retry window is over: the message is given up.
    GiveUp,
    /// The endpoint failed for too long: it is disabled (with this reason) and its queued
    /// messages are given up.
    Disable(String),
}

/// One message of an endpoint, as `GET /webhooks/{id}/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub event_type: String,
    /// The ledger event's cursor (`None` for a test message).
    pub event_seq: Option<i64>,
    /// `pending`, `delivered`, `failed` (retry window over) or `disabled`.
    pub state: String,
    pub attempts: u32,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Every attempt, oldest first.
    pub tries: Vec<AttemptResult>,
}

/// Where webhooks and their outbox are kept (implemented next to [`crate::Store`]).
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Registers an endpoint with its signing secret.
    async fn create_webhook(&self, hook: &Webhook, secret: &str) -> Result<(), StoreError>;
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;
    /// Deletes an endpoint with its queued messages and their attempts; `false` if unknown.
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    /// Queues a message that is not a ledger event (a test); returns its id.
    async fn enqueue_message(
        &self,
        webhook_id: &str,
        event_type: &str,
        payload: &str,
        now: i64,
    ) -> Result<i64, StoreError>;
    /// Leases up to `limit` due messages of enabled endpoints to `owner` until `lease_until`:
    /// no other worker (on any instance) gets them before that time. An endpoint never holds
    /// more than `per_endpoint` leases at once, so one that hangs cannot take every worker.
    async fn lease_due(
        &self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<Due>, StoreError>;
    /// Records an attempt at message `id` and what happens next, in one transaction.
    async fn record_attempt(
        &self,
        due: &Due,
        result: &AttemptResult,
        next: &Next,
        owner: &str,
    ) -> Result<(), StoreError>;
    /// The endpoint's newest messages with their attempts, newest first.
    async fn messages(&self, webhook_id: &str, limit: u32) -> Result<Vec<Message>, StoreError>;
    /// When the next pending message of an enabled endpoint is due (unix ms), if any.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;
}
