//! Every route promptd serves, in one place.

pub mod health;
pub mod keys;
pub mod prompts;
pub mod run;
pub mod utils;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .route("/prompts/list", get(prompts::list))
        .route("/prompts", post(prompts::create))
        .route("/prompts/test", post(run::test_prompt))
        .route("/chat/completions", post(run::chat_completions))
        .route("/v1/chat/completions", post(run::chat_completions))
        .route("/v1/models", get(run::models))
        .route("/models", get(run::models))
        .route("/metrics", get(health::metrics))
        .route(
            "/prompts/{prompt_id}",
            get(prompts::info)
                .put(prompts::update)
                .patch(prompts::patch)
                .delete(prompts::delete),
        )
        .route("/prompts/{prompt_id}/info", get(prompts::info))
        .route("/prompts/{prompt_id}/versions", get(prompts::versions))
        .route("/prompts/{prompt_id}/render", post(prompts::render))
        .route("/prompts/{prompt_id}/diff", get(prompts::diff))
        .route(
            "/utils/dotprompt_json_converter",
            post(utils::dotprompt_json_converter),
        )
        .route("/key/generate", post(keys::generate))
        .route("/key/info", get(keys::info))
        .route("/key/list", get(keys::list))
        .route("/key/delete", post(keys::delete))
}
