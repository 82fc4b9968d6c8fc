//! Writing prompts: `POST`, `PUT`, `PATCH` and `DELETE`. Every write that adds a version is one
//! read-modify-write ([`store_version`] → `App::append_derived`); every write needs a
//! [`Writer`] for the prompt and the environments it touches.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use promptd_core::{Act, Environment, Kind, PromptId, PromptRef, Selection, Writer};
use promptd_template::{Definition, DefinitionError};
use serde_json::{Map, Value, json};

use super::{EnvQuery, env_param, not_found, path_ref};
use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Conditions, PromptIdPath, QueryParams};
use crate::state::{AppState, NewContent, PromptEntry, WriteMeta};
use crate::wire::{
    environment_of, parse_litellm_params, parse_prompt_info, restore_secrets, spec_json,
};

/// The body of `POST /prompts` ([`CreateRequest`], `prompt_id` required) and
/// `PUT /prompts/{id}` ([`UpdateRequest`], `prompt_id` optional: the path names the prompt).
pub struct PromptWrite<const ID_REQUIRED: bool> {
    pub prompt_id: Option<String>,
    pub litellm_params: Map<String, Value>,
    pub prompt_info: Map<String, Value>,
    /// The commit message recorded with the version.
    pub message: Option<String>,
}

pub type CreateRequest = PromptWrite<true>;
pub type UpdateRequest = PromptWrite<false>;

impl<const ID_REQUIRED: bool> FromBody for PromptWrite<ID_REQUIRED> {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let prompt_id = if ID_REQUIRED || f.has("prompt_id") {
            f.required_str("prompt_id")
        } else {
            None
        };
        let params = match f.all().get("litellm_params") {
            None => {
                f.errors().push(crate::error::FieldError::missing(&[
                    "body",
                    "litellm_params",
                ]));
                None
            }
            Some(v) => parse_litellm_params(v, &["body", "litellm_params"], f.errors()),
        };
        let info = parse_prompt_info(
            f.all().get("prompt_info"),
            &["body", "prompt_info"],
            f.errors(),
        );
        let message = f.message();
        Some(PromptWrite {
            prompt_id,
            litellm_params: params?,
            prompt_info: info?,
            message,
        })
    }
}

/// The body of `PATCH /prompts/{id}`: the fields to replace (the others come from the base).
pub struct PromptPatch {
    pub litellm_params: Option<Map<String, Value>>,
    pub prompt_info: Option<Map<String, Value>>,
    pub message: Option<String>,
}

impl FromBody for PromptPatch {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let params = f
            .raw("litellm_params")
            .map(|v| parse_litellm_params(v, &["body", "litellm_params"], f.errors()));
        let info = f
            .raw("prompt_info")
            .map(|v| parse_prompt_info(Some(v), &["body", "prompt_info"], f.errors()));
        let message = f.message();
        Some(PromptPatch {
            litellm_params: params.map(Option::unwrap_or_default),
            prompt_info: info.map(Option::unwrap_or_default),
            message,
        })
    }
}

/// Checks the integration and compiles the template a write carries.
pub(super) fn validate_template(
    state: &AppState,
    params: &Map<String, Value>,
) -> ApiResult<promptd_template::Prompt> {
    Definition::compile_inline(params, &state.settings.engine).map_err(|e| match e {
        DefinitionError::Template(t) => {
            ApiError::bad_request(format!("Invalid prompt template: {t}"))
        }
        other => ApiError::bad_request(other.to_string()),
    })
}

/// Checks a template's includes against the index as the version being saved would see them:
/// every name resolves in `env`, no cycle (also one closed through this prompt's new version),
/// no chain deeper than the limit, and the whole composition compiles.
fn check_includes(
    state: &AppState,
    id: &PromptId,
    env: &Environment,
    template: &promptd_template::Prompt,
) -> ApiResult<()> {
    if template.includes().is_empty() {
        return Ok(());
    }
    let root = crate::includes::Root {
        prompt_id: id,
        environment: env,
        version: None,
        template,
    };
    crate::includes::compose(&state.index.read(), &state.settings.engine, &root, None)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(format!("Invalid prompt template: {e}")))
}

/// 409 when other prompts include what a delete removes, unless the caller forces it.
fn refuse_included(
    state: &AppState,
    r: &PromptRef,
    env: Option<&Environment>,
    force: bool,
) -> ApiResult<()> {
    if force {
        return Ok(());
    }
    let deps = crate::includes::dependents(
        &state.index.read(),
        &state.settings.engine,
        &r.base,
        env,
        r.version,
    );
    if deps.is_empty() {
        return Ok(());
    }
    let what = match (r.version, env) {
        (Some(v), Some(e)) => format!("version {v} of prompt {} in {e}", r.base),
        (None, Some(e)) => format!("prompt {} in {e}", r.base),
        _ => format!("prompt {}", r.base),
    };
    Err(ApiError::Conflict(format!(
        "Cannot delete {what}: it is included by {} ({}). Remove those includes first, or add ?force=true to delete it anyway (their renders then fail until the include resolves again).",
        if deps.len() == 1 {
            "another prompt"
        } else {
            "other prompts"
        },
        deps.join(", ")
    )))
}

pub(super) fn refuse_config_type(info: &Map<String, Value>) -> ApiResult<()> {
    if info.get("prompt_type").and_then(Value::as_str) == Some("config") {
        return Err(ApiError::bad_request(
            "prompt_info.prompt_type 'config' is reserved for prompts loaded from the config file; send 'db' or leave it out.",
        ));
    }
    Ok(())
}

/// A protected environment changes only through promote or rollback, never by a direct write.
pub(super) fn refuse_protected(
    state: &AppState,
    id: &PromptId,
    env: &Environment,
) -> ApiResult<()> {
    if state.settings.protected_environments.contains(env) {
        return Err(ApiError::Denied(promptd_core::Denied::Protected {
            environment: env.to_string(),
            prompt: id.to_string(),
        }));
    }
    Ok(())
}

fn refuse_config_prompt(state: &AppState, id: &PromptId, message: &str) -> ApiResult<()> {
    if state.index.read().is_config(id) {
        return Err(ApiError::bad_request(message.to_owned()));
    }
    Ok(())
}

/// The answer to a write: the version as a PromptSpec whose `prompt_id` is `id.vN`.
pub(super) fn written(entry: &PromptEntry) -> Json<Value> {
    let r = &entry.record;
    Json(spec_json(
        r,
        &format!("{}.v{}", r.prompt_id, r.version),
        Some(r.version),
    ))
}

/// What a write changes: POST and PUT send both fields, PATCH may leave one out (it is then
/// taken from the base version).
struct Change {
    params: Option<Map<String, Value>>,
    info: Option<Map<String, Value>>,
    /// The version whose secrets a redacted value restores when the environment has none yet.
    fallback: Option<Arc<PromptEntry>>,
}

/// The common end of POST, PUT and PATCH, as one read-modify-write: inside the writing
/// transaction the base version is read (`base`, or the environment's latest), the fields the
/// request left out are taken from it, the template is compiled, `prompt_info.environment` is
/// pinned to the target environment, redacted secrets are restored from the base (or the
/// fallback), and the version is appended. `base_required` makes a missing base a 404 (PATCH).
async fn store_version(
    state: &AppState,
    writer: &Writer,
    env: Environment,
    (base, base_required): (Option<u32>, bool),
    change: Change,
    meta: WriteMeta,
) -> ApiResult<Json<Value>> {
    let st = state.clone();
    let (id, environment) = (writer.prompt().clone(), env.clone());
    let saving = id.clone();
    let entry = state
        .append_derived(writer, &env, base, meta, move |base_rec| {
            if base_required && base_rec.is_none() {
                let r = PromptRef {
                    base: id,
                    version: base,
                };
                return Err(ApiError::not_found(format!(
                    "Prompt with ID {r} not found in environment {environment}"
                )));
            }
            let from_base = |f: fn(&promptd_core::PromptRecord) -> Map<String, Value>| {
                base_rec.map(f).unwrap_or_default()
            };
            let mut params = change
                .params
                .unwrap_or_else(|| from_base(|b| b.litellm_params.to_map()));
            let mut info = change
                .info
                .unwrap_or_else(|| from_base(|b| b.prompt_info.to_map()));
            let template = validate_template(&st, &params)?;
            check_includes(&st, &saving, &environment, &template)?;
            info.insert("environment".into(), environment.as_str().into());
            let previous = base_rec
                .map(|b| b.litellm_params.to_map())
                .or_else(|| change.fallback.map(|e| e.record.litellm_params.to_map()));
            restore_secrets(&mut params, previous.as_ref());
            let content = NewContent {
                litellm_params: params,
                prompt_info: info,
            };
            Ok((content, template))
        })
        .await?;
    Ok(written(&entry))
}

/// `POST /prompts`: creates the next version of a prompt in its environment.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    conds: Conditions,
    Body(b): Body<CreateRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("create")?;
    let raw_id = b.prompt_id.unwrap_or_default();
    let id = PromptId::parse_new(&raw_id).map_err(|e| ApiError::bad_request(e.0))?;
    let env = environment_of(&b.prompt_info)?;
    let writer = admin.writer_of(&id, [&env])?;
    refuse_protected(&state, &id, &env)?;
    refuse_config_type(&b.prompt_info)?;
    refuse_config_prompt(
        &state,
        &id,
        &format!(
            "Prompt {id} is defined in the config file and cannot be changed through the API. Edit the config file, or choose another prompt_id."
        ),
    )?;
    let change = Change {
        params: Some(b.litellm_params),
        info: Some(b.prompt_info),
        fallback: None,
    };
    let meta = write_meta(Kind::Update, b.message, conds);
    store_version(&state, &writer, env, (None, false), change, meta).await
}

/// The ledger fields and precondition of a write.
fn write_meta(origin: Kind, message: Option<String>, conds: Conditions) -> WriteMeta {
    WriteMeta {
        message,
        if_match: conds.if_match,
        ..WriteMeta::new(origin)
    }
}

/// `PUT /prompts/{id}`: a new version of an existing prompt (in `prompt_info.environment`).
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    conds: Conditions,
    Body(b): Body<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("update")?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let env = environment_of(&b.prompt_info)?;
    let writer = admin.writer_of(&r.base, [&env])?;
    refuse_protected(&state, &r.base, &env)?;
    refuse_config_prompt(&state, &r.base, "Cannot update config prompts.")?;
    if !state.index.read().has_stored(&r.base) {
        return Err(ApiError::not_found(format!(
            "Prompt with ID {} not found. Create it with POST /prompts first.",
            r.base
        )));
    }
    refuse_config_type(&b.prompt_info)?;
    // A first version in a new environment restores redacted secrets from the version a read
    // would serve.
    let fallback = state.index.read().resolve(&r.base, None, None);
    let change = Change {
        params: Some(b.litellm_params),
        info: Some(b.prompt_info),
        fallback,
    };
    let meta = write_meta(Kind::Update, b.message, conds);
    store_version(&state, &writer, env, (None, false), change, meta).await
}

/// `PATCH /prompts/{id}?environment=`: replaces the given top-level fields of the latest (or
/// the addressed) version and stores the result as a new version; versions are immutable.
pub async fn patch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<EnvQuery>,
    conds: Conditions,
    Body(b): Body<PromptPatch>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("patch")?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let env = env_param("query parameter environment", q.environment.as_deref())?
        .unwrap_or_else(Environment::development);
    let writer = admin.writer_of(&r.base, [&env])?;
    refuse_protected(&state, &r.base, &env)?;
    refuse_config_prompt(&state, &r.base, "Cannot update config prompts.")?;
    if state
        .index
        .read()
        .resolve(&r.base, Some(&env), r.version)
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "Prompt with ID {r} not found in environment {env}"
        )));
    }
    if let Some(info) = &b.prompt_info {
        refuse_config_type(info)?;
        if let Some(e) = info.get("environment").and_then(Value::as_str)
            && e != env.as_str()
        {
            return Err(ApiError::bad_request(format!(
                "prompt_info.environment '{e}' differs from the environment being patched ('{env}'). PATCH cannot move a prompt between environments; use PUT with prompt_info.environment to create a version there."
            )));
        }
    }
    // The fields left out come from the base version, read inside the writing transaction, so
    // two PATCHes of different fields sent at once both survive.
    let change = Change {
        params: b.litellm_params,
        info: b.prompt_info,
        fallback: None,
    };
    let meta = write_meta(Kind::Patch, b.message, conds);
    store_version(&state, &writer, env, (r.version, true), change, meta).await
}

/// What a DELETE addresses: the environment to delete from (`None` = all of them).
fn delete_target(
    state: &AppState,
    r: &PromptRef,
    env: Option<&Environment>,
) -> ApiResult<Option<Environment>> {
    let idx = state.index.read();
    if idx.is_config(&r.base) {
        return Err(ApiError::bad_request("Cannot delete config prompts."));
    }
    let missing = || ApiError::not_found(format!("Prompt with ID {r} not found"));
    let has = |e: &Environment, v| idx.resolve(&r.base, Some(e), v).is_some();
    match (r.version, env) {
        (Some(v), Some(e)) => has(e, Some(v))
            .then(|| Some(e.clone()))
            .ok_or_else(|| not_found(r, Some(e))),
        (Some(v), None) => {
            let envs: Vec<Environment> = idx
                .environments(&r.base)
                .into_iter()
                .map(Environment::from_trusted)
                .filter(|e| has(e, Some(v)))
                .collect();
            match envs.as_slice() {
                [] => Err(missing()),
                [one] => Ok(Some(one.clone())),
                many => Err(ApiError::bad_request(format!(
                    "Version {v} of {} exists in several environments ({}); add ?environment= to say which one to delete.",
                    r.base,
                    many.iter()
                        .map(Environment::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
        (None, Some(e)) => idx
            .environments(&r.base)
            .iter()
            .any(|x| x == e.as_str())
            .then(|| Some(e.clone()))
            .ok_or_else(|| not_found(r, Some(e))),
        (None, None) => idx.has_stored(&r.base).then_some(None).ok_or_else(missing),
    }
}

/// The query of `DELETE /prompts/{id}`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DeleteQuery {
    pub environment: Option<String>,
    /// Destroy for good (live and trashed versions) instead of moving to the trash.
    #[serde(default)]
    pub purge: bool,
    /// Delete even when other prompts include it (otherwise 409 naming them).
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /prompts/{id}[.vN]?environment=`: one version, one environment, or everything,
/// moved to the trash (reads answer 404 as before; `POST /prompts/{id}/restore` brings them
/// back). `?purge=true` destroys them for good, from the trash too.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<DeleteQuery>,
    conds: Conditions,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin(if q.purge { "purge" } else { "delete" })?;
    let r = path_ref(&raw)
        .map_err(|_| ApiError::not_found(format!("Prompt with ID {raw} not found")))?;
    let env = env_param("query parameter environment", q.environment.as_deref())?;
    if q.purge {
        return purge(&state, &admin, &r, env, q.force, conds).await;
    }
    // Deleting every environment needs the right to write each of them.
    let touched: Vec<Environment> = match &env {
        Some(e) => vec![e.clone()],
        None => (state.index.read().environments(&r.base).into_iter())
            .map(Environment::from_trusted)
            .collect(),
    };
    let writer = admin.writer_of(&r.base, &touched)?;
    let target = delete_target(&state, &r, env.as_ref())?;
    refuse_included(&state, &r, target.as_ref(), q.force)?;
    let sel = Selection {
        prompt_id: r.base.clone(),
        environment: target.clone(),
        version: r.version,
    };
    let act = Act {
        actor: Some(writer.actor().to_owned()),
        message: None,
    };
    let check = if_match_check(conds.if_match, target.clone());
    let store = state.store.clone();
    state
        .change_versions(&writer, target.as_ref(), async move {
            store.trash_versions(&sel, &act, check).await
        })
        .await?;
    let message = match (r.version, &target) {
        (Some(v), Some(e)) => format!(
            "Prompt {} version {v} deleted successfully from {e}",
            r.base
        ),
        (None, Some(e)) => format!("Prompt {} deleted successfully from {e}", r.base),
        _ => format!("Prompt {} deleted successfully", r.base),
    };
    Ok(Json(json!({ "message": message })))
}

/// `DELETE /prompts/{id}?purge=true`: destroys versions for good, live and trashed.
async fn purge(
    state: &AppState,
    admin: &promptd_core::PromptAdmin<'_>,
    r: &PromptRef,
    env: Option<Environment>,
    force: bool,
    conds: Conditions,
) -> ApiResult<Json<Value>> {
    if state.index.read().is_config(&r.base) {
        return Err(ApiError::bad_request("Cannot delete config prompts."));
    }
    refuse_included(state, r, env.as_ref(), force)?;
    if r.version.is_some() && env.is_none() {
        return Err(ApiError::bad_request(format!(
            "Purging one version needs its environment: DELETE /prompts/{r}?environment=<env>&purge=true."
        )));
    }
    // Purging every environment needs the right to write each of them, trashed ones included.
    let touched: Vec<Environment> = match &env {
        Some(e) => vec![e.clone()],
        None => {
            let mut envs: Vec<Environment> = (state.index.read().environments(&r.base))
                .into_iter()
                .map(Environment::from_trusted)
                .collect();
            for t in state.store.trash(Some(&r.base)).await? {
                if !envs.contains(&t.record.environment) {
                    envs.push(t.record.environment);
                }
            }
            envs
        }
    };
    let writer = admin.writer_of(&r.base, &touched)?;
    let sel = Selection {
        prompt_id: r.base.clone(),
        environment: env.clone(),
        version: r.version,
    };
    let act = Act {
        actor: Some(writer.actor().to_owned()),
        message: None,
    };
    // Compare-and-swap on purge: purge is an admin's deliberate act, checked against this
    // instance's index (the store's purge takes no check).
    if conds.if_match.is_some() {
        let live: Vec<promptd_core::PromptRecord> = (state.index.read().stored_entries(&r.base))
            .iter()
            .map(|e| e.record.clone())
            .collect();
        precondition(conds.if_match.as_deref(), env.clone(), &live)?;
    }
    let store = state.store.clone();
    let gone = state
        .change_versions(&writer, env.as_ref(), async move {
            store.purge_versions(&sel, &act).await
        })
        .await?;
    if gone.is_empty() {
        return Err(not_found(r, env.as_ref()));
    }
    Ok(Json(json!({
        "message": format!("Purged {} version(s) of prompt {}; they cannot be restored.", gone.len(), r.base),
        "purged": gone.iter().map(|(e, v)| json!({"environment": e.as_str(), "version": v})).collect::<Vec<_>>(),
    })))
}

/// A compare-and-swap check for a change of existing versions: the latest live version of the
/// environment (`env`, or the one the tag names) must satisfy `If-Match`.
pub(super) fn if_match_check(
    if_match: Option<String>,
    env: Option<Environment>,
) -> Option<promptd_core::Check> {
    let header = if_match?;
    Some(Box::new(move |live: &[promptd_core::PromptRecord]| {
        precondition(Some(&header), env, live).map_err(|e| e.into())
    }))
}

/// `If-Match` against the latest of `live`'s versions in `env`, or in the environment the tag
/// names when the request names none.
fn precondition(
    if_match: Option<&str>,
    env: Option<Environment>,
    live: &[promptd_core::PromptRecord],
) -> Result<(), promptd_core::PreconditionFailed> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let target = env.or_else(|| promptd_core::ledger::etag_environment(header));
    let current = target.as_ref().and_then(|e| {
        live.iter()
            .filter(|r| r.environment == *e)
            .max_by_key(|r| r.version)
            .map(promptd_core::PromptRecord::etag)
    });
    promptd_core::PreconditionFailed::check(
        Some(header),
        &target.unwrap_or_else(Environment::development),
        current,
    )
}
