//! `GET /prompts/watch`: a Server-Sent Events stream with one event per ledger change.
//!
//! Each event's `id:` is its ledger cursor (the `/history` cursor, the same on every instance),
//! so a client that reconnects with `Last-Event-ID` (or `?after=`) resumes exactly where it
//! stopped, on any instance. Events are read from the instance's in-memory feed
//! (`promptd_events::Feed`), never from the database per watcher; the stream keeps only a
//! cursor. A watcher whose cursor fell out of the feed (a consumer too slow to keep up, or a
//! resume from too long ago) gets one `resync` event and the stream ends: the client reads the
//! current state, then watches again from the `head` that event names. Heartbeat comments keep
//! proxies from closing a quiet stream; they also carry the cursor as `id:`, so a filtered
//! watcher resumes after the events it skipped.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use promptd_core::{Environment, Event, Principal, PromptId, PromptRef};
use promptd_events::{Feed, Read};
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

/// Events read from the feed per step of one stream.
const BATCH: usize = 256;

/// What a watcher wants to hear about.
#[derive(Debug, Clone, Default)]
struct Filter {
    prompts: Option<HashSet<PromptId>>,
    environment: Option<Environment>,
}

impl Filter {
    fn wants(&self, caller: &Principal, e: &Event) -> bool {
        caller.may_list(&e.prompt_id)
            && self
                .prompts
                .as_ref()
                .is_none_or(|p| p.contains(&e.prompt_id))
            && self
                .environment
                .as_ref()
                .is_none_or(|env| e.environment.as_ref() == Some(env))
    }
}

fn cursor(what: &str, raw: &str) -> ApiResult<i64> {
    raw.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{what}: '{raw}' is not a cursor; send the id of the last event you received (a ledger cursor from /history or an earlier stream), or leave it out to watch from now on."
        ))
    })
}

/// `GET /prompts/watch?prompt_id=..&prompt_id=..&environment=..&after=..`.
pub async fn watch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    QueryParams(params): QueryParams<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let mut filter = Filter::default();
    let mut after = None;
    for (name, value) in &params {
        match name.as_str() {
            "prompt_id" => {
                let r = PromptRef::parse(value).map_err(|e| {
                    ApiError::bad_request(format!("query parameter prompt_id: {e}"))
                })?;
                if r.version.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "query parameter prompt_id: watch a whole prompt ('{}'), not one version",
                        r.base
                    )));
                }
                caller.reader_of(&r)?;
                filter
                    .prompts
                    .get_or_insert_with(HashSet::new)
                    .insert(r.base);
            }
            "environment" => {
                filter.environment = Some(Environment::parse(value).map_err(|e| {
                    ApiError::bad_request(format!("query parameter environment: {e}"))
                })?);
            }
            "after" => after = Some(cursor("query parameter after", value)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{other}'; GET /prompts/watch takes prompt_id (repeatable), environment and after"
                )));
            }
        }
    }
    if let Some(h) = headers.get("last-event-id") {
        let text = h.to_str().map_err(|_| {
            ApiError::bad_request(
                "header Last-Event-ID: not text; send the id of the last event received",
            )
        })?;
        if !text.trim().is_empty() {
            after = Some(cursor("header Last-Event-ID", text)?);
        }
    }
    let feed = state.feed.clone();
    let start = after.unwrap_or_else(|| feed.head());
    let watcher = Watcher {
        rx: feed.subscribe(),
        feed,
        cursor: start,
        filter,
        caller,
        heartbeat: state.settings.watch_heartbeat,
        started: false,
        done: false,
    };
    let stream = futures_util::stream::unfold(watcher, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), w))
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream: a cursor into the feed and what the caller wants.
struct Watcher {
    feed: Arc<Feed>,
    rx: tokio::sync::watch::Receiver<i64>,
    cursor: i64,
    filter: Filter,
    caller: Principal,
    heartbeat: Duration,
    started: bool,
    done: bool,
}

impl Watcher {
    /// The next bytes to send, waiting for them; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done || self.feed.is_closed() {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(Bytes::from(format!(
                "retry: 1000\n: watching after cursor {}\n\n",
                self.cursor
            )));
        }
        loop {
            if self.feed.is_closed() {
                return None;
            }
            match self.feed.read(self.cursor, BATCH) {
                Read::Gone { head } => {
                    self.done = true;
                    let data = json!({
                        "reason": format!("events after cursor {} are no longer held in memory (the watcher fell behind by more than watch_buffer_events, or resumed from too long ago)", self.cursor),
                        "head": head.to_string(),
                        "action": "read the current state (GET /prompts/list, or GET /history?after= for the missed events), then watch again with Last-Event-ID set to head",
                    });
                    return Some(Bytes::from(format!("event: resync\ndata: {data}\n\n")));
                }
                Read::Events(events) if !events.is_empty() => {
                    let mut out = String::new();
                    for e in &events {
                        self.cursor = e.seq;
                        if self.filter.wants(&self.caller, e) {
                            let data = promptd_events::delivery::event_data(e);
                            out.push_str(&format!("id: {}\ndata: {data}\n\n", e.seq));
                        }
                    }
                    if !out.is_empty() {
                        return Some(Bytes::from(out));
                    }
                }
                Read::Events(_) => {
                    // Nothing new: mark the head seen, then wait (re-checking first, so an
                    // event pushed between the read and the mark is not slept on).
                    let head = *self.rx.borrow_and_update();
                    if head > self.cursor
                        && !matches!(self.feed.read(self.cursor, 1), Read::Events(ref v) if v.is_empty())
                    {
                        continue;
                    }
                    tokio::select! {
                        changed = self.rx.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                        }
                        _ = tokio::time::sleep(self.heartbeat) => {
                            return Some(Bytes::from(format!(": heartbeat\nid: {}\n\n", self.cursor)));
                        }
                    }
                }
            }
        }
    }
}
