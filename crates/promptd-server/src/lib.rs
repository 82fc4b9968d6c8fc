//! promptd's HTTP layer: the router, handlers, authentication, error mapping and OpenAPI.
//!
//! **Architecture invariant:** this is the only crate that knows HTTP. It reaches storage only
//! through `promptd_core::Store`, and answers reads from the in-memory index.

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod wire;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::serve::ListenerExt;
use serde_json::json;
use tokio::net::TcpListener;

pub use state::{App, AppState, ConfigPrompt, Settings};

/// The complete application: every route, the API docs, and the fallbacks.
pub fn app(state: AppState) -> Router {
    let body_limit = state.settings.max_body_bytes;
    routes::router()
        .merge(openapi::docs_router(&state.models.names()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(
                    json!({"detail": "Internal server error; the cause is in promptd's log."}),
                ),
            )
                .into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"detail": "Not Found"})),
    )
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({"detail": "Method Not Allowed"})),
    )
}

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // TCP_NODELAY: without it every SSE chunk after the first waits for the client's delayed
    // ACK (~40 ms per streamed answer on keep-alive connections).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
