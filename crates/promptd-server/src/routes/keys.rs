//! Virtual keys, with the subset of LiteLLM's `/key/*` endpoints that matters for prompts.
//! A key is shown once, at creation; only its SHA-256 (`token`) is stored. A key can create,
//! see and delete only keys within its own reach (`KeyAdmin`, `KeyViewer`).

use axum::Json;
use axum::extract::State;
use base64::Engine;
use promptd_core::time_fmt::{format_ms, now_ms, parse_rfc3339_ms};
use promptd_core::{Denied, KeyRecord, Reach, Role};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, abbreviate};
use crate::body::{Body, Fields, FromBody};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::QueryParams;
use crate::state::{AppState, KeyEntry, token_of};

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

/// Parses LiteLLM's `duration` ("30s", "15m", "12h", "7d", "2w", "1mo") in milliseconds.
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

/// The body of `POST /key/generate` (a `null` body is `{}`).
pub struct GenerateRequest {
    pub key_alias: Option<String>,
    pub user_id: Option<String>,
    pub user_role: Option<String>,
    pub duration: Option<String>,
    pub expires: Option<String>,
    pub metadata: Map<String, Value>,
}

impl FromBody for GenerateRequest {
    const NULL_IS_EMPTY: bool = true;

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(GenerateRequest {
            key_alias: f.str("key_alias"),
            user_id: f.str("user_id"),
            user_role: f.str("user_role"),
            duration: f.str("duration"),
            expires: f.str("expires"),
            metadata: f.object("metadata"),
        })
    }
}

impl GenerateRequest {
    fn role(&self) -> ApiResult<Role> {
        match self.user_role.as_deref() {
            None => Ok(Role::InternalUser),
            Some(r) => Role::parse(r).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "user_role '{r}' is not supported; use one of: {}",
                    Role::ALL.map(Role::as_str).join(", ")
                ))
            }),
        }
    }

    /// When the key expires (ms since the epoch), from `duration` or `expires`.
    fn expires_at(&self, now: i64) -> ApiResult<Option<i64>> {
        match (&self.duration, &self.expires) {
            (Some(_), Some(_)) => Err(ApiError::bad_request("send either duration or expires, not both")),
            (Some(d), None) => parse_duration_ms(d).and_then(|ms| now.checked_add(ms)).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("duration '{d}' is not understood or too long; use a number and a unit: 30s, 15m, 12h, 7d, 2w"))
            }),
            (None, Some(e)) => parse_rfc3339_ms(e).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("expires '{e}' is not an RFC 3339 time such as 2027-01-01T00:00:00Z"))
            }),
            (None, None) => Ok(None),
        }
    }
}

/// A new secret: `sk-` + 256 random bits.
fn new_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

/// `POST /key/generate`: the new key's reach must lie within the caller's.
pub async fn generate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(req): Body<GenerateRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.key_admin()?;
    let user_role = req.role()?;
    let reach = Reach::from_metadata(&req.metadata).map_err(ApiError::bad_request)?;
    let now = now_ms();
    let expires_at = req.expires_at(now)?;
    let key = new_secret();
    let rec = KeyRecord {
        token: token_of(&key),
        key_name: abbreviate(&key),
        key_alias: req.key_alias,
        user_id: req.user_id,
        user_role,
        metadata: req.metadata,
        expires_at,
        created_at: now,
        created_by: admin.author().map(str::to_owned),
    };
    let entry = KeyEntry {
        record: rec.clone(),
        reach,
    };
    state.insert_key(&admin, entry).await?;
    // The secret comes first and only here.
    let mut out = Map::new();
    out.insert("key".into(), Value::from(key));
    if let Value::Object(fields) = key_json(&rec) {
        out.extend(fields);
    }
    Ok(Json(Value::Object(out)))
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
    let viewer = match caller.key_viewer() {
        Ok(v) => Some(v),
        Err(_) if own => None,
        Err(_) => return Err(Denied::OtherKey.into()),
    };
    let entry = state
        .keys
        .read()
        .get(&token)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Key not found"))?;
    if let (false, Some(v)) = (own, viewer) {
        v.see(entry.record.user_role, &entry.reach)?;
    }
    Ok(Json(
        json!({ "key": entry.record.token, "info": key_json(&entry.record) }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    return_full_object: Option<bool>,
    page: Option<usize>,
    size: Option<usize>,
}

/// `GET /key/list`: tokens (or whole records with `return_full_object=true`) of the keys within
/// the caller's reach, paginated.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Value>> {
    let viewer = caller.key_viewer()?;
    // LiteLLM's bounds (`page >= 1`, `1 <= size <= 100`), refused rather than clamped.
    let (page, size) = (q.page.unwrap_or(1), q.size.unwrap_or(10));
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
    let mut all: Vec<KeyRecord> = (state.keys.read().values())
        .filter(|k| viewer.may_see(k.record.user_role, &k.reach))
        .map(|k| k.record.clone())
        .collect();
    all.sort_by(|a, b| (a.created_at, &a.token).cmp(&(b.created_at, &b.token)));
    let total = all.len();
    let full = q.return_full_object.unwrap_or(false);
    let keys: Vec<Value> = (all.iter().skip((page - 1).saturating_mul(size)).take(size))
        .map(|k| {
            if full {
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

/// The body of `POST /key/delete`.
pub struct DeleteRequest {
    pub keys: Vec<String>,
    pub key_aliases: Vec<String>,
}

impl FromBody for DeleteRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(DeleteRequest {
            keys: f.str_list("keys"),
            key_aliases: f.str_list("key_aliases"),
        })
    }
}

/// `POST /key/delete` with `{"keys": [...]}` (keys or tokens) and/or `{"key_aliases": [...]}`.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(req): Body<DeleteRequest>,
) -> ApiResult<Json<Value>> {
    let admin = caller.key_admin()?;
    if req.keys.is_empty() && req.key_aliases.is_empty() {
        return Err(ApiError::bad_request(
            "Send {\"keys\": [...]} or {\"key_aliases\": [...]} naming the keys to delete.",
        ));
    }
    let mut tokens: Vec<String> = req.keys.iter().map(|k| token_from(k)).collect();
    tokens.extend(
        (state.keys.read().values())
            .filter(|k| (k.record.key_alias.as_ref()).is_some_and(|a| req.key_aliases.contains(a)))
            .map(|k| k.record.token.clone()),
    );
    let gone = state.delete_keys(&admin, &tokens).await?;
    if gone.is_empty() {
        return Err(ApiError::not_found("None of the given keys exist."));
    }
    Ok(Json(json!({ "deleted_keys": gone })))
}
