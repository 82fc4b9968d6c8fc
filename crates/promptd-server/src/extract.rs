//! Request extractors whose failures keep LiteLLM/FastAPI's error shapes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
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
            ApiError::Detail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body is larger than the limit of {limit} bytes. Send a smaller body, or raise server.max_body_bytes (PROMPTD_MAX_BODY_BYTES)."
                ),
            )
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
