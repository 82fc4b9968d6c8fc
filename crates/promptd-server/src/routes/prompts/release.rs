//! Releasing prompts: `POST /prompts/{id}/promote` copies a version of one environment into
//! another as that environment's next version; `POST /prompts/{id}/rollback` appends a copy of
//! an earlier version of the same environment. Both are appends (history stays append-only, and
//! every LiteLLM client sees the new latest at once), both go through the one read-modify-write
//! path, and both are the only way a protected environment changes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use promptd_core::{Environment, Kind, PromptId, PromptRef, Writer};
use serde_json::Value;

use super::write::written;
use super::{not_found, path_ref};
use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Conditions, PromptIdPath};
use crate::state::{AppState, NewContent, PromptEntry, WriteMeta};

/// The body of `POST /prompts/{id}/promote`.
pub struct PromoteRequest {
    pub from_environment: String,
    /// The source version; the latest of `from_environment` when absent.
    pub version: Option<u32>,
    pub to_environment: String,
    pub message: Option<String>,
}

impl FromBody for PromoteRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let from_environment = f.required_str("from_environment");
        let version = f.version("version", false);
        let to_environment = f.required_str("to_environment");
        let message = f.message();
        Some(PromoteRequest {
            from_environment: from_environment?,
            version,
            to_environment: to_environment?,
            message,
        })
    }
}

/// The body of `POST /prompts/{id}/rollback`.
pub struct RollbackRequest {
    pub environment: String,
    pub to_version: u32,
    pub message: Option<String>,
}

impl FromBody for RollbackRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let environment = f.required_str("environment");
        if !f.has("to_version") {
            f.errors()
                .push(crate::error::FieldError::missing(&["body", "to_version"]));
        }
        let to_version = f.version("to_version", false);
        let message = f.message();
        Some(RollbackRequest {
            environment: environment?,
            to_version: to_version?,
            message,
        })
    }
}

fn environment(field: &str, raw: &str) -> ApiResult<Environment> {
    Environment::parse(raw).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

/// The version to copy (404 when it does not exist).
fn source(
    state: &AppState,
    base: &PromptId,
    env: &Environment,
    version: Option<u32>,
) -> ApiResult<Arc<PromptEntry>> {
    let r = PromptRef {
        base: base.clone(),
        version,
    };
    if state.index.read().is_config(base) {
        return Err(ApiError::bad_request(
            "Config prompts are defined in the config file; they cannot be promoted or rolled back.",
        ));
    }
    state
        .index
        .read()
        .resolve(base, Some(env), version)
        .ok_or_else(|| not_found(&r, Some(env)))
}

/// Appends a copy of `from` into `to` as its next version, unless `to`'s latest version (as
/// this instance sees it) already has the same content: then that version is the answer and
/// nothing is written, so a retried release is harmless.
async fn copy_into(
    state: &AppState,
    writer: &Writer,
    from: Arc<PromptEntry>,
    to: Environment,
    meta: WriteMeta,
) -> ApiResult<Json<Value>> {
    let latest = state.index.read().resolve(writer.prompt(), Some(&to), None);
    if let Some(existing) = latest.filter(|e| e.record.content_sha256 == from.record.content_sha256)
    {
        // Unchanged: nothing to write, but a stale If-Match still fails.
        promptd_core::PreconditionFailed::check(
            meta.if_match.as_deref(),
            &to,
            Some(existing.record.etag()),
        )?;
        return Ok(written(&existing));
    }
    // The copy has the source's template: reuse its compiled form (compiling it now if no read
    // has yet).
    let template = (from
        .template
        .get(&from.record, &state.settings.engine)
        .clone())
    .map_err(|e| ApiError::Unusable(format!("The source version has no usable template: {e}")))?;
    let env = to.clone();
    let entry = state
        .append_derived(writer, &to, None, meta, move |_| {
            let params = from.record.litellm_params.to_map();
            let mut info = from.record.prompt_info.to_map();
            info.insert("environment".into(), env.as_str().into());
            Ok((
                NewContent {
                    litellm_params: params,
                    prompt_info: info,
                },
                template,
            ))
        })
        .await?;
    Ok(written(&entry))
}

/// `POST /prompts/{id}/promote`: `from_environment`'s version (default its latest) becomes
/// `to_environment`'s next version. Needs a key that may write `to_environment`.
pub async fn promote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    conds: Conditions,
    Body(req): Body<PromoteRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("promote")?;
    let r = path_ref(&raw)?;
    let (from, to) = (
        environment("from_environment", &req.from_environment)?,
        environment("to_environment", &req.to_environment)?,
    );
    let writer = admin.writer_of(&r.base, [&to])?;
    let src = source(&state, &r.base, &from, req.version.or(r.version))?;
    let meta = WriteMeta {
        source: Some(format!("{from}.v{}", src.record.version)),
        message: req.message,
        if_match: conds.if_match,
        ..WriteMeta::new(Kind::Promote)
    };
    copy_into(&state, &writer, src, to, meta).await
}

/// `POST /prompts/{id}/rollback`: appends a copy of `to_version` of `environment` as that
/// environment's next version.
pub async fn rollback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    conds: Conditions,
    Body(req): Body<RollbackRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("roll back")?;
    let r = path_ref(&raw)?;
    let env = environment("environment", &req.environment)?;
    let writer = admin.writer_of(&r.base, [&env])?;
    let src = source(&state, &r.base, &env, Some(req.to_version))?;
    let meta = WriteMeta {
        source: Some(format!("v{}", req.to_version)),
        message: req.message,
        if_match: conds.if_match,
        ..WriteMeta::new(Kind::Rollback)
    };
    copy_into(&state, &writer, src, env, meta).await
}
