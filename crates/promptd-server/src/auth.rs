//! Authentication: turns the request's API key into a [`Principal`] once, before any handler.
//! Keys are accepted as `Authorization: Bearer <key>`, `x-litellm-api-key` or `api-key`; the web
//! UI's session cookie is the alternative credential (see [`session_principal`]): with it, a
//! state-changing request must carry the session's CSRF token and come from this origin.

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
            if let Some(cookie) = session_cookie(&parts.headers) {
                let active = state.ui_sessions.get(cookie).ok_or_else(session_ended)?;
                check_cross_site(parts, &active)?;
                return Ok(Caller(session_principal(state, &active)?));
            }
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

/// The UI session cookie of a request, if it sent one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| promptd_ui::session::cookie_value(h, promptd_ui::session::COOKIE_NAME))
        .filter(|v| !v.is_empty())
}

fn session_ended() -> ApiError {
    ApiError::Unauthenticated(
        "Authentication Error, your promptd UI session has ended (signed out, idle or too old, or the server restarted). Sign in again at /ui/login.".into(),
    )
}

/// The principal a UI session acts as, recomputed from the live key entry on every request: a
/// deleted or expired key ends its sessions at once.
pub fn session_principal(
    state: &AppState,
    active: &promptd_ui::session::Active,
) -> Result<Principal, ApiError> {
    match &active.credential {
        promptd_ui::Credential::Master if state.master_key_hash.is_some() => {
            Ok(Principal::master())
        }
        promptd_ui::Credential::Master => Err(session_ended()),
        promptd_ui::Credential::Key { token } => {
            let entry = state.keys.read().get(token).cloned().ok_or_else(|| {
                ApiError::Unauthenticated(
                    "Authentication Error, the key this UI session signed in with was deleted. Sign in again at /ui/login with a current key.".into(),
                )
            })?;
            if let Some(exp) = entry.record.expires_at
                && exp <= now_ms()
            {
                return Err(ApiError::Unauthenticated(format!(
                    "Authentication Error - Expired Key. The key {} this UI session signed in with expired at {}. Sign in again at /ui/login with a current key.",
                    entry.record.key_name,
                    format_ms(exp)
                )));
            }
            Ok(entry.principal())
        }
    }
}

/// Whether `method` may change state (everything but GET, HEAD, OPTIONS).
pub fn changes_state(method: &axum::http::Method) -> bool {
    !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// A cookie-authenticated request that changes state must send the session's CSRF token in
/// `X-CSRF-Token`, and, when the browser names its origin, come from this server's origin.
fn check_cross_site(parts: &Parts, active: &promptd_ui::session::Active) -> Result<(), ApiError> {
    if !changes_state(&parts.method) {
        return Ok(());
    }
    check_origin(&parts.headers)?;
    let presented = parts
        .headers
        .get(promptd_ui::session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !active.csrf_matches(presented) {
        return Err(ApiError::CrossSite(
            "This request uses the UI session cookie but its X-CSRF-Token header is missing or wrong. Send the token from the page's csrf-token meta tag, or call the API with Authorization: Bearer <key> instead.".into(),
        ));
    }
    Ok(())
}

/// Refuses a request whose `Origin` (or, without one, `Sec-Fetch-Site: cross-site`) says it
/// came from another site than the `Host` it was sent to.
pub fn check_origin(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(origin) = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let forwarded_host = headers
            .get("x-forwarded-host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if origin == "null" || (origin_host != host && origin_host != forwarded_host) {
            return Err(ApiError::CrossSite(format!(
                "This request uses the UI session cookie but comes from origin {origin}, not from this server ({host}). Use the UI on this server, or call the API with Authorization: Bearer <key>."
            )));
        }
    } else if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site")
    {
        return Err(ApiError::CrossSite(
            "This request uses the UI session cookie but the browser says it came from another site. Use the UI on this server, or call the API with Authorization: Bearer <key>.".into(),
        ));
    }
    Ok(())
}
