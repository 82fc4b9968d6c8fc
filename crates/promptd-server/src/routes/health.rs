//! Liveness and readiness probes (no key needed, as in LiteLLM).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /health/liveliness`: the process is up.
pub async fn liveliness() -> Json<Value> {
    Json(Value::from("I'm alive!"))
}

/// `GET /health/readiness`: the database answers; 503 when it does not (reads still work).
pub async fn readiness(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let prompts = state.index.read().len();
    let version = env!("CARGO_PKG_VERSION");
    match state.store.ping().await {
        Ok(()) => Ok(Json(
            json!({"status": "healthy", "db": "connected", "prompts": prompts, "promptd_version": version}),
        )),
        Err(e) => Err(ApiError::NotReady(
            json!({"status": "unhealthy", "db": "Not connected", "error": promptd_core::error_chain(&e), "prompts": prompts, "promptd_version": version}),
        )),
    }
}

/// `GET /metrics`: Prometheus text format. Needs an admin or viewer key, unless
/// `promptd_settings.metrics_public: true` opens it to scrapers without one.
pub async fn metrics(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> ApiResult<impl axum::response::IntoResponse> {
    if !state.settings.metrics_public {
        caller?.0.operator()?;
    }
    let prompts = state.index.read().len();
    let versions = state.index.read().version_count();
    let mut body = state.models.metrics().render_prometheus();
    body.push_str(&format!(
        "# HELP promptd_prompts Prompts in memory.\n# TYPE promptd_prompts gauge\npromptd_prompts {prompts}\n# HELP promptd_prompt_versions Prompt versions in memory.\n# TYPE promptd_prompt_versions gauge\npromptd_prompt_versions {versions}\n"
    ));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    ))
}
