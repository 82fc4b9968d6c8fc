//! Request extractors whose failures keep LiteLLM/FastAPI's error shapes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// A JSON request body of at most `Settings::max_body_bytes`, parsed but not yet validated.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.max_body_bytes;
        let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "Request body is larger than the limit of {limit} bytes. Send a smaller body, or raise promptd_settings.max_body_bytes (PROMPTD_MAX_BODY_BYTES)."
            ))
        })?;
        parse_json(&body).map(JsonBody)
    }
}

/// Parses JSON, reporting a syntax error in FastAPI's shape with the position.
pub fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "missing",
            &["body"],
            "Field required: the request needs a JSON body",
        )]));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Validation(vec![FieldError::new(
            "json_invalid",
            &["body"],
            format!(
                "JSON decode error at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )])
    })
}

/// Query parameters; a malformed value is a 422 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| {
                ApiError::Validation(vec![FieldError::new(
                    "query_invalid",
                    &["query"],
                    e.body_text(),
                )])
            })
    }
}

/// The `{prompt_id}` segment of a path. One that is not UTF-8 once percent-decoded cannot name a
/// prompt: 404 in the usual `{"detail"}` shape, instead of axum's plain-text 400.
pub struct PromptIdPath(pub String);

impl FromRequestParts<AppState> for PromptIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PromptIdPath(p.0))
            .map_err(|e| {
                ApiError::not_found(format!(
                    "Prompt not found: {}. Prompt ids use only letters, digits, '_', '-' and '.'.",
                    e.body_text()
                ))
            })
    }
}

/// A positive 32-bit integer read as pydantic reads an `int` field: an integer or a float
/// without a fractional part (`2.0`), and with `digits` also a string of ASCII digits (`"2"`).
pub fn positive_u32(v: &Value, digits: bool) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= f64::from(u32::MAX))
                .map(|f| f as u64)
        }),
        Value::String(s) if digits && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }?;
    u32::try_from(n).ok().filter(|n| *n >= 1)
}

/// The conditional-request headers (RFC 9110) promptd honours: `If-Match` on writes
/// (compare-and-swap, 412) and `If-None-Match` on reads (304).
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Conditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let get = |name: axum::http::HeaderName| -> Result<Option<String>, ApiError> {
            match parts.headers.get(&name) {
                None => Ok(None),
                Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
                    ApiError::bad_request(format!(
                        "The {name} header is not visible ASCII; send the ETag exactly as promptd gave it."
                    ))
                }),
            }
        };
        Ok(Conditions {
            if_match: get(axum::http::header::IF_MATCH)?,
            if_none_match: get(axum::http::header::IF_NONE_MATCH)?,
        })
    }
}

impl Conditions {
    /// Whether `If-None-Match` names `etag` (weak comparison, `*` = any): answer 304.
    pub fn not_modified(&self, etag: &str) -> bool {
        let Some(h) = &self.if_none_match else {
            return false;
        };
        let strip = |t: &str| t.trim().strip_prefix("W/").unwrap_or(t.trim()).to_owned();
        h.trim() == "*" || h.split(',').any(|t| strip(t) == strip(etag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positive_u32_takes_integers_whole_floats_and_digit_strings_only() {
        assert_eq!(positive_u32(&json!(3), false), Some(3));
        assert_eq!(positive_u32(&json!(3.0), false), Some(3));
        assert_eq!(positive_u32(&json!(4294967295u64), false), Some(u32::MAX));
        assert_eq!(positive_u32(&json!("3"), true), Some(3));
        for bad in [
            json!(0),
            json!(-1),
            json!(2.5),
            json!(4294967296u64),
            json!(1e300),
            json!(true),
        ] {
            assert_eq!(positive_u32(&bad, true), None, "{bad}");
        }
        assert_eq!(positive_u32(&json!("3"), false), None);
        assert_eq!(positive_u32(&json!("+3"), true), None);
        assert_eq!(positive_u32(&json!(""), true), None);
    }

    #[test]
    fn if_none_match_compares_weakly_and_star_matches_anything() {
        let c = |h: &str| Conditions {
            if_match: None,
            if_none_match: Some(h.to_owned()),
        };
        let tag = "\"production.v2.0123456789abcdef\"";
        assert!(c(tag).not_modified(tag));
        assert!(c(&format!("W/{tag}")).not_modified(tag));
        assert!(c(&format!("\"other\", {tag}")).not_modified(tag));
        assert!(c("*").not_modified(tag));
        assert!(!c("\"other\"").not_modified(tag));
        assert!(!Conditions::default().not_modified(tag));
    }
}
