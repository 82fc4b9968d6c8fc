//! The one error type of the HTTP layer and its mapping to responses, in LiteLLM's shapes:
//! `{"detail": "…"}` for handler errors, FastAPI's 422 list for validation errors, and
//! `{"error": {…}}` for authentication failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promptd_core::{Denied, StoreError, error_chain};
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

    /// pydantic's error for a value at `loc` that should be an object (a model) but is not.
    pub fn not_an_object(loc: &[&str], input: &Value) -> FieldError {
        FieldError::new(
            "model_attributes_type",
            loc,
            "Input should be a valid dictionary or object to extract fields from",
        )
        .with_input(input)
    }

    pub fn missing(loc: &[&str]) -> FieldError {
        FieldError::new("missing", loc, "Field required")
    }

    pub fn with_input(mut self, input: &Value) -> FieldError {
        self.input = Some(input.clone());
        self
    }
}

/// Every way a request can fail. Handlers name the *kind* of failure; the status code and the
/// body shape are decided here, in [`ApiError::status`] and the `IntoResponse` impls, and
/// nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is understood but wrong (400): the text says what and how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// The caller's key may not do this (403).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// A browser session's state-changing request without its CSRF token, or from another
    /// origin (403): the text says which check failed.
    #[error("{0}")]
    CrossSite(String),
    /// Nothing to serve at this address (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not with this method (405).
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// The write conflicts with what is stored (409), e.g. a duplicate key alias.
    #[error("{0}")]
    Conflict(String),
    /// A compare-and-swap failed (412): the environment moved on since the client read it. The
    /// answer carries the current `ETag` (when there is a version).
    #[error(transparent)]
    PreconditionFailed(#[from] promptd_core::PreconditionFailed),
    /// The body is larger than `max_body_bytes` (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive within `body_read_timeout_ms` (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// A stored prompt cannot be used as it is (422 with a text `detail`).
    #[error("{0}")]
    Unusable(String),
    /// Request validation failed (422, FastAPI's list).
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// No key, a wrong key or an expired key (401, LiteLLM's `auth_error` shape).
    #[error("{0}")]
    Unauthenticated(String),
    /// Not ready to serve writes (503 from the readiness probe), with the probe's own answer.
    #[error("not ready")]
    NotReady(Value),
    /// The database cannot take writes right now (503); the cause is logged, not shown.
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// An OpenAI-shaped error from a model call, passed through with its status.
    #[error("upstream error {0}")]
    Upstream(StatusCode, Value),
    /// Items of a batch were refused (nothing was written): every refusal with its item's index
    /// (`errors`), and the status they share (400 when they differ).
    #[error("{detail}")]
    BatchRefused {
        status: StatusCode,
        detail: String,
        errors: Vec<Value>,
    },
    /// A bug or an unexpected failure: logged with its cause, never shown to the client.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::NotFound(msg.into())
    }
    /// An internal failure with its cause (logged, never shown).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ApiError {
        ApiError::Internal(cause.into())
    }

    /// The one place a failure becomes a status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Denied(_) | ApiError::CrossSite(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unusable(_) | ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(status, _) => *status,
            ApiError::BatchRefused { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The text a client is shown (`detail`, or OpenAI's `message`); 5xx causes stay in the log.
    fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(_) => "The database is unavailable or did not answer in time, so this write was not confirmed. Reads keep working from memory. Retry in a few seconds; if the write may have reached the database (a timeout during its commit), read the prompt's versions first.".to_owned(),
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    /// Logs the cause of a server-side failure (once, where it becomes a response).
    fn log(&self) {
        match self {
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %error_chain(cause), "database unavailable");
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = %error_chain(cause.as_ref()), "internal error");
            }
            _ => {}
        }
    }
}

/// What a client sees of a bug or an unexpected failure (also the answer to a panic).
pub const INTERNAL_MESSAGE: &str = "Internal server error; the cause is in promptd's log.";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable { .. } => ApiError::Unavailable(e),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Internal { .. } => ApiError::internal(e),
            // A read-modify-write's own refusal (see `App::append_derived`), handed back.
            StoreError::Rejected(b) => match b.downcast::<ApiError>() {
                Ok(api) => *api,
                Err(other) => match other.downcast::<promptd_core::PreconditionFailed>() {
                    Ok(p) => ApiError::PreconditionFailed(*p),
                    Err(other) => ApiError::Internal(other),
                },
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let etag = match &self {
            ApiError::PreconditionFailed(p) => p.current.clone(),
            _ => None,
        };
        let body = match self {
            ApiError::Validation(errors) => {
                let detail: Vec<Value> = errors.into_iter().map(FieldError::into_json).collect();
                json!({ "detail": detail })
            }
            ApiError::Unauthenticated(msg) => {
                json!({"error": {"message": msg, "type": "auth_error", "param": "None", "code": "401"}})
            }
            ApiError::Upstream(_, body) | ApiError::NotReady(body) => body,
            ApiError::BatchRefused { detail, errors, .. } => {
                json!({ "detail": detail, "errors": errors })
            }
            other => json!({ "detail": other.public_message() }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(tag) = etag.and_then(|t| axum::http::HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert(axum::http::header::ETAG, tag);
        }
        response
    }
}

impl FieldError {
    /// One entry of FastAPI's 422 `detail` list.
    fn into_json(self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("type".into(), self.kind.into());
        m.insert("loc".into(), Value::Array(self.loc));
        m.insert("msg".into(), self.msg.into());
        if let Some(i) = self.input {
            m.insert("input".into(), i);
        }
        Value::Object(m)
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
        let e = self.0;
        match e {
            // Already OpenAI-shaped: 401 in LiteLLM's auth_error form, upstream errors as sent.
            ApiError::Unauthenticated(_) | ApiError::Upstream(..) => e.into_response(),
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
            other => {
                other.log();
                OpenAi::answer(other.status(), other.public_message(), None)
            }
        }
    }
}
