//! The OpenAPI document (`/openapi.json`) and the interactive API page (`/docs`), both served
//! from the binary: Swagger UI is vendored, nothing is fetched from a CDN.
//!
//! The operations are declared on the documentation stubs in [`ops`], one per route in
//! `routes/mod.rs`; a test checks that every documented operation is actually served.

#![allow(dead_code)]

use std::collections::HashMap;

use axum::Router;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

/// A prompt version in LiteLLM's `PromptSpec` shape.
#[derive(ToSchema)]
pub struct PromptSpec {
    /// The base id in reads; `base.vN` in the answers to writes.
    prompt_id: String,
    #[schema(value_type = Object)]
    litellm_params: HashMap<String, Value>,
    #[schema(value_type = Object)]
    prompt_info: HashMap<String, Value>,
    /// ISO 8601 UTC; null for config prompts.
    created_at: Option<String>,
    updated_at: Option<String>,
    version: Option<u32>,
    environment: String,
    created_by: Option<String>,
}

/// The body of `POST /prompts` and `PUT /prompts/{prompt_id}`.
#[derive(ToSchema)]
pub struct PromptBody {
    /// Required on POST; ignored on PUT (the path names the prompt).
    prompt_id: String,
    /// Needs `prompt_integration: "dotprompt"` and `dotprompt_content` or `prompt_data`.
    #[schema(value_type = Object)]
    litellm_params: HashMap<String, Value>,
    /// `{"prompt_type": "db", "environment": "production"}`; environment defaults to development.
    #[schema(value_type = Object)]
    prompt_info: Option<HashMap<String, Value>>,
}

#[derive(ToSchema)]
pub struct PatchBody {
    #[schema(value_type = Object)]
    litellm_params: Option<HashMap<String, Value>>,
    #[schema(value_type = Object)]
    prompt_info: Option<HashMap<String, Value>>,
}

#[derive(ToSchema)]
pub struct ListResponse {
    prompts: Vec<PromptSpec>,
    /// Only with `page`/`page_size`.
    total: Option<usize>,
    page: Option<usize>,
    page_size: Option<usize>,
    total_pages: Option<usize>,
}

#[derive(ToSchema)]
pub struct RawTemplate {
    litellm_prompt_id: String,
    content: String,
    #[schema(value_type = Object)]
    metadata: HashMap<String, Value>,
}

#[derive(ToSchema)]
pub struct InfoResponse {
    prompt_spec: PromptSpec,
    raw_prompt_template: Option<RawTemplate>,
    environments: Vec<String>,
}

#[derive(ToSchema)]
pub struct RenderRequest {
    #[schema(value_type = Object)]
    prompt_variables: Option<HashMap<String, Value>>,
    environment: Option<String>,
    version: Option<u32>,
}

#[derive(ToSchema)]
pub struct Message {
    /// system, user, assistant, developer or tool.
    role: String,
    content: String,
}

#[derive(ToSchema)]
pub struct RenderResponse {
    prompt_id: String,
    version: u32,
    environment: String,
    model: Option<String>,
    messages: Vec<Message>,
    #[schema(value_type = Object)]
    optional_params: HashMap<String, Value>,
}

/// `{"detail": "what was wrong and how to fix it"}` (422 has a list of field errors instead).
#[derive(ToSchema)]
pub struct ErrorDetail {
    #[schema(value_type = Object)]
    detail: Value,
}

#[derive(ToSchema)]
pub struct KeyGenerateRequest {
    key_alias: Option<String>,
    user_id: Option<String>,
    /// proxy_admin, proxy_admin_viewer or internal_user (default).
    user_role: Option<String>,
    /// `{"prompts": ["greeting", "summarizer.v2"]}` limits reads to those prompts.
    #[schema(value_type = Object)]
    metadata: Option<HashMap<String, Value>>,
    /// 30s, 15m, 12h, 7d, 2w
    duration: Option<String>,
    /// RFC 3339 time
    expires: Option<String>,
}

#[derive(ToSchema)]
pub struct KeyDeleteRequest {
    keys: Option<Vec<String>>,
    key_aliases: Option<Vec<String>>,
}

/// The body of `POST /prompts/test`.
#[derive(ToSchema)]
pub struct TestRequest {
    /// A whole `.prompt` text; its frontmatter must name a model from `model_list`.
    dotprompt_content: String,
    #[schema(value_type = Object)]
    prompt_variables: Option<HashMap<String, Value>>,
    /// Earlier turns; when given, only the template's system messages are kept before them.
    #[schema(value_type = Vec<Object>)]
    conversation_history: Option<Vec<Value>>,
}

/// An OpenAI chat request, plus promptd's (and LiteLLM's) prompt fields.
#[derive(ToSchema)]
pub struct ChatRequest {
    model: Option<String>,
    #[schema(value_type = Vec<Object>)]
    messages: Option<Vec<Value>>,
    stream: Option<bool>,
    /// A stored prompt (`greeting` or `greeting.v2`): its messages come first.
    prompt_id: Option<String>,
    #[schema(value_type = Object)]
    prompt_variables: Option<HashMap<String, Value>>,
    prompt_version: Option<u32>,
    prompt_environment: Option<String>,
}

mod ops {
    use super::*;

    #[utoipa::path(get, path = "/prompts/list", tag = "prompts",
        params(("environment" = Option<String>, Query, description = "Only this environment"),
               ("page" = Option<usize>, Query, description = "Paginate (1-based)"),
               ("page_size" = Option<usize>, Query, description = "Rows per page, at most 1000")),
        responses((status = 200, body = ListResponse)))]
    pub fn list() {}

    #[utoipa::path(post, path = "/prompts", tag = "prompts", request_body = PromptBody,
        responses((status = 200, body = PromptSpec), (status = 400, body = ErrorDetail), (status = 403, body = ErrorDetail), (status = 422, body = ErrorDetail)))]
    pub fn create() {}

    #[utoipa::path(get, path = "/prompts/{prompt_id}", tag = "prompts",
        params(("prompt_id" = String, Path, description = "id or id.vN"), ("environment" = Option<String>, Query)),
        responses((status = 200, body = InfoResponse), (status = 404, body = ErrorDetail)))]
    pub fn get() {}

    #[utoipa::path(get, path = "/prompts/{prompt_id}/info", tag = "prompts",
        params(("prompt_id" = String, Path, description = "id or id.vN"), ("environment" = Option<String>, Query)),
        responses((status = 200, body = InfoResponse), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
    pub fn info() {}

    #[utoipa::path(get, path = "/prompts/{prompt_id}/versions", tag = "prompts",
        params(("prompt_id" = String, Path), ("environment" = Option<String>, Query)),
        responses((status = 200, body = ListResponse), (status = 404, body = ErrorDetail)))]
    pub fn versions() {}

    #[utoipa::path(put, path = "/prompts/{prompt_id}", tag = "prompts", request_body = PromptBody,
        params(("prompt_id" = String, Path)),
        responses((status = 200, body = PromptSpec), (status = 400, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
    pub fn update() {}

    #[utoipa::path(patch, path = "/prompts/{prompt_id}", tag = "prompts", request_body = PatchBody,
        params(("prompt_id" = String, Path), ("environment" = Option<String>, Query)),
        responses((status = 200, body = PromptSpec), (status = 400, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
    pub fn patch() {}

    #[utoipa::path(delete, path = "/prompts/{prompt_id}", tag = "prompts",
        params(("prompt_id" = String, Path, description = "id (every version) or id.vN (one version)"), ("environment" = Option<String>, Query)),
        responses((status = 200, body = ErrorDetail), (status = 400, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
    pub fn delete() {}

    #[utoipa::path(post, path = "/prompts/{prompt_id}/render", tag = "prompts", request_body = RenderRequest,
        params(("prompt_id" = String, Path)),
        responses((status = 200, body = RenderResponse), (status = 400, body = ErrorDetail), (status = 404, body = ErrorDetail)))]
    pub fn render() {}

    #[utoipa::path(post, path = "/utils/dotprompt_json_converter", tag = "prompts",
        request_body(content_type = "multipart/form-data", description = "field `file`: a .prompt file"),
        responses((status = 200, description = "{prompt_id, json_data: {content, metadata}}"), (status = 400, body = ErrorDetail)))]
    pub fn converter() {}

    #[utoipa::path(post, path = "/key/generate", tag = "keys", request_body = KeyGenerateRequest,
        responses((status = 200, description = "The key (shown once) and its record")))]
    pub fn key_generate() {}

    #[utoipa::path(get, path = "/key/info", tag = "keys", params(("key" = Option<String>, Query, description = "key or token; default: the caller's")),
        responses((status = 200, description = "{key: token, info: {...}}")))]
    pub fn key_info() {}

    #[utoipa::path(get, path = "/key/list", tag = "keys",
        params(("return_full_object" = Option<bool>, Query), ("page" = Option<usize>, Query), ("size" = Option<usize>, Query)),
        responses((status = 200, description = "{keys, total_count, current_page, total_pages}")))]
    pub fn key_list() {}

    #[utoipa::path(post, path = "/key/delete", tag = "keys", request_body = KeyDeleteRequest,
        responses((status = 200, description = "{deleted_keys: [token, ...]}")))]
    pub fn key_delete() {}

    #[utoipa::path(post, path = "/prompts/test", tag = "run", request_body = TestRequest,
        responses((status = 200, description = "text/event-stream of chat.completion.chunk objects ending with data: [DONE]"),
                   (status = 400, body = ErrorDetail), (status = 422, body = ErrorDetail)))]
    pub fn prompts_test() {}

    #[utoipa::path(post, path = "/chat/completions", tag = "run", request_body = ChatRequest,
        responses((status = 200, description = "chat.completion JSON, or an SSE stream when stream is true"),
                   (status = 400, body = ErrorDetail), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
                   (status = 502, description = "upstream unreachable"), (status = 504, description = "upstream too slow")))]
    pub fn chat() {}

    #[utoipa::path(post, path = "/v1/chat/completions", tag = "run", request_body = ChatRequest,
        responses((status = 200, description = "Same as /chat/completions")))]
    pub fn chat_v1() {}

    #[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format")))]
    pub fn metrics() {}

    #[utoipa::path(get, path = "/health/liveliness", tag = "health", responses((status = 200, description = "\"I'm alive!\"")))]
    pub fn liveliness() {}

    #[utoipa::path(get, path = "/health/readiness", tag = "health", responses((status = 200, description = "healthy"), (status = 503, description = "database unreachable")))]
    pub fn readiness() {}
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "promptd",
        description = "A fast, self-hosted prompt registry speaking LiteLLM's /prompts API. Authenticate with `Authorization: Bearer <key>`."
    ),
    paths(
        ops::list,
        ops::create,
        ops::get,
        ops::info,
        ops::versions,
        ops::update,
        ops::patch,
        ops::delete,
        ops::render,
        ops::converter,
        ops::key_generate,
        ops::key_info,
        ops::key_list,
        ops::key_delete,
        ops::liveliness,
        ops::readiness
    ),
    components(schemas(
        PromptSpec,
        PromptBody,
        PatchBody,
        ListResponse,
        RawTemplate,
        InfoResponse,
        RenderRequest,
        RenderResponse,
        Message,
        ErrorDetail,
        KeyGenerateRequest,
        KeyDeleteRequest
    ))
)]
pub struct ApiDoc;

pub fn docs_router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
