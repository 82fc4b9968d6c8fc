//! The one error type of the HTTP layer and its mapping to responses, in LiteLLM's shapes:
//! `{"detail": "…"}` for handler errors, FastAPI's 422 list for validation errors, and
//! `{"error": {…}}` for authentication failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promptd_core::{Denied, StoreError};
use serde_json::{Value, json};

/// One entry of a FastAPI-style 422 `detail` list.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Option<Value>,
}

impl FieldError {
    pub fn new(kind: &'static str, loc: &[&str], msg: impl Into<String>) -> FieldError {
        FieldError {
            kind,
            loc: loc.iter().map(|s| Value::from(*s)).collect(),
            msg: msg.into(),
            input: None,
        }
    }

    pub fn missing(loc: &[&str]) -> FieldError {
        FieldError::new("missing", loc, "Field required")
    }

    pub fn with_input(mut self, input: &Value) -> FieldError {
        self.input = Some(input.clone());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error or a refusal with a message: `{"detail": message}`.
    #[error("{1}")]
    Detail(StatusCode, String),
    /// Request validation failed (422).
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// No key, a wrong key or an expired key (401, LiteLLM's `auth_error` shape).
    #[error("{0}")]
    Unauthenticated(String),
    /// The database cannot take writes right now (503).
    #[error("{0}")]
    Unavailable(String),
    /// An OpenAI-shaped error from a model call, passed through with its status.
    #[error("upstream error {0}")]
    Upstream(StatusCode, Value),
    /// A bug or an unexpected failure: logged with its cause, never shown to the client.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::Detail(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::Detail(StatusCode::NOT_FOUND, msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::Detail(StatusCode::FORBIDDEN, msg.into())
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> ApiError {
        ApiError::Detail(StatusCode::FORBIDDEN, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Conflict(m) => ApiError::Detail(StatusCode::CONFLICT, m),
            StoreError::Internal(m) => ApiError::Internal(m),
            // A read-modify-write's own refusal (see `App::append_derived`), handed back.
            StoreError::Rejected(b) => match b.downcast::<ApiError>() {
                Ok(api) => *api,
                Err(other) => ApiError::Internal(other.to_string()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Detail(status, msg) => (status, axum::Json(json!({ "detail": msg }))).into_response(),
            ApiError::Validation(errors) => {
                let detail: Vec<Value> = errors
                    .into_iter()
                    .map(|e| {
                        let mut m = serde_json::Map::new();
                        m.insert("type".into(), e.kind.into());
                        m.insert("loc".into(), Value::Array(e.loc));
                        m.insert("msg".into(), e.msg.into());
                        if let Some(i) = e.input {
                            m.insert("input".into(), i);
                        }
                        Value::Object(m)
                    })
                    .collect();
                (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "detail": detail }))).into_response()
            }
            ApiError::Unauthenticated(msg) => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"message": msg, "type": "auth_error", "param": "None", "code": "401"}})),
            )
                .into_response(),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({"detail": "The database is unavailable, so this write was not made. Reads keep working from memory; retry the write in a few seconds."})),
                )
                    .into_response()
            }
            ApiError::Upstream(status, body) => (status, axum::Json(body)).into_response(),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"detail": "Internal server error; the cause is in promptd's log."})),
                )
                    .into_response()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An [`ApiError`] answered in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`,
/// as LiteLLM and OpenAI do on the OpenAI-compatible routes (`/chat/completions`, `/v1/models`),
/// so OpenAI SDKs show the message. The status is the same as everywhere else.
#[derive(Debug)]
pub struct OpenAi(pub ApiError);

impl From<ApiError> for OpenAi {
    fn from(e: ApiError) -> OpenAi {
        OpenAi(e)
    }
}

impl From<Denied> for OpenAi {
    fn from(e: Denied) -> OpenAi {
        OpenAi(e.into())
    }
}

impl OpenAi {
    /// OpenAI's error `type` for a status.
    fn kind(status: StatusCode) -> &'static str {
        match status.as_u16() {
            401 => "auth_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            503 => "service_unavailable_error",
            s if s >= 500 => "internal_server_error",
            _ => "invalid_request_error",
        }
    }

    fn answer(status: StatusCode, message: String, param: Option<String>) -> Response {
        let body = json!({"error": {
            "message": message,
            "type": OpenAi::kind(status),
            "param": param,
            "code": status.as_u16().to_string(),
        }});
        (status, axum::Json(body)).into_response()
    }
}

impl IntoResponse for OpenAi {
    fn into_response(self) -> Response {
        match self.0 {
            ApiError::Detail(status, msg) => OpenAi::answer(status, msg, None),
            ApiError::Validation(errors) => {
                let loc = |e: &FieldError| {
                    (e.loc.iter().skip(1))
                        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(".")
                };
                let param = errors.first().map(loc);
                let message = (errors.iter())
                    .map(|e| format!("{}: {}", loc(e), e.msg))
                    .collect::<Vec<_>>()
                    .join("; ");
                OpenAi::answer(StatusCode::UNPROCESSABLE_ENTITY, message, param)
            }
            // Already OpenAI-shaped (401 in LiteLLM's auth_error form, upstream errors as sent),
            // or logged and generic (503, 500): the one mapping above serves.
            other @ (ApiError::Unauthenticated(_) | ApiError::Upstream(..)) => {
                other.into_response()
            }
            other => {
                let response = other.into_response();
                let status = response.status();
                let message = match status {
                    StatusCode::SERVICE_UNAVAILABLE => {
                        "The database is unavailable; retry in a few seconds."
                    }
                    _ => "Internal server error; the cause is in promptd's log.",
                };
                OpenAi::answer(status, message.to_owned(), None)
            }
        }
    }
}
