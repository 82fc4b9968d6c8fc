//! PostgreSQL change notifications: every instance LISTENs on `promptd_changes` (filled by
//! the triggers of migration 0002) and hears about writes made anywhere within milliseconds.
//!
//! Notifications sent while the listener is not connected are lost, so every time it
//! (re)connects it first asks for a full resynchronisation.

use std::time::Duration;

use promptd_core::{Change, PromptId};
use sqlx::postgres::PgListener;

pub const CHANNEL: &str = "promptd_changes";

fn parse(payload: &str) -> Change {
    match payload.strip_prefix("prompt:") {
        Some(id) => Change::Prompt(PromptId::from_trusted(id)),
        None if payload == "keys" => Change::Keys,
        None => Change::Resync,
    }
}

/// Listens forever, calling `on_change` for each change in order. Returns only if `on_change`
/// asks to stop (returns `false`).
pub async fn listen_changes<F, Fut>(url: String, mut on_change: F)
where
    F: FnMut(Change) -> Fut + Send,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot connect the change listener");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot LISTEN for changes");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(100);
        // Anything written before this LISTEN took effect was not announced to us: catch up.
        tracing::debug!("change listener connected; resynchronising");
        if !on_change(Change::Resync).await {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if !on_change(parse(n.payload())).await {
                        return;
                    }
                }
                Ok(None) => {
                    tracing::warn!("change listener lost its connection");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change listener failed");
                    break;
                }
            }
        }
    }
}
