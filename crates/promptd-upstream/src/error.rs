//! Upstream failures and the HTTP status each one becomes.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Could not connect (refused, DNS, TLS): 502.
    Connect,
    /// No answer within the model's timeout: 504.
    Timeout,
    /// The upstream answered with an error status: the same status.
    Status,
    /// The upstream answered something unusable (not JSON, malformed SSE, too large): 502.
    Protocol,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// A failed model call, in OpenAI's error shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    pub kind: ErrorKind,
    /// The HTTP status promptd answers with.
    pub status: u16,
    pub message: String,
    /// OpenAI's `error.type`, when the upstream gave one.
    pub error_type: Option<String>,
}

impl UpstreamError {
    pub fn new(kind: ErrorKind, status: u16, message: impl Into<String>) -> UpstreamError {
        UpstreamError {
            kind,
            status,
            message: message.into(),
            error_type: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// `{"error": {"message", "type", "param", "code"}}`.
    pub fn to_body(&self) -> Value {
        let ty = self.error_type.clone().unwrap_or_else(|| {
            match self.kind {
                ErrorKind::Connect => "upstream_connection_error",
                ErrorKind::Timeout => "upstream_timeout",
                ErrorKind::Status => "upstream_error",
                ErrorKind::Protocol => "upstream_protocol_error",
            }
            .to_owned()
        });
        json!({"error": {"message": self.message, "type": ty, "param": null, "code": self.status.to_string()}})
    }
}
