//! Running prompts against models: `POST /prompts/test` (a draft, always streamed),
//! `POST /chat/completions` with an optional stored `prompt_id` (LiteLLM's rules for merging the
//! template with the request), proxied to an OpenAI-compatible upstream, and `GET /v1/models`.
//! The OpenAI-compatible routes answer errors in OpenAI's `{"error": {…}}` shape ([`OpenAi`]), so
//! OpenAI SDKs show the message.

use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promptd_core::{Environment, PromptRef};
use promptd_template::{Dialect, Message, Prompt, Role};
use promptd_upstream::ChatResponse;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult, FieldError, OpenAi};
use crate::state::AppState;

/// Request keys that steer prompt management and are never sent upstream.
const PROMPT_KEYS: [&str; 4] = [
    "prompt_id",
    "prompt_variables",
    "prompt_version",
    "prompt_environment",
];

fn messages_json(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .unwrap_or_else(|_| json!({"role": m.role, "content": m.content}))
        })
        .collect()
}

fn unknown_model(name: &str, state: &AppState) -> ApiError {
    let mut known = state.models.names();
    known.sort();
    ApiError::bad_request(format!(
        "/chat/completions: Invalid model name passed in model={name}. Configured models: [{}]; add it to model_list in the config file.",
        known.join(", ")
    ))
}

/// Sends `body` to the model it names and turns the answer into a response.
async fn call_model(state: &AppState, body: Map<String, Value>) -> ApiResult<Response> {
    let name = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let model = state
        .models
        .get(&name)
        .ok_or_else(|| unknown_model(&name, state))?;
    match model.chat(body).await {
        Ok(ChatResponse::Json(v)) => Ok(Json(v).into_response()),
        Ok(ChatResponse::Stream(stream)) => Ok((
            [
                (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            HttpBody::from_stream(stream),
        )
            .into_response()),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            Err(ApiError::Upstream(status, e.to_body()))
        }
    }
}

/// The body of `POST /prompts/test`.
pub struct TestRequest {
    pub dotprompt_content: String,
    /// The draft's dialect (`prompt_dialect`: `litellm`, the default, or `genkit`).
    pub dialect: Dialect,
    pub prompt_variables: Map<String, Value>,
    pub conversation_history: Vec<Value>,
}

impl FromBody for TestRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let content = f.required_str("dotprompt_content");
        let prompt_variables = f.object("prompt_variables");
        let conversation_history = f.list("conversation_history");
        let dialect = match Dialect::parse(f.raw("prompt_dialect")) {
            Ok(d) => d,
            Err(msg) => {
                let raw = f.raw("prompt_dialect");
                f.error("enum", "prompt_dialect", &msg, raw);
                Dialect::default()
            }
        };
        Some(TestRequest {
            dotprompt_content: content?,
            dialect,
            prompt_variables,
            conversation_history,
        })
    }
}

/// `POST /prompts/test`: renders a draft `.prompt` and streams the model's answer. With a
/// conversation, LiteLLM keeps only the template's system messages, then the conversation.
pub async fn test_prompt(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Body(req): Body<TestRequest>,
) -> ApiResult<Response> {
    let prompt = Prompt::parse_dialect(&req.dotprompt_content, req.dialect, &state.settings.engine)
        .map_err(|e| ApiError::bad_request(format!("Invalid prompt: {e}")))?;
    let model = prompt
        .model()
        .ok_or_else(|| ApiError::bad_request("Model is required in dotprompt metadata"))?;
    let rendered = prompt
        .render_unchecked(&req.prompt_variables)
        .map_err(|e| ApiError::bad_request(format!("Error rendering prompt: {e}")))?;
    if rendered.is_empty() {
        return Err(ApiError::bad_request(
            "No messages found in rendered prompt",
        ));
    }
    let messages: Vec<Value> = if req.conversation_history.is_empty() {
        messages_json(&rendered)
    } else {
        let system: Vec<Message> = rendered
            .into_iter()
            .filter(|m| m.role == Role::System)
            .collect();
        let history = req.conversation_history;
        messages_json(&system).into_iter().chain(history).collect()
    };
    let mut data = Map::new();
    data.insert("model".into(), model.into());
    data.insert("messages".into(), Value::Array(messages));
    data.extend(prompt.optional_params().clone());
    data.insert("stream".into(), Value::Bool(true));
    call_model(&state, data).await
}

/// A stored prompt named by a chat request.
pub struct PromptCall {
    pub id: String,
    pub version: Option<u32>,
    pub environment: Option<String>,
    pub variables: Map<String, Value>,
    /// The caller's messages, sent after the template's.
    pub messages: Vec<Value>,
}

/// The body of `POST /chat/completions`: OpenAI's request, plus LiteLLM's prompt fields.
pub struct ChatRequest {
    pub prompt: Option<PromptCall>,
    pub model: Option<String>,
    /// Everything else (without the prompt fields), sent upstream as it is.
    pub rest: Map<String, Value>,
}

impl FromBody for ChatRequest {
    /// promptd checks the OpenAI fields it reads itself (`model` a string, `messages` a list of
    /// message objects, `stream` a boolean) and LiteLLM's prompt fields, even without a
    /// `prompt_id` (a typo is not silently ignored); the rest is the model's to check.
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let model = f.str("model");
        let messages = match f.raw("messages") {
            None => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_object) => a.clone(),
            Some(other) => {
                f.error(
                    "list_type",
                    "messages",
                    "Input should be a valid list of message objects ({\"role\": ..., \"content\": ...})",
                    Some(other),
                );
                Vec::new()
            }
        };
        f.bool("stream");
        let (id, version) = (f.str("prompt_id"), f.version("prompt_version", true));
        let environment = f.str("prompt_environment");
        // Empty means "not given", as LiteLLM reads it.
        if let Err(err) = Environment::parse_opt(environment.as_deref()) {
            let msg = format!("Input should be an environment name: {err}");
            f.error(
                "string_pattern_mismatch",
                "prompt_environment",
                &msg,
                f.raw("prompt_environment"),
            );
        }
        let variables = f.object("prompt_variables");
        let mut rest = f.all().clone();
        for k in PROMPT_KEYS {
            rest.remove(k);
        }
        let Some(id) = id else {
            if f.raw("model").is_none() {
                f.errors().push(FieldError::missing(&["body", "model"]));
            }
            return Some(ChatRequest {
                prompt: None,
                model,
                rest,
            });
        };
        rest.remove("messages");
        rest.remove("model");
        let prompt = PromptCall {
            id,
            version,
            environment,
            variables,
            messages,
        };
        Some(ChatRequest {
            prompt: Some(prompt),
            model,
            rest,
        })
    }
}

fn flag(params: &Map<String, Value>, name: &str) -> bool {
    params.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// `POST /chat/completions` and `/v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<Body<ChatRequest>, ApiError>,
) -> Result<Response, OpenAi> {
    let (Caller(caller), Body(req)) = (caller?, body?);
    let Some(call) = req.prompt else {
        let mut body = req.rest;
        body.insert("model".into(), req.model.unwrap_or_default().into());
        return Ok(call_model(&state, body).await?);
    };
    let mut r = PromptRef::parse(&call.id)
        .map_err(|e| ApiError::not_found(format!("Prompt {} not found ({e})", call.id)))?;
    r.version = call.version.or(r.version);
    let env = Environment::parse_opt(call.environment.as_deref())
        .map_err(|e| ApiError::bad_request(format!("prompt_environment: {e}")))?;
    caller.reader_of(&r)?;
    let (entry, template, _includes) = super::prompts::resolve_composed(&state, &r, env.as_ref())?;
    let (rendered, history_at) = template
        .render_for_chat(&call.variables)
        .map_err(|e| ApiError::bad_request(format!("Error compiling prompt '{}': {e}", r.base)))?;
    let params = &entry.record.litellm_params.to_map();
    let model = match (
        flag(params, "ignore_prompt_manager_model"),
        template.model(),
        req.model,
    ) {
        (true, _, Some(m)) | (false, None, Some(m)) => m,
        (_, Some(m), _) => m.to_owned(),
        (_, None, None) => {
            return Err(ApiError::bad_request(format!(
                "Neither the request nor prompt {} names a model; send \"model\" or add model: to the prompt's frontmatter",
                r.base
            ))
            .into());
        }
    };
    // Template messages first, then the caller's (or, for a Genkit template with
    // `{{history}}`, the caller's where it places them); the template's parameters win unless
    // the prompt says to ignore them.
    let mut messages = messages_json(&rendered);
    match history_at {
        Some(at) if at <= messages.len() => {
            messages.splice(at..at, call.messages);
        }
        _ => messages.extend(call.messages),
    }
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert("messages".into(), Value::Array(messages));
    out.extend(req.rest);
    let template_params_win = !flag(params, "ignore_prompt_manager_optional_params");
    for (k, v) in template.optional_params() {
        if template_params_win || !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(call_model(&state, out).await?)
}

/// `GET /v1/models` and `/models`: the models of `model_list`, in OpenAI's shape.
pub async fn models(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<Value>, OpenAi> {
    caller?;
    let mut names = state.models.names();
    names.sort();
    let data: Vec<Value> = names
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "promptd"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}
