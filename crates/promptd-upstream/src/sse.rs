//! A bounded SSE reader for OpenAI-style chat streams. It re-emits each `data:` event as
//! `data: <json>\n\n` (with `model` rewritten to the public name) and always ends with exactly
//! one `data: [DONE]\n\n`. Malformed input, an over-long line, too much data, a stall or an
//! early close end the stream with an OpenAI-shaped error event, then `[DONE]`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use serde_json::Value;

use crate::error::{ErrorKind, UpstreamError};
use crate::metrics::Metrics;

/// Longest accepted SSE line.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Most data accepted in one streamed answer.
pub const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;

pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

pub(crate) type ByteStream = BoxStream<'static, Result<Bytes, reqwest::Error>>;

pub(crate) fn event(v: &Value) -> Bytes {
    let mut s = Vec::with_capacity(64);
    s.extend_from_slice(b"data: ");
    s.extend_from_slice(serde_json::to_string(v).unwrap_or_default().as_bytes());
    s.extend_from_slice(b"\n\n");
    Bytes::from(s)
}

struct State {
    inner: ByteStream,
    buf: Vec<u8>,
    out: VecDeque<Bytes>,
    finished: bool,
    public_model: String,
    idle_timeout: Duration,
    total: usize,
    metrics: Metrics,
    started: Instant,
    sent_first: bool,
}

impl State {
    fn fail(&mut self, kind: ErrorKind, status: u16, message: String) {
        tracing::warn!(model = %self.public_model, %message, "upstream stream failed");
        self.metrics.error(&self.public_model, kind);
        self.out
            .push_back(event(&UpstreamError::new(kind, status, message).to_body()));
        self.finish();
    }

    fn finish(&mut self) {
        if !self.finished {
            self.out.push_back(Bytes::from_static(DONE));
            self.finished = true;
            self.metrics
                .latency(&self.public_model, self.started.elapsed());
        }
    }

    fn line(&mut self, raw: &[u8]) {
        if self.finished {
            return;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(data) = raw.strip_prefix(b"data:") else {
            // Blank separators, comments (`:`), `event:`, `id:` and `retry:` carry nothing we use.
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            self.finish();
            return;
        }
        match serde_json::from_slice::<Value>(data) {
            Ok(mut v) => {
                if let Some(m) = v.get_mut("model").filter(|m| m.is_string()) {
                    *m = Value::from(self.public_model.clone());
                }
                self.out.push_back(event(&v));
            }
            Err(e) => self.fail(
                ErrorKind::Protocol,
                502,
                format!(
                    "upstream model {} sent a stream chunk that is not JSON ({e})",
                    self.public_model
                ),
            ),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        if self.total > MAX_STREAM_BYTES {
            let msg = format!(
                "upstream model {} streamed more than {MAX_STREAM_BYTES} bytes",
                self.public_model
            );
            self.fail(ErrorKind::Protocol, 502, msg);
            return;
        }
        self.buf.extend_from_slice(chunk);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.line(&line[..line.len() - 1]);
            if self.finished {
                return;
            }
        }
        if self.buf.len() > MAX_LINE_BYTES {
            let msg = format!(
                "upstream model {} sent a line longer than {MAX_LINE_BYTES} bytes",
                self.public_model
            );
            self.fail(ErrorKind::Protocol, 502, msg);
        }
    }
}

/// Wraps an upstream byte stream. `first` is the first chunk, already read (so the caller could
/// answer with an error status before committing to a stream).
pub(crate) fn relay(
    inner: ByteStream,
    first: Option<Bytes>,
    public_model: String,
    idle_timeout: Duration,
    metrics: Metrics,
    started: Instant,
) -> BoxStream<'static, Result<Bytes, std::convert::Infallible>> {
    let mut state = State {
        inner,
        buf: Vec::new(),
        out: VecDeque::new(),
        finished: false,
        public_model,
        idle_timeout,
        total: 0,
        metrics,
        started,
        sent_first: false,
    };
    if let Some(f) = first {
        state.feed(&f);
    }
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.out.pop_front() {
                if !st.sent_first {
                    st.sent_first = true;
                    st.metrics
                        .first_byte(&st.public_model, st.started.elapsed());
                }
                return Some((Ok(b), st));
            }
            if st.finished {
                return None;
            }
            match tokio::time::timeout(st.idle_timeout, st.inner.next()).await {
                Err(_) => {
                    let msg = format!(
                        "upstream model {} sent nothing for {:?}",
                        st.public_model, st.idle_timeout
                    );
                    st.fail(ErrorKind::Timeout, 504, msg);
                }
                Ok(Some(Ok(chunk))) => st.feed(&chunk),
                Ok(Some(Err(e))) => {
                    let msg = format!(
                        "the stream from upstream model {} broke: {e}",
                        st.public_model
                    );
                    st.fail(ErrorKind::Protocol, 502, msg);
                }
                Ok(None) => {
                    if !st.buf.is_empty() {
                        let rest = std::mem::take(&mut st.buf);
                        st.line(&rest);
                    }
                    // An upstream that closes without [DONE] still gets a clean end.
                    st.finish();
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(chunks: &[&str]) -> String {
        let items: Vec<Result<Bytes, reqwest::Error>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from(c.to_string())))
            .collect();
        let s = relay(
            futures_util::stream::iter(items).boxed(),
            None,
            "public".into(),
            Duration::from_secs(1),
            Metrics::default(),
            Instant::now(),
        );
        let out: Vec<Bytes> = s.map(|r| r.unwrap()).collect().await;
        String::from_utf8(out.concat()).unwrap()
    }

    #[tokio::test]
    async fn an_event_split_across_chunks_is_reassembled_and_the_model_renamed() {
        let out = run(&[
            "data: {\"model\":\"up",
            "stream\",\"x\":1}\r\n",
            "\r\n: comment\n",
            "data: [DONE]\n\n",
        ])
        .await;
        assert_eq!(
            out,
            "data: {\"model\":\"public\",\"x\":1}\n\ndata: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn a_stream_without_done_still_ends_with_exactly_one_done() {
        assert_eq!(
            run(&["data: {\"a\":1}\n\n"]).await,
            "data: {\"a\":1}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(
            run(&["data: {\"a\":1}"]).await,
            "data: {\"a\":1}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(
            run(&["data: [DONE]\n\ndata: {\"late\":1}\n\n"]).await,
            "data: [DONE]\n\n"
        );
    }

    #[tokio::test]
    async fn garbage_ends_the_stream_with_an_error_event() {
        let out = run(&["data: nope\n\n", "data: {\"a\":1}\n\n"]).await;
        assert!(out.starts_with("data: {\"error\":{\"message\":\"upstream model public sent a stream chunk that is not JSON"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert!(!out.contains("\"a\":1"));
    }
}
