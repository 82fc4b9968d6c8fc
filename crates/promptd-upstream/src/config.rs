//! LiteLLM `model_list` entries: their shape, and the checks that turn one into a callable model
//! (provider prefix, upstream URL, timeouts) or into a load-time error naming the entry.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// One item of LiteLLM's `model_list`, with `os.environ/NAME` values already resolved.
///
/// Unknown keys (`rpm`, `tpm`, `model_info` contents, deployment defaults such as `temperature`,
/// …) are accepted, kept in [`LitellmParams::other`], and not used: a LiteLLM config must load
/// unchanged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelEntry {
    /// The public name clients and `.prompt` files ask for.
    pub model_name: String,
    pub litellm_params: LitellmParams,
    #[serde(default)]
    pub model_info: Option<Value>,
}

/// `litellm_params` of a [`ModelEntry`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LitellmParams {
    /// `provider/name` (`openai/gpt-4o`, `hosted_vllm/meta-llama/Llama-3-8B`) or a bare name,
    /// which means `openai`.
    pub model: String,
    #[serde(default)]
    pub api_base: Option<String>,
    /// Older LiteLLM configs spell `api_base` this way.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    /// Seconds for a whole non-streamed answer, and for each pause between streamed chunks.
    #[serde(default, deserialize_with = "seconds")]
    pub timeout: Option<Seconds>,
    /// Seconds until the first byte of a streamed answer (default: `timeout`).
    #[serde(default, deserialize_with = "seconds")]
    pub stream_timeout: Option<Seconds>,
    /// Answer with this text and never call an upstream (LiteLLM's testing aid).
    #[serde(default, deserialize_with = "mock_text")]
    pub mock_response: Option<String>,
    /// Every other key, accepted and ignored.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A positive, finite number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs_f64(self.0)
    }
}

/// YAML gives numbers; `os.environ/TIMEOUT` gives strings. Both are accepted.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Seconds>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    let n = match &v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match n {
        // Duration::from_secs_f64 panics above ~5.8e11 s; a century is plenty.
        Some(n) if n > 0.0 && n.is_finite() && n <= 3.2e9 => Ok(Some(Seconds(n))),
        _ => Err(serde::de::Error::custom(format!(
            "expected a positive number of seconds such as 30 or 2.5, got {}",
            v.unwrap_or(Value::Null)
        ))),
    }
}

/// LiteLLM also accepts exception objects or whole responses here; promptd takes text (and
/// prints YAML scalars such as `42` as text).
fn mock_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected the text of the mock answer, got {other}; promptd supports text mock responses only"
        ))),
    }
}

/// A `model_list` entry that can never work. Startup stops with this.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("model_list[{index}] ({name}): {message}")]
pub struct ConfigError {
    /// Position in `model_list`.
    pub index: usize,
    /// The entry's `model_name`, or `?` when it has none.
    pub name: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Anything [`crate::Models::from_entries`] accepts as a `model_list` item: typed entries, or
/// the raw JSON of the config file (so errors can name the entry and the field).
pub trait ModelListItem {
    /// The entry, or its `model_name` (if readable) and what is wrong with it.
    fn into_entry(self) -> Result<ModelEntry, (Option<String>, String)>;
}

impl ModelListItem for ModelEntry {
    fn into_entry(self) -> Result<ModelEntry, (Option<String>, String)> {
        Ok(self)
    }
}

impl ModelListItem for &ModelEntry {
    fn into_entry(self) -> Result<ModelEntry, (Option<String>, String)> {
        Ok(self.clone())
    }
}

impl ModelListItem for &Value {
    fn into_entry(self) -> Result<ModelEntry, (Option<String>, String)> {
        serde_path_to_error::deserialize(self).map_err(|e| {
            let name = self
                .get("model_name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let path = e.path().to_string();
            let message = if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            };
            (name, message)
        })
    }
}

impl ModelListItem for Value {
    fn into_entry(self) -> Result<ModelEntry, (Option<String>, String)> {
        (&self).into_entry()
    }
}

/// The provider part of `litellm_params.model`, and what promptd makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    /// OpenAI itself: `api_base` defaults to OpenAI's API.
    OpenAi,
    /// Ollama: LiteLLM's default address, and Ollama's OpenAI-compatible `/v1` API (LiteLLM's
    /// `ollama_chat` speaks Ollama's native `/api/chat`, which promptd does not).
    Ollama,
    /// A server that speaks OpenAI's chat completions but has no well-known address.
    Compatible,
    /// A provider with its own API (Anthropic, Bedrock, …): usable only through an `api_base`
    /// that is in fact OpenAI-compatible (a gateway).
    Native,
}

/// Providers LiteLLM reaches through OpenAI's wire format.
const COMPATIBLE: &[&str] = &[
    "hosted_vllm",
    "vllm",
    "openai_like",
    "custom_openai",
    "litellm_proxy",
    "llamacpp",
    "llamafile",
    "lm_studio",
    "text-completion-openai",
];

/// Providers with their own wire format, named so the error can say so.
const NATIVE: &[&str] = &[
    "anthropic",
    "azure",
    "azure_ai",
    "bedrock",
    "bedrock_converse",
    "cohere",
    "cohere_chat",
    "gemini",
    "huggingface",
    "replicate",
    "sagemaker",
    "vertex_ai",
    "vertex_ai_beta",
    "watsonx",
];

pub(crate) const OPENAI_API_BASE: &str = "https://api.openai.com/v1";
pub(crate) const OLLAMA_API_BASE: &str = "http://localhost:11434";
/// LiteLLM's default `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Splits `litellm_params.model` at the first `/`: `openai/gpt-4o` → (`openai`, `gpt-4o`),
/// `hosted_vllm/org/model` → (`hosted_vllm`, `org/model`), `gpt-4o` → (`openai`, `gpt-4o`).
/// Like LiteLLM, the first segment is always the provider, so a Hugging Face style name needs
/// its provider written out (`hosted_vllm/meta-llama/Llama-3-8B`).
pub(crate) fn split_provider(model: &str) -> (&str, &str) {
    match model.split_once('/') {
        Some((provider, name)) => (provider, name),
        None => ("openai", model),
    }
}

pub(crate) fn classify(provider: &str) -> Provider {
    match provider {
        "openai" => Provider::OpenAi,
        "ollama" | "ollama_chat" => Provider::Ollama,
        p if COMPATIBLE.contains(&p) => Provider::Compatible,
        p if NATIVE.contains(&p) => Provider::Native,
        // Unknown providers are assumed OpenAI-compatible when given an api_base.
        _ => Provider::Compatible,
    }
}

/// `{api_base}/chat/completions`, keeping any query string (`?api-version=…`), tolerating
/// trailing slashes and an `api_base` that already ends with `/chat/completions`. Ollama's
/// OpenAI-compatible API lives under `/v1`, which LiteLLM-style Ollama bases lack.
pub(crate) fn chat_url(api_base: &str, provider: Provider) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(api_base.trim()).map_err(|e| {
        format!("api_base {api_base:?} is not a URL ({e}); write it like https://api.openai.com/v1")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "api_base {api_base:?} must start with http:// or https://"
        ));
    }
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("api_base {api_base:?} has no host"));
    }
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let n = segments.len();
    let complete = n >= 2 && segments[n - 2] == "chat" && segments[n - 1] == "completions";
    if !complete {
        if provider == Provider::Ollama && segments.last().is_none_or(|s| s != "v1") {
            segments.push("v1".into());
        }
        segments.push("chat".into());
        segments.push("completions".into());
    }
    url.set_path(&segments.join("/"));
    url.set_fragment(None);
    Ok(url)
}

/// A checked entry, ready to become a [`crate::Model`].
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub public_name: String,
    pub upstream_name: String,
    pub url: Option<reqwest::Url>,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub stream_timeout: Option<Duration>,
    pub mock_response: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Checks one entry; `Err` says what is wrong and how to fix it.
pub(crate) fn resolve(entry: &ModelEntry) -> Result<Resolved, String> {
    let p = &entry.litellm_params;
    if entry.model_name.trim().is_empty() {
        return Err("model_name is empty; give the model the name clients will ask for".into());
    }
    let full = p.model.trim();
    let (provider, upstream_name) = split_provider(full);
    if provider.is_empty() || upstream_name.is_empty() {
        return Err(format!(
            "litellm_params.model {full:?} must be a model name such as gpt-4o or openai/gpt-4o"
        ));
    }
    let kind = classify(provider);
    let api_base = non_empty(&p.api_base).or_else(|| non_empty(&p.base_url));
    let mock_response = p.mock_response.clone();
    let base = match (&api_base, kind) {
        (Some(b), _) => Some(b.clone()),
        (None, Provider::OpenAi) => Some(OPENAI_API_BASE.to_owned()),
        (None, Provider::Ollama) => Some(OLLAMA_API_BASE.to_owned()),
        // A mock never calls anything, so it needs no address.
        (None, _) if mock_response.is_some() => None,
        (None, Provider::Native) => {
            return Err(format!(
                "provider '{provider}' is not OpenAI-compatible; promptd talks to OpenAI-compatible servers only. Put an OpenAI-compatible gateway in front of it and set litellm_params.api_base to that gateway, or use an openai/ model"
            ));
        }
        (None, Provider::Compatible) => {
            return Err(format!(
                "provider '{provider}' has no default address; set litellm_params.api_base to the server's OpenAI-compatible URL, e.g. http://host:8000/v1"
            ));
        }
    };
    if api_base.is_some() && kind == Provider::Native && mock_response.is_none() {
        tracing::warn!(model = %entry.model_name, provider, "provider '{provider}' has its own API; promptd will send OpenAI chat requests to the api_base, which must be OpenAI-compatible");
    }
    let url = match base {
        Some(b) => Some(chat_url(&b, kind).map_err(|e| format!("litellm_params.{e}"))?),
        None => None,
    };
    let timeout = p.timeout.map_or(DEFAULT_TIMEOUT, Seconds::duration);
    Ok(Resolved {
        public_name: entry.model_name.clone(),
        upstream_name: upstream_name.to_owned(),
        url,
        api_key: non_empty(&p.api_key),
        timeout,
        stream_timeout: p.stream_timeout.map(Seconds::duration),
        mock_response,
    })
}

/// Shown in logs and errors: the URL without its query string, which may carry credentials.
pub(crate) struct Redacted<'a>(pub &'a reqwest::Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.0;
        write!(f, "{}://{}", u.scheme(), u.host_str().unwrap_or(""))?;
        if let Some(port) = u.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(u.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> Result<Resolved, String> {
        resolve(&(&v).into_entry().map_err(|(_, m)| m)?)
    }

    fn url(base: &str, provider: Provider) -> String {
        chat_url(base, provider).unwrap().to_string()
    }

    #[test]
    fn the_provider_prefix_is_stripped_up_to_the_first_slash_only() {
        assert_eq!(split_provider("openai/gpt-4o"), ("openai", "gpt-4o"));
        assert_eq!(split_provider("gpt-4o"), ("openai", "gpt-4o"));
        assert_eq!(
            split_provider("hosted_vllm/meta-llama/Llama-3-8B"),
            ("hosted_vllm", "meta-llama/Llama-3-8B")
        );
        assert_eq!(
            split_provider("ollama_chat/llama3:8b"),
            ("ollama_chat", "llama3:8b")
        );
    }

    #[test]
    fn the_chat_url_is_the_api_base_plus_chat_completions_whatever_the_slashes() {
        let c = Provider::Compatible;
        for base in [
            "http://h:1/v1",
            "http://h:1/v1/",
            "http://h:1/v1//",
            " http://h:1/v1 ",
            "http://h:1/v1/chat/completions",
            "http://h:1/v1/chat/completions/",
        ] {
            assert_eq!(url(base, c), "http://h:1/v1/chat/completions", "{base}");
        }
        assert_eq!(url("http://h:1", c), "http://h:1/chat/completions");
        assert_eq!(url("http://h:1/", c), "http://h:1/chat/completions");
        assert_eq!(
            url("https://x.example/openai/v1?api-version=2024-10-21", c),
            "https://x.example/openai/v1/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn ollama_is_called_on_its_openai_compatible_v1_path() {
        let o = Provider::Ollama;
        assert_eq!(
            url("http://localhost:11434", o),
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(
            url("http://localhost:11434/v1/", o),
            "http://localhost:11434/v1/chat/completions"
        );
        let r =
            entry(json!({"model_name": "l", "litellm_params": {"model": "ollama_chat/llama3"}}))
                .unwrap();
        assert_eq!(
            r.url.unwrap().as_str(),
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(r.upstream_name, "llama3");
    }

    #[test]
    fn an_api_base_that_is_not_an_http_url_is_refused_with_an_example() {
        for (base, says) in [
            ("localhost:8000/v1", "must start with http"),
            ("not a url", "is not a URL"),
            ("ftp://h/v1", "must start with http"),
        ] {
            let e = entry(json!({"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": base}}))
                .unwrap_err();
            assert!(
                e.contains(says) && e.starts_with("litellm_params.api_base"),
                "{base}: {e}"
            );
        }
    }

    #[test]
    fn openai_models_default_to_openais_api_and_the_default_timeout() {
        let r = entry(
            json!({"model_name": "gpt", "litellm_params": {"model": "gpt-4o", "api_key": "sk"}}),
        )
        .unwrap();
        assert_eq!(
            r.url.unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(r.upstream_name, "gpt-4o");
        assert_eq!(r.api_key.as_deref(), Some("sk"));
        assert_eq!(r.timeout, Duration::from_secs(600));
        assert_eq!(r.stream_timeout, None);
    }

    #[test]
    fn timeouts_accept_numbers_and_numeric_strings_from_environment_variables() {
        let r = entry(json!({"model_name": "m", "litellm_params": {"model": "openai/x", "timeout": "2.5", "stream_timeout": 1}})).unwrap();
        assert_eq!(r.timeout, Duration::from_millis(2500));
        assert_eq!(r.stream_timeout, Some(Duration::from_secs(1)));
        for bad in [json!(0), json!(-1), json!("soon"), json!([1])] {
            let e = entry(
                json!({"model_name": "m", "litellm_params": {"model": "openai/x", "timeout": bad}}),
            )
            .unwrap_err();
            assert!(
                e.starts_with("litellm_params.timeout: expected a positive number of seconds"),
                "{e}"
            );
        }
    }

    #[test]
    fn entries_that_can_never_work_are_refused_with_the_fix() {
        let e =
            entry(json!({"model_name": "c", "litellm_params": {"model": "anthropic/claude-3"}}))
                .unwrap_err();
        assert!(
            e.contains("not OpenAI-compatible") && e.contains("api_base"),
            "{e}"
        );
        let e = entry(json!({"model_name": "v", "litellm_params": {"model": "hosted_vllm/llama"}}))
            .unwrap_err();
        assert!(e.contains("set litellm_params.api_base"), "{e}");
        let e =
            entry(json!({"model_name": "v", "litellm_params": {"model": "openai/"}})).unwrap_err();
        assert!(e.contains("must be a model name"), "{e}");
        let e = entry(json!({"model_name": "v", "litellm_params": {}})).unwrap_err();
        assert_eq!(e, "litellm_params: missing field `model`");
        let e = entry(
            json!({"model_name": "v", "litellm_params": {"model": "x", "mock_response": {"a": 1}}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("litellm_params.mock_response: expected the text"),
            "{e}"
        );
    }

    #[test]
    fn any_provider_works_with_an_api_base_or_a_mock_response() {
        let r = entry(json!({"model_name": "c", "litellm_params": {"model": "anthropic/claude", "mock_response": "hi"}})).unwrap();
        assert!(r.url.is_none());
        assert_eq!(r.mock_response.as_deref(), Some("hi"));
        let r = entry(json!({"model_name": "g", "litellm_params": {"model": "somegateway/m", "base_url": "http://g/v1"}})).unwrap();
        assert_eq!(r.url.unwrap().as_str(), "http://g/v1/chat/completions");
        let r = entry(
            json!({"model_name": "n", "litellm_params": {"model": "x", "mock_response": 42}}),
        )
        .unwrap();
        assert_eq!(r.mock_response.as_deref(), Some("42"));
    }

    #[test]
    fn unknown_keys_are_accepted_and_kept_aside() {
        let e: ModelEntry = serde_json::from_value(json!({"model_name": "m",
            "litellm_params": {"model": "openai/x", "rpm": 10, "temperature": 0.2},
            "model_info": {"id": "abc"}, "extra": true}))
        .unwrap();
        assert_eq!(e.litellm_params.other["rpm"], 10);
        assert_eq!(e.model_info, Some(json!({"id": "abc"})));
    }

    #[test]
    fn an_empty_api_key_means_none() {
        let r = entry(
            json!({"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": " "}}),
        )
        .unwrap();
        assert_eq!(r.api_key, None);
    }

    #[test]
    fn a_redacted_url_drops_the_query_string() {
        let u = reqwest::Url::parse("https://h:8443/v1/chat/completions?key=secret").unwrap();
        assert_eq!(
            Redacted(&u).to_string(),
            "https://h:8443/v1/chat/completions"
        );
    }
}
