//! The one error type of the HTTP layer and its mapping to responses, in LiteLLM's shapes:
//! `{"detail": "…"}` for handler errors, FastAPI's 422 list for validation errors, and
//! `{"error": {…}}` for authentication failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promptd_core::StoreError;
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
