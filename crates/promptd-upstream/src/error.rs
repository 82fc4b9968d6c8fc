//! Upstream failures, the HTTP status each one becomes, and OpenAI's error shape.

use serde_json::{Value, json};

/// What went wrong, for the status and the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Could not connect (refused, DNS, TLS): 502.
    Connect,
    /// No answer, or no next chunk, within the model's timeout: 504.
    Timeout,
    /// The upstream answered with an error status: that status.
    Status,
    /// The upstream answered something unusable (not JSON, malformed SSE, too large, cut off,
    /// a redirect): 502.
    Protocol,
}

impl ErrorKind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Status,
        ErrorKind::Protocol,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Protocol => "protocol",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A failed model call, carrying the status promptd answers with and the message it shows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    kind: ErrorKind,
    status: u16,
    message: String,
    error_type: Option<String>,
    param: Option<String>,
}

impl UpstreamError {
    pub(crate) fn new(kind: ErrorKind, status: u16, message: impl Into<String>) -> UpstreamError {
        UpstreamError {
            kind,
            status,
            message: message.into(),
            error_type: None,
            param: None,
        }
    }

    pub(crate) fn connect(message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(ErrorKind::Connect, 502, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(ErrorKind::Timeout, 504, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(ErrorKind::Protocol, 502, message)
    }

    /// The upstream's own `error.type` and `error.param`, kept when it gave them.
    pub(crate) fn with_upstream_fields(mut self, error: Option<&Value>) -> UpstreamError {
        let field = |k: &str| {
            error
                .and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        self.error_type = field("type");
        self.param = field("param");
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status to answer with: 502, 504, or the upstream's own 4xx/5xx.
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// OpenAI's `error.type`: the upstream's own when it sent one.
    pub fn error_type(&self) -> &str {
        self.error_type.as_deref().unwrap_or(match self.kind {
            ErrorKind::Connect => "api_connection_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "upstream_error",
            ErrorKind::Protocol => "upstream_protocol_error",
        })
    }

    /// `{"error": {"message", "type", "param", "code"}}`, with `code` the status as a string as
    /// LiteLLM writes it (transcript 44).
    pub fn to_body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.error_type(),
            "param": self.param,
            "code": self.status.to_string(),
        }})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_openais_error_shape_with_the_status_as_code() {
        assert_eq!(
            UpstreamError::timeout("slow").to_body(),
            json!({"error": {"message": "slow", "type": "timeout", "param": null, "code": "504"}})
        );
        let e = UpstreamError::new(ErrorKind::Status, 429, "later").with_upstream_fields(Some(
            &json!({"type": "rate_limit_error", "param": "model", "code": "rate_limit_exceeded"}),
        ));
        assert_eq!(
            e.to_body(),
            json!({"error": {"message": "later", "type": "rate_limit_error", "param": "model", "code": "429"}})
        );
    }
}
