//! PostgreSQL change notifications: every instance LISTENs on `promptd_changes` (filled by
//! the triggers of migrations 0002 and 0004) and hears about writes made anywhere within milliseconds.
//!
//! Notifications sent while the listener is not connected are lost, so every time it
//! (re)connects it first asks for a full resynchronisation. A connection can also die
//! silently (a network that drops packets sends no error): when no notification came for
//! `keepalive_interval` the listener pings, and one unanswered within `ping_timeout` makes it
//! reconnect (and resynchronise) as for any other failure.

use std::time::Duration;

use promptd_core::{Change, Environment, PromptId, Version};
use sqlx::postgres::PgListener;

use crate::sql::StoreOptions;

pub const CHANNEL: &str = "promptd_changes";

fn parse(payload: &str) -> Change {
    if let Some(rest) = payload.strip_prefix("version:") {
        let mut parts = rest.split(' ');
        if let (Some(id), Some(env), Some(Ok(version)), None) = (
            parts.next(),
            parts.next(),
            parts.next().map(str::parse::<Version>),
            parts.next(),
        ) {
            return Change::Version {
                prompt_id: PromptId::from_trusted(id),
                environment: Environment::from_trusted(env),
                version,
            };
        }
        return Change::Resync;
    }
    match payload.strip_prefix("prompt:") {
        Some(id) => Change::Prompt(PromptId::from_trusted(id)),
        None if payload == "keys" => Change::Keys,
        None => Change::Resync,
    }
}

/// The listener's time limits.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Opening the connection and LISTEN.
    pub connect_timeout: Duration,
    /// Quiet time after which the connection is pinged.
    pub keepalive_interval: Duration,
    /// How long the ping may take.
    pub ping_timeout: Duration,
}

impl ListenOptions {
    pub fn from_store(opts: &StoreOptions) -> ListenOptions {
        ListenOptions {
            connect_timeout: opts.connect_timeout,
            keepalive_interval: opts.keepalive_interval,
            ping_timeout: opts.statement_timeout.unwrap_or(opts.acquire_timeout),
        }
    }
}

/// What the listener does after a change was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep listening.
    Continue,
    /// The change could not be applied (e.g. the database went away while reading it):
    /// reconnect and resynchronise, so nothing stays missed.
    Resync,
    /// Stop listening and return.
    Stop,
}

async fn connect(url: &str, opts: &ListenOptions) -> Result<PgListener, String> {
    let open = async {
        let mut listener = PgListener::connect(url).await?;
        // A lost connection is reported at once; this loop reconnects (with a time limit).
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match tokio::time::timeout(opts.connect_timeout, open).await {
        Ok(Ok(l)) => Ok(l),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} ms (database_connect_timeout_ms)",
            opts.connect_timeout.as_millis()
        )),
    }
}

/// Listens forever, calling `on_change` for each change in order. Returns only if `on_change`
/// asks to stop.
pub async fn listen_changes<F, Fut>(url: String, opts: ListenOptions, mut on_change: F)
where
    F: FnMut(Change) -> Fut + Send,
    Fut: std::future::Future<Output = Flow> + Send,
{
    let mut backoff = Duration::from_millis(100);
    let mut retry = false;
    loop {
        if retry {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        retry = true;
        let mut listener = match connect(&url, &opts).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot connect the change listener");
                continue;
            }
        };
        // Anything written before this LISTEN took effect was not announced to us: catch up.
        tracing::debug!("change listener connected; resynchronising");
        match on_change(Change::Resync).await {
            Flow::Continue => {}
            Flow::Stop => return,
            Flow::Resync => continue,
        }
        backoff = Duration::from_millis(100);
        loop {
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = tokio::time::sleep(opts.keepalive_interval) => {
                    let ping = sqlx::query(crate::queries::PING).execute(&mut listener);
                    match tokio::time::timeout(opts.ping_timeout, ping).await {
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => tracing::warn!(error = %e, "the change listener's connection failed its check; reconnecting"),
                        Err(_) => tracing::warn!(timeout_ms = opts.ping_timeout.as_millis() as u64, "the change listener's connection did not answer a ping; reconnecting"),
                    }
                    break;
                }
            };
            match received {
                Ok(Some(n)) => match on_change(parse(n.payload())).await {
                    Flow::Continue => {}
                    Flow::Stop => return,
                    Flow::Resync => break,
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_new_version_a_changed_prompt_keys_or_ask_for_a_resync() {
        assert_eq!(
            parse("version:greeting production 12"),
            Change::Version {
                prompt_id: PromptId::from_trusted("greeting"),
                environment: Environment::from_trusted("production"),
                version: 12,
            }
        );
        assert_eq!(
            parse("prompt:greeting"),
            Change::Prompt(PromptId::from_trusted("greeting"))
        );
        assert_eq!(parse("keys"), Change::Keys);
        for odd in [
            "version:greeting production",
            "version:a b c d",
            "version:a b x",
            "what",
        ] {
            assert_eq!(parse(odd), Change::Resync, "{odd}");
        }
    }
}
