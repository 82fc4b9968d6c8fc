//! Every route promptd serves, in one place: [`ROUTES`] and [`router`] come from the same
//! table, so the OpenAPI document can be checked against what is actually routed.

pub mod gateway;
pub mod health;
pub mod keys;
pub mod prompts;
pub mod run;
pub mod ui;
pub mod utils;
pub mod watch;
pub mod webhooks;

use axum::Router;

use crate::state::AppState;

/// Declares the route table once and derives both [`ROUTES`] and [`router`] from it.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every `(METHOD, path)` the router serves (besides `/openapi.json` and `/docs`), in
        /// axum's path syntax, which is also OpenAPI's: `{prompt_id}`.
        pub const ROUTES: &[(&str, &str)] = &[$((method_name!($method), $path)),*];

        /// The API router: one `route` per row of the table.
        pub fn router() -> Router<AppState> {
            Router::new()
                $(.route($path, axum::routing::$method($handler)))*
        }
    };
}

macro_rules! method_name {
    (get) => {
        "GET"
    };
    (post) => {
        "POST"
    };
    (put) => {
        "PUT"
    };
    (patch) => {
        "PATCH"
    };
    (delete) => {
        "DELETE"
    };
}

route_table! {
    get "/health/liveliness" => health::liveliness,
    get "/health/liveness" => health::liveliness,
    get "/health/readiness" => health::readiness,
    get "/metrics" => health::metrics,
    get "/prompts/list" => prompts::list,
    get "/prompts/trash" => prompts::trash,
    get "/prompts/watch" => watch::watch,
    get "/history" => prompts::all_history,
    post "/prompts" => prompts::create,
    post "/prompts/batch" => prompts::batch,
    post "/prompts/test" => run::test_prompt,
    get "/prompts/{prompt_id}" => prompts::info,
    put "/prompts/{prompt_id}" => prompts::update,
    patch "/prompts/{prompt_id}" => prompts::patch,
    delete "/prompts/{prompt_id}" => prompts::delete,
    get "/prompts/{prompt_id}/info" => prompts::info,
    get "/prompts/{prompt_id}/versions" => prompts::versions,
    post "/prompts/{prompt_id}/render" => prompts::render,
    post "/prompts/{prompt_id}/preview" => prompts::preview,
    get "/prompts/{prompt_id}/diff" => prompts::diff,
    post "/prompts/{prompt_id}/promote" => prompts::promote,
    post "/prompts/{prompt_id}/rollback" => prompts::rollback,
    get "/prompts/{prompt_id}/history" => prompts::history,
    post "/prompts/{prompt_id}/restore" => prompts::restore,
    post "/chat/completions" => run::chat_completions,
    post "/v1/chat/completions" => run::chat_completions,
    get "/v1/models" => run::models,
    get "/models" => run::models,
    post "/utils/dotprompt_json_converter" => utils::dotprompt_json_converter,
    post "/key/generate" => keys::generate,
    get "/key/info" => keys::info,
    get "/key/list" => keys::list,
    post "/key/delete" => keys::delete,
    get "/beta/litellm_prompt_management" => gateway::litellm_prompt_management,
    post "/webhooks" => webhooks::create,
    get "/webhooks" => webhooks::list,
    delete "/webhooks/{webhook_id}" => webhooks::delete,
    get "/webhooks/{webhook_id}/deliveries" => webhooks::deliveries,
    post "/webhooks/{webhook_id}/test" => webhooks::test,
}
