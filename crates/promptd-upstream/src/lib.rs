//! The client side of running prompts: LiteLLM's `model_list` entries turned into callable
//! OpenAI-compatible models, with streaming through a bounded SSE parser, upstream faults mapped
//! to HTTP statuses, LiteLLM's `mock_response`, and per-model metrics.
//!
//! **Architecture invariant:** nothing an upstream sends can crash or hang promptd: every read
//! has a timeout, every buffer a cap, and dropping a response stream cancels the upstream request
//! (no detached tasks hold it).

mod error;
mod metrics;
mod mock;
mod model;
mod sse;

pub use error::{ErrorKind, UpstreamError};
pub use metrics::{Metrics, ModelStats};
pub use model::{ChatResponse, ChatStream, ConfigError, Model, Models};

/// Installs the process-wide TLS crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
