//! promptd's HTTP layer: the router, handlers, authentication, error mapping and OpenAPI.
//!
//! **Architecture invariant:** this is the only crate that knows HTTP. It reaches storage only
//! through `promptd_core::Store`, and answers reads from the in-memory index.

// The OpenAPI document is one large `json!` literal (openapi.rs).
#![recursion_limit = "256"]

pub mod auth;
pub mod body;
pub mod error;
pub mod extract;
pub mod includes;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod state;
pub mod wire;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use state::{App, AppState, ConfigPrompt, Settings};

/// The webhook event types, for the OpenAPI document.
pub(crate) fn webhook_event_types() -> Vec<String> {
    promptd_core::webhook::event_types()
}

/// The complete application: every route, the API docs, and the fallbacks.
pub fn app(state: AppState) -> Router {
    // `POST /prompts/batch` reads its own, larger limit (`max_batch_body_bytes`).
    let body_limit = state
        .settings
        .max_body_bytes
        .max(state.settings.max_batch_body_bytes);
    let access_log = state.settings.access_log;
    let router = routes::router()
        .merge(openapi::docs_router(&state.models.names()))
        .merge(routes::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let router = if access_log {
        router.layer(axum::middleware::from_fn(log_access))
    } else {
        router
    };
    router.with_state(state)
}

/// The access log (`promptd_settings.access_log`): one line per request with the method, the
/// path (never the query string, which may carry a key), the status and the time to the answer's
/// head, under the `promptd::access` target.
async fn log_access(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        target: "promptd::access",
        %method,
        path,
        status = response.status().as_u16(),
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight requests.
/// Connections are bounded as `serve::serve_router` describes (timeouts, cap, early 413).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = serve::Limits::from_settings(&state.settings);
    // Watch streams never finish by themselves: end them when shutdown begins, so the server
    // does not wait for them to drain.
    let feed = state.feed.clone();
    let shutdown = async move {
        shutdown.await;
        feed.close();
    };
    serve::serve_router(listener, app(state), limits, shutdown).await
}
