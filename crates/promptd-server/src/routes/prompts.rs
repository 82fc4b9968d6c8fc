//! `/prompts`: LiteLLM's prompt-management endpoints, served from the in-memory index, plus
//! `POST /prompts/{id}/render`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use promptd_core::{Environment, NewVersion, Principal, PromptId, PromptRef};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{JsonBody, PromptIdPath, QueryParams};
use crate::state::{AppState, INFO_CACHE_ENTRIES, LIST_CACHE_ENTRIES, ListKey, PromptEntry};
use crate::wire::{
    self, SUPPORTED_INTEGRATIONS, TemplateSource, environment_of, parse_litellm_params,
    parse_prompt_info, read_version, restore_secrets, spec_json, template_source,
};

#[derive(Debug, Default, Deserialize)]
pub struct EnvQuery {
    pub environment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub environment: Option<String>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

/// Largest `page_size` accepted by the list endpoint.
pub const MAX_PAGE_SIZE: usize = 1000;

fn env_param(raw: Option<&str>) -> ApiResult<Option<Environment>> {
    Environment::parse_opt(raw)
        .map_err(|e| ApiError::bad_request(format!("query parameter environment: {e}")))
}

/// A path id that cannot name any prompt is simply not found.
fn path_ref(raw: &str) -> ApiResult<PromptRef> {
    PromptRef::parse(raw).map_err(|e| ApiError::not_found(format!("Prompt {raw} not found ({e})")))
}

fn refuse_read(caller: &Principal, r: &PromptRef) -> ApiResult<()> {
    if caller.may_read(r) {
        return Ok(());
    }
    let allowed = match &caller.allowed_prompts {
        Some(list) => format!("{list:?}"),
        None => "none".to_owned(),
    };
    Err(ApiError::forbidden(format!(
        "Your key may not read prompt {r}. Your role - {}, your key's prompts - {allowed}. Ask an admin for a key whose metadata.prompts lists '{}'.",
        caller.role, r.base
    )))
}

fn not_found(r: &PromptRef, env: Option<&Environment>) -> ApiError {
    match env {
        Some(e) => ApiError::not_found(format!("Prompt {r} not found in environment {e}")),
        None => ApiError::not_found(format!("Prompt {r} not found")),
    }
}

/// `GET /prompts/list`: the latest version per (prompt, environment) the caller may read.
/// With `page`/`page_size` the answer is paginated and says how many there are in all.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let env = env_param(q.environment.as_deref())?;
    if q.page == Some(0) || q.page_size.is_some_and(|s| s == 0 || s > MAX_PAGE_SIZE) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "value_error",
            &["query", "page"],
            format!("page must be at least 1 and page_size between 1 and {MAX_PAGE_SIZE}"),
        )]));
    }
    let key = ListKey {
        environment: env.as_ref().map(|e| e.to_string()),
        page: q.page,
        page_size: q.page_size,
    };
    let cacheable = caller.reads_everything();
    if cacheable && let Some(hit) = state.list_cache.read().get(&key) {
        return Ok(json_bytes(hit.clone()));
    }
    let generation = state.cache_generation();
    let entries = {
        let idx = state.index.read();
        idx.latest(env.as_ref(), |id| {
            caller.may_list(&PromptId::from_trusted(id))
        })
    };
    let spec = |e: &Arc<PromptEntry>| {
        spec_json(
            &e.record,
            e.record.prompt_id.as_str(),
            Some(read_version(&e.record)),
        )
    };
    let body = if q.page.is_none() && q.page_size.is_none() {
        let prompts: Vec<Value> = entries.iter().map(spec).collect();
        json!({ "prompts": prompts })
    } else {
        let page = q.page.unwrap_or(1);
        let size = q.page_size.unwrap_or(100);
        let total = entries.len();
        let prompts: Vec<Value> = entries
            .iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .map(spec)
            .collect();
        json!({
            "prompts": prompts,
            "total": total,
            "page": page,
            "page_size": size,
            "total_pages": total.div_ceil(size),
        })
    };
    let bytes =
        Bytes::from(serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?);
    if cacheable {
        state.cache_insert(
            &state.list_cache,
            generation,
            key,
            bytes.clone(),
            LIST_CACHE_ENTRIES,
        );
    }
    Ok(json_bytes(bytes))
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
) -> ApiResult<Response> {
    let r = path_ref(&raw)?;
    refuse_read(&caller, &r)?;
    let env = env_param(q.environment.as_deref())?;
    // Same prompt, version and environment → same bytes, whoever asks (permission is above).
    let key = (r.to_string(), env.as_ref().map(|e| e.to_string()));
    if let Some(hit) = state.info_cache.read().get(&key) {
        return Ok(json_bytes(hit.clone()));
    }
    let generation = state.cache_generation();
    let (entry, environments) = {
        let idx = state.index.read();
        let entry = idx
            .resolve(&r.base, env.as_ref(), r.version)
            .ok_or_else(|| not_found(&r, env.as_ref()))?;
        (entry, idx.environments(&r.base))
    };
    let raw_template = entry
        .template
        .get(&entry.record, &state.settings.engine)
        .as_ref()
        .ok()
        .map(|t| {
            json!({
                "litellm_prompt_id": entry.record.prompt_id.as_str(),
                "content": t.content(),
                "metadata": Value::Object(t.metadata().clone()),
            })
        });
    let body = json!({
        "prompt_spec": spec_json(&entry.record, entry.record.prompt_id.as_str(), Some(read_version(&entry.record))),
        "raw_prompt_template": raw_template,
        "environments": environments,
    });
    let bytes =
        Bytes::from(serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?);
    state.cache_insert(
        &state.info_cache,
        generation,
        key,
        bytes.clone(),
        INFO_CACHE_ENTRIES,
    );
    Ok(json_bytes(bytes))
}

/// `GET /prompts/{id}/versions`: newest first, grouped by environment in serve order.
pub async fn versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
) -> ApiResult<Json<Value>> {
    let r = path_ref(&raw)?;
    let base = PromptRef {
        base: r.base.clone(),
        version: None,
    };
    let env = env_param(q.environment.as_deref())?;
    let all = state.index.read().versions(&r.base, env.as_ref());
    let visible: Vec<Value> = all
        .iter()
        .filter(|e| {
            caller.may_read(&PromptRef {
                base: e.record.prompt_id.clone(),
                version: Some(read_version(&e.record)),
            })
        })
        .map(|e| {
            spec_json(
                &e.record,
                e.record.prompt_id.as_str(),
                Some(read_version(&e.record)),
            )
        })
        .collect();
    if visible.is_empty() {
        if !all.is_empty() {
            refuse_read(&caller, &base)?;
        }
        return Err(ApiError::not_found(format!(
            "No versions found for prompt ID {}",
            r.base
        )));
    }
    Ok(Json(json!({ "prompts": visible })))
}

/// A validated body of POST or PUT.
struct WriteBody {
    prompt_id: Option<String>,
    litellm_params: Map<String, Value>,
    prompt_info: Map<String, Value>,
}

fn parse_write_body(body: &Value, id_required: bool) -> ApiResult<WriteBody> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Validation(vec![
            FieldError::new(
                "model_attributes_type",
                &["body"],
                "Input should be a valid dictionary or object to extract fields from",
            )
            .with_input(body),
        ]));
    };
    let prompt_id = if id_required || obj.contains_key("prompt_id") {
        wire::required_str(obj, "prompt_id", &mut errors).map(str::to_owned)
    } else {
        None
    };
    let params = match obj.get("litellm_params") {
        None => {
            errors.push(FieldError::missing(&["body", "litellm_params"]));
            None
        }
        Some(v) => parse_litellm_params(v, &["body", "litellm_params"], &mut errors),
    };
    let info = parse_prompt_info(
        obj.get("prompt_info"),
        &["body", "prompt_info"],
        &mut errors,
    );
    match (errors.is_empty(), params, info) {
        (true, Some(litellm_params), Some(prompt_info)) => Ok(WriteBody {
            prompt_id,
            litellm_params,
            prompt_info,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Checks the integration and compiles the template a write carries.
fn validate_template(
    state: &AppState,
    params: &Map<String, Value>,
) -> ApiResult<promptd_template::Prompt> {
    let integration = params
        .get("prompt_integration")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !SUPPORTED_INTEGRATIONS.contains(&integration) {
        return Err(ApiError::bad_request(format!(
            "Unsupported prompt_integration '{integration}'. promptd supports: {}.",
            SUPPORTED_INTEGRATIONS.join(", ")
        )));
    }
    let text = match template_source(params).map_err(ApiError::bad_request)? {
        TemplateSource::Text(t) => t,
        TemplateSource::File(p) => {
            return Err(ApiError::bad_request(format!(
                "prompt_file ('{p}') is only accepted in the config file: the API does not read files on the server. Send the text as dotprompt_content."
            )));
        }
    };
    state.compile(&text)
}

fn refuse_config_type(info: &Map<String, Value>) -> ApiResult<()> {
    if info.get("prompt_type").and_then(Value::as_str) == Some("config") {
        return Err(ApiError::bad_request(
            "prompt_info.prompt_type 'config' is reserved for prompts loaded from the config file; send 'db' or leave it out.",
        ));
    }
    Ok(())
}

fn require_admin(caller: &Principal, action: &str) -> ApiResult<()> {
    if caller.can_write() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only proxy admins can {action} prompts"
        )))
    }
}

fn written(entry: &PromptEntry) -> Json<Value> {
    let r = &entry.record;
    Json(spec_json(
        r,
        &format!("{}.v{}", r.prompt_id, r.version),
        Some(r.version),
    ))
}

/// The common end of POST, PUT and PATCH: compile the template, pin `prompt_info.environment`
/// to the target environment, restore redacted secrets from `previous`, append the version.
async fn store_version(
    state: &AppState,
    caller: &Principal,
    prompt_id: PromptId,
    env: Environment,
    mut params: Map<String, Value>,
    mut info: Map<String, Value>,
    previous: Option<Arc<PromptEntry>>,
) -> ApiResult<Json<Value>> {
    let template = validate_template(state, &params)?;
    info.insert("environment".into(), env.as_str().into());
    restore_secrets(
        &mut params,
        previous
            .as_ref()
            .map(|e| e.record.litellm_params.to_map())
            .as_ref(),
    );
    let entry = state
        .append_version(
            NewVersion {
                prompt_id,
                environment: env,
                created_by: caller.user_id.clone(),
                litellm_params: params,
                prompt_info: info,
            },
            template,
        )
        .await?;
    Ok(written(&entry))
}

/// `POST /prompts`: creates the next version of a prompt in its environment.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_admin(&caller, "create")?;
    let b = parse_write_body(&body, true)?;
    let raw_id = b.prompt_id.unwrap_or_default();
    let id = PromptId::parse_new(&raw_id).map_err(|e| ApiError::bad_request(e.0))?;
    refuse_config_type(&b.prompt_info)?;
    if state.index.read().is_config(&id) {
        return Err(ApiError::bad_request(format!(
            "Prompt {id} is defined in the config file and cannot be changed through the API. Edit the config file, or choose another prompt_id."
        )));
    }
    let env = environment_of(&b.prompt_info)?;
    let previous = state.index.read().resolve(&id, Some(&env), None);
    store_version(
        &state,
        &caller,
        id,
        env,
        b.litellm_params,
        b.prompt_info,
        previous,
    )
    .await
}

/// `PUT /prompts/{id}`: a new version of an existing prompt (in `prompt_info.environment`).
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_admin(&caller, "update")?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let b = parse_write_body(&body, false)?;
    {
        let idx = state.index.read();
        if idx.is_config(&r.base) {
            return Err(ApiError::bad_request("Cannot update config prompts."));
        }
        if !idx.has_stored(&r.base) {
            return Err(ApiError::not_found(format!(
                "Prompt with ID {} not found. Create it with POST /prompts first.",
                r.base
            )));
        }
    }
    refuse_config_type(&b.prompt_info)?;
    let env = environment_of(&b.prompt_info)?;
    let previous = {
        let idx = state.index.read();
        idx.resolve(&r.base, Some(&env), None)
            .or_else(|| idx.resolve(&r.base, None, None))
    };
    store_version(
        &state,
        &caller,
        r.base,
        env,
        b.litellm_params,
        b.prompt_info,
        previous,
    )
    .await
}

/// `PATCH /prompts/{id}?environment=`: replaces the given top-level fields of the latest (or
/// the addressed) version and stores the result as a new version; versions are immutable.
pub async fn patch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_admin(&caller, "patch")?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let env = env_param(q.environment.as_deref())?.unwrap_or_else(Environment::development);
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Validation(vec![
            FieldError::new(
                "model_attributes_type",
                &["body"],
                "Input should be a valid dictionary or object to extract fields from",
            )
            .with_input(&body),
        ]));
    };
    let mut errors = Vec::new();
    let new_params = obj
        .get("litellm_params")
        .filter(|v| !v.is_null())
        .map(|v| parse_litellm_params(v, &["body", "litellm_params"], &mut errors));
    let new_info = obj
        .get("prompt_info")
        .filter(|v| !v.is_null())
        .map(|v| parse_prompt_info(Some(v), &["body", "prompt_info"], &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let current = {
        let idx = state.index.read();
        if idx.is_config(&r.base) {
            return Err(ApiError::bad_request("Cannot update config prompts."));
        }
        idx.resolve(&r.base, Some(&env), r.version).ok_or_else(|| {
            ApiError::not_found(format!(
                "Prompt with ID {} not found in environment {env}",
                r
            ))
        })?
    };
    let params = match new_params {
        Some(p) => p.unwrap_or_default(),
        None => current.record.litellm_params.to_map(),
    };
    let info = match new_info {
        Some(i) => {
            let i = i.unwrap_or_default();
            refuse_config_type(&i)?;
            if let Some(e) = i.get("environment").and_then(Value::as_str)
                && e != env.as_str()
            {
                return Err(ApiError::bad_request(format!(
                    "prompt_info.environment '{e}' differs from the environment being patched ('{env}'). PATCH cannot move a prompt between environments; use PUT with prompt_info.environment to create a version there."
                )));
            }
            i
        }
        None => current.record.prompt_info.to_map(),
    };
    store_version(&state, &caller, r.base, env, params, info, Some(current)).await
}

/// `DELETE /prompts/{id}[.vN]?environment=`: one version, one environment, or everything.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
) -> ApiResult<Json<Value>> {
    require_admin(&caller, "delete")?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let env = env_param(q.environment.as_deref())?;
    let target_env = {
        let idx = state.index.read();
        if idx.is_config(&r.base) {
            return Err(ApiError::bad_request("Cannot delete config prompts."));
        }
        let missing = || ApiError::not_found(format!("Prompt with ID {raw} not found"));
        match (r.version, &env) {
            (Some(v), Some(e)) => {
                idx.resolve(&r.base, Some(e), Some(v))
                    .ok_or_else(|| not_found(&r, Some(e)))?;
                Some(e.clone())
            }
            (Some(v), None) => {
                let envs: Vec<String> = idx
                    .environments(&r.base)
                    .into_iter()
                    .filter(|e| {
                        idx.resolve(
                            &r.base,
                            Some(&Environment::from_trusted(e.clone())),
                            Some(v),
                        )
                        .is_some()
                    })
                    .collect();
                match envs.as_slice() {
                    [] => return Err(missing()),
                    [one] => Some(Environment::from_trusted(one.clone())),
                    many => {
                        return Err(ApiError::bad_request(format!(
                            "Version {v} of {} exists in several environments ({}); add ?environment= to say which one to delete.",
                            r.base,
                            many.join(", ")
                        )));
                    }
                }
            }
            (None, Some(e)) => {
                if !idx.environments(&r.base).iter().any(|x| x == e.as_str()) {
                    return Err(not_found(&r, Some(e)));
                }
                Some(e.clone())
            }
            (None, None) => {
                if !idx.has_stored(&r.base) {
                    return Err(missing());
                }
                None
            }
        }
    };
    state
        .delete_versions(&r.base, target_env.as_ref(), r.version)
        .await?;
    let message = match (r.version, &target_env) {
        (Some(v), Some(e)) => format!(
            "Prompt {} version {v} deleted successfully from {e}",
            r.base
        ),
        (None, Some(e)) => format!("Prompt {} deleted successfully from {e}", r.base),
        _ => format!("Prompt {} deleted successfully", r.base),
    };
    Ok(Json(json!({ "message": message })))
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
            ApiError::Detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Prompt {} version {} has no usable template: {e}",
                    r.base, entry.record.version
                ),
            )
        })?;
    Ok((entry, template))
}

/// `POST /prompts/{id}/render`: the messages a prompt renders to, without calling a model.
pub async fn render(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let mut r = path_ref(&raw)?;
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
        )]));
    };
    let mut errors = Vec::new();
    let vars = match obj.get("prompt_variables") {
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
    let env = match obj.get("environment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => env_param(Some(s))?,
        Some(other) => {
            errors.push(
                FieldError::new(
                    "string_type",
                    &["body", "environment"],
                    "Input should be a valid string",
                )
                .with_input(other),
            );
            None
        }
    };
    match obj.get("version") {
        None | Some(Value::Null) => {}
        Some(v) => match crate::extract::positive_u32(v, false) {
            Some(n) => {
                if r.version.is_some_and(|rv| rv != n) {
                    return Err(ApiError::bad_request(format!(
                        "The path asks for version {} but the body for version {n}; send one.",
                        r.version.unwrap_or(0)
                    )));
                }
                r.version = Some(n);
            }
            None => errors.push(
                FieldError::new(
                    "int_type",
                    &["body", "version"],
                    "Input should be a positive integer",
                )
                .with_input(v),
            ),
        },
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    refuse_read(&caller, &r)?;
    let (entry, template) = resolve_template(&state, &r, env.as_ref())?;
    let messages = template
        .render(&vars)
        .map_err(|e| ApiError::bad_request(format!("Error rendering prompt '{}': {e}", r.base)))?;
    Ok(Json(json!({
        "prompt_id": entry.record.prompt_id.as_str(),
        "version": read_version(&entry.record),
        "environment": entry.record.environment.as_str(),
        "model": template.model(),
        "messages": messages,
        "optional_params": Value::Object(template.optional_params().clone()),
    })))
}
