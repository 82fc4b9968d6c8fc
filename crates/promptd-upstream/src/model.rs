//! The configured models, and one call to a model: the request sent upstream, the timeouts,
//! and every way the upstream can fail mapped to a status and an OpenAI-shaped error.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use indexmap::IndexMap;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use serde_json::{Map, Value};

use crate::config::{self, ConfigError, ModelListItem, Redacted};
use crate::error::{ErrorKind, UpstreamError};
use crate::metrics::{Metrics, ModelCounters};
use crate::mock;
use crate::relay::{self, RelayConfig, error_chain};

/// A streamed answer: SSE frames `data: <json>\n\n`, ending with exactly one `data: [DONE]\n\n`.
///
/// Faults after the stream started arrive as an `Ok` error frame followed by `[DONE]`, never as
/// `Err`, so the HTTP layer can relay the stream as it is. Dropping the stream drops the upstream
/// response and so cancels the upstream request.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// What a model call returns.
pub enum ChatResponse {
    /// A complete `chat.completion` object (`stream` was not `true`).
    Json(Value),
    /// `stream` was `true`.
    Stream(ChatStream),
}

impl fmt::Debug for ChatResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatResponse::Json(v) => f.debug_tuple("Json").field(v).finish(),
            ChatResponse::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// Caps on what an upstream may send, and the connect timeout. The defaults suit real models;
/// tests lower them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest SSE line (and SSE event) accepted.
    pub max_line_bytes: usize,
    /// Most bytes accepted in one streamed answer.
    pub max_stream_bytes: usize,
    /// Largest non-streamed answer accepted.
    pub max_response_bytes: usize,
    /// Most bytes of an upstream error body read (the rest is ignored).
    pub max_error_bytes: usize,
    /// Longest wait to open a connection (the model's timeout still bounds the whole call).
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_bytes: 1024 * 1024,
            max_stream_bytes: 64 * 1024 * 1024,
            max_response_bytes: 32 * 1024 * 1024,
            max_error_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Upstream error messages are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 1000;

/// One callable model.
pub struct Model {
    public_name: Arc<str>,
    upstream_name: String,
    /// `None` only for mocks.
    url: Option<reqwest::Url>,
    api_key: Option<String>,
    timeout: Duration,
    stream_timeout: Option<Duration>,
    mock_response: Option<String>,
    client: reqwest::Client,
    limits: Limits,
    counters: Arc<ModelCounters>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so the API key never reaches a log line.
        f.debug_struct("Model")
            .field("public_name", &self.public_name)
            .field("upstream_name", &self.upstream_name)
            .field("url", &self.url.as_ref().map(|u| Redacted(u).to_string()))
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field("mock", &self.mock_response.is_some())
            .finish_non_exhaustive()
    }
}

/// Every configured model by public name, in `model_list` order. Cheap to clone.
///
/// When several entries share a `model_name`, the first is used: LiteLLM would load-balance
/// between them, promptd does not.
#[derive(Debug, Clone, Default)]
pub struct Models {
    models: Arc<IndexMap<String, Model>>,
    metrics: Metrics,
}

impl Models {
    /// Builds the models from `model_list` items (typed [`config::ModelEntry`] values or the raw
    /// JSON of the config file), with `os.environ/` already resolved. Fails on the first entry
    /// that can never work, naming it.
    pub fn from_entries<I>(entries: I) -> Result<Models, ConfigError>
    where
        I: IntoIterator,
        I::Item: ModelListItem,
    {
        Models::from_entries_with_limits(entries, Limits::default())
    }

    /// [`Models::from_entries`] with other caps.
    pub fn from_entries_with_limits<I>(entries: I, limits: Limits) -> Result<Models, ConfigError>
    where
        I: IntoIterator,
        I::Item: ModelListItem,
    {
        let mut resolved = Vec::new();
        for (index, item) in entries.into_iter().enumerate() {
            let fail = |name: Option<String>, message: String| ConfigError {
                index,
                name: name.filter(|n| !n.is_empty()).unwrap_or_else(|| "?".into()),
                message,
            };
            let entry = item.into_entry().map_err(|(name, m)| fail(name, m))?;
            let r = config::resolve(&entry).map_err(|m| fail(Some(entry.model_name.clone()), m))?;
            resolved.push((index, r));
        }
        let Some((_, first)) = resolved.first() else {
            return Ok(Models::default());
        };
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            // A redirect would resend the prompt (and maybe the key) somewhere the config never
            // named; it is reported instead, with the address to configure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("promptd/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ConfigError {
                index: 0,
                name: first.public_name.clone(),
                message: format!(
                    "cannot build the HTTP client ({}); check the TLS setup",
                    error_chain(&e)
                ),
            })?;
        let mut models = IndexMap::new();
        let mut counters = Vec::new();
        for (index, r) in resolved {
            if models.contains_key(&r.public_name) {
                tracing::warn!(model = %r.public_name, index, "model_list[{index}] repeats model_name '{}'; promptd uses the first entry (LiteLLM would load-balance)", r.public_name);
                continue;
            }
            let c = Arc::new(ModelCounters::default());
            counters.push((r.public_name.clone(), c.clone()));
            models.insert(
                r.public_name.clone(),
                Model {
                    public_name: r.public_name.as_str().into(),
                    upstream_name: r.upstream_name,
                    url: r.url,
                    api_key: r.api_key,
                    timeout: r.timeout,
                    stream_timeout: r.stream_timeout,
                    mock_response: r.mock_response,
                    client: client.clone(),
                    limits,
                    counters: c,
                },
            );
        }
        Ok(Models {
            models: Arc::new(models),
            metrics: Metrics::new(counters),
        })
    }

    pub fn get(&self, model_name: &str) -> Option<&Model> {
        self.models.get(model_name)
    }

    /// Public model names in `model_list` order.
    pub fn names(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The counters of every model, for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Reads a body up to `cap` bytes. `Ok(Err(n))` means it is longer than `cap` (with `truncate`
/// the first `cap` bytes are returned instead).
async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
    truncate: bool,
) -> Result<Result<Vec<u8>, usize>, reqwest::Error> {
    if !truncate && resp.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(Err(cap));
    }
    let mut body = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > cap {
            if truncate {
                let room = cap - out.len();
                out.extend_from_slice(&chunk[..room]);
                return Ok(Ok(out));
            }
            return Ok(Err(cap));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Ok(out))
}

/// The most useful message in an upstream error body: OpenAI's `error.message`, else common
/// alternatives (`error` as text, FastAPI's `detail`, `message`), else the text itself.
fn upstream_message(body: &[u8]) -> (String, Option<Value>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error")).cloned();
    let found = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("detail"))
            .or_else(|| v.get("message"))
    });
    let text = match found {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    if cut.is_empty() {
        cut = "(empty body)".into();
    }
    (cut, error.filter(Value::is_object))
}

impl Model {
    /// The name clients ask for (`model_name`).
    pub fn public_name(&self) -> &str {
        &self.public_name
    }

    /// The name sent upstream (`litellm_params.model` without its provider prefix).
    pub fn upstream_name(&self) -> &str {
        &self.upstream_name
    }

    /// The URL called, `None` for a mock.
    pub fn url(&self) -> Option<&str> {
        self.url.as_ref().map(reqwest::Url::as_str)
    }

    pub fn is_mock(&self) -> bool {
        self.mock_response.is_some()
    }

    /// Bound on a whole non-streamed answer, and on each pause inside a stream.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Bound on the first byte of a stream.
    pub fn first_byte_timeout(&self) -> Duration {
        self.stream_timeout.unwrap_or(self.timeout)
    }

    /// Sends an OpenAI chat request whose `model` is this model's public name (it is replaced by
    /// the upstream name; every other field is sent as given, in its order).
    ///
    /// With `"stream": true` the answer is a [`ChatResponse::Stream`]; it is returned once the
    /// upstream's first bytes arrived, so failures before that are still an `Err` with a status.
    pub async fn chat(&self, mut body: Map<String, Value>) -> Result<ChatResponse, UpstreamError> {
        let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
        self.counters.request();
        let started = Instant::now();
        if let Some(text) = &self.mock_response {
            self.counters.first_byte(started.elapsed());
            self.counters.latency(started.elapsed());
            return Ok(if stream {
                let frames = mock::frames(&self.public_name, text);
                ChatResponse::Stream(futures_util::stream::iter(frames.into_iter().map(Ok)).boxed())
            } else {
                ChatResponse::Json(mock::completion(&self.public_name, text))
            });
        }
        body.insert("model".into(), Value::from(self.upstream_name.as_str()));
        let result = match &self.url {
            None => Err(UpstreamError::protocol(format!(
                "model {} has no api_base to call",
                self.public_name
            ))),
            Some(url) if stream => self.stream(url, &body, started).await,
            Some(url) => self.json(url, &body, started).await,
        };
        if let Err(e) = &result {
            self.counters.error(e.kind());
            tracing::warn!(model = %self.public_name, status = e.status(), error = %e, "model call failed");
        }
        result
    }

    async fn send(
        &self,
        url: &reqwest::Url,
        body: &Map<String, Value>,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut req = self
            .client
            .post(url.clone())
            .json(body)
            .header(ACCEPT, accept);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        req.send().await.map_err(|e| {
            let name = &self.public_name;
            let at = Redacted(url);
            // Without the URL: reqwest's text would repeat it, query string included.
            let (connect, timeout) = (e.is_connect(), e.is_timeout());
            let cause = error_chain(&e.without_url());
            if connect {
                UpstreamError::connect(format!(
                    "cannot reach upstream model {name} at {at}: {cause}. Check litellm_params.api_base and that the server is running"
                ))
            } else if timeout {
                UpstreamError::timeout(format!(
                    "upstream model {name} at {at} timed out: {cause}"
                ))
            } else {
                UpstreamError::protocol(format!(
                    "the request to upstream model {name} at {at} failed: {cause}"
                ))
            }
        })
    }

    /// An answer whose status is not 2xx.
    async fn status_error(&self, resp: reqwest::Response) -> UpstreamError {
        let name = &self.public_name;
        let status = resp.status();
        if !(status.is_client_error() || status.is_server_error()) {
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(|l| format!(" to {l}"))
                .unwrap_or_default();
            return UpstreamError::protocol(format!(
                "upstream model {name} answered {status}{location}; promptd does not follow redirects: set litellm_params.api_base to the final address"
            ));
        }
        let body = read_capped(resp, self.limits.max_error_bytes, true)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let (message, error) = upstream_message(&body);
        UpstreamError::new(
            ErrorKind::Status,
            status.as_u16(),
            format!("upstream model {name} answered {status}: {message}"),
        )
        .with_upstream_fields(error.as_ref())
    }

    async fn json(
        &self,
        url: &reqwest::Url,
        body: &Map<String, Value>,
        started: Instant,
    ) -> Result<ChatResponse, UpstreamError> {
        let name = &self.public_name;
        let call = async {
            let resp = self.send(url, body, false).await?;
            if !resp.status().is_success() {
                return Err(self.status_error(resp).await);
            }
            self.counters.first_byte(started.elapsed());
            let cap = self.limits.max_response_bytes;
            let bytes = read_capped(resp, cap, false)
                .await
                .map_err(|e| {
                    UpstreamError::protocol(format!(
                        "the answer of upstream model {name} broke off: {}",
                        error_chain(&e.without_url())
                    ))
                })?
                .map_err(|cap| {
                    UpstreamError::protocol(format!(
                        "the answer of upstream model {name} is larger than {cap} bytes"
                    ))
                })?;
            let mut v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                let shown: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                UpstreamError::protocol(format!(
                    "upstream model {name} answered with something that is not JSON ({e}): {shown:?}; check that its api_base is an OpenAI-compatible API"
                ))
            })?;
            if v.get("error").is_some() && v.get("choices").is_none() {
                // Some servers report failures with a 200 status.
                let (message, error) = upstream_message(&bytes);
                return Err(UpstreamError::protocol(format!(
                    "upstream model {name} answered with an error: {message}"
                ))
                .with_upstream_fields(error.as_ref()));
            }
            if let Some(m) = v.get_mut("model").filter(|m| m.is_string()) {
                *m = Value::from(&**name);
            }
            Ok(v)
        };
        let v = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                UpstreamError::timeout(format!(
                    "upstream model {name} did not answer within {}s (litellm_params.timeout); raise it if the model is that slow",
                    self.timeout.as_secs_f64()
                ))
            })??;
        self.counters.latency(started.elapsed());
        Ok(ChatResponse::Json(v))
    }

    async fn stream(
        &self,
        url: &reqwest::Url,
        body: &Map<String, Value>,
        started: Instant,
    ) -> Result<ChatResponse, UpstreamError> {
        let name = &self.public_name;
        let wait = self.first_byte_timeout();
        let start = async {
            let resp = self.send(url, body, true).await?;
            if !resp.status().is_success() {
                return Err(self.status_error(resp).await);
            }
            let json = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|c| c.to_str().ok())
                .is_some_and(|c| c.trim_start().starts_with("application/json"));
            if json {
                let body = read_capped(resp, self.limits.max_error_bytes, true)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let (message, error) = upstream_message(&body);
                return Err(UpstreamError::protocol(format!(
                    "upstream model {name} answered a streaming request with JSON instead of an event stream: {message}"
                ))
                .with_upstream_fields(error.as_ref()));
            }
            let mut upstream: relay::Upstream = resp.bytes_stream().boxed();
            loop {
                match upstream.next().await {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(first)) => return Ok((upstream, first)),
                    Some(Err(e)) => {
                        return Err(UpstreamError::protocol(format!(
                            "the stream from upstream model {name} broke before any data: {}",
                            error_chain(&e.without_url())
                        )));
                    }
                    None => {
                        return Err(UpstreamError::protocol(format!(
                            "upstream model {name} closed the stream without sending anything"
                        )));
                    }
                }
            }
        };
        let (upstream, first) = tokio::time::timeout(wait, start).await.map_err(|_| {
            let setting = if self.stream_timeout.is_some() {
                "stream_timeout"
            } else {
                "timeout"
            };
            UpstreamError::timeout(format!(
                "upstream model {name} sent no data within {}s (litellm_params.{setting}); raise it if the model is that slow",
                wait.as_secs_f64()
            ))
        })??;
        self.counters.first_byte(started.elapsed());
        Ok(ChatResponse::Stream(relay::relay(
            upstream,
            first,
            RelayConfig {
                public_model: self.public_name.clone(),
                idle: self.timeout,
                max_line: self.limits.max_line_bytes,
                max_total: self.limits.max_stream_bytes,
                counters: self.counters.clone(),
                started,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_upstream_message_prefers_openais_error_message_then_common_fields_then_text() {
        let m = |b: &str| upstream_message(b.as_bytes()).0;
        assert_eq!(
            m(r#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(m(r#"{"error":"plain"}"#), "plain");
        assert_eq!(m(r#"{"detail":"boom"}"#), "boom");
        assert_eq!(m(r#"{"detail":[{"loc":1}]}"#), r#"[{"loc":1}]"#);
        assert_eq!(m(" <html>502</html> \n"), "<html>502</html>");
        assert_eq!(m(""), "(empty body)");
        let long = "x".repeat(5000);
        assert_eq!(m(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(m(&long).ends_with('…'));
        assert_eq!(
            upstream_message(br#"{"error":{"message":"m","type":"t"}}"#).1,
            Some(json!({"message": "m", "type": "t"}))
        );
    }

    #[test]
    fn duplicate_model_names_keep_the_first_entry_and_all_entries_are_checked() {
        let models = Models::from_entries(&[
            json!({"model_name": "a", "litellm_params": {"model": "openai/first", "mock_response": "1"}}),
            json!({"model_name": "b", "litellm_params": {"model": "openai/b", "mock_response": "2"}}),
            json!({"model_name": "a", "litellm_params": {"model": "openai/second", "mock_response": "3"}}),
        ])
        .unwrap();
        assert_eq!(models.names(), ["a", "b"]);
        assert_eq!(models.get("a").unwrap().upstream_name(), "first");
        let err = Models::from_entries(&[
            json!({"model_name": "a", "litellm_params": {"model": "openai/x", "mock_response": "1"}}),
            json!({"model_name": "a", "litellm_params": {"model": "vertex_ai/gemini"}}),
        ])
        .unwrap_err();
        assert_eq!((err.index, err.name.as_str()), (1, "a"));
    }

    #[test]
    fn a_config_error_names_the_entry_and_the_field() {
        let err = Models::from_entries(&[json!({"litellm_params": {"model": "x"}})]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model_list[0] (?): missing field `model_name`"
        );
        let err = Models::from_entries(&[
            json!({"model_name": "slow", "litellm_params": {"model": "x", "timeout": "soon"}}),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "model_list[0] (slow): litellm_params.timeout: expected a positive number of seconds such as 30 or 2.5, got \"soon\""
        );
    }

    #[test]
    fn typed_entries_are_accepted_too() {
        let entry: config::ModelEntry = serde_json::from_value(
            json!({"model_name": "m", "litellm_params": {"model": "hosted_vllm/org/llama", "api_base": "http://h:8000/v1/", "api_key": "k"}}),
        )
        .unwrap();
        let models = Models::from_entries(vec![entry]).unwrap();
        let m = models.get("m").unwrap();
        assert_eq!(m.upstream_name(), "org/llama");
        assert_eq!(m.url(), Some("http://h:8000/v1/chat/completions"));
        assert!(
            !format!("{m:?}").contains("\"k\""),
            "the key stays out of Debug"
        );
    }
}
