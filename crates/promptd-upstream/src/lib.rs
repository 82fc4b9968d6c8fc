//! The client side of running prompts: LiteLLM's `model_list` entries turned into callable
//! OpenAI-compatible models, with streaming through a bounded SSE relay, upstream faults mapped
//! to HTTP statuses, LiteLLM's `mock_response`, and per-model metrics.
//!
//! | fault | status |
//! |---|---|
//! | connection refused, DNS failure, TLS failure, connect timeout | 502 |
//! | no answer within `timeout` (no first byte within `stream_timeout` when streaming) | 504 |
//! | the upstream's own 4xx/5xx | the same status, with its `error.message` |
//! | a redirect, a 200 that is not JSON (or too large, or cut off), an empty stream | 502 |
//! | anything going wrong once a stream has started | an error event, then `[DONE]` |
//!
//! **Architecture invariant:** nothing an upstream sends can crash or hang promptd: every read
//! has a timeout, every buffer a cap, and dropping a response stream cancels the upstream request
//! (the stream owns the upstream response; no detached task holds it).

mod config;
mod error;
mod metrics;
mod mock;
mod model;
mod relay;
mod sse;

pub use config::{ConfigError, DEFAULT_TIMEOUT, LitellmParams, ModelEntry, ModelListItem, Seconds};
pub use error::{ErrorKind, UpstreamError};
pub use metrics::{BUCKETS, HistogramSnapshot, Metrics, ModelStats};
pub use model::{ChatResponse, ChatStream, Limits, Model, Models};

/// Installs ring as the process-wide TLS crypto provider. Safe to call more than once; call it
/// before building any other rustls client (the binary's `main`, tests).
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
