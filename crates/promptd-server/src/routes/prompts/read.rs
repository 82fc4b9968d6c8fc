//! Reading prompts: list, info (and get), versions. Every answer comes from the in-memory
//! index; the serialised list and info answers are cached (see `App`'s caches).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use promptd_core::{PromptId, PromptRef};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{EnvQuery, env_param, not_found, path_ref};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{Conditions, PromptIdPath, QueryParams};
use crate::state::{
    AppState, INFO_CACHE_ENTRIES, LIST_CACHE_ENTRIES, ListKey, PromptEntry, Tagged,
};
use crate::wire::{self, read_version, spec_json};

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub environment: Option<String>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

/// Largest `page_size` accepted by the list endpoint.
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of a list: `(page, page_size)`, checked.
fn page_of(q: &ListQuery) -> ApiResult<Option<(usize, usize)>> {
    if q.page == Some(0) || q.page_size.is_some_and(|s| s == 0 || s > MAX_PAGE_SIZE) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "value_error",
            &["query", "page"],
            format!("page must be at least 1 and page_size between 1 and {MAX_PAGE_SIZE}"),
        )]));
    }
    Ok((q.page.is_some() || q.page_size.is_some())
        .then(|| (q.page.unwrap_or(1), q.page_size.unwrap_or(100))))
}

fn spec_of(e: &Arc<PromptEntry>) -> Value {
    spec_json(
        &e.record,
        e.record.prompt_id.as_str(),
        Some(read_version(&e.record)),
    )
}

/// `GET /prompts/list`: the latest version per (prompt, environment) the caller may read.
/// With `page`/`page_size` the answer is paginated and says how many there are in all.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ListQuery>,
    conds: Conditions,
) -> ApiResult<Response> {
    let env = env_param("query parameter environment", q.environment.as_deref())?;
    let page = page_of(&q)?;
    let key = ListKey {
        environment: env.as_ref().map(|e| e.to_string()),
        page: q.page,
        page_size: q.page_size,
    };
    let cacheable = caller.reads_everything();
    if cacheable && let Some(hit) = state.list_cache.read().get(&key).cloned() {
        return Ok(tagged(hit, &conds));
    }
    let generation = state.cache_generation();
    let entries = state.index.read().latest(env.as_ref(), |id| {
        caller.may_list(&PromptId::from_trusted(id))
    });
    let body = match page {
        None => json!({ "prompts": entries.iter().map(spec_of).collect::<Vec<_>>() }),
        Some((page, size)) => {
            let total = entries.len();
            let skip = (page - 1).saturating_mul(size);
            let prompts: Vec<Value> = entries.iter().skip(skip).take(size).map(spec_of).collect();
            json!({"prompts": prompts, "total": total, "page": page, "page_size": size,
                   "total_pages": total.div_ceil(size)})
        }
    };
    let bytes = to_bytes(&body)?;
    // A list has no single version: its tag is a digest of the answer itself.
    let digest = promptd_core::content_sha256(&String::from_utf8_lossy(&bytes));
    let answer = Tagged {
        etag: header_value(&format!("\"list.{}\"", &digest[..16]))?,
        body: bytes,
    };
    if cacheable {
        let cache = &state.list_cache;
        state.cache_insert(cache, generation, key, answer.clone(), LIST_CACHE_ENTRIES);
    }
    Ok(tagged(answer, &conds))
}

fn header_value(tag: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(tag).map_err(ApiError::internal)
}

/// A JSON answer with its `ETag`, or 304 when `If-None-Match` names that tag.
fn tagged(answer: Tagged, conds: &Conditions) -> Response {
    if conds.not_modified(answer.etag.to_str().unwrap_or_default()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, answer.etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, answer.etag),
        ],
        answer.body,
    )
        .into_response()
}

fn to_bytes(body: &Value) -> ApiResult<Bytes> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

fn json_bytes(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// `GET /prompts/{id}` and `GET /prompts/{id}/info`.
pub async fn info(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
    conds: Conditions,
) -> ApiResult<Response> {
    let r = path_ref(&raw)?;
    caller.reader_of(&r)?;
    let env = env_param("query parameter environment", q.environment.as_deref())?;
    // Same prompt, version and environment → same bytes, whoever asks (permission is above).
    let key = (r.to_string(), env.as_ref().map(|e| e.to_string()));
    if let Some(hit) = state.info_cache.read().get(&key).cloned() {
        return Ok(tagged(hit, &conds));
    }
    let generation = state.cache_generation();
    let (entry, environments) = {
        let idx = state.index.read();
        let entry = idx
            .resolve(&r.base, env.as_ref(), r.version)
            .ok_or_else(|| not_found(&r, env.as_ref()))?;
        (entry, idx.environments(&r.base))
    };
    let compiled = entry
        .template
        .get(&entry.record, &state.settings.engine)
        .as_ref()
        .ok();
    let raw_template = compiled.map(|t| {
        json!({
            "litellm_prompt_id": entry.record.prompt_id.as_str(),
            "content": t.content(),
            "metadata": Value::Object(wire::redact(t.metadata())),
        })
    });
    let mut body = json!({
        "prompt_spec": spec_of(&entry),
        "raw_prompt_template": raw_template,
        "environments": environments,
    });
    // A promptd key after LiteLLM's, present only for a prompt that includes others
    // (docs/compatibility.md).
    if let Some(t) = compiled.filter(|t| !t.includes().is_empty())
        && let Value::Object(m) = &mut body
    {
        let deps = crate::includes::dependencies_json(&state.index.read(), &entry, t);
        m.insert("dependencies".into(), deps);
    }
    let answer = Tagged {
        body: to_bytes(&body)?,
        etag: header_value(&entry.record.etag())?,
    };
    let cache = &state.info_cache;
    state.cache_insert(cache, generation, key, answer.clone(), INFO_CACHE_ENTRIES);
    Ok(tagged(answer, &conds))
}

/// `GET /prompts/{id}/versions`: newest first, grouped by environment in serve order.
pub async fn versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
    conds: Conditions,
) -> ApiResult<Response> {
    let r = path_ref(&raw)?;
    let env = env_param("query parameter environment", q.environment.as_deref())?;
    let (all, served) = {
        let idx = state.index.read();
        let served = idx.resolve(&r.base, env.as_ref(), None);
        (idx.versions(&r.base, env.as_ref()), served)
    };
    let visible: Vec<Value> = all
        .iter()
        .filter(|e| {
            caller.may_read(&PromptRef {
                base: e.record.prompt_id.clone(),
                version: Some(read_version(&e.record)),
            })
        })
        .map(spec_of)
        .collect();
    if visible.is_empty() {
        if !all.is_empty() {
            caller.reader_of(&PromptRef {
                base: r.base.clone(),
                version: None,
            })?;
        }
        return Err(ApiError::not_found(format!(
            "No versions found for prompt ID {}",
            r.base
        )));
    }
    // Tagged like the version a read with the same environment serves: a write that changes
    // what this caller would edit changes the tag.
    let body = to_bytes(&json!({ "prompts": visible }))?;
    match served {
        Some(e) => Ok(tagged(
            Tagged {
                body,
                etag: header_value(&e.record.etag())?,
            },
            &conds,
        )),
        None => Ok(json_bytes(body)),
    }
}
