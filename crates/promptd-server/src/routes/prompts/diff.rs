//! `GET /prompts/{id}/diff?from=<ref>&to=<ref>`: what changes between two versions of a prompt,
//! computed from memory. A ref is an environment (`production` = its latest version) or one
//! version of it (`production.v3`).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use promptd_core::{Environment, PromptId, PromptRef, split_version_suffix};
use promptd_template::Prompt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{not_found, path_ref, resolve_template};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{PromptIdPath, QueryParams};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One side of a diff: an environment and, optionally, a version in it.
struct Side {
    environment: Environment,
    version: Option<u32>,
}

fn parse_side(name: &str, raw: Option<&str>) -> ApiResult<Side> {
    let raw = raw.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "query parameter {name} is required: an environment (production = its latest version) or one version of it (production.v3)"
        ))
    })?;
    let (env, version) = match split_version_suffix(raw) {
        Some((env, v)) => (env, Some(v)),
        None => (raw, None),
    };
    let environment = Environment::parse(env)
        .map_err(|e| ApiError::bad_request(format!("query parameter {name}: {e}")))?;
    Ok(Side {
        environment,
        version,
    })
}

/// The resolved side: its label (`staging.v3`) and compiled template.
fn resolve_side(state: &AppState, base: &PromptId, side: &Side) -> ApiResult<(String, Prompt)> {
    let r = PromptRef {
        base: base.clone(),
        version: side.version,
    };
    if state
        .index
        .read()
        .resolve(base, Some(&side.environment), side.version)
        .is_none()
    {
        return Err(not_found(&r, Some(&side.environment)));
    }
    let (entry, template) = resolve_template(state, &r, Some(&side.environment))?;
    let label = format!("{}.v{}", entry.record.environment, entry.record.version);
    Ok((label, template))
}

/// The model and parameters of a template: its frontmatter without `input` and `output`.
fn parameters(t: &Prompt) -> Map<String, Value> {
    t.optional_params().clone()
}

fn compare_parameters(from: &Map<String, Value>, to: &Map<String, Value>) -> Value {
    let added: Map<String, Value> = (to.iter())
        .filter(|(k, _)| !from.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed: Map<String, Value> = (from.iter())
        .filter(|(k, _)| !to.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let changed: Map<String, Value> = (from.iter())
        .filter_map(|(k, a)| {
            let b = to.get(k)?;
            (a != b).then(|| (k.clone(), json!({"from": a, "to": b})))
        })
        .collect();
    json!({"added": added, "removed": removed, "changed": changed})
}

fn variable_names(t: &Prompt) -> Vec<String> {
    t.input_names()
}

/// The template bodies as `git diff` prints them (empty when they are the same).
fn unified(from_label: &str, to_label: &str, from: &Prompt, to: &Prompt) -> String {
    similar::TextDiff::from_lines(from.content(), to.content())
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{from_label}"), &format!("b/{to_label}"))
        .to_string()
}

/// `GET /prompts/{id}/diff?from=&to=`: JSON, or the unified diff of the template body alone
/// with `Accept: text/plain`.
pub async fn diff(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<DiffQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let r = path_ref(&raw)?;
    let base = PromptRef {
        base: r.base.clone(),
        version: None,
    };
    caller.reader_of(&base)?;
    let (from, to) = (
        parse_side("from", q.from.as_deref())?,
        parse_side("to", q.to.as_deref())?,
    );
    let (from_label, a) = resolve_side(&state, &r.base, &from)?;
    let (to_label, b) = resolve_side(&state, &r.base, &to)?;
    let text = unified(&from_label, &to_label, &a, &b);
    let wants_text = (headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
        .is_some_and(|v| v.contains("text/plain") && !v.contains("application/json"));
    if wants_text {
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let (va, vb) = (variable_names(&a), variable_names(&b));
    let (pa, pb) = (parameters(&a), parameters(&b));
    let identical = text.is_empty() && a.model() == b.model() && pa == pb && va == vb;
    Ok(axum::Json(json!({
        "prompt_id": r.base.as_str(),
        "from": from_label,
        "to": to_label,
        "identical": identical,
        "template": text,
        "model": {"from": a.model(), "to": b.model(), "changed": a.model() != b.model()},
        "parameters": compare_parameters(&pa, &pb),
        "variables": {
            "added": vb.iter().filter(|v| !va.contains(v)).collect::<Vec<_>>(),
            "removed": va.iter().filter(|v| !vb.contains(v)).collect::<Vec<_>>(),
        },
    }))
    .into_response())
}
