//! `POST /prompts/{id}/render`: the messages a stored prompt renders to, without calling a
//! model; and the lookup of a stored prompt's template shared with the model-calling routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use promptd_core::{Environment, PromptRef};
use serde_json::{Map, Value, json};

use super::{env_param, not_found, path_ref};
use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult};
use crate::extract::PromptIdPath;
use crate::state::{AppState, PromptEntry};
use crate::wire::read_version;

/// The body of `POST /prompts/{id}/render`.
pub struct RenderRequest {
    pub prompt_variables: Map<String, Value>,
    pub environment: Option<String>,
    pub version: Option<u32>,
}

impl FromBody for RenderRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(RenderRequest {
            prompt_variables: f.object("prompt_variables"),
            environment: f.str("environment"),
            version: f.version("version", false),
        })
    }
}

/// The version a reference resolves to (404 if none) and its compiled template (422 if the
/// stored template is unusable, which only rows written by other tools can be). Shared by
/// render and the model-calling endpoints; the caller checks permission first.
pub(crate) fn resolve_template(
    state: &AppState,
    r: &PromptRef,
    env: Option<&Environment>,
) -> ApiResult<(Arc<PromptEntry>, promptd_template::Prompt)> {
    let entry = state
        .index
        .read()
        .resolve(&r.base, env, r.version)
        .ok_or_else(|| not_found(r, env))?;
    let template = entry
        .template
        .get(&entry.record, &state.settings.engine)
        .clone()
        .map_err(|e| {
            ApiError::Unusable(format!(
                "Prompt {} version {} has no usable template: {e}",
                r.base, entry.record.version
            ))
        })?;
    Ok((entry, template))
}

/// Like [`resolve_template`], with the template composed with the prompts it includes,
/// resolved from the in-memory index (no database read), and the versions they resolved to.
/// An include that resolves to nothing (deleted with `?force=true`) or closes a cycle is 422.
pub(crate) fn resolve_composed(
    state: &AppState,
    r: &PromptRef,
    env: Option<&Environment>,
) -> ApiResult<(
    Arc<PromptEntry>,
    promptd_template::Prompt,
    Vec<crate::includes::IncludeUse>,
)> {
    let (entry, template) = resolve_template(state, r, env)?;
    if template.includes().is_empty() {
        return Ok((entry, template, Vec::new()));
    }
    let root = crate::includes::Root {
        prompt_id: &entry.record.prompt_id,
        environment: &entry.record.environment,
        version: Some(entry.record.version),
        template: &template,
    };
    let (composed, uses) = crate::includes::compose(
        &state.index.read(),
        &state.settings.engine,
        &root,
        Some(&entry.template),
    )
    .map_err(|e| {
        ApiError::Unusable(format!(
            "Prompt {} version {} cannot be rendered: {e}",
            r.base, entry.record.version
        ))
    })?;
    Ok((entry, composed, uses))
}

/// `POST /prompts/{id}/render`: a version in the path (`name.v2`) and one in the body must agree.
pub async fn render(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    Body(req): Body<RenderRequest>,
) -> ApiResult<Json<Value>> {
    let mut r = path_ref(&raw)?;
    let env = env_param("query parameter environment", req.environment.as_deref())?;
    if let Some(n) = req.version {
        if let Some(in_path) = r.version.filter(|v| *v != n) {
            return Err(ApiError::bad_request(format!(
                "The path asks for version {in_path} but the body for version {n}; send one."
            )));
        }
        r.version = Some(n);
    }
    caller.reader_of(&r)?;
    let (entry, template, uses) = resolve_composed(&state, &r, env.as_ref())?;
    let messages = template
        .render(&req.prompt_variables)
        .map_err(|e| ApiError::bad_request(format!("Error rendering prompt '{}': {e}", r.base)))?;
    Ok(Json(json!({
        "prompt_id": entry.record.prompt_id.as_str(),
        "version": read_version(&entry.record),
        "environment": entry.record.environment.as_str(),
        "model": template.model(),
        "messages": messages,
        "optional_params": Value::Object(template.optional_params().clone()),
        "includes": crate::includes::uses_json(&uses),
    })))
}
