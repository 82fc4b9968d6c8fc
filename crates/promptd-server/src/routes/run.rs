//! Running prompts against models: `POST /prompts/test` (a draft, always streamed) and
//! `POST /chat/completions` with an optional stored `prompt_id` (LiteLLM's rules for merging
//! the template with the request), proxied to an OpenAI-compatible upstream.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use promptd_core::{Environment, PromptRef};
use promptd_template::{Message, Prompt, Role};
use promptd_upstream::ChatResponse;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Request keys that steer prompt management and are never sent upstream.
const PROMPT_KEYS: [&str; 4] = [
    "prompt_id",
    "prompt_variables",
    "prompt_version",
    "prompt_environment",
];

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::Validation(vec![
            FieldError::new(
                "model_attributes_type",
                &["body"],
                "Input should be a valid dictionary or object to extract fields from",
            )
            .with_input(&other),
        ])),
    }
}

fn messages_json(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| json!({"role": m.role, "content": m.content}))
        .collect()
}

fn unknown_model(name: &str, state: &AppState) -> ApiError {
    let mut known = state.models.names();
    known.sort();
    ApiError::Detail(
        StatusCode::BAD_REQUEST,
        format!(
            "/chat/completions: Invalid model name passed in model={name}. Configured models: [{}]; add it to model_list in the config file.",
            known.join(", ")
        ),
    )
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
            Body::from_stream(stream),
        )
            .into_response()),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            Err(ApiError::Upstream(status, e.to_body()))
        }
    }
}

/// `POST /prompts/test`: renders a draft `.prompt` and streams the model's answer.
pub async fn test_prompt(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let body = object(body)?;
    let mut errors = Vec::new();
    let content = match body.get("dotprompt_content") {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            errors.push(FieldError::missing(&["body", "dotprompt_content"]));
            None
        }
        Some(other) => {
            errors.push(
                FieldError::new(
                    "string_type",
                    &["body", "dotprompt_content"],
                    "Input should be a valid string",
                )
                .with_input(other),
            );
            None
        }
    };
    let vars = match body.get("prompt_variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            errors.push(
                FieldError::new(
                    "dict_type",
                    &["body", "prompt_variables"],
                    "Input should be a valid dictionary",
                )
                .with_input(other),
            );
            Map::new()
        }
    };
    let history = match body.get("conversation_history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            errors.push(
                FieldError::new(
                    "list_type",
                    &["body", "conversation_history"],
                    "Input should be a valid list",
                )
                .with_input(other),
            );
            Vec::new()
        }
    };
    let Some(content) = content.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let prompt = Prompt::parse(&content, &state.settings.engine)
        .map_err(|e| ApiError::bad_request(format!("Invalid prompt: {e}")))?;
    let model = prompt
        .model()
        .ok_or_else(|| ApiError::bad_request("Model is required in dotprompt metadata"))?
        .to_owned();
    let rendered = prompt
        .render_unchecked(&vars)
        .map_err(|e| ApiError::bad_request(format!("Error rendering prompt: {e}")))?;
    if rendered.is_empty() {
        return Err(ApiError::bad_request(
            "No messages found in rendered prompt",
        ));
    }
    // With a conversation, LiteLLM keeps only the template's system messages.
    let messages: Vec<Value> = if history.is_empty() {
        messages_json(&rendered)
    } else {
        let system: Vec<Message> = rendered
            .into_iter()
            .filter(|m| m.role == Role::System)
            .collect();
        messages_json(&system).into_iter().chain(history).collect()
    };
    let mut data = Map::new();
    data.insert("model".into(), model.into());
    data.insert("messages".into(), Value::Array(messages));
    for (k, v) in prompt.optional_params() {
        data.insert(k.clone(), v.clone());
    }
    data.insert("stream".into(), Value::Bool(true));
    call_model(&state, data).await
}

/// The OpenAI fields promptd itself reads: `model` (a string), `messages` (a list of message
/// objects) and `stream` (a boolean); null counts as absent. The rest is the model's to check.
fn check_openai_fields(body: &Map<String, Value>) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut refuse = |field: &str, kind: &'static str, msg: &str, v: &Value| {
        errors.push(FieldError::new(kind, &["body", field], msg).with_input(v));
    };
    match body.get("model") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(v) => refuse("model", "string_type", "Input should be a valid string", v),
    }
    match body.get("messages") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_object) => {}
        Some(v) => refuse(
            "messages",
            "list_type",
            "Input should be a valid list of message objects ({\"role\": ..., \"content\": ...})",
            v,
        ),
    }
    match body.get("stream") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(v) => refuse("stream", "bool_type", "Input should be a valid boolean", v),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn flag(params: &Map<String, Value>, name: &str) -> bool {
    params.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// `POST /chat/completions` and `/v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let mut body = object(body)?;
    check_openai_fields(&body)?;
    // The prompt fields are checked even without a prompt_id, so a typo is not silently ignored.
    let version = match body.get("prompt_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::extract::positive_u32(v, true).ok_or_else(|| {
            ApiError::Validation(vec![
                FieldError::new(
                    "int_type",
                    &["body", "prompt_version"],
                    "Input should be a positive integer",
                )
                .with_input(v),
            ])
        })?),
    };
    let env = match body.get("prompt_environment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Environment::parse_opt(Some(s))
            .map_err(|e| ApiError::bad_request(format!("prompt_environment: {e}")))?,
        Some(other) => {
            return Err(ApiError::Validation(vec![
                FieldError::new(
                    "string_type",
                    &["body", "prompt_environment"],
                    "Input should be a valid string",
                )
                .with_input(other),
            ]));
        }
    };
    let vars = match body.get("prompt_variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(ApiError::Validation(vec![
                FieldError::new(
                    "dict_type",
                    &["body", "prompt_variables"],
                    "Input should be a valid dictionary",
                )
                .with_input(other),
            ]));
        }
    };
    let Some(raw_id) = body.get("prompt_id").filter(|v| !v.is_null()).cloned() else {
        for k in PROMPT_KEYS {
            body.remove(k);
        }
        if !body.get("model").is_some_and(Value::is_string) {
            return Err(ApiError::Validation(vec![FieldError::missing(&[
                "body", "model",
            ])]));
        }
        return call_model(&state, body).await;
    };
    let raw_id = raw_id
        .as_str()
        .ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                "string_type",
                &["body", "prompt_id"],
                "Input should be a valid string",
            )])
        })?
        .to_owned();
    let mut r = PromptRef::parse(&raw_id)
        .map_err(|e| ApiError::not_found(format!("Prompt {raw_id} not found ({e})")))?;
    if version.is_some() {
        r.version = version;
    }
    if !caller.may_read(&r) {
        return Err(ApiError::forbidden(format!(
            "Your key may not use prompt {r}. Ask an admin for a key whose metadata.prompts lists '{}'.",
            r.base
        )));
    }
    let (entry, template) = super::prompts::resolve_template(&state, &r, env.as_ref())?;
    let rendered = template
        .render(&vars)
        .map_err(|e| ApiError::bad_request(format!("Error compiling prompt '{}': {e}", r.base)))?;
    for k in PROMPT_KEYS {
        body.remove(k);
    }
    // Template messages first, then the caller's.
    let mut messages = messages_json(&rendered);
    match body.remove("messages") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => messages.extend(a),
        Some(other) => {
            return Err(ApiError::Validation(vec![
                FieldError::new(
                    "list_type",
                    &["body", "messages"],
                    "Input should be a valid list",
                )
                .with_input(&other),
            ]));
        }
    }
    let params = &entry.record.litellm_params.to_map();
    let requested_model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    let model = match (
        flag(params, "ignore_prompt_manager_model"),
        template.model(),
        requested_model,
    ) {
        (true, _, Some(m)) | (false, None, Some(m)) => m,
        (_, Some(m), _) => m.to_owned(),
        (_, None, None) => {
            return Err(ApiError::bad_request(format!(
                "Neither the request nor prompt {} names a model; send \"model\" or add model: to the prompt's frontmatter",
                r.base
            )));
        }
    };
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert("messages".into(), Value::Array(messages));
    let template_params_win = !flag(params, "ignore_prompt_manager_optional_params");
    for (k, v) in body {
        if k != "model" {
            out.insert(k, v);
        }
    }
    if template_params_win {
        for (k, v) in template.optional_params() {
            out.insert(k.clone(), v.clone());
        }
    } else {
        for (k, v) in template.optional_params() {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    call_model(&state, out).await
}
