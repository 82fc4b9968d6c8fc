//! `GET /beta/litellm_prompt_management`: promptd as the prompt store of a LiteLLM gateway.
//!
//! LiteLLM's `generic_prompt_management` integration (1.108.7,
//! `litellm/integrations/generic_prompt_management/generic_prompt_manager.py`) sends
//! `GET {api_base}/beta/litellm_prompt_management?prompt_id=ID` plus its configured
//! `provider_specific_query_params`, with `Authorization: Bearer <api_key>`, reads
//! `prompt_template`, `prompt_template_model` and `prompt_template_optional_params`, and then
//! replaces `{name}` (and `{{name}}`) in each message's content with `str(value)` itself.
//!
//! So the answer is the stored template's messages with each variable left as a `{name}`
//! placeholder, and a template whose output depends on a variable in a way that substitution
//! cannot express is a 422 that says why (the rule is in `promptd_template::placeholders`).

use axum::Json;
use axum::extract::State;
use promptd_template::PlaceholderError;
use serde::Deserialize;
use serde_json::{Value, json};

use super::prompts::{env_param, path_ref, resolve_template};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::QueryParams;
use crate::state::AppState;
use crate::wire::read_version;

/// The query LiteLLM sends. Other parameters (from `provider_specific_query_params`) are
/// ignored, as FastAPI ignores unknown query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct GatewayQuery {
    pub prompt_id: Option<String>,
    pub environment: Option<String>,
    pub version: Option<String>,
}

/// `GET /beta/litellm_prompt_management`: the version `prompt_id` (with an optional `.vN`
/// suffix), `environment` and `version` select, by the rules of `GET /prompts/{id}/info`, as
/// messages with `{name}` placeholders.
pub async fn litellm_prompt_management(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<GatewayQuery>,
) -> ApiResult<Json<Value>> {
    let raw = match q.prompt_id.as_deref() {
        Some(id) if !id.is_empty() => id,
        // LiteLLM sends `prompt_id=` when its config has no `litellm_params.prompt_id`.
        _ => {
            return Err(ApiError::Validation(vec![
                FieldError::new(
                    "missing",
                    &["query", "prompt_id"],
                    "Field required: set litellm_params.prompt_id in the LiteLLM prompt config to the promptd prompt id",
                )
                .with_input(&json!(q.prompt_id)),
            ]));
        }
    };
    let version = match q.version.as_deref() {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    ApiError::Validation(vec![
                        FieldError::new(
                            "int_parsing",
                            &["query", "version"],
                            "Input should be a positive integer (a version number such as 3)",
                        )
                        .with_input(&json!(text)),
                    ])
                })?,
        ),
    };
    let mut r = path_ref(raw)?;
    if let Some(n) = version {
        if let Some(in_id) = r.version.filter(|v| *v != n) {
            return Err(ApiError::bad_request(format!(
                "prompt_id {raw} asks for version {in_id} but the version parameter for version {n}; send one."
            )));
        }
        r.version = Some(n);
    }
    let env = env_param("query parameter environment", q.environment.as_deref())?;
    caller.reader_of(&r)?;
    let (entry, template) = resolve_template(&state, &r, env.as_ref())?;
    let record = &entry.record;
    let messages = template.placeholder_messages().map_err(|e| {
        let why = match &e {
            PlaceholderError::Render(t) => format!("rendering it failed: {t}"),
            other => other.to_string(),
        };
        ApiError::Unusable(format!(
            "Prompt {id} version {version} ({env}) cannot be served to LiteLLM's prompt management, which fills in variables by plain text substitution: {why}. \
             Render it with promptd instead: call promptd's /chat/completions with prompt_id and prompt_variables, or POST /prompts/{id}/render.",
            id = record.prompt_id,
            version = read_version(record),
            env = record.environment,
        ))
    })?;
    Ok(Json(json!({
        "prompt_id": record.prompt_id.as_str(),
        "prompt_template": messages,
        "prompt_template_model": template.model(),
        "prompt_template_optional_params": Value::Object(template.optional_params().clone()),
        "version": read_version(record),
        "environment": record.environment.as_str(),
    })))
}
