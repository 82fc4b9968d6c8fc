//! Authentication: turns the request's API key into a [`Principal`] once, before any handler.
//! Keys are accepted as `Authorization: Bearer <key>`, `x-litellm-api-key` or `api-key`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use promptd_core::Principal;
use promptd_core::time_fmt::{format_ms, now_ms};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

fn presented_key(parts: &Parts) -> Option<&str> {
    let h = &parts.headers;
    if let Some(v) = h
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let key = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        if !key.is_empty() {
            return Some(key);
        }
    }
    ["x-litellm-api-key", "api-key"]
        .iter()
        .find_map(|name| h.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Shows the end of a key so its owner can recognise it without the secret being echoed.
pub fn abbreviate(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.master_key_hash.is_none() {
            // Authentication is off (no master key, loopback only): everyone is the admin,
            // as in LiteLLM without a master key.
            return Ok(Caller(Principal::master()));
        }
        let Some(key) = presented_key(parts) else {
            return Err(ApiError::Unauthenticated(
                "Authentication Error, No api key passed in.".into(),
            ));
        };
        if state.is_master_key(key) {
            return Ok(Caller(Principal::master()));
        }
        let Some(entry) = state.find_key(key) else {
            return Err(ApiError::Unauthenticated(format!(
                "Authentication Error, Invalid proxy server token passed. Received API key {}: it is neither the master key nor a key created with POST /key/generate (or it was deleted).",
                abbreviate(key)
            )));
        };
        if let Some(exp) = entry.record.expires_at
            && exp <= now_ms()
        {
            return Err(ApiError::Unauthenticated(format!(
                "Authentication Error - Expired Key. Key={} expired at {}. Create a new key with POST /key/generate.",
                entry.record.key_name,
                format_ms(exp)
            )));
        }
        Ok(Caller(entry.principal()))
    }
}
