//! A fake OpenAI-compatible model server for tests: real HTTP on a loopback port, real SSE.
//!
//! By default it echoes, like `anchors/litellm/echo_upstream.py`: the answer's content is the JSON
//! body it received, so a test sees exactly what was sent upstream. Faults are scripted per
//! instance with [`FakeUpstream::set_behavior`], and the server observes the client going away
//! ([`FakeUpstream::aborted_streams`], [`FakeUpstream::abandoned_requests`]) so tests can prove
//! cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// How the server answers requests from now on.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Echo the request body as the assistant's content; streamed as SSE when `stream: true`.
    Echo,
    /// Answer with this status and JSON body.
    Status(u16, Value),
    /// Answer with this status, content type and body, as given.
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    /// Wait this long before answering, then echo.
    Delay(Duration),
    /// Stream the echo with this pause between its chunks (whatever `stream` says).
    SlowStream(Duration),
    /// Stream a valid chunk, then a `data:` line whose payload is not JSON.
    MalformedSse,
    /// Stream a valid chunk, then a line that is not SSE at all.
    GarbageLines,
    /// Stream one `data:` line of this many bytes with no newline, in 64 KiB writes.
    HugeLine(usize),
    /// Stream one chunk, then cut the connection (no `[DONE]`, no end of the chunked body).
    CloseMidStream,
    /// Answer 200 with a body that is not JSON.
    NotJson,
    /// Answer 307 with this `Location`.
    Redirect(String),
    /// Answer 200 `text/event-stream` and play these steps.
    Script(Vec<Step>),
}

/// One step of a [`Behavior::Script`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write these bytes as they are (one write).
    Send(Bytes),
    /// Pause.
    Wait(Duration),
    /// Cut the connection.
    Abort,
}

impl Step {
    pub fn text(s: impl Into<String>) -> Step {
        Step::Send(Bytes::from(s.into()))
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` if it was not JSON).
    pub body: Value,
    pub raw_body: Bytes,
}

#[derive(Default)]
struct Shared {
    behavior: Mutex<Option<Behavior>>,
    requests: Mutex<Vec<Received>>,
    /// Streams whose body was dropped (client gone) before their last write.
    aborted: AtomicUsize,
    completed: AtomicUsize,
    /// Requests whose handler was dropped (client gone) before it answered.
    abandoned: AtomicUsize,
    changed: Notify,
}

impl Shared {
    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

/// A running fake upstream; it stops when dropped.
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
    /// Binds `127.0.0.1:0` and serves `POST /v1/chat/completions` and `POST /chat/completions`;
    /// anything else is recorded and answered 404.
    pub async fn start() -> FakeUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake upstream binds a loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .route("/chat/completions", post(handle))
            .fallback(not_found)
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

    /// `http://127.0.0.1:PORT`, for servers whose `api_base` has no `/v1` (Ollama).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behavior(&self, b: Behavior) {
        *self.shared.behavior.lock() = Some(b);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().clone()
    }

    pub fn last_request(&self) -> Option<Received> {
        self.shared.requests.lock().last().cloned()
    }

    /// Streams the client dropped before their end.
    pub fn aborted_streams(&self) -> usize {
        self.shared.aborted.load(Ordering::SeqCst)
    }

    /// Streams written to the end (or cut by [`Step::Abort`]).
    pub fn completed_streams(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Requests the client gave up on before any answer (e.g. during a [`Behavior::Delay`]).
    pub fn abandoned_requests(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` streams were aborted by the client; false after `timeout`.
    pub async fn wait_for_aborted_streams(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(|| self.aborted_streams() >= n, timeout).await
    }

    /// Waits until at least `n` requests were abandoned by the client; false after `timeout`.
    pub async fn wait_for_abandoned_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(|| self.abandoned_requests() >= n, timeout)
            .await
    }

    async fn wait_for(&self, done: impl Fn() -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            if done() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, changed).await.is_err() {
                return done();
            }
        }
    }
}

/// An address where nothing listens (a port bound, then released), as an `api_base`.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = l.local_addr().expect("a bound listener has an address");
    drop(l);
    format!("http://{addr}/v1")
}

/// `data: {chat.completion.chunk}\n\n` as OpenAI (and echo_upstream.py) write it, with
/// `finish_reason` always present.
pub fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Bytes {
    let v = json!({"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

/// The `created` of every answer, so tests can compare whole frames.
pub const CREATED: u64 = 1_700_000_000;
/// The `id` of every answer.
pub const ID: &str = "chatcmpl-fake";

/// The echo as SSE: the content in three pieces (no role, like echo_upstream.py), a finish chunk,
/// `[DONE]`.
pub fn echo_frames(model: &str, content: &str) -> Vec<Bytes> {
    let chars: Vec<char> = content.chars().collect();
    let mut parts: Vec<Bytes> = chars
        .chunks(chars.len().div_ceil(3).max(1))
        .map(|c| {
            chunk(
                ID,
                model,
                json!({"content": c.iter().collect::<String>()}),
                None,
            )
        })
        .collect();
    parts.push(chunk(ID, model, json!({}), Some("stop")));
    parts.push(Bytes::from_static(b"data: [DONE]\n\n"));
    parts
}

/// Counts a stream as aborted if its body is dropped before the last step ran.
struct StreamWatch {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        if self.done {
            self.shared.bump(&self.shared.completed);
        } else {
            self.shared.bump(&self.shared.aborted);
        }
    }
}

/// Counts a request as abandoned if its handler is dropped before it answered.
struct RequestWatch {
    shared: Arc<Shared>,
    answered: bool,
}

impl Drop for RequestWatch {
    fn drop(&mut self) {
        if !self.answered {
            self.shared.bump(&self.shared.abandoned);
        }
    }
}

fn play(shared: Arc<Shared>, steps: Vec<Step>) -> Response {
    let watch = StreamWatch {
        shared,
        done: false,
    };
    let body = futures_util::stream::unfold(
        (steps.into_iter().peekable(), watch),
        |(mut steps, mut watch)| async move {
            loop {
                let step = steps.next()?;
                if steps.peek().is_none() {
                    watch.done = true;
                }
                match step {
                    Step::Wait(d) => tokio::time::sleep(d).await,
                    Step::Send(b) => return Some((Ok(b), (steps, watch))),
                    Step::Abort => {
                        watch.done = true;
                        // Let earlier writes reach the client before the connection is cut.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let cut = std::io::Error::other("the fake upstream cut the connection");
                        return Some((Err(cut), (steps, watch)));
                    }
                }
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

fn sends(parts: Vec<Bytes>) -> Vec<Step> {
    parts.into_iter().map(Step::Send).collect()
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, method.clone(), &uri, headers, body);
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"error": {"message": format!("the fake upstream has no route {method} {}", uri.path()), "type": "invalid_request_error"}}),
        ),
    )
        .into_response()
}

fn record(shared: &Shared, method: Method, uri: &Uri, headers: HeaderMap, raw: Bytes) -> Value {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    shared.requests.lock().push(Received {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.clone(),
        raw_body: raw,
    });
    body
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = record(&shared, Method::POST, &uri, headers, raw);
    let mut watch = RequestWatch {
        shared: shared.clone(),
        answered: false,
    };
    let behavior = shared.behavior.lock().clone().unwrap_or(Behavior::Echo);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake")
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let content = body.to_string();
    let response = match behavior {
        Behavior::Echo => echo(shared, stream, &model, &content),
        Behavior::Delay(d) => {
            tokio::time::sleep(d).await;
            echo(shared, stream, &model, &content)
        }
        Behavior::Status(code, v) => (status(code), axum::Json(v)).into_response(),
        Behavior::Raw {
            status: code,
            content_type,
            body,
        } => (status(code), [(header::CONTENT_TYPE, content_type)], body).into_response(),
        Behavior::NotJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>not json</html>",
        )
            .into_response(),
        Behavior::Redirect(to) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
        }
        Behavior::SlowStream(pause) => {
            let mut steps = Vec::new();
            for (i, part) in echo_frames(&model, &content).into_iter().enumerate() {
                if i > 0 {
                    steps.push(Step::Wait(pause));
                }
                steps.push(Step::Send(part));
            }
            play(shared, steps)
        }
        Behavior::MalformedSse => play(
            shared,
            sends(vec![
                chunk(ID, &model, json!({"content": "ok"}), None),
                Bytes::from_static(b"data: {not json\n\n"),
            ]),
        ),
        Behavior::GarbageLines => play(
            shared,
            sends(vec![
                chunk(ID, &model, json!({"content": "ok"}), None),
                Bytes::from_static(b"<html>this is not an event stream</html>\n\n"),
            ]),
        ),
        Behavior::HugeLine(n) => {
            let mut steps = vec![Step::Send(Bytes::from_static(b"data: "))];
            let piece = Bytes::from(vec![b'x'; 64 * 1024]);
            let mut left = n;
            while left > 0 {
                let k = left.min(piece.len());
                steps.push(Step::Send(piece.slice(..k)));
                left -= k;
            }
            play(shared, steps)
        }
        Behavior::CloseMidStream => play(
            shared,
            vec![
                Step::Send(chunk(
                    ID,
                    &model,
                    json!({"role": "assistant", "content": "partial"}),
                    None,
                )),
                Step::Abort,
            ],
        ),
        Behavior::Script(steps) => play(shared, steps),
    };
    watch.answered = true;
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn echo(shared: Arc<Shared>, stream: bool, model: &str, content: &str) -> Response {
    if stream {
        return play(shared, sends(echo_frames(model, content)));
    }
    axum::Json(json!({"id": ID, "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
    .into_response()
}
