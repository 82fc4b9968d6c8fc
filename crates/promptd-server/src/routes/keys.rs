//! Virtual keys, with the subset of LiteLLM's `/key/*` endpoints that matters for prompts.
//! A key is shown once, at creation; only its SHA-256 (`token`) is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use promptd_core::time_fmt::{format_ms, now_ms, parse_rfc3339_ms};
use promptd_core::{KeyRecord, Principal, PromptRef, Role};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, abbreviate};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{JsonBody, QueryParams};
use crate::state::{AppState, token_of};

fn key_json(k: &KeyRecord) -> Value {
    json!({
        "token": k.token,
        "key_name": k.key_name,
        "key_alias": k.key_alias,
        "user_id": k.user_id,
        "user_role": k.user_role.as_str(),
        "metadata": Value::Object(k.metadata.clone()),
        "expires": k.expires_at.map(format_ms),
        "created_at": format_ms(k.created_at),
        "created_by": k.created_by,
    })
}

/// Parses LiteLLM's `duration` ("30s", "15m", "12h", "7d", "2w").
fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = s[..split].parse().ok()?;
    let unit: i64 = match &s[split..] {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" => 30 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn optional_str(
    m: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match m.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(
                FieldError::new(
                    "string_type",
                    &["body", name],
                    "Input should be a valid string",
                )
                .with_input(other),
            );
            None
        }
    }
}

fn require_admin(caller: &Principal) -> ApiResult<()> {
    if caller.can_write() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only proxy admins can manage keys. Your role - {}",
            caller.role
        )))
    }
}

/// `POST /key/generate`.
pub async fn generate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let empty = Map::new();
    let m = match &body {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(ApiError::Validation(vec![
                FieldError::new(
                    "model_attributes_type",
                    &["body"],
                    "Input should be a valid dictionary or object to extract fields from",
                )
                .with_input(other),
            ]));
        }
    };
    let mut errors = Vec::new();
    let key_alias = optional_str(m, "key_alias", &mut errors);
    let user_id = optional_str(m, "user_id", &mut errors);
    let role_raw = optional_str(m, "user_role", &mut errors);
    let duration = optional_str(m, "duration", &mut errors);
    let expires = optional_str(m, "expires", &mut errors);
    let metadata = match m.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(md)) => md.clone(),
        Some(other) => {
            errors.push(
                FieldError::new(
                    "dict_type",
                    &["body", "metadata"],
                    "Input should be a valid dictionary",
                )
                .with_input(other),
            );
            Map::new()
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let user_role = match role_raw.as_deref() {
        None => Role::InternalUser,
        Some(r) => Role::parse(r).ok_or_else(|| {
            ApiError::bad_request(format!(
                "user_role '{r}' is not supported; use one of: {}",
                Role::ALL.map(Role::as_str).join(", ")
            ))
        })?,
    };
    if let Some(prompts) = metadata.get("prompts") {
        let ok = prompts.as_array().is_some_and(|a| {
            a.iter()
                .all(|p| p.as_str().is_some_and(|s| PromptRef::parse(s).is_ok()))
        });
        if !ok {
            return Err(ApiError::bad_request(
                "metadata.prompts must be a list of prompt ids, e.g. [\"greeting\", \"summarizer.v2\"]",
            ));
        }
    }
    let now = now_ms();
    let expires_at = match (duration, expires) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("send either duration or expires, not both")),
        (Some(d), None) => Some(now + parse_duration_ms(&d).ok_or_else(|| {
            ApiError::bad_request(format!("duration '{d}' is not understood; use a number and a unit: 30s, 15m, 12h, 7d, 2w"))
        })?),
        (None, Some(e)) => Some(parse_rfc3339_ms(&e).ok_or_else(|| {
            ApiError::bad_request(format!("expires '{e}' is not an RFC 3339 time such as 2027-01-01T00:00:00Z"))
        })?),
        (None, None) => None,
    };
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let rec = KeyRecord {
        token: token_of(&key),
        key_name: abbreviate(&key),
        key_alias,
        user_id,
        user_role,
        metadata,
        expires_at,
        created_at: now,
        created_by: caller.user_id.clone(),
    };
    state.insert_key(rec.clone()).await?;
    let mut out = key_json(&rec);
    if let Value::Object(o) = &mut out {
        let mut first = Map::new();
        first.insert("key".into(), Value::from(key));
        first.extend(std::mem::take(o));
        *o = first;
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
pub struct InfoQuery {
    key: Option<String>,
}

/// A raw key (`sk-…`) or its token.
fn token_from(key_or_token: &str) -> String {
    let is_token = key_or_token.len() == 64 && key_or_token.bytes().all(|b| b.is_ascii_hexdigit());
    if is_token {
        key_or_token.to_ascii_lowercase()
    } else {
        token_of(key_or_token)
    }
}

/// `GET /key/info[?key=]`: a key's details (never its secret). Without `key`, the caller's own.
pub async fn info(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<InfoQuery>,
) -> ApiResult<Json<Value>> {
    let token = match (&q.key, &caller.token) {
        (Some(k), _) => token_from(k),
        (None, Some(own)) => own.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "The master key has no key record; pass ?key=<key or token> to look one up.",
            ));
        }
    };
    let own = caller.token.as_deref() == Some(token.as_str());
    if !(own || caller.can_write() || caller.role == Role::ProxyAdminViewer) {
        return Err(ApiError::forbidden("You may only look up your own key."));
    }
    let rec = state
        .keys
        .read()
        .get(&token)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Key not found"))?;
    Ok(Json(json!({ "key": rec.token, "info": key_json(&rec) })))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    return_full_object: Option<bool>,
    page: Option<usize>,
    size: Option<usize>,
}

/// `GET /key/list`: tokens (or whole records with `return_full_object=true`), paginated.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Value>> {
    if !(caller.can_write() || caller.role == Role::ProxyAdminViewer) {
        return Err(ApiError::forbidden(
            "Only proxy admins and admin viewers can list keys.",
        ));
    }
    // LiteLLM's bounds (`page >= 1`, `1 <= size <= 100`), refused rather than clamped.
    let page = q.page.unwrap_or(1);
    let size = q.size.unwrap_or(10);
    let mut errors = Vec::new();
    if page == 0 {
        errors.push(FieldError::new(
            "greater_than_equal",
            &["query", "page"],
            "Input should be greater than or equal to 1",
        ));
    }
    if !(1..=100).contains(&size) {
        errors.push(FieldError::new(
            "value_error",
            &["query", "size"],
            "Input should be between 1 and 100",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut all: Vec<KeyRecord> = state.keys.read().values().cloned().collect();
    all.sort_by(|a, b| (a.created_at, &a.token).cmp(&(b.created_at, &b.token)));
    let total = all.len();
    let keys: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|k| {
            if q.return_full_object.unwrap_or(false) {
                key_json(k)
            } else {
                Value::from(k.token.clone())
            }
        })
        .collect();
    Ok(Json(
        json!({"keys": keys, "total_count": total, "current_page": page, "total_pages": total.div_ceil(size)}),
    ))
}

/// `POST /key/delete` with `{"keys": [...]}` (keys or tokens) and/or `{"key_aliases": [...]}`.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&caller)?;
    let list = |name: &str| -> ApiResult<Vec<String>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        ApiError::Validation(vec![FieldError::new(
                            "string_type",
                            &["body", name],
                            "Input should be a list of strings",
                        )])
                    })
                })
                .collect(),
            Some(_) => Err(ApiError::Validation(vec![FieldError::new(
                "list_type",
                &["body", name],
                "Input should be a valid list",
            )])),
        }
    };
    let keys = list("keys")?;
    let aliases = list("key_aliases")?;
    if keys.is_empty() && aliases.is_empty() {
        return Err(ApiError::bad_request(
            "Send {\"keys\": [...]} or {\"key_aliases\": [...]} naming the keys to delete.",
        ));
    }
    let mut tokens: Vec<String> = keys.iter().map(|k| token_from(k)).collect();
    {
        let known = state.keys.read();
        for a in &aliases {
            tokens.extend(
                known
                    .values()
                    .filter(|k| k.key_alias.as_deref() == Some(a.as_str()))
                    .map(|k| k.token.clone()),
            );
        }
    }
    let gone = state.delete_keys(&tokens).await?;
    if gone.is_empty() {
        return Err(ApiError::not_found("None of the given keys exist."));
    }
    Ok((StatusCode::OK, Json(json!({ "deleted_keys": gone }))))
}
