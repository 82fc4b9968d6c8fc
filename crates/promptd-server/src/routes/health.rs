//! Liveness and readiness probes (no key needed, as in LiteLLM).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /health/liveliness`: the process is up.
pub async fn liveliness() -> Json<Value> {
    Json(Value::from("I'm alive!"))
}

/// `GET /health/readiness`: the database answers; 503 when it does not (reads still work).
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let prompts = state.index.read().len();
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"status": "healthy", "db": "connected", "prompts": prompts, "promptd_version": env!("CARGO_PKG_VERSION")}),
            ),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unhealthy", "db": "Not connected", "error": e.to_string(), "prompts": prompts, "promptd_version": env!("CARGO_PKG_VERSION")}),
            ),
        ),
    }
}
