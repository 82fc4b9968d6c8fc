//! The ledger over HTTP: `GET /prompts/{id}/history` (one prompt, newest first),
//! `GET /history` (every prompt, oldest first from a cursor: the audit export),
//! `GET /prompts/trash` and `POST /prompts/{id}/restore`. History and trash are read from the
//! database (they are not hot reads); a cursor is an event's sequence number, the same on every
//! instance sharing the database.

use axum::Json;
use axum::extract::State;
use promptd_core::time_fmt::format_ms;
use promptd_core::{Act, Environment, Event, EventQuery, PromptRef, Selection};
use serde::Deserialize;
use serde_json::{Value, json};

use super::write::if_match_check;
use super::{env_param, path_ref};
use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Conditions, PromptIdPath, QueryParams};
use crate::state::AppState;
use crate::wire::spec_json;

/// Events per page when `limit` is absent, and at most.
pub const DEFAULT_HISTORY_LIMIT: u32 = 100;
pub const MAX_HISTORY_LIMIT: u32 = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// `GET /prompts/{id}/history`: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `GET /history`: events after this cursor (absent = from the beginning).
    pub after: Option<String>,
    pub limit: Option<String>,
}

fn cursor(name: &str, raw: Option<&str>) -> ApiResult<Option<i64>> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => (s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
            .map(Some)
            .ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter {name}: '{s}' is not a cursor; pass back the next_cursor of an earlier answer, or leave it out to start at the beginning."
            ))
        }),
    }
}

fn limit(raw: Option<&str>) -> ApiResult<u32> {
    match raw {
        None => Ok(DEFAULT_HISTORY_LIMIT),
        Some(s) => (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|n| (1..=MAX_HISTORY_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter limit: '{s}' must be a whole number from 1 to {MAX_HISTORY_LIMIT}."
                ))
            }),
    }
}

/// One event as the API shows it. `cursor` is its sequence number as text.
pub fn event_json(e: &Event) -> Value {
    json!({
        "cursor": e.seq.to_string(),
        "prompt_id": e.prompt_id.as_str(),
        "environment": e.environment.as_ref().map(Environment::as_str),
        "version": e.version,
        "kind": e.kind.as_str(),
        "source": e.source,
        "message": e.message,
        "actor": e.actor,
        "content_sha256": e.content_sha256,
        "created_at": format_ms(e.at),
    })
}

/// `GET /prompts/{id}/history`: every event of one prompt, newest first, `limit` per page;
/// `next_cursor` (absent on the last page) asks for the next page.
pub async fn history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    // History belongs to the whole prompt: a version suffix is ignored, as in /versions.
    let r = PromptRef {
        base: path_ref(&raw)?.base,
        version: None,
    };
    caller.reader_of(&r)?;
    let limit = limit(q.limit.as_deref())?;
    let events = state
        .store
        .events(&EventQuery {
            prompt_id: Some(r.base.clone()),
            before: cursor("cursor", q.cursor.as_deref())?,
            after: None,
            newest_first: true,
            limit: limit + 1,
        })
        .await?;
    if events.is_empty() && q.cursor.is_none() {
        return Err(ApiError::not_found(format!(
            "No history for prompt {}: it was never written.",
            r.base
        )));
    }
    let more = events.len() > limit as usize;
    let page = &events[..events.len().min(limit as usize)];
    let next = more.then(|| page.last().map(|e| e.seq.to_string()));
    Ok(Json(json!({
        "prompt_id": r.base.as_str(),
        "events": page.iter().map(event_json).collect::<Vec<_>>(),
        "next_cursor": next.flatten(),
    })))
}

/// `GET /history?after=`: events of every prompt the caller may see, oldest first, from a
/// cursor. `next_cursor` is always present: pass it back to continue (it stays put when there
/// is nothing new), so an exporter can poll with it forever.
pub async fn all_history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let auditor = caller.auditor()?;
    let after = cursor("after", q.after.as_deref())?;
    let limit = limit(q.limit.as_deref())?;
    let events = state
        .store
        .events(&EventQuery {
            prompt_id: None,
            before: None,
            after,
            newest_first: false,
            limit,
        })
        .await?;
    // The cursor moves past events the caller may not see, so paging never stalls on them.
    let next = events.last().map(|e| e.seq).or(after).unwrap_or(0);
    let visible: Vec<Value> = events
        .iter()
        .filter(|e| auditor.may_see(&e.prompt_id))
        .map(event_json)
        .collect();
    Ok(Json(json!({
        "events": visible,
        "next_cursor": next.to_string(),
        "has_more": events.len() == limit as usize,
    })))
}

#[derive(Debug, Default, Deserialize)]
pub struct TrashQuery {
    pub prompt_id: Option<String>,
}

/// `GET /prompts/trash`: deleted versions that can still be restored, newest deletion first.
pub async fn trash(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<TrashQuery>,
) -> ApiResult<Json<Value>> {
    let auditor = caller.auditor()?;
    let only = match q.prompt_id.as_deref() {
        None => None,
        Some(raw) => Some(
            PromptRef::parse(raw)
                .map_err(|e| ApiError::bad_request(format!("query parameter prompt_id: {e}")))?
                .base,
        ),
    };
    let trashed = state.store.trash(only.as_ref()).await?;
    let retention = state.settings.trash_retention_days;
    let versions: Vec<Value> = trashed
        .iter()
        .filter(|t| auditor.may_see(&t.record.prompt_id))
        .map(|t| {
            let r = &t.record;
            json!({
                "prompt_id": r.prompt_id.as_str(),
                "environment": r.environment.as_str(),
                "version": r.version,
                "deleted_at": format_ms(t.deleted_at),
                "deleted_by": t.deleted_by,
                "purge_after": (retention > 0).then(|| format_ms(t.deleted_at + i64::from(retention) * 86_400_000)),
                "origin": r.provenance.origin.as_str(),
                "message": r.provenance.message,
                "content_sha256": r.content_sha256,
                "prompt_spec": spec_json(r, &format!("{}.v{}", r.prompt_id, r.version), Some(r.version)),
            })
        })
        .collect();
    Ok(Json(json!({ "versions": versions })))
}

/// The body of `POST /prompts/{id}/restore` (every field optional).
pub struct RestoreRequest {
    pub environment: Option<String>,
    pub version: Option<u32>,
    pub message: Option<String>,
}

impl FromBody for RestoreRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let environment = f.str("environment");
        let version = f.version("version", false);
        let message = f.message();
        Some(RestoreRequest {
            environment,
            version,
            message,
        })
    }
}

/// `POST /prompts/{id}/restore`: brings deleted versions back from the trash with their
/// original numbers: all of the prompt's, one environment's, or one version.
pub async fn restore(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PromptIdPath(raw): PromptIdPath,
    conds: Conditions,
    Body(req): Body<RestoreRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.prompt_admin("restore")?;
    let r = path_ref(&raw)?;
    let env = env_param("environment", req.environment.as_deref())?;
    let version = req.version.or(r.version);
    if version.is_some() && env.is_none() {
        return Err(ApiError::bad_request(format!(
            "Restoring one version needs its environment: send {{\"environment\": \"…\", \"version\": {}}}.",
            version.unwrap_or_default()
        )));
    }
    let sel = Selection {
        prompt_id: r.base.clone(),
        environment: env.clone(),
        version,
    };
    // The environments that would come back: the writer needs each of them.
    let trashed = state.store.trash(Some(&r.base)).await?;
    let mut touched: Vec<Environment> = Vec::new();
    for t in trashed
        .iter()
        .filter(|t| sel.covers(&t.record.environment, t.record.version))
    {
        if !touched.contains(&t.record.environment) {
            touched.push(t.record.environment.clone());
        }
    }
    if touched.is_empty() {
        let what = PromptRef {
            base: r.base.clone(),
            version,
        };
        return Err(ApiError::not_found(match &env {
            Some(e) => format!("Nothing of prompt {what} in environment {e} is in the trash."),
            None => format!(
                "Nothing of prompt {what} is in the trash. GET /prompts/trash lists what can be restored."
            ),
        }));
    }
    let writer = admin.writer_of(&r.base, &touched)?;
    let act = Act {
        actor: Some(writer.actor().to_owned()),
        message: req.message,
    };
    let check = if_match_check(conds.if_match, env.clone());
    let store = state.store.clone();
    let back = state
        .change_versions(&writer, env.as_ref(), async move {
            store.restore_versions(&sel, &act, check).await
        })
        .await?;
    Ok(Json(json!({
        "message": format!("Restored {} version(s) of prompt {}.", back.len(), r.base),
        "restored": back.iter().map(|r| json!({"environment": r.environment.as_str(), "version": r.version})).collect::<Vec<_>>(),
    })))
}
