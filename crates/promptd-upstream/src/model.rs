//! Models from LiteLLM's `model_list`, and calling them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, UpstreamError};
use crate::metrics::Metrics;
use crate::{mock, sse};

/// A streamed answer: SSE frames, ending with `data: [DONE]`.
pub type ChatStream = BoxStream<'static, Result<Bytes, std::convert::Infallible>>;

/// What a model call returns.
pub enum ChatResponse {
    /// A complete `chat.completion` object.
    Json(Value),
    Stream(ChatStream),
}

/// A `model_list` entry that cannot work, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("model_list[{index}] ({name}): {message}")]
pub struct ConfigError {
    pub index: usize,
    pub name: String,
    pub message: String,
}

/// Providers whose API is OpenAI's chat completions; others need an explicit `api_base`.
const OPENAI_COMPATIBLE: &[&str] = &[
    "openai",
    "hosted_vllm",
    "vllm",
    "ollama_chat",
    "openai_like",
    "llamacpp",
    "lm_studio",
    "litellm_proxy",
    "custom_openai",
];
const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";
/// Default seconds to wait for an answer (LiteLLM's default is 600).
pub const DEFAULT_TIMEOUT_SECS: f64 = 600.0;
/// Largest non-streamed answer accepted.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// Largest upstream error body read.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// One callable model.
#[derive(Debug)]
pub struct Model {
    /// `model_name`: what clients ask for.
    pub public_name: String,
    /// The name sent upstream (`litellm_params.model` without its provider prefix).
    pub upstream_name: String,
    url: String,
    api_key: Option<String>,
    timeout: Duration,
    first_byte_timeout: Duration,
    mock_response: Option<String>,
    client: reqwest::Client,
    metrics: Metrics,
}

/// Every configured model by public name (the first entry wins when a name repeats; LiteLLM
/// would load-balance between them).
#[derive(Debug, Clone, Default)]
pub struct Models {
    by_name: HashMap<String, Arc<Model>>,
    metrics: Metrics,
}

fn seconds(v: Option<&Value>, what: &str) -> Result<Option<Duration>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|s| *s > 0.0 && s.is_finite())
                .ok_or_else(|| format!("{what} must be a positive number of seconds"))?;
            Ok(Some(Duration::from_secs_f64(s)))
        }
    }
}

impl Models {
    /// Builds the models from `model_list` entries (with `os.environ/` already resolved).
    pub fn from_entries(entries: &[Value]) -> Result<Models, ConfigError> {
        crate::install_crypto_provider();
        let metrics = Metrics::default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ConfigError {
                index: 0,
                name: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let mut by_name = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let name = entry
                .get("model_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let err = |message: String| ConfigError {
                index,
                name: name.clone(),
                message,
            };
            if name.is_empty() {
                return Err(err("model_name is missing".into()));
            }
            let params = entry
                .get("litellm_params")
                .and_then(Value::as_object)
                .ok_or_else(|| err("litellm_params is missing".into()))?;
            let full = params
                .get("model")
                .and_then(Value::as_str)
                .ok_or_else(|| err("litellm_params.model is missing".into()))?;
            let (provider, upstream_name) = match full.split_once('/') {
                Some((p, rest)) => (p, rest),
                None => ("openai", full),
            };
            let str_param = |k: &str| {
                params
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .filter(|s| !s.is_empty())
            };
            let mock_response = params.get("mock_response").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            });
            let api_base = str_param("api_base").or_else(|| str_param("base_url"));
            if mock_response.is_none()
                && api_base.is_none()
                && !OPENAI_COMPATIBLE.contains(&provider)
            {
                return Err(err(format!(
                    "provider '{provider}' is not OpenAI-compatible; promptd talks to OpenAI-compatible servers only. Set litellm_params.api_base to such a server, or use an openai/ model"
                )));
            }
            let base = api_base.unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
            let timeout = seconds(
                params
                    .get("timeout")
                    .or_else(|| params.get("request_timeout")),
                "timeout",
            )
            .map_err(err)?
            .unwrap_or(Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS));
            let first_byte_timeout = seconds(params.get("stream_timeout"), "stream_timeout")
                .map_err(err)?
                .unwrap_or(timeout);
            by_name.entry(name.clone()).or_insert_with(|| {
                Arc::new(Model {
                    public_name: name.clone(),
                    upstream_name: upstream_name.to_owned(),
                    url: format!("{}/chat/completions", base.trim_end_matches('/')),
                    api_key: str_param("api_key"),
                    timeout,
                    first_byte_timeout,
                    mock_response,
                    client: client.clone(),
                    metrics: metrics.clone(),
                })
            });
        }
        Ok(Models { by_name, metrics })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Model>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

fn connect_error(model: &str, e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::new(
            ErrorKind::Timeout,
            504,
            format!("upstream model {model} did not answer in time"),
        )
    } else {
        let mut cause = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            cause = format!("{cause}: {s}");
            src = s.source();
        }
        UpstreamError::new(
            ErrorKind::Connect,
            502,
            format!("cannot reach upstream model {model}: {cause}"),
        )
    }
}

/// Reads at most `cap` bytes of a body; `Err` when it is larger or breaks.
async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
    idle: Duration,
) -> Result<Vec<u8>, String> {
    let mut stream = resp.bytes_stream();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(format!("no data for {idle:?}")),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(chunk))) => {
                if out.len() + chunk.len() > cap {
                    return Err(format!("the answer is larger than {cap} bytes"));
                }
                out.extend_from_slice(&chunk);
            }
        }
    }
}

impl Model {
    /// Sends an OpenAI chat request whose `model` is this model's public name.
    pub async fn chat(&self, mut body: Map<String, Value>) -> Result<ChatResponse, UpstreamError> {
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        self.metrics.request(&self.public_name);
        let started = Instant::now();
        if let Some(text) = &self.mock_response {
            self.metrics
                .first_byte(&self.public_name, started.elapsed());
            self.metrics.latency(&self.public_name, started.elapsed());
            return Ok(if stream {
                let chunks: Vec<Result<Bytes, std::convert::Infallible>> =
                    mock::chunks(&self.public_name, text)
                        .into_iter()
                        .map(Ok)
                        .collect();
                ChatResponse::Stream(futures_util::stream::iter(chunks).boxed())
            } else {
                ChatResponse::Json(mock::completion(&self.public_name, text))
            });
        }
        body.insert("model".into(), Value::from(self.upstream_name.clone()));
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let wait = if stream {
            self.first_byte_timeout
        } else {
            self.timeout
        };
        let result = self.exchange(req, wait, stream, started).await;
        if let Err(e) = &result {
            self.metrics.error(&self.public_name, e.kind);
            tracing::warn!(model = %self.public_name, status = e.status, error = %e.message, "model call failed");
        }
        result
    }

    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        wait: Duration,
        stream: bool,
        started: Instant,
    ) -> Result<ChatResponse, UpstreamError> {
        let name = &self.public_name;
        let timeout_err = || {
            UpstreamError::new(
                ErrorKind::Timeout,
                504,
                format!("upstream model {name} did not answer within {wait:?}"),
            )
        };
        let resp = tokio::time::timeout(wait, req.send())
            .await
            .map_err(|_| timeout_err())?
            .map_err(|e| connect_error(name, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_capped(resp, MAX_ERROR_BYTES, wait)
                .await
                .unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            let upstream_msg = parsed
                .as_ref()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .or_else(|| v.get("detail"))
                        .or_else(|| v.get("message"))
                })
                .map(|m| {
                    m.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(2000).collect());
            let mut e = UpstreamError::new(
                ErrorKind::Status,
                status.as_u16(),
                format!("upstream model {name} answered {status}: {upstream_msg}"),
            );
            e.error_type = parsed
                .as_ref()
                .and_then(|v| v.pointer("/error/type"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Err(e);
        }
        if stream {
            let mut bytes = resp.bytes_stream().boxed();
            // Wait for the first chunk here so a stall before any data is a clean 504.
            let first = match tokio::time::timeout(wait, bytes.next()).await {
                Err(_) => return Err(timeout_err()),
                Ok(Some(Ok(b))) => Some(b),
                Ok(Some(Err(e))) => return Err(connect_error(name, &e)),
                Ok(None) => None,
            };
            return Ok(ChatResponse::Stream(sse::relay(
                bytes,
                first,
                name.clone(),
                self.timeout,
                self.metrics.clone(),
                started,
            )));
        }
        let left = self
            .timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        let body = read_capped(resp, MAX_RESPONSE_BYTES, left)
            .await
            .map_err(|e| {
                UpstreamError::new(
                    ErrorKind::Protocol,
                    502,
                    format!("reading the answer of upstream model {name} failed: {e}"),
                )
            })?;
        let mut v: Value = serde_json::from_slice(&body).map_err(|e| {
            UpstreamError::new(
                ErrorKind::Protocol,
                502,
                format!("upstream model {name} answered with something that is not JSON ({e})"),
            )
        })?;
        if let Some(m) = v.get_mut("model").filter(|m| m.is_string()) {
            *m = Value::from(name.clone());
        }
        self.metrics.first_byte(name, started.elapsed());
        self.metrics.latency(name, started.elapsed());
        Ok(ChatResponse::Json(v))
    }
}
