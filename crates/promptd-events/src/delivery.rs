//! Webhook delivery: workers lease due messages from the durable outbox, sign and send them,
//! and record each attempt.
//!
//! - **At-least-once:** a message stays `pending` until an endpoint answers 2xx; a worker that
//!   dies mid-attempt (kill -9, a crash, a lost instance) leaves a lease that expires, and then
//!   any worker sends the message again, with the same `webhook-id` so receivers can drop
//!   duplicates.
//! - **One worker per message:** see the store's lease (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL), so instances sharing a database split the work.
//! - **Back-off:** a failed attempt is retried after `first_retry · 2^(n-1)` (at most
//!   `max_retry_interval`, plus up to 10% jitter) until `retry_for` after the message was
//!   queued; an endpoint that has failed without a single success for `disable_after` is
//!   disabled, and the attempt that disabled it says so.
//! - **Never in the way:** delivery runs on its own tasks, at most `concurrency` at once, each
//!   bounded by `timeout`; writes only insert outbox rows in their own transaction, so a
//!   receiver that hangs delays nothing but its own messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptd_core::time_fmt::{format_ms, now_ms};
use promptd_core::webhook::TEST_EVENT_TYPE;
use promptd_core::{AttemptResult, Due, Environment, Event, Kind, Next, WebhookStore};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use crate::{sign, target};

/// How much of an endpoint's answer is kept with the attempt.
pub const RESPONSE_BYTES: usize = 1024;

/// Delivery settings (`promptd_settings.webhooks_*`).
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Send to loopback and private addresses (`webhooks_allow_private`).
    pub allow_private: bool,
    /// How long a message is retried after it was queued (`webhooks_retry_for_s`, 24 h).
    pub retry_for: Duration,
    /// How long an endpoint may fail without a success before it is disabled
    /// (`webhooks_disable_after_s`, 24 h).
    pub disable_after: Duration,
    /// The first retry's delay, doubled for each later one (`webhooks_first_retry_ms`, 5 s).
    pub first_retry: Duration,
    /// The longest delay between two attempts (1 h).
    pub max_retry_interval: Duration,
    /// One attempt's time limit, connection to last byte (`webhooks_timeout_ms`, 10 s).
    pub timeout: Duration,
    /// How often the outbox is checked when nothing woke the worker (`webhooks_poll_ms`, 1 s).
    pub poll: Duration,
    /// Attempts in flight at once per instance.
    pub concurrency: usize,
    /// Attempts in flight at once per endpoint, across instances (a hanging endpoint holds no
    /// more than these).
    pub per_endpoint: u32,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            allow_private: false,
            retry_for: Duration::from_secs(86_400),
            disable_after: Duration::from_secs(86_400),
            first_retry: Duration::from_secs(5),
            max_retry_interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            concurrency: 16,
            per_endpoint: 4,
        }
    }
}

impl DeliveryOptions {
    /// How long a leased message belongs to its worker: past one attempt's limit plus the time
    /// to record it. A worker that died frees its messages after this.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(2)
    }

    /// The delay before attempt `n + 1` after `n` failed attempts (without jitter).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failed.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_retry
            .checked_mul(factor)
            .unwrap_or(self.max_retry_interval)
            .min(self.max_retry_interval)
    }

    /// What follows an attempt at `due` that ended with `result` at `now` (unix ms).
    pub fn next(&self, due: &Due, result: &AttemptResult, now: i64) -> Next {
        if result.succeeded() {
            return Next::Delivered;
        }
        let failing_since = due.failing_since.unwrap_or(now);
        if now - failing_since >= ms(self.disable_after) {
            return Next::Disable(format!(
                "every attempt since {} failed (for longer than webhooks_disable_after_s = {} s); fix the endpoint, then delete this webhook and register it again",
                format_ms(failing_since),
                self.disable_after.as_secs()
            ));
        }
        let window_end = due.created_at + ms(self.retry_for);
        if now >= window_end {
            return Next::GiveUp;
        }
        let delay = ms(self.backoff(due.attempts + 1));
        let jitter = rand::rng().random_range(0..=delay / 10);
        Next::RetryAt((now + delay + jitter).min(window_end))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The `data` of a ledger event, as webhooks and watch streams show it: the `/history` fields
/// plus the ETag of the version it names while that version exists.
pub fn event_data(e: &Event) -> Value {
    let etag = match (&e.environment, e.version, &e.content_sha256) {
        (Some(env), Some(v), Some(hash)) if !matches!(e.kind, Kind::Delete | Kind::Purge) => {
            Some(promptd_core::etag(env, v, hash))
        }
        _ => None,
    };
    json!({
        "cursor": e.seq.to_string(),
        "prompt_id": e.prompt_id.as_str(),
        "environment": e.environment.as_ref().map(Environment::as_str),
        "version": e.version,
        "kind": e.kind.as_str(),
        "etag": etag,
        "source": e.source,
        "message": e.message,
        "actor": e.actor,
        "content_sha256": e.content_sha256,
        "created_at": format_ms(e.at),
    })
}

/// The body of a webhook message: `{type, timestamp, data}` as Standard Webhooks suggests.
pub fn message_body(due: &Due) -> String {
    if let Some(p) = &due.payload {
        return p.clone();
    }
    match &due.event {
        Some(e) => json!({
            "type": due.event_type,
            "timestamp": format_ms(e.at),
            "data": event_data(e),
        })
        .to_string(),
        None => json!({"type": due.event_type, "timestamp": format_ms(due.created_at), "data": {}})
            .to_string(),
    }
}

/// The body of a test message.
pub fn test_body(webhook_id: &str, now: i64) -> String {
    json!({
        "type": TEST_EVENT_TYPE,
        "timestamp": format_ms(now),
        "data": {"webhook_id": webhook_id, "message": "A test message from promptd: your endpoint receives and verifies webhooks."},
    })
    .to_string()
}

/// The delivery worker of one instance.
pub struct Deliverer {
    store: Arc<dyn WebhookStore>,
    opts: DeliveryOptions,
    client: reqwest::Client,
    wake: Notify,
    /// This worker's name in leases and attempts.
    owner: String,
}

impl Deliverer {
    pub fn new(store: Arc<dyn WebhookStore>, opts: DeliveryOptions) -> Result<Deliverer, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(target::resolver(opts.allow_private))
            .connect_timeout(opts.timeout)
            .timeout(opts.timeout)
            .user_agent(concat!("promptd-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        let owner = format!(
            "pid{}-{:08x}",
            std::process::id(),
            rand::rng().random::<u32>()
        );
        Ok(Deliverer {
            store,
            opts,
            client,
            wake: Notify::new(),
            owner,
        })
    }

    pub fn options(&self) -> &DeliveryOptions {
        &self.opts
    }

    /// Asks the worker to look at the outbox now (after a write queued messages).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Leases and sends due messages forever.
    pub async fn run(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.opts.concurrency.max(1)));
        loop {
            let free = slots.available_permits();
            let mut full_batch = false;
            if free > 0 {
                let now = now_ms();
                let limit = u32::try_from(free).unwrap_or(u32::MAX);
                match self
                    .store
                    .lease_due(
                        now,
                        now + ms(self.opts.lease()),
                        &self.owner,
                        limit,
                        self.opts.per_endpoint,
                    )
                    .await
                {
                    Ok(batch) => {
                        full_batch = batch.len() == free;
                        for due in batch {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.deliver(due).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %promptd_core::error_chain(&e), "could not read the webhook outbox; will try again")
                    }
                }
            }
            if full_batch {
                tokio::task::yield_now().await;
                continue;
            }
            let wait = match self.store.next_due().await {
                Ok(Some(t)) => {
                    Duration::from_millis(u64::try_from((t - now_ms()).max(10)).unwrap_or(10))
                        .min(self.opts.poll)
                }
                _ => self.opts.poll,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt at `due`, recorded with what follows it.
    pub async fn deliver(&self, due: Due) {
        let started = Instant::now();
        let at = now_ms();
        let mut result = self.attempt(&due).await;
        result.at = at;
        result.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let next = self.opts.next(&due, &result, now_ms());
        if let Next::Disable(reason) = &next {
            let e = result.error.take().unwrap_or_default();
            result.error = Some(format!("{e}; the endpoint is now disabled: {reason}"));
            tracing::warn!(webhook = %due.webhook_id, %reason, "webhook disabled");
        }
        if let Err(e) = self
            .store
            .record_attempt(&due, &result, &next, &self.owner)
            .await
        {
            // The lease expires and the message is sent again: at-least-once.
            tracing::warn!(webhook = %due.webhook_id, message = due.id, error = %promptd_core::error_chain(&e), "could not record a webhook attempt; the message will be sent again");
        }
    }

    async fn attempt(&self, due: &Due) -> AttemptResult {
        let mut out = AttemptResult {
            at: 0,
            duration_ms: 0,
            status: None,
            response: None,
            error: None,
        };
        let url = match target::check_url(&due.url, self.opts.allow_private) {
            Ok(u) => u,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        let body = message_body(due);
        let msg_id = format!("msg_{}", due.id);
        let ts = now_ms() / 1000;
        let sig = match sign::signature(&due.secret, &msg_id, ts, body.as_bytes()) {
            Ok(s) => s,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        };
        let send = async {
            let mut resp = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &msg_id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body)
                .send()
                .await?;
            let status = resp.status().as_u16();
            let mut text = Vec::new();
            while text.len() < RESPONSE_BYTES {
                match resp.chunk().await? {
                    Some(c) => text.extend_from_slice(&c),
                    None => break,
                }
            }
            text.truncate(RESPONSE_BYTES);
            Ok::<_, reqwest::Error>((status, String::from_utf8_lossy(&text).into_owned()))
        };
        match tokio::time::timeout(self.opts.timeout, send).await {
            Ok(Ok((status, text))) => {
                out.status = Some(status);
                out.response = Some(text);
                if !(200..300).contains(&status) {
                    out.error = Some(format!("the endpoint answered {status}, not 2xx"));
                }
            }
            Ok(Err(e)) => out.error = Some(describe(&e)),
            Err(_) => {
                out.error = Some(format!(
                    "no complete answer within {} ms (webhooks_timeout_ms)",
                    self.opts.timeout.as_millis()
                ))
            }
        }
        out
    }
}

/// A transport error with its causes (reqwest's own text names only the outermost one).
fn describe(e: &reqwest::Error) -> String {
    let chain = promptd_core::error_chain(e);
    if e.is_timeout() {
        format!("timed out: {chain}")
    } else {
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(attempts: u32, created_at: i64, failing_since: Option<i64>) -> Due {
        Due {
            id: 1,
            webhook_id: "wh_1".into(),
            url: "http://127.0.0.1:1/".into(),
            secret: sign::new_secret(),
            event_type: "prompt.update".into(),
            event: None,
            payload: None,
            attempts,
            created_at,
            failing_since,
        }
    }

    fn failed() -> AttemptResult {
        AttemptResult {
            at: 0,
            duration_ms: 1,
            status: Some(500),
            response: None,
            error: Some("500".into()),
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let o = DeliveryOptions::default();
        assert_eq!(o.backoff(1), Duration::from_secs(5));
        assert_eq!(o.backoff(2), Duration::from_secs(10));
        assert_eq!(o.backoff(5), Duration::from_secs(80));
        assert_eq!(o.backoff(40), Duration::from_secs(3600));
    }

    #[test]
    fn a_failed_attempt_is_retried_within_the_window_then_given_up() {
        let o = DeliveryOptions::default();
        let now = 1_000_000_000;
        match o.next(&due(0, now, Some(now)), &failed(), now) {
            Next::RetryAt(t) => assert!((now + 5000..=now + 5500).contains(&t), "{t}"),
            other => panic!("{other:?}"),
        }
        let late = now + 86_400_000;
        assert_eq!(
            o.next(&due(9, now, Some(late - 1000)), &failed(), late),
            Next::GiveUp
        );
    }

    #[test]
    fn an_endpoint_failing_for_the_whole_disable_period_is_disabled() {
        let o = DeliveryOptions::default();
        let now = 2_000_000_000;
        let next = o.next(&due(30, now - 1000, Some(now - 86_400_000)), &failed(), now);
        assert!(
            matches!(next, Next::Disable(ref r) if r.contains("webhooks_disable_after_s")),
            "{next:?}"
        );
    }

    #[test]
    fn a_2xx_answer_delivers_the_message() {
        let o = DeliveryOptions::default();
        let ok = AttemptResult {
            status: Some(204),
            error: None,
            ..failed()
        };
        assert_eq!(o.next(&due(3, 0, Some(0)), &ok, 5), Next::Delivered);
    }
}
