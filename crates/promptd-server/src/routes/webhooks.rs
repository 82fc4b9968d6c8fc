//! `/webhooks`: admins register endpoints that are told about ledger events, see each
//! message's attempts, and send a test message. Delivery itself is not here: messages wait in
//! the durable outbox (filled by the writing transactions) and `promptd_events::Deliverer`
//! sends them. The signing secret is shown once, in the answer to `POST /webhooks`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use promptd_core::time_fmt::{format_ms, now_ms};
use promptd_core::webhook::{TEST_EVENT_TYPE, event_types};
use promptd_core::{Message, Principal, PromptRef, Webhook};
use promptd_events::{sign, target};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::{AppState, Webhooks};

/// Messages shown per `GET /webhooks/{id}/deliveries` by default, and at most.
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 500;
const MAX_URL_CHARS: usize = 2048;

fn webhooks(state: &AppState) -> ApiResult<&Webhooks> {
    state
        .webhooks
        .as_ref()
        .ok_or_else(|| ApiError::internal("webhooks were not set up for this server"))
}

/// Webhooks see every prompt's events: only admins who read everything manage them.
fn admin(caller: &Principal, action: &'static str) -> ApiResult<()> {
    caller.prompt_admin(action)?;
    caller.operator()?;
    Ok(())
}

fn webhook_json(h: &Webhook) -> Value {
    json!({
        "id": h.id,
        "url": h.url,
        "event_types": h.event_types,
        "prompt_ids": h.prompt_ids.as_ref().map(|ids| ids.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
        "description": h.description,
        "created_at": format_ms(h.created_at),
        "created_by": h.created_by,
        "disabled": h.disabled_at.is_some(),
        "disabled_at": h.disabled_at.map(format_ms),
        "disabled_reason": h.disabled_reason,
        "failing_since": h.failing_since.map(format_ms),
    })
}

/// The body of `POST /webhooks`.
pub struct CreateWebhook {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub prompt_ids: Option<Vec<String>>,
    pub description: Option<String>,
}

impl FromBody for CreateWebhook {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let has_types = f.has("event_types");
        let has_prompts = f.raw("prompt_ids").is_some_and(|v| !v.is_null());
        Some(CreateWebhook {
            url: f.required_str("url"),
            event_types: has_types.then(|| f.str_list("event_types")),
            prompt_ids: has_prompts.then(|| f.str_list("prompt_ids")),
            description: f.str("description"),
        })
    }
}

/// `POST /webhooks`: registers an endpoint; the answer carries its secret, shown only here.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(req): Body<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin(&caller, "manage webhooks")?;
    let hooks = webhooks(&state)?;
    let raw = req.url.unwrap_or_default();
    if raw.len() > MAX_URL_CHARS {
        return Err(ApiError::bad_request(format!(
            "url: longer than {MAX_URL_CHARS} characters"
        )));
    }
    let allow_private = state.settings.webhooks.allow_private;
    let url = target::check_url(&raw, allow_private).map_err(ApiError::bad_request)?;
    target::check_resolved(&url, allow_private)
        .await
        .map_err(ApiError::bad_request)?;
    let known = event_types();
    let types = match req.event_types {
        None => known.clone(),
        Some(t) if t.is_empty() => {
            return Err(ApiError::bad_request(format!(
                "event_types: empty; leave it out for every type, or name some of: {}",
                known.join(", ")
            )));
        }
        Some(t) => {
            if let Some(bad) = t.iter().find(|t| !known.contains(t)) {
                return Err(ApiError::bad_request(format!(
                    "event_types: '{bad}' is not an event type; use some of: {}",
                    known.join(", ")
                )));
            }
            let mut t = t;
            t.sort();
            t.dedup();
            t
        }
    };
    let prompt_ids = match req.prompt_ids {
        None => None,
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::bad_request(
                "prompt_ids: empty; leave it out (or null) for every prompt, or name the prompts to hear about",
            ));
        }
        Some(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for raw in ids {
                let r = PromptRef::parse(&raw)
                    .map_err(|e| ApiError::bad_request(format!("prompt_ids: {e}")))?;
                if r.version.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "prompt_ids: '{raw}' names one version; webhooks follow whole prompts ('{}')",
                        r.base
                    )));
                }
                out.push(r.base);
            }
            out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            out.dedup();
            Some(out)
        }
    };
    let mut id = [0u8; 12];
    rand::rng().fill_bytes(&mut id);
    let hook = Webhook {
        id: format!(
            "wh_{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        url: url.to_string(),
        event_types: types,
        prompt_ids,
        description: req.description,
        created_at: now_ms(),
        created_by: Some(caller.actor.clone()),
        disabled_at: None,
        disabled_reason: None,
        failing_since: None,
    };
    let secret = sign::new_secret();
    hooks.store.create_webhook(&hook, &secret).await?;
    let mut body = webhook_json(&hook);
    body["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /webhooks`: every endpoint (without secrets).
pub async fn list(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Value>> {
    admin(&caller, "see webhooks")?;
    let all = webhooks(&state)?.store.webhooks().await?;
    Ok(Json(json!({
        "webhooks": all.iter().map(webhook_json).collect::<Vec<_>>(),
    })))
}

async fn existing(state: &AppState, id: &str) -> ApiResult<Webhook> {
    webhooks(state)?.store.webhook(id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "No webhook {id}. GET /webhooks lists the registered ones."
        ))
    })
}

/// `DELETE /webhooks/{id}`: forgets the endpoint with its queued messages and their attempts.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin(&caller, "manage webhooks")?;
    if !webhooks(&state)?.store.delete_webhook(&id).await? {
        return Err(ApiError::not_found(format!(
            "No webhook {id}. GET /webhooks lists the registered ones."
        )));
    }
    Ok(Json(json!({ "deleted": id })))
}

fn message_json(m: &Message) -> Value {
    json!({
        "message_id": format!("msg_{}", m.id),
        "event_type": m.event_type,
        "cursor": m.event_seq.map(|s| s.to_string()),
        "state": m.state,
        "attempt_count": m.attempts,
        "created_at": format_ms(m.created_at),
        "next_attempt_at": m.next_attempt_at.map(format_ms),
        "delivered_at": m.delivered_at.map(format_ms),
        "attempts": m.tries.iter().map(|a| json!({
            "at": format_ms(a.at),
            "duration_ms": a.duration_ms,
            "status": a.status,
            "response": a.response,
            "error": a.error,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    pub limit: Option<String>,
}

/// `GET /webhooks/{id}/deliveries`: the endpoint's newest messages with every attempt.
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveriesQuery>,
) -> ApiResult<Json<Value>> {
    admin(&caller, "see webhooks")?;
    let limit = match q.limit.as_deref() {
        None | Some("") => DEFAULT_DELIVERIES,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_DELIVERIES).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter limit: '{s}' must be a whole number from 1 to {MAX_DELIVERIES}."
                ))
            })?,
    };
    let hook = existing(&state, &id).await?;
    let messages = webhooks(&state)?.store.messages(&id, limit).await?;
    Ok(Json(json!({
        "webhook": webhook_json(&hook),
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

/// `POST /webhooks/{id}/test`: queues a `webhook.test` message (sent at once, retried like any
/// other); its attempts show in the deliveries.
pub async fn test(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin(&caller, "manage webhooks")?;
    let hook = existing(&state, &id).await?;
    if hook.disabled_at.is_some() {
        return Err(ApiError::Conflict(format!(
            "Webhook {id} is disabled ({}); register the endpoint again once it works.",
            hook.disabled_reason
                .as_deref()
                .unwrap_or("no reason recorded")
        )));
    }
    let hooks = webhooks(&state)?;
    let now = now_ms();
    let msg = hooks
        .store
        .enqueue_message(
            &id,
            TEST_EVENT_TYPE,
            &promptd_events::delivery::test_body(&id, now),
            now,
        )
        .await?;
    hooks.deliverer.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message_id": format!("msg_{msg}"),
            "state": "pending",
            "deliveries": format!("/webhooks/{id}/deliveries"),
        })),
    ))
}
