//! A fake OpenAI-compatible model server for tests: real HTTP on a loopback port, real SSE.
//! By default it echoes: the answer's content is the JSON body it received, so a test sees
//! exactly what promptd sent upstream. Faults are scripted per instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// How the server answers the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Echo the request body (streaming when `stream: true`).
    Echo,
    /// Answer with this status and JSON body.
    Status(u16, Value),
    /// Wait this long, then echo.
    Delay(Duration),
    /// Stream the echo in several chunks with this pause between them.
    SlowStream(Duration),
    /// Stream a valid chunk, then a data line that is not JSON.
    MalformedSse,
    /// Stream one line of this many bytes without a newline.
    HugeLine(usize),
    /// Stream one chunk, then close the connection without [DONE].
    CloseMidStream,
    /// Answer 200 with a body that is not JSON.
    NotJson,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    behavior: Mutex<Option<Behavior>>,
    requests: Mutex<Vec<Received>>,
    /// Streams whose body was dropped (client gone) before the end.
    aborted: AtomicUsize,
    completed: AtomicUsize,
}

/// A running fake upstream; stops when dropped.
pub struct FakeUpstream {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/chat/completions", post(handle))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeUpstream { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/v1`, for `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn set_behavior(&self, b: Behavior) {
        *self.shared.behavior.lock() = Some(b);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().clone()
    }

    pub fn last_request(&self) -> Option<Received> {
        self.shared.requests.lock().last().cloned()
    }

    pub fn aborted_streams(&self) -> usize {
        self.shared.aborted.load(Ordering::SeqCst)
    }

    pub fn completed_streams(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }
}

/// An address where nothing listens (a port bound and released).
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/v1")
}

fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Bytes {
    let v = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

/// Counts a stream as aborted if it is dropped before its last item was taken.
struct Watch {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.done {
            self.shared.completed.fetch_add(1, Ordering::SeqCst);
        } else {
            self.shared.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn stream_response(
    shared: Arc<Shared>,
    parts: Vec<Bytes>,
    pause: Duration,
    close_early: bool,
) -> Response {
    let n = parts.len();
    let watch = Watch {
        shared,
        done: false,
    };
    let s = futures_util::stream::unfold(
        (parts.into_iter().enumerate(), watch),
        move |(mut it, mut watch)| async move {
            let (i, part) = it.next()?;
            if i > 0 && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if i + 1 == n {
                watch.done = true;
            }
            Some((Ok::<Bytes, std::io::Error>(part), (it, watch)))
        },
    );
    let s = if close_early {
        // Let the data reach the client before the connection is cut.
        s.chain(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(std::io::Error::other("closed mid-stream"))
        }))
        .boxed()
    } else {
        s.boxed()
    };
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(s),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: body.clone(),
    });
    let behavior = shared.behavior.lock().clone().unwrap_or(Behavior::Echo);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake")
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let text = body.to_string();
    let id = "chatcmpl-fake";
    let echo_parts = || {
        let chars: Vec<char> = text.chars().collect();
        let mut parts: Vec<Bytes> = chars
            .chunks(chars.len().div_ceil(3).max(1))
            .enumerate()
            .map(|(i, c)| {
                let piece: String = c.iter().collect();
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": piece})
                } else {
                    json!({"content": piece})
                };
                chunk(id, &model, delta, None)
            })
            .collect();
        parts.push(chunk(id, &model, json!({}), Some("stop")));
        parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
        parts
    };
    match behavior {
        Behavior::Status(code, v) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(v),
        )
            .into_response(),
        Behavior::NotJson => (StatusCode::OK, "<html>not json</html>").into_response(),
        Behavior::MalformedSse => stream_response(
            shared,
            vec![
                chunk(id, &model, json!({"content": "ok"}), None),
                Bytes::from_static(b"data: {not json\n\n"),
            ],
            Duration::ZERO,
            false,
        ),
        Behavior::HugeLine(n) => stream_response(
            shared,
            vec![Bytes::from(format!("data: {}", "x".repeat(n)))],
            Duration::ZERO,
            false,
        ),
        Behavior::CloseMidStream => stream_response(
            shared,
            vec![chunk(
                id,
                &model,
                json!({"role": "assistant", "content": "partial"}),
                None,
            )],
            Duration::ZERO,
            true,
        ),
        Behavior::SlowStream(pause) => stream_response(shared, echo_parts(), pause, false),
        Behavior::Delay(d) => {
            tokio::time::sleep(d).await;
            echo(shared, stream, echo_parts(), id, &model, text).await
        }
        Behavior::Echo => echo(shared, stream, echo_parts(), id, &model, text).await,
    }
}

async fn echo(
    shared: Arc<Shared>,
    stream: bool,
    parts: Vec<Bytes>,
    id: &str,
    model: &str,
    text: String,
) -> Response {
    if stream {
        return stream_response(shared, parts, Duration::ZERO, false);
    }
    axum::Json(json!({"id": id, "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
    .into_response()
}
