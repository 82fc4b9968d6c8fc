//! Relays an upstream chat stream to promptd's client: each event re-serialised as
//! `data: <json>\n\n`, normalised as LiteLLM does, always ending with exactly one
//! `data: [DONE]\n\n`.
//!
//! Normalisation (what LiteLLM 1.108 shows in transcripts 34, 45, 54–56): `model` becomes the
//! public model name; the first chunk's `delta` gets `"role": "assistant"` first if it has no
//! role; a `"finish_reason": null` is left out. Everything else passes through in its order.
//!
//! Faults after the stream started (the 200 status is already sent) end it with an OpenAI-shaped
//! error event `data: {"error": {…}}\n\n` and then `data: [DONE]\n\n`, so every client sees a
//! well-formed stream: SDKs raise on the error event, naive readers stop at `[DONE]`, none hang.
//! The faults: a chunk that is not JSON, a line that is not SSE, a line or event over the line
//! cap, more bytes than the stream cap, no bytes for the idle timeout, a broken connection, and a
//! clean close before any `finish_reason` or `[DONE]`. A clean close after a `finish_reason` is a
//! normal end (some servers omit `[DONE]`). After an error nothing more is read and the upstream
//! response is dropped at once, which closes its connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, UpstreamError};
use crate::metrics::ModelCounters;
use crate::sse::{SseError, SseParser};

pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// After `[DONE]`, how long the rest of the upstream body (usually just the end of the chunked
/// encoding) is awaited so the connection can go back to the pool instead of being closed.
const DRAIN_WAIT: Duration = Duration::from_millis(50);
const DRAIN_BYTES: usize = 64 * 1024;

/// `data: <json>\n\n`.
pub(crate) fn frame(v: &Value) -> Bytes {
    let mut s = b"data: ".to_vec();
    // Serialising a Value cannot fail (its keys are strings).
    serde_json::to_writer(&mut s, v).expect("a JSON value serialises");
    s.extend_from_slice(b"\n\n");
    Bytes::from(s)
}

/// Renders a reqwest error with its causes ("error sending request: client error (Connect):
/// tcp connect error: Connection refused"), which its Display alone hides.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

pub(crate) type Upstream = BoxStream<'static, Result<Bytes, reqwest::Error>>;

/// What the relay needs to know about the call.
pub(crate) struct RelayConfig {
    pub public_model: Arc<str>,
    /// Longest wait for the next chunk.
    pub idle: Duration,
    pub max_line: usize,
    pub max_total: usize,
    pub counters: Arc<ModelCounters>,
    pub started: Instant,
}

struct Relay {
    upstream: Option<Upstream>,
    parser: SseParser,
    out: VecDeque<Bytes>,
    cfg: RelayConfig,
    total: usize,
    /// No chunk with `choices` has been relayed yet: the next one gets the role.
    first_delta: bool,
    saw_finish: bool,
    /// `[DONE]` is queued: nothing more is parsed.
    done: bool,
    /// The upstream sent `[DONE]` itself, so the rest of its body is worth draining.
    drain: bool,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.done {
            // The client went away mid-stream; dropping `upstream` here cancels the request.
            self.cfg.counters.cancelled();
            tracing::debug!(model = %self.cfg.public_model, "client dropped the stream; upstream request cancelled");
        }
    }
}

impl Relay {
    fn fail(&mut self, err: UpstreamError) {
        if self.done {
            return;
        }
        tracing::warn!(model = %self.cfg.public_model, error = %err, "upstream stream failed");
        self.cfg.counters.error(err.kind());
        self.out.push_back(frame(&err.to_body()));
        self.out.push_back(Bytes::from_static(DONE));
        self.done = true;
        self.upstream = None;
    }

    fn finish(&mut self, drain: bool) {
        if self.done {
            return;
        }
        self.out.push_back(Bytes::from_static(DONE));
        self.done = true;
        self.drain = drain;
        if !drain {
            self.upstream = None;
        }
        self.cfg.counters.latency(self.cfg.started.elapsed());
    }

    fn sse_error(&mut self, e: SseError) {
        let model = &self.cfg.public_model;
        let msg = match e {
            SseError::TooLong { limit } => {
                format!("upstream model {model} sent a line longer than {limit} bytes")
            }
            SseError::NotSse(line) => format!(
                "upstream model {model} sent a line that is not a server-sent event: {line:?}; check that its api_base is an OpenAI-compatible API"
            ),
        };
        self.fail(UpstreamError::protocol(msg));
    }

    /// One event's data.
    fn event(&mut self, data: Vec<u8>) {
        if self.done {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.finish(true);
            return;
        }
        match serde_json::from_slice::<Value>(&data) {
            Ok(mut v) => {
                self.normalise(&mut v);
                self.out.push_back(frame(&v));
            }
            // Some servers separate chunks with one newline instead of a blank line, so one
            // event holds several JSON documents, one per `data:` line.
            Err(_) if data.contains(&b'\n') && self.each_line_is_json(&data) => {
                for line in data.split(|b| *b == b'\n') {
                    self.event(line.to_vec());
                }
            }
            Err(e) => {
                let shown: String = String::from_utf8_lossy(&data).chars().take(200).collect();
                let msg = format!(
                    "upstream model {} sent a stream chunk that is not JSON ({e}): {shown:?}",
                    self.cfg.public_model
                );
                self.fail(UpstreamError::protocol(msg));
            }
        }
    }

    fn each_line_is_json(&self, data: &[u8]) -> bool {
        data.split(|b| *b == b'\n').all(|l| {
            l.trim_ascii() == b"[DONE]"
                || serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok()
        })
    }

    fn normalise(&mut self, v: &mut Value) {
        let Some(obj) = v.as_object_mut() else {
            return;
        };
        if let Some(m) = obj.get_mut("model").filter(|m| m.is_string()) {
            *m = Value::from(&*self.cfg.public_model);
        }
        if obj.get("error").is_some_and(Value::is_object) {
            // The upstream reports its own failure in-band; it reaches the client as is.
            self.cfg.counters.error(ErrorKind::Status);
        }
        let Some(Value::Array(choices)) = obj.get_mut("choices") else {
            return;
        };
        if choices.is_empty() {
            // A usage-only chunk (`stream_options.include_usage`) is not the first delta.
            return;
        }
        let first = std::mem::replace(&mut self.first_delta, false);
        for choice in choices.iter_mut().filter_map(Value::as_object_mut) {
            match choice.get("finish_reason") {
                Some(Value::Null) => {
                    choice.shift_remove("finish_reason");
                }
                Some(_) => self.saw_finish = true,
                None => {}
            }
            if first
                && let Some(Value::Object(delta)) = choice.get_mut("delta")
                && !delta.contains_key("role")
            {
                let mut with_role = Map::with_capacity(delta.len() + 1);
                with_role.insert("role".into(), "assistant".into());
                with_role.extend(std::mem::take(delta));
                *delta = with_role;
            }
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        if self.total > self.cfg.max_total {
            let msg = format!(
                "upstream model {} streamed more than {} bytes",
                self.cfg.public_model, self.cfg.max_total
            );
            self.fail(UpstreamError::protocol(msg));
            return;
        }
        let mut events = Vec::new();
        let result = self.parser.feed(chunk, &mut |d| events.push(d));
        for e in events {
            self.event(e);
        }
        if let Err(e) = result {
            self.sse_error(e);
        }
    }

    fn eof(&mut self) {
        let mut events = Vec::new();
        let result = self.parser.finish(&mut |d| events.push(d));
        for e in events {
            self.event(e);
        }
        if let Err(e) = result {
            self.sse_error(e);
        }
        if self.saw_finish {
            self.finish(false);
        } else {
            let msg = format!(
                "upstream model {} closed the stream before finishing (no finish_reason, no [DONE]); the answer is incomplete",
                self.cfg.public_model
            );
            self.fail(UpstreamError::protocol(msg));
        }
    }

    async fn drain(&mut self) {
        let Some(mut up) = self.upstream.take() else {
            return;
        };
        if !self.drain {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_WAIT, async {
            let mut n = 0;
            while let Some(Ok(c)) = up.next().await {
                n += c.len();
                if n > DRAIN_BYTES {
                    break;
                }
            }
        })
        .await;
    }
}

/// The client-facing stream. `first` is the first upstream chunk, read by the caller so that a
/// stall before any data could still be answered with a 504 status.
pub(crate) fn relay(
    upstream: Upstream,
    first: Bytes,
    cfg: RelayConfig,
) -> BoxStream<'static, Result<Bytes, UpstreamError>> {
    let mut relay = Relay {
        upstream: Some(upstream),
        parser: SseParser::new(cfg.max_line),
        out: VecDeque::new(),
        cfg,
        total: 0,
        first_delta: true,
        saw_finish: false,
        done: false,
        drain: false,
    };
    relay.feed(&first);
    futures_util::stream::unfold(relay, |mut r| async move {
        loop {
            if let Some(b) = r.out.pop_front() {
                return Some((Ok(b), r));
            }
            if r.done {
                r.drain().await;
                return None;
            }
            let up = r.upstream.as_mut()?;
            match tokio::time::timeout(r.cfg.idle, up.next()).await {
                Err(_) => {
                    let msg = format!(
                        "upstream model {} sent nothing for {}s (litellm_params.timeout); raise the timeout if the model pauses that long",
                        r.cfg.public_model,
                        r.cfg.idle.as_secs_f64()
                    );
                    r.fail(UpstreamError::timeout(msg));
                }
                Ok(Some(Ok(chunk))) => r.feed(&chunk),
                Ok(Some(Err(e))) => {
                    let msg = format!(
                        "the stream from upstream model {} broke: {}",
                        r.cfg.public_model,
                        error_chain(&e)
                    );
                    r.fail(UpstreamError::protocol(msg));
                }
                Ok(None) => r.eof(),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(chunks: &[&str]) -> String {
        let items: Vec<Result<Bytes, reqwest::Error>> = chunks[1..]
            .iter()
            .map(|c| Ok(Bytes::from(c.to_string())))
            .collect();
        let counters = Arc::new(ModelCounters::default());
        let s = relay(
            futures_util::stream::iter(items).boxed(),
            Bytes::from(chunks[0].to_owned()),
            RelayConfig {
                public_model: "public".into(),
                idle: Duration::from_secs(1),
                max_line: 100,
                max_total: 1000,
                counters,
                started: Instant::now(),
            },
        );
        let out: Vec<Bytes> = s.map(|r| r.unwrap()).collect().await;
        String::from_utf8(out.concat()).unwrap()
    }

    fn error_message(out: &str) -> String {
        let frame = out
            .split("\n\n")
            .find(|f| f.starts_with("data: {\"error\""))
            .unwrap_or_else(|| panic!("no error event in {out:?}"));
        let v: Value = serde_json::from_str(&frame[6..]).unwrap();
        v["error"]["message"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn an_event_split_across_chunks_is_reassembled_renamed_and_given_a_role() {
        let out = run(&[
            "data: {\"model\":\"up",
            "stream\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\r\n",
            "\r\n: comment\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"y\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ])
        .await;
        assert_eq!(
            out,
            "data: {\"model\":\"public\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"x\"}}]}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"y\"},\"finish_reason\":\"stop\"}]}\n\n\
             data: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn a_role_already_present_and_usage_only_chunks_are_left_alone() {
        let out = run(&[
            "data: {\"choices\":[]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"\",\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{}}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\ndata: [DONE]\n\n",
        ])
        .await;
        assert_eq!(
            out,
            "data: {\"choices\":[]}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"\",\"role\":\"assistant\"}}]}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n\
             data: {\"choices\":[],\"usage\":{}}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n\
             data: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn a_stream_that_finished_without_done_still_ends_with_exactly_one_done() {
        let finished = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}";
        let expect = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        assert_eq!(run(&[&format!("{finished}\n\n")]).await, expect);
        assert_eq!(run(&[finished]).await, expect);
        assert_eq!(
            run(&["data: [DONE]\n\ndata: {\"late\":1}\n\n"]).await,
            "data: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn a_clean_close_before_any_finish_reason_is_an_incomplete_answer() {
        let out = run(&["data: {\"a\":1}\n\n"]).await;
        assert!(out.starts_with("data: {\"a\":1}\n\n"), "{out}");
        assert!(error_message(&out).contains("closed the stream before finishing"));
        assert!(out.ends_with("}}\n\ndata: [DONE]\n\n"), "{out}");
    }

    #[tokio::test]
    async fn garbage_ends_the_stream_with_an_error_event_then_done() {
        let out = run(&["data: nope\n\n", "data: {\"a\":1}\n\n"]).await;
        assert!(
            error_message(&out)
                .starts_with("upstream model public sent a stream chunk that is not JSON")
        );
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert!(!out.contains("\"a\":1"));
        assert_eq!(out.matches("[DONE]").count(), 1);
        let out = run(&["<html><body>Bad gateway</body></html>\n"]).await;
        assert!(
            error_message(&out).contains("not a server-sent event: \"<html>"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn a_long_line_and_a_large_stream_are_cut_with_an_error() {
        let long = format!("data: {}", "x".repeat(101));
        let out = run(&[&long]).await;
        assert!(
            error_message(&out).contains("line longer than 100 bytes"),
            "{out}"
        );
        let chunk = "data: {\"choices\":[]}\n\n".repeat(10);
        let out = run(&[&chunk, &chunk, &chunk, &chunk, &chunk, &chunk]).await;
        assert!(
            error_message(&out).contains("streamed more than 1000 bytes"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn chunks_separated_by_single_newlines_are_still_separate_chunks() {
        let out = run(&["data: {\"a\":1}\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\ndata: [DONE]\n\n"]).await;
        assert_eq!(
            out,
            "data: {\"a\":1}\n\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn an_upstream_error_event_is_relayed_as_is() {
        let out =
            run(&["data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n"]).await;
        assert_eq!(
            out,
            "data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n"
        );
    }
}
