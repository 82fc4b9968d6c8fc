//! The OpenAPI 3.1 document (`/openapi.json`) and the interactive API page (`/docs`), both served
//! from the binary: Swagger UI is vendored, nothing is fetched from a CDN.
//!
//! The document is written out here as JSON rather than derived from the handlers, because it
//! has to say exactly what the server does: every status each route can answer, the three error
//! shapes, the bounds the handlers enforce, and which routes need a key. Two checks keep it
//! honest: a test compares its operations with [`crate::routes::ROUTES`] both ways, and
//! `scripts/schemathesis.sh` fuzzes the running server against it with every check on.

use axum::Router;
use serde_json::{Map, Value, json};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::routes::prompts::MAX_PAGE_SIZE;
use crate::state::AppState;

/// A prompt id or environment: `[A-Za-z0-9_.-]`, starting with a letter or digit, ≤ 128 bytes.
const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$";
/// The same, or empty (an empty `environment` means "not given", as in LiteLLM).
const ENV_PATTERN: &str = "^([A-Za-z0-9][A-Za-z0-9_.-]{0,127})?$";
/// A diff side: an environment, or an environment and a version (`staging.v3`).
const REF_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$";
/// `u32::MAX`: versions are 32-bit.
const MAX_VERSION: u64 = u32::MAX as u64;
/// Largest `page`: the handlers read it as a machine-sized unsigned integer.
const MAX_PAGE: u64 = usize::MAX as u64;

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, {"type": "null"}] })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// A response with a JSON body.
fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// The error responses, by status; every one is declared once in `components.responses`.
fn error_ref(status: u16) -> Value {
    let name = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        413 => "PayloadTooLarge",
        422 => "ValidationFailed",
        503 => "DatabaseUnavailable",
        other => unreachable!("no shared response for status {other}"),
    };
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// An operation. `errors` lists the shared error responses it can answer; 401 is added for every
/// operation that needs a key (`secured`), and 413 and 422 for every one with a JSON body.
struct Op {
    tag: &'static str,
    summary: &'static str,
    description: &'static str,
    secured: bool,
    parameters: Vec<Value>,
    body: Option<Value>,
    ok: Value,
    /// The success status (`200` unless set).
    ok_status: &'static str,
    errors: Vec<u16>,
    extra: Vec<(&'static str, Value)>,
    links: Option<Value>,
}

impl Op {
    fn new(tag: &'static str, summary: &'static str, ok: Value) -> Op {
        Op {
            tag,
            summary,
            description: "",
            secured: true,
            parameters: Vec::new(),
            body: None,
            ok,
            ok_status: "200",
            errors: Vec::new(),
            extra: Vec::new(),
            links: None,
        }
    }
    fn describe(mut self, d: &'static str) -> Op {
        self.description = d;
        self
    }
    fn public(mut self) -> Op {
        self.secured = false;
        self
    }
    fn params(mut self, p: Vec<Value>) -> Op {
        self.parameters = p;
        self
    }
    fn json_body(mut self, schema: Value) -> Op {
        self.body = Some(json!({ "required": true, "content": json_content(schema) }));
        self.errors.extend([413, 422]);
        self
    }
    fn raw_body(mut self, body: Value) -> Op {
        self.body = Some(body);
        self
    }
    /// Answers `status` (201, 202) instead of 200 on success.
    fn status(mut self, status: &'static str) -> Op {
        self.ok_status = status;
        self
    }
    fn errors(mut self, e: &[u16]) -> Op {
        self.errors.extend_from_slice(e);
        self
    }
    /// A response that is not one of the shared ones (or replaces one).
    fn response(mut self, status: &'static str, resp: Value) -> Op {
        self.extra.push((status, resp));
        self
    }

    /// OpenAPI links from the 200 answer to the operations that can use it.
    fn links(mut self, links: Value) -> Op {
        self.links = Some(links);
        self
    }

    fn build(mut self, id: &str) -> Value {
        let mut responses = Map::new();
        if let (Some(links), Value::Object(ok)) = (self.links, &mut self.ok) {
            ok.insert("links".into(), links);
        }
        responses.insert(self.ok_status.into(), self.ok);
        if self.secured {
            self.errors.push(401);
        }
        self.errors.sort_unstable();
        self.errors.dedup();
        for status in &self.errors {
            responses.insert(status.to_string(), error_ref(*status));
        }
        for (status, resp) in self.extra {
            responses.insert(status.into(), resp);
        }
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("operationId".into(), id.into());
        op.insert("summary".into(), self.summary.into());
        if !self.description.is_empty() {
            op.insert("description".into(), self.description.into());
        }
        if !self.parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(self.parameters));
        }
        if let Some(body) = self.body {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), Value::Object(responses));
        if !self.secured {
            // Overrides the document-wide bearer requirement.
            op.insert("security".into(), json!([]));
        }
        Value::Object(op)
    }
}

fn prompt_id_param(description: &str) -> Value {
    json!({"name": "prompt_id", "in": "path", "required": true, "description": description,
           "example": "greeting", "schema": {"type": "string", "pattern": ID_PATTERN}})
}

fn webhook_id_param() -> Value {
    json!({"name": "webhook_id", "in": "path", "required": true, "description": "A webhook id (`wh_…`) from `POST /webhooks`.",
           "schema": {"type": "string"}})
}

fn env_query(description: &str) -> Value {
    json!({"name": "environment", "in": "query", "required": false, "description": description,
           "schema": {"type": "string", "pattern": ENV_PATTERN}})
}

/// `If-Match` on a write: compare-and-swap against the environment's latest version.
fn if_match_header() -> Value {
    json!({"name": "If-Match", "in": "header", "required": false,
           "description": "Write only if the target environment's latest version still has this ETag (from a read's `ETag` header); otherwise 412 with the current ETag. `*` = any version exists.",
           "schema": {"type": "string"}})
}

/// `If-None-Match` on a read: 304 when the answer's tag is listed.
fn if_none_match_header() -> Value {
    json!({"name": "If-None-Match", "in": "header", "required": false,
           "description": "An ETag from an earlier answer: 304 without a body when it is still current.",
           "schema": {"type": "string"}})
}

fn not_modified() -> Value {
    json!({"description": "Not modified: the ETag in `If-None-Match` is still current.",
           "headers": {"ETag": {"schema": {"type": "string"}}}})
}

fn int_query(name: &str, min: u64, max: u64, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": "integer", "minimum": min, "maximum": max}})
}

/// Where a written version can be read, changed and deleted: by the `id.vN` the write answered
/// *and* its environment (without one, reads serve production → staging → development).
fn written_version_links() -> Value {
    let id = "$response.body#/prompt_id";
    let env = "$response.body#/environment";
    let by_id_and_env = |op: &str| json!({"operationId": op, "parameters": {"path.prompt_id": id, "query.environment": env}});
    json!({
        "GetVersion": by_id_and_env("get_prompt"),
        "VersionInfo": by_id_and_env("prompt_info"),
        "ListVersions": by_id_and_env("prompt_versions"),
        "PatchVersion": by_id_and_env("patch_prompt"),
        "DeleteVersion": by_id_and_env("delete_prompt"),
        "GatewayPrompt": {"operationId": "litellm_prompt_management",
                          "parameters": {"query.prompt_id": id, "query.environment": env}},
        "RenderVersion": {"operationId": "render_prompt", "parameters": {"path.prompt_id": id},
                          "requestBody": {"environment": env}},
        "UpdatePrompt": {"operationId": "update_prompt", "parameters": {"path.prompt_id": id},
                         "requestBody": {"litellm_params": "$response.body#/litellm_params",
                                         "prompt_info": "$response.body#/prompt_info"}}
    })
}

/// Every operation, by (METHOD, path). The test `the_openapi_document_matches_the_routes`
/// compares these keys with `routes::ROUTES`.
fn operations() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let id_or_version = "A prompt id (`greeting`) or one version of it (`greeting.v2`, `greeting_v2`). An id that cannot exist is 404.";
    let sse = json!({
        "description": "A `text/event-stream` of `data: {chat.completion.chunk}` lines, always ending with exactly one `data: [DONE]`. A failure after the stream started ends it with `data: {\"error\": {...}}` then `data: [DONE]`.",
        "content": {"text/event-stream": {"schema": r("ChatChunkEvent")}}
    });
    let chat_ok = json!({
        "description": "The `chat.completion` JSON, or, with `\"stream\": true`, a `text/event-stream` of chunks ending with `data: [DONE]`.",
        "content": {
            "application/json": {"schema": r("ChatCompletion")},
            "text/event-stream": {"schema": r("ChatChunkEvent")}
        }
    });
    let upstream =
        |what: &str| json!({"description": what, "content": json_content(r("UpstreamError"))});
    let any_upstream = upstream(
        "The model's own error status (4xx or 5xx), passed through with its message in OpenAI's shape.",
    );
    let render_422 = json!({
        "description": "A malformed field (a list of field errors), or the stored version's template cannot be used (a message).",
        "content": json_content(json!({"oneOf": [r("ValidationError"), r("Error")]}))
    });
    // The OpenAI-compatible routes answer their own errors in OpenAI's shape too.
    let openai =
        |what: &str| json!({"description": what, "content": json_content(r("UpstreamError"))});
    let chat = || {
        Op::new("run", "Call a model, optionally with a stored prompt", chat_ok.clone())
            .describe("An OpenAI chat request, plus optional `prompt_id`, `prompt_variables`, `prompt_version` and `prompt_environment`. With `prompt_id` the stored prompt is rendered and its messages go first; its model and parameters win unless its `litellm_params` say otherwise. Any valid key may call; the key's prompt allow-list applies. Every error is in OpenAI's shape `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`.")
            .json_body(r("ChatRequest"))
            .response("400", openai("An unknown model, a template that does not render, variables of the wrong type or missing."))
            .response("403", openai("The key's allow-list does not include the prompt."))
            .response("404", openai("No such prompt or version; nothing was sent to the model."))
            .response("413", openai("The body is larger than `max_body_bytes`."))
            .response("422", openai("Malformed fields: `message` lists every one, `param` names the first."))
            .response("502", upstream("The model could not be reached, or answered something that is not a chat completion."))
            .response("504", upstream("The model did not answer within its timeout."))
            .response("default", any_upstream.clone())
    };
    let models = || {
        Op::new("run", "The models of model_list (OpenAI's shape)", ok_json("`{\"object\": \"list\", \"data\": [{\"id\", \"object\": \"model\", \"created\", \"owned_by\"}]}`", r("ModelList")))
            .describe("Any valid key. Errors in OpenAI's shape.")
    };
    vec![
        ("GET", "/health/liveliness", "liveliness",
            Op::new("health", "The process is up", ok_json("Always `\"I'm alive!\"`.", json!({"type": "string"})))
                .public()),
        ("GET", "/health/liveness", "liveness",
            Op::new("health", "The process is up (alias of /health/liveliness)", ok_json("Always `\"I'm alive!\"`.", json!({"type": "string"})))
                .public()),
        ("GET", "/health/readiness", "readiness",
            Op::new("health", "The database answers", ok_json("Healthy.", r("Readiness")))
                .public()
                .response("503", ok_json("The database cannot be reached; reads keep working from memory.", r("Readiness")))),
        ("GET", "/metrics", "metrics",
            Op::new("health", "Prometheus metrics", json!({
                "description": "Prometheus text format: model calls, errors, latencies, prompts and versions in memory.",
                "content": {"text/plain": {"schema": {"type": "string"}}}
            }))
            .describe("Needs an admin or viewer key, unless `promptd_settings.metrics_public: true` in the config file.")
            .errors(&[403])),
        ("GET", "/prompts/list", "list_prompts",
            Op::new("prompts", "The latest version of every prompt you may read", ok_json("Sorted by id, then environment. With `page` or `page_size` the answer also has `total`, `page`, `page_size` and `total_pages`.", r("PromptList")))
                .params(vec![
                    env_query("Only this environment."),
                    int_query("page", 1, MAX_PAGE, "Page number, from 1."),
                    int_query("page_size", 1, MAX_PAGE_SIZE as u64, "Rows per page (default 100 when `page` is given)."),
                    if_none_match_header(),
                ])
                .errors(&[400, 422])
                .response("304", not_modified())),
        ("POST", "/prompts", "create_prompt",
            Op::new("prompts", "Create the next version of a prompt", ok_json("The new version; `prompt_id` is `id.vN`.", r("PromptSpec")))
                .describe("Creates version 1 of a new prompt, or the next version in `prompt_info.environment` (default `development`). The template is compiled before anything is stored. Needs a `proxy_admin` key.")
                .params(vec![if_match_header()])
                .json_body(r("PromptCreate"))
                .errors(&[400, 403, 412, 503])
                .links(written_version_links())),
        ("POST", "/prompts/batch", "batch_prompts",
            Op::new("prompts", "Write many prompts at once, all or nothing", ok_json("What each item did (or, with `dry_run`, would do), in item order, then the prune removals.", r("BatchResult")))
                .describe("Creates and updates versions of any prompts in any environments in ONE transaction: every item is validated first (as `POST /prompts` would), every refusal is reported with its item's index, and if any item is refused nothing is written. Items whose content (`litellm_params`, secrets restored) equals the environment's latest version are `unchanged` and write nothing. With `prune`, every prompt of `prune_environments` (default: the items' environments) that has no item moves to the trash. `dry_run` answers the plan, with a short diff per change, from memory. The body may be up to `max_batch_body_bytes` (default 64 MiB). Needs a `proxy_admin` key allowed to write every item.")
                .json_body(r("BatchRequest"))
                .response("400", ok_json("Items were refused (the status is the one they share, else 400): `errors` lists each with its index; nothing was written.", r("BatchRefused")))
                .response("403", ok_json("Items the key may not write; nothing was written.", r("BatchRefused")))
                .response("412", ok_json("Items whose `if_match` names a version their environment has moved on from; nothing was written.", r("BatchRefused")))
                .errors(&[503])),
        ("POST", "/prompts/test", "test_prompt",
            Op::new("run", "Run a draft .prompt against its model (streamed)", sse.clone())
                .describe("Renders the draft without the input-schema check and always streams the model's answer. The frontmatter must name a model from `model_list`.")
                .json_body(r("TestRequest"))
                .errors(&[400])
                .response("502", upstream("The model could not be reached, or answered something that is not a chat completion."))
                .response("504", upstream("The model did not answer within its timeout."))
                .response("default", any_upstream.clone())),
        ("GET", "/prompts/{prompt_id}", "get_prompt",
            Op::new("prompts", "A prompt version with its template", ok_json("The version, its template and the prompt's environments.", r("PromptInfo")))
                .params(vec![prompt_id_param(id_or_version), env_query("Serve this environment instead of production → staging → development."), if_none_match_header()])
                .errors(&[400, 403, 404, 422])
                .response("304", not_modified())),
        ("PUT", "/prompts/{prompt_id}", "update_prompt",
            Op::new("prompts", "Append a version to an existing prompt", ok_json("The new version; `prompt_id` is `id.vN`.", r("PromptSpec")))
                .describe("Same body as POST (its `prompt_id` is ignored). The version goes to `prompt_info.environment`, which may start a new environment at version 1. Needs a `proxy_admin` key.")
                .params(vec![prompt_id_param("The prompt id; a version suffix is ignored."), if_match_header()])
                .json_body(r("PromptUpdate"))
                .errors(&[400, 403, 404, 412, 503])
                .links(written_version_links())),
        ("PATCH", "/prompts/{prompt_id}", "patch_prompt",
            Op::new("prompts", "Replace fields of a version, as a new version", ok_json("The new version; `prompt_id` is `id.vN`.", r("PromptSpec")))
                .describe("Takes the latest version (or `id.vN`) in `environment` (default `development`), replaces the top-level fields sent and stores the result as a new version. Needs a `proxy_admin` key.")
                .params(vec![prompt_id_param(id_or_version), env_query("The environment to patch (default `development`)."), if_match_header()])
                .json_body(r("PromptPatch"))
                .errors(&[400, 403, 404, 412, 503])
                .links(written_version_links())),
        ("DELETE", "/prompts/{prompt_id}", "delete_prompt",
            Op::new("prompts", "Delete a version, an environment, or a whole prompt (to the trash)", ok_json("What was deleted (with `purge=true`, also `purged`: each destroyed version).", r("Deleted")))
                .describe("`id`: every version everywhere; `id?environment=e`: every version in e; `id.vN`: that version (400 asks for `environment` when several environments have it). The versions go to the trash (`GET /prompts/trash`, `POST /prompts/{id}/restore`) and keep their numbers; reads answer 404 as before. `purge=true` destroys them for good, trashed ones included. A prompt that other prompts include (their latest version in an environment concerned) is 409 naming them, unless `force=true`. Needs a `proxy_admin` key.")
                .params(vec![prompt_id_param(id_or_version), env_query("Only this environment."),
                    json!({"name": "purge", "in": "query", "required": false, "description": "Destroy for good instead of moving to the trash.", "schema": {"type": "boolean"}}),
                    json!({"name": "force", "in": "query", "required": false, "description": "Delete even when other prompts include it (their renders then answer 422 until the include resolves again).", "schema": {"type": "boolean"}}),
                    if_match_header()])
                .errors(&[400, 403, 404, 409, 412, 422, 503])),
        ("GET", "/prompts/{prompt_id}/info", "prompt_info",
            Op::new("prompts", "A prompt version with its template (LiteLLM's path)", ok_json("The version, its template and the prompt's environments.", r("PromptInfo")))
                .params(vec![prompt_id_param(id_or_version), env_query("Serve this environment instead of production → staging → development."), if_none_match_header()])
                .errors(&[400, 403, 404, 422])
                .response("304", not_modified())),
        ("GET", "/prompts/{prompt_id}/versions", "prompt_versions",
            Op::new("prompts", "Every version of a prompt, newest first", ok_json("Grouped by environment in serve order.", r("PromptList")))
                .params(vec![prompt_id_param("The prompt id; a version suffix is ignored."), env_query("Only this environment."), if_none_match_header()])
                .errors(&[400, 403, 404, 422])
                .response("304", not_modified())),
        ("POST", "/prompts/{prompt_id}/render", "render_prompt",
            Op::new("prompts", "Render a prompt to chat messages without calling a model", ok_json("The messages and the model parameters.", r("RenderResponse")))
                .describe("400 for template errors, variables of the wrong type, missing required variables and exceeded limits. Included prompts are resolved from memory in the version's environment; `includes` lists the versions used. 422 when an include no longer resolves (deleted with `force=true`).")
                .params(vec![prompt_id_param(id_or_version)])
                .json_body(r("RenderRequest"))
                .errors(&[400, 403, 404])
                .response("422", render_422.clone())),
        ("POST", "/prompts/{prompt_id}/preview", "preview_draft",
            Op::new("prompts", "Render an unsaved draft (the UI editor's live preview)", ok_json("The draft's variables (from its `input.schema`), model and parameters, and either its messages or its first error with line and column. A draft with mistakes is answered 200: `error` says what and where.", r("PreviewResponse")))
                .describe("Parses and renders `dotprompt_content` (nothing is stored) with `prompt_variables`, checked against the draft's `input.schema`. Any key that may read `{prompt_id}`; the prompt need not exist yet.")
                .params(vec![prompt_id_param("The prompt the draft is for (it need not exist yet).")])
                .json_body(r("PreviewRequest"))
                .errors(&[403, 404, 422])),
        ("GET", "/prompts/{prompt_id}/diff", "diff_prompt",
            Op::new("prompts", "What changes between two versions or environments", ok_json("The unified diff of the template body, and the model, parameters and input variables before and after. With `Accept: text/plain`, the unified diff alone.", r("PromptDiff")))
                .params(vec![
                    prompt_id_param("The prompt id; a version suffix is ignored."),
                    json!({"name": "from", "in": "query", "required": true, "description": "An environment (its latest version) or one version of it: `staging`, `staging.v3`.", "schema": {"type": "string", "pattern": REF_PATTERN}}),
                    json!({"name": "to", "in": "query", "required": true, "description": "Like `from`.", "schema": {"type": "string", "pattern": REF_PATTERN}}),
                ])
                .errors(&[400, 403, 404, 422])),
        ("POST", "/prompts/{prompt_id}/promote", "promote_prompt",
            Op::new("prompts", "Copy a version into another environment as its next version", ok_json("The new version (or the target's latest, when it already has the same content); `prompt_id` is `id.vN`.", r("PromptSpec")))
                .describe("Needs a `proxy_admin` key allowed to write `to_environment`. The only way, with rollback, to change a protected environment.")
                .params(vec![prompt_id_param("The prompt id; a version suffix picks the source version when the body has none."), if_match_header()])
                .json_body(r("PromoteRequest"))
                .errors(&[400, 403, 404, 412, 503])),
        ("POST", "/prompts/{prompt_id}/rollback", "rollback_prompt",
            Op::new("prompts", "Append a copy of an earlier version of an environment", ok_json("The new version (or the latest, when it already has that content); `prompt_id` is `id.vN`.", r("PromptSpec")))
                .describe("Needs a `proxy_admin` key allowed to write `environment`.")
                .params(vec![prompt_id_param("The prompt id; a version suffix is ignored."), if_match_header()])
                .json_body(r("RollbackRequest"))
                .errors(&[400, 403, 404, 412, 503])),
        ("GET", "/prompts/{prompt_id}/history", "prompt_history",
            Op::new("ledger", "Every change of a prompt, newest first", ok_json("One page of events; `next_cursor` (null on the last page) asks for the next.", r("PromptHistory")))
                .describe("Create, update, patch, promote, rollback, delete, restore, purge and import events with actor (a key's alias or abbreviation, or `master key`), time, environment, version, source, message and content hash. Any key that may read the prompt.")
                .params(vec![prompt_id_param("The prompt id; a version suffix is ignored."),
                    json!({"name": "cursor", "in": "query", "required": false, "description": "The `next_cursor` of the previous page.", "schema": {"type": "string", "pattern": "^[0-9]{0,18}$"}}),
                    int_query("limit", 1, u64::from(crate::routes::prompts::MAX_HISTORY_LIMIT), "Events per page (default 100).")])
                .errors(&[400, 403, 404, 422])),
        ("POST", "/prompts/{prompt_id}/restore", "restore_prompt",
            Op::new("ledger", "Bring deleted versions back from the trash", ok_json("What came back, with the original numbers.", r("Restored")))
                .describe("Every trashed version of the prompt, of one `environment`, or one `version` of it. Needs a `proxy_admin` key allowed to write those environments. 404 when nothing matching is in the trash.")
                .params(vec![prompt_id_param("The prompt id."), if_match_header()])
                .json_body(r("RestoreRequest"))
                .errors(&[400, 403, 404, 412, 503])),
        ("GET", "/prompts/trash", "prompt_trash",
            Op::new("ledger", "Deleted versions that can be restored", ok_json("Newest deletion first.", r("Trash")))
                .describe("Needs a `proxy_admin` or `proxy_admin_viewer` key; an allow-listed key sees its prompts only. Versions are purged `trash_retention_days` after deletion.")
                .params(vec![json!({"name": "prompt_id", "in": "query", "required": false, "description": "Only this prompt.", "schema": {"type": "string", "pattern": ID_PATTERN}})])
                .errors(&[400, 403, 422])),
        ("GET", "/history", "all_history",
            Op::new("ledger", "Every change of every prompt, oldest first (audit export)", ok_json("Events after `after`; pass `next_cursor` back to continue. The cursor is the same on every instance sharing the database.", r("AllHistory")))
                .describe("Needs a `proxy_admin` or `proxy_admin_viewer` key; an allow-listed key sees events of its prompts only.")
                .params(vec![
                    json!({"name": "after", "in": "query", "required": false, "description": "A `next_cursor` or event `cursor`: only later events (empty or absent: from the beginning).", "schema": {"type": "string", "pattern": "^[0-9]{0,18}$"}}),
                    int_query("limit", 1, u64::from(crate::routes::prompts::MAX_HISTORY_LIMIT), "Events per answer (default 100).")])
                .errors(&[400, 403, 422])),
        ("GET", "/prompts/watch", "watch_prompts",
            Op::new("ledger", "A stream of every change (Server-Sent Events)", json!({
                "description": "A `text/event-stream` that stays open: one event per ledger change (`id:` = its cursor, `data:` = a `WatchEvent`), `: heartbeat` comments with the cursor as `id:` when quiet, and a final `event: resync` when the watcher fell out of the server's memory (read the state again, then watch from its `head`).",
                "content": {"text/event-stream": {"schema": r("WatchEvent")}}}))
                .describe("Any key; events of prompts outside the key's allow-list are left out, and naming such a prompt in `prompt_id` is 403. Resume after a disconnect with the `Last-Event-ID` header (EventSource sends it by itself) or `after`: no event is missed, on any instance sharing the database.")
                .params(vec![
                    json!({"name": "prompt_id", "in": "query", "required": false, "description": "Only these prompts (repeat the parameter for several).", "style": "form", "explode": true, "schema": {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}}}),
                    env_query("Only events of this environment."),
                    json!({"name": "after", "in": "query", "required": false, "description": "Start after this cursor (as `Last-Event-ID`, which wins when both are sent); absent = from now on.", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}}),
                    json!({"name": "Last-Event-ID", "in": "header", "required": false, "description": "The `id` of the last event received: the stream resumes right after it.", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}})])
                .errors(&[400, 403, 422])),
        ("POST", "/webhooks", "create_webhook",
            Op::new("webhooks", "Register a webhook endpoint (its secret is shown only in this answer)", ok_json("The endpoint with its signing secret (`whsec_…`).", r("CreatedWebhook")))
                .status("201")
                .describe("Needs a `proxy_admin` key without an allow-list. Every ledger event of the subscribed types (and prompts) is queued for the endpoint in the transaction that records it, then delivered signed the Standard Webhooks way, retried with back-off for up to `webhooks_retry_for_s`. Loopback and private addresses are refused (400) unless `webhooks_allow_private` is true.")
                .json_body(r("WebhookRequest"))
                .errors(&[400, 403, 503])),
        ("GET", "/webhooks", "list_webhooks",
            Op::new("webhooks", "Registered webhook endpoints", ok_json("Every endpoint, without secrets.", r("WebhookList")))
                .describe("Needs a `proxy_admin` key without an allow-list.")
                .errors(&[403, 503])),
        ("DELETE", "/webhooks/{webhook_id}", "delete_webhook",
            Op::new("webhooks", "Delete a webhook endpoint and its queued messages", ok_json("The id deleted.", r("DeletedWebhook")))
                .params(vec![webhook_id_param()])
                .errors(&[403, 404, 503])),
        ("GET", "/webhooks/{webhook_id}/deliveries", "webhook_deliveries",
            Op::new("webhooks", "An endpoint's messages with every attempt and answer", ok_json("The endpoint and its newest messages, newest first.", r("WebhookDeliveries")))
                .params(vec![webhook_id_param(), int_query("limit", 1, 500, "Messages to show (default 50).")])
                .errors(&[400, 403, 404, 422, 503])),
        ("POST", "/webhooks/{webhook_id}/test", "test_webhook",
            Op::new("webhooks", "Send a test message to an endpoint", ok_json("The queued message; its attempts show in the deliveries.", r("QueuedWebhookMessage")))
                .status("202")
                .describe("Queues a `webhook.test` message, sent at once and retried like any other. 409 when the endpoint is disabled.")
                .params(vec![webhook_id_param()])
                .errors(&[403, 404, 409, 503])),
        ("POST", "/chat/completions", "chat_completions", chat()),
        ("POST", "/v1/chat/completions", "chat_completions_v1", chat()),
        ("GET", "/v1/models", "list_models_v1", models()),
        ("GET", "/models", "list_models", models()),
        ("POST", "/utils/dotprompt_json_converter", "dotprompt_json_converter",
            Op::new("prompts", "Convert an uploaded .prompt file to its JSON form", ok_json("The file name without `.prompt`, and the template as JSON.", r("ConvertedPrompt")))
                .describe("Multipart form with a `file` field holding a `.prompt` file; it is parsed in memory, nothing is written to disk.")
                .raw_body(json!({"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "A `.prompt` file."},
                                   "prompt_dialect": {"type": "string", "enum": ["litellm", "genkit"], "description": "The file's template language (default `litellm`; `genkit` for Google Dotprompt)."}}
                }}}}))
                .errors(&[400, 413, 422])),
        ("GET", "/beta/litellm_prompt_management", "litellm_prompt_management",
            Op::new("prompts", "A prompt for a LiteLLM gateway, with {name} placeholders", ok_json("The messages with each variable left as `{name}`, the model and its parameters, in the shape LiteLLM's `generic_prompt_management` reads.", r("GatewayPrompt")))
                .describe("What LiteLLM's `generic_prompt_management` integration calls: it fills in `{name}` placeholders itself, by plain text substitution. The version is chosen as `GET /prompts/{prompt_id}/info` chooses it. A template whose output depends on a variable in a way substitution cannot express (a condition, a loop, a filter, test or method on it, a use inside an expression…) is 422, naming the variable and the line; render such prompts with `/chat/completions` or `POST /prompts/{prompt_id}/render`. See docs/litellm-gateway.md.")
                .params(vec![
                    json!({"name": "prompt_id", "in": "query", "required": true, "description": id_or_version, "example": "greeting", "schema": {"type": "string", "pattern": ID_PATTERN}}),
                    env_query("Serve this environment instead of production → staging → development."),
                    int_query("version", 1, MAX_VERSION, "Serve this version of the environment (also `prompt_id=greeting.v2`; both must agree)."),
                ])
                .errors(&[400, 403, 404])
                .response("422", render_422.clone())),
        ("POST", "/key/generate", "generate_key",
            Op::new("keys", "Create a key (shown only in this answer)", ok_json("The key and its record.", r("GeneratedKey")))
                .describe("Needs a `proxy_admin` key. 409 when `key_alias` is taken.")
                .raw_body(json!({"required": true, "content": json_content(nullable(r("KeyGenerateRequest")))}))
                .errors(&[400, 403, 409, 413, 422, 503])
                .links(json!({
                    "KeyInfo": {"operationId": "key_info", "parameters": {"query.key": "$response.body#/token"}},
                    "DeleteKey": {"operationId": "delete_keys", "requestBody": {"keys": ["$response.body#/token"]}}
                }))),
        ("GET", "/key/info", "key_info",
            Op::new("keys", "A key's record", ok_json("The key's token and record (never the secret).", r("KeyInfo")))
                .describe("Without `key`, the caller's own key (400 for the master key, which has no record). Admins and viewers may look up any key.")
                .params(vec![json!({"name": "key", "in": "query", "required": false, "description": "A key (`sk-…`) or its token.", "schema": {"type": "string"}})])
                .errors(&[400, 403, 404, 422])),
        ("GET", "/key/list", "list_keys",
            Op::new("keys", "Every key, paginated", ok_json("Tokens, or whole records with `return_full_object=true`.", r("KeyList")))
                .describe("Needs a `proxy_admin` or `proxy_admin_viewer` key.")
                .params(vec![
                    json!({"name": "return_full_object", "in": "query", "required": false, "schema": {"type": "boolean"}}),
                    int_query("page", 1, MAX_PAGE, "Page number, from 1."),
                    int_query("size", 1, 100, "Keys per page (default 10)."),
                ])
                .errors(&[403, 422])),
        ("POST", "/key/delete", "delete_keys",
            Op::new("keys", "Delete keys", ok_json("The tokens of the deleted keys.", r("DeletedKeys")))
                .describe("Needs a `proxy_admin` key. 400 when neither list names a key; 404 when none of them exist.")
                .json_body(r("KeyDeleteRequest"))
                .errors(&[400, 403, 404, 503])),
    ]
    .into_iter()
    .map(|(m, p, id, op)| (m, p, id, op.build(id)))
    .collect()
}

/// `models`: the configured `model_name`s, which the run routes accept (any other is 400).
fn schemas(models: &[String]) -> Value {
    let model_names = if models.is_empty() {
        json!({"type": "string"})
    } else {
        json!({"type": "string", "enum": models})
    };
    let example_model = models.first().map_or("gpt-4o", String::as_str);
    let id = json!({"type": "string", "pattern": ID_PATTERN});
    let obj = json!({"type": "object"});
    let date = json!({"type": "string", "format": "date-time"});
    let role =
        json!({"type": "string", "enum": ["proxy_admin", "proxy_admin_viewer", "internal_user"]});
    let litellm_params = json!({
        "type": "object",
        "description": "LiteLLM's `PromptLiteLLMParams`. The template comes from `dotprompt_content` (the `.prompt` text) or `prompt_data` (`{\"content\", \"metadata\"}`, or a JSON string of it). Other keys are kept. Values under credential-like keys (a word of the name is key, token, secret, password, passwd, credential(s), auth, private, …; at any depth) and the user information of URLs are shown as `**redacted**`; send that back unchanged to keep the stored value.",
        "required": ["prompt_integration"],
        "properties": {
            "prompt_integration": {"type": "string", "enum": ["dotprompt"]},
            "dotprompt_content": {"type": ["string", "null"]},
            "prompt_dialect": {"type": ["string", "null"], "enum": ["litellm", "genkit", null], "description": "promptd's extension: the template language. `litellm` (the default): LiteLLM's Jinja dotprompt with `System:`/`User:` lines. `genkit`: Google Dotprompt (Firebase Genkit's Handlebars format). See docs/prompt-format.md."},
            "prompt_data": {"description": "Read only when `dotprompt_content` is absent; then an object `{\"content\", \"metadata\"}` (or one keyed by the template name), or a JSON string of it."},
            "prompt_id": {"type": ["string", "null"]},
            "api_base": {"type": ["string", "null"]},
            "api_key": {"type": ["string", "null"]},
            "provider_specific_query_params": {"type": ["object", "null"]},
            "ignore_prompt_manager_model": {"type": ["boolean", "null"]},
            "ignore_prompt_manager_optional_params": {"type": ["boolean", "null"]}
        }
    });
    let prompt_info = json!({
        "type": ["object", "null"],
        "description": "`environment` is where the version goes (default `development`).",
        "properties": {
            "prompt_type": {"enum": ["db", null], "description": "`config` is reserved for prompts from the config file (400)."},
            "environment": {"type": ["string", "null"], "pattern": ENV_PATTERN}
        }
    });
    let mut all = json!({
        "Error": {
            "type": "object", "required": ["detail"],
            "description": "What was wrong and how to fix it.",
            "properties": {"detail": {"type": "string"}}
        },
        "FieldError": {
            "type": "object", "required": ["type", "loc", "msg"],
            "properties": {
                "type": {"type": "string", "examples": ["missing"]},
                "loc": {"type": "array", "items": {"type": ["string", "integer"]}, "examples": [["body", "litellm_params"]]},
                "msg": {"type": "string"},
                "input": {"description": "The rejected value, when there was one."}
            }
        },
        "ValidationError": {
            "type": "object", "required": ["detail"],
            "description": "FastAPI's validation error: one entry per malformed field.",
            "properties": {"detail": {"type": "array", "items": r("FieldError")}}
        },
        "AuthError": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"const": "auth_error"},
                    "param": {"type": "string"},
                    "code": {"const": "401"}
                }
            }}
        },
        "UpstreamError": {
            "type": "object", "required": ["error"],
            "description": "OpenAI's error shape; `code` is the HTTP status as a string.",
            "properties": {"error": {
                "type": "object", "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]}
                }
            }}
        },
        "ModelList": {
            "type": "object", "required": ["object", "data"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": {
                    "type": "object", "required": ["id", "object", "created", "owned_by"],
                    "properties": {
                        "id": model_names.clone(),
                        "object": {"const": "model"},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"}
                    }
                }}
            }
        },
        "PromptDiff": {
            "type": "object",
            "required": ["prompt_id", "from", "to", "identical", "template", "model", "parameters", "variables"],
            "properties": {
                "prompt_id": {"type": "string"},
                "from": {"type": "string", "examples": ["staging.v3"]},
                "to": {"type": "string", "examples": ["production.v2"]},
                "identical": {"type": "boolean"},
                "template": {"type": "string", "description": "The unified diff of the template body, as `git diff` prints it; empty when the bodies are the same."},
                "model": {"type": "object", "required": ["from", "to", "changed"], "properties": {
                    "from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]}, "changed": {"type": "boolean"}}},
                "parameters": {"type": "object", "required": ["added", "removed", "changed"], "properties": {
                    "added": obj.clone(), "removed": obj.clone(),
                    "changed": {"type": "object", "additionalProperties": {"type": "object", "required": ["from", "to"]}}}},
                "variables": {"type": "object", "required": ["added", "removed"], "properties": {
                    "added": {"type": "array", "items": {"type": "string"}},
                    "removed": {"type": "array", "items": {"type": "string"}}}}
            }
        },
        "Message": {
            "type": "object", "required": ["message"],
            "properties": {"message": {"type": "string"}}
        },
        "PromptSpec": {
            "type": "object",
            "description": "A prompt version in LiteLLM's shape.",
            "required": ["prompt_id", "litellm_params", "prompt_info", "created_at", "updated_at", "version", "environment", "created_by"],
            "properties": {
                "prompt_id": {"type": "string", "description": "The base id in reads; `id.vN` in the answers to writes."},
                "litellm_params": obj,
                "prompt_info": obj,
                "created_at": nullable(date.clone()),
                "updated_at": nullable(date.clone()),
                "version": {"type": "integer", "minimum": 1},
                "environment": {"type": "string"},
                "created_by": {"type": ["string", "null"]}
            }
        },
        "PromptList": {
            "type": "object", "required": ["prompts"],
            "properties": {
                "prompts": {"type": "array", "items": r("PromptSpec")},
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1},
                "total_pages": {"type": "integer", "minimum": 0}
            }
        },
        "PromptInfo": {
            "type": "object", "required": ["prompt_spec", "raw_prompt_template", "environments"],
            "properties": {
                "prompt_spec": r("PromptSpec"),
                "raw_prompt_template": {
                    "type": ["object", "null"],
                    "required": ["litellm_prompt_id", "content", "metadata"],
                    "properties": {
                        "litellm_prompt_id": {"type": "string"},
                        "content": {"type": "string"},
                        "metadata": obj
                    }
                },
                "environments": {"type": "array", "items": {"type": "string"}},
                "dependencies": {"type": "array", "description": "promptd only, present when the template includes other prompts: each prompt it includes directly, with the version that name resolves to now in this version's environment (`null` when none does).",
                    "items": {"type": "object", "required": ["name", "prompt_id", "environment", "version", "pinned"],
                        "properties": {"name": {"type": "string", "description": "As written: `safety` (floating: the latest version) or `safety.v3` (pinned)."},
                            "prompt_id": {"type": ["string", "null"]}, "environment": {"type": "string"},
                            "version": {"type": ["integer", "null"], "minimum": 1}, "pinned": {"type": "boolean"}}}}
            }
        },
        "PromptCreate": {
            "type": "object", "required": ["prompt_id", "litellm_params"],
            "properties": {
                "prompt_id": {"type": "string", "pattern": ID_PATTERN, "description": "Without a version suffix: the server allocates versions."},
                "litellm_params": litellm_params,
                "prompt_info": prompt_info,
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            },
            "examples": [{
                "prompt_id": "greeting",
                "litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": "---\nmodel: gpt-4o\ninput:\n  schema:\n    name: string\n---\nUser: Say hello to {{name}}."},
                "prompt_info": {"prompt_type": "db", "environment": "production"}
            }]
        },
        "PromptUpdate": {
            "type": "object", "required": ["litellm_params"],
            "properties": {
                "prompt_id": {"type": "string", "description": "Ignored: the path names the prompt."},
                "litellm_params": litellm_params,
                "prompt_info": prompt_info,
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            }
        },
        "PromptPatch": {
            "type": "object",
            "description": "The top-level fields to replace; absent or null fields are kept.",
            "properties": {
                "litellm_params": {"anyOf": [litellm_params, {"type": "null"}]},
                "prompt_info": prompt_info,
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            }
        },
        "RenderRequest": {
            "type": "object",
            "examples": [{"prompt_variables": {"name": "Ada"}}],
            "properties": {
                "prompt_variables": {"type": ["object", "null"]},
                "environment": {"type": ["string", "null"], "pattern": ENV_PATTERN},
                "version": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_VERSION}
            }
        },
        "PreviewRequest": {
            "type": "object", "required": ["dotprompt_content"],
            "examples": [{"dotprompt_content": "---\nmodel: gpt-4o\ninput:\n  schema:\n    name: string\n---\nUser: Hello {{name}}.", "prompt_variables": {"name": "Ada"}}],
            "properties": {
                "dotprompt_content": {"type": "string", "description": "The draft `.prompt` text."},
                "prompt_variables": {"type": ["object", "null"]}
            }
        },
        "PreviewResponse": {
            "type": "object",
            "required": ["prompt_id", "model", "optional_params", "variables", "messages", "error"],
            "properties": {
                "prompt_id": {"type": "string"},
                "model": {"type": ["string", "null"]},
                "optional_params": obj,
                "variables": {"type": "array", "items": {"type": "object", "required": ["name", "type", "required"],
                    "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "required": {"type": "boolean"}}}},
                "messages": {"anyOf": [{"type": "array", "items": r("ChatMessage")}, {"type": "null"}]},
                "error": {"anyOf": [{"type": "null"}, {"type": "object", "required": ["kind", "message", "line", "column"],
                    "properties": {"kind": {"type": "string", "enum": ["parse", "render"]}, "message": {"type": "string"},
                        "line": {"type": ["integer", "null"]}, "column": {"type": ["integer", "null"]}}}]}
            }
        },
        "ChatMessage": {
            "type": "object", "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "enum": ["system", "user", "assistant", "developer", "tool"]},
                "content": {"type": "string"}
            }
        },
        "RenderResponse": {
            "type": "object",
            "required": ["prompt_id", "version", "environment", "model", "messages", "optional_params"],
            "properties": {
                "prompt_id": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
                "environment": {"type": "string"},
                "model": {"type": ["string", "null"]},
                "messages": {"type": "array", "items": r("ChatMessage")},
                "optional_params": obj,
                "includes": {"type": "array", "description": "Each stored version the prompt's includes (`{% include \"name\" %}`, `{{> name}}`) resolved to for this render, once each, so the render can be reproduced.",
                    "items": {"type": "object", "required": ["prompt_id", "environment", "version"],
                        "properties": {"prompt_id": {"type": "string"}, "environment": {"type": "string"}, "version": {"type": "integer", "minimum": 1}}}}
            }
        },
        "GatewayPrompt": {
            "type": "object",
            "required": ["prompt_id", "prompt_template", "prompt_template_model", "prompt_template_optional_params", "version", "environment"],
            "properties": {
                "prompt_id": {"type": "string"},
                "prompt_template": {"type": "array", "items": r("ChatMessage"), "description": "The messages, each variable left as a `{name}` placeholder."},
                "prompt_template_model": {"type": ["string", "null"]},
                "prompt_template_optional_params": obj,
                "version": {"type": "integer", "minimum": 1},
                "environment": {"type": "string"}
            }
        },
        "TestRequest": {
            "type": "object", "required": ["dotprompt_content"],
            "examples": [{"dotprompt_content": format!("---\nmodel: {example_model}\n---\nUser: Say hello to {{{{name}}}}."), "prompt_variables": {"name": "Ada"}}],
            "properties": {
                "dotprompt_content": {"type": "string", "description": "A whole `.prompt` text; its frontmatter names a model from `model_list`."},
                "prompt_variables": {"type": ["object", "null"]},
                "conversation_history": {"type": ["array", "null"], "description": "Earlier turns (OpenAI messages); when given, only the template's system messages are kept before them."},
                "prompt_dialect": {"type": ["string", "null"], "enum": ["litellm", "genkit", null], "description": "The draft's template language: `litellm` (the default) or `genkit` (Google Dotprompt)."}
            }
        },
        "ChatRequest": {
            "type": "object",
            "examples": [{"model": example_model, "messages": [{"role": "user", "content": "and keep it short"}], "prompt_id": "greeting", "prompt_variables": {"name": "Ada"}}],
            "description": "An OpenAI chat request (other fields pass through to the model), plus the `prompt_*` fields, which are never sent upstream. `model` is required unless `prompt_id` names a prompt whose template has one.",
            "anyOf": [
                {"required": ["model"], "properties": {"model": model_names}},
                {"required": ["prompt_id"], "properties": {"prompt_id": {"type": "string"}}}
            ],
            "properties": {
                "model": {"type": ["string", "null"], "description": "A `model_name` from `model_list`."},
                "messages": {"type": ["array", "null"], "items": obj, "description": "OpenAI messages; with a prompt they follow the template's."},
                "stream": {"type": ["boolean", "null"]},
                "prompt_id": {"type": ["string", "null"], "description": "A stored prompt: `greeting` or `greeting.v2`."},
                "prompt_variables": {"type": ["object", "null"]},
                "prompt_version": {"anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                    {"type": "string", "pattern": "^0*[1-9][0-9]{0,8}$"},
                    {"type": "null"}
                ]},
                "prompt_environment": {"type": ["string", "null"], "pattern": ENV_PATTERN}
            }
        },
        "ChatCompletion": {
            "type": "object", "required": ["choices"],
            "description": "OpenAI's `chat.completion`; `model` is the public model name.",
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {"type": "array", "items": obj},
                "usage": obj
            }
        },
        "ChatChunkEvent": {
            "type": "object", "required": ["data"],
            "description": "One server-sent event of a streamed answer (the schema describes each event).",
            "properties": {
                "data": {"type": "string", "description": "A `chat.completion.chunk` as JSON, an `{\"error\": {...}}` after a failure, or `[DONE]` (always last)."}
            }
        },
        "ConvertedPrompt": {
            "type": "object", "required": ["prompt_id", "json_data"],
            "properties": {
                "prompt_id": {"type": "string"},
                "json_data": {
                    "type": "object", "required": ["content", "metadata"],
                    "properties": {"content": {"type": "string"}, "metadata": obj}
                }
            }
        },
        "KeyGenerateRequest": {
            "type": "object",
            "examples": [{"key_alias": "my-app", "user_role": "internal_user", "metadata": {"prompts": ["greeting"]}, "duration": "30d"}],
            "not": {"required": ["duration", "expires"], "properties": {"duration": {"type": "string"}, "expires": {"type": "string"}}},
            "properties": {
                "key_alias": {"type": ["string", "null"]},
                "user_id": {"type": ["string", "null"]},
                "user_role": {"enum": ["proxy_admin", "proxy_admin_viewer", "internal_user", null], "description": "Default `internal_user`."},
                "metadata": {
                    "type": ["object", "null"],
                    "description": "`prompts` limits the key's reads and writes to those prompts (`greeting` allows every version, `greeting.v2` reads one); `environments` limits the environments it writes, promotes or rolls back into. Absent or null: no limit. A key can only create keys within its own reach.",
                    "properties": {
                        "prompts": {"type": ["array", "null"], "items": id.clone()},
                        "environments": {"type": ["array", "null"], "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"}}
                    }
                },
                "duration": {"type": ["string", "null"], "pattern": "^\\s*[0-9]{1,9}(s|m|h|d|w|mo)\\s*$", "description": "30s, 15m, 12h, 7d, 2w, 1mo. Not with `expires`."},
                "expires": {"type": ["string", "null"], "format": "date-time", "description": "RFC 3339. Not with `duration`."}
            }
        },
        "KeyRecord": {
            "type": "object",
            "required": ["token", "key_name", "key_alias", "user_id", "user_role", "metadata", "expires", "created_at", "created_by"],
            "properties": {
                "token": {"type": "string", "description": "SHA-256 of the key, hex."},
                "key_name": {"type": "string", "description": "`sk-...` and the key's last 4 characters."},
                "key_alias": {"type": ["string", "null"]},
                "user_id": {"type": ["string", "null"]},
                "user_role": role,
                "metadata": obj,
                "expires": nullable(date.clone()),
                "created_at": date,
                "created_by": {"type": ["string", "null"]}
            }
        },
        "GeneratedKey": {
            "allOf": [r("KeyRecord"), {
                "type": "object", "required": ["key"],
                "properties": {"key": {"type": "string", "description": "The key itself, shown only here."}}
            }]
        },
        "KeyInfo": {
            "type": "object", "required": ["key", "info"],
            "properties": {"key": {"type": "string", "description": "The token."}, "info": r("KeyRecord")}
        },
        "KeyList": {
            "type": "object", "required": ["keys", "total_count", "current_page", "total_pages"],
            "properties": {
                "keys": {"type": "array", "items": {"anyOf": [{"type": "string"}, r("KeyRecord")]}},
                "total_count": {"type": "integer", "minimum": 0},
                "current_page": {"type": "integer", "minimum": 1},
                "total_pages": {"type": "integer", "minimum": 0}
            }
        },
        "KeyDeleteRequest": {
            "type": "object",
            "description": "At least one key or alias.",
            "anyOf": [
                {"required": ["keys"], "properties": {"keys": {"type": "array", "minItems": 1}}},
                {"required": ["key_aliases"], "properties": {"key_aliases": {"type": "array", "minItems": 1}}}
            ],
            "properties": {
                "keys": {"type": ["array", "null"], "items": {"type": "string"}, "description": "Keys (`sk-…`) or tokens."},
                "key_aliases": {"type": ["array", "null"], "items": {"type": "string"}}
            }
        },
        "DeletedKeys": {
            "type": "object", "required": ["deleted_keys"],
            "properties": {"deleted_keys": {"type": "array", "items": {"type": "string"}}}
        },
        "Readiness": {
            "type": "object", "required": ["status", "db", "prompts", "promptd_version"],
            "properties": {
                "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                "db": {"type": "string", "enum": ["connected", "Not connected"]},
                "error": {"type": "string"},
                "prompts": {"type": "integer", "minimum": 0},
                "promptd_version": {"type": "string"}
            }
        }
    });
    // The release bodies (separately: one json! this large passes the macro recursion limit).
    let batch = json!({
        "BatchRequest": {
            "type": "object", "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {
                    "type": "object", "required": ["prompt_id", "litellm_params"],
                    "properties": {
                        "prompt_id": {"type": "string"},
                        "environment": {"type": ["string", "null"], "pattern": ENV_PATTERN, "description": "Default (absent or null): `prompt_info.environment`, else `development`."},
                        "prompt_id": {"type": "string", "pattern": ID_PATTERN},
                        "litellm_params": litellm_params.clone(),
                        "prompt_info": prompt_info.clone(),
                        "message": {"type": ["string", "null"], "maxLength": 4096, "description": "Overrides the batch's message for this item."},
                        "if_match": {"type": ["string", "null"], "description": "An ETag the environment's latest version must still have (checked in the transaction); absent or null: no condition."}
                    }
                }},
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "Recorded with every version and removal the batch makes."},
                "prune": {"type": ["boolean", "null"], "default": false},
                "prune_environments": {"type": ["array", "null"], "items": {"type": "string"}},
                "dry_run": {"type": ["boolean", "null"], "default": false}
            }
        },
        "BatchResult": {
            "type": "object", "required": ["dry_run", "changed", "summary", "items"],
            "properties": {
                "dry_run": {"type": "boolean"},
                "changed": {"type": "boolean", "description": "Whether anything was (or would be) created, changed or removed."},
                "summary": {"type": "object", "properties": {"create": {"type": "integer"}, "update": {"type": "integer"}, "unchanged": {"type": "integer"}, "delete": {"type": "integer"}}},
                "items": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": ["integer", "null"], "description": "The item's index; null for a prune removal."},
                        "prompt_id": {"type": "string"}, "environment": {"type": "string"},
                        "action": {"type": "string", "enum": ["create", "update", "unchanged", "delete"]},
                        "version": {"type": ["integer", "null"], "description": "The version written; in a dry run (and for unchanged and delete) the environment's current one."},
                        "etag": {"type": ["string", "null"]},
                        "content_sha256": {"type": ["string", "null"]},
                        "diff": {"type": "string", "description": "Dry run, `update` only: a unified diff of the template."}
                    }
                }}
            }
        },
        "BatchRefused": {
            "type": "object", "required": ["detail", "errors"],
            "properties": {
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": ["integer", "null"]}, "prompt_id": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"}
                }}}
            }
        }
    });
    if let (Value::Object(all), Value::Object(batch)) = (&mut all, batch) {
        all.extend(batch);
    }
    let release = json!({
        "PromoteRequest": {
            "type": "object", "required": ["from_environment", "to_environment"],
            "properties": {
                "from_environment": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
                "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION, "description": "The source version; its latest when absent."},
                "to_environment": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            }
        },
        "RollbackRequest": {
            "type": "object", "required": ["environment", "to_version"],
            "properties": {
                "environment": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
                "to_version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            }
        },
        "RestoreRequest": {
            "type": "object",
            "properties": {
                "environment": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", "description": "Only this environment (all when absent)."},
                "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION, "description": "Only this version (needs `environment`)."},
                "message": {"type": ["string", "null"], "maxLength": 4096, "description": "A commit message recorded with the version and in its history event."}
            }
        },
        "EnvVersion": {
            "type": "object", "required": ["environment", "version"],
            "properties": {"environment": {"type": "string"}, "version": {"type": "integer", "minimum": 1}}
        },
        "Restored": {
            "type": "object", "required": ["message", "restored"],
            "properties": {"message": {"type": "string"}, "restored": {"type": "array", "items": {"$ref": "#/components/schemas/EnvVersion"}}}
        },
        "Deleted": {
            "type": "object", "required": ["message"],
            "properties": {"message": {"type": "string"}, "purged": {"type": "array", "items": {"$ref": "#/components/schemas/EnvVersion"}}}
        },
        "HistoryEvent": {
            "type": "object",
            "required": ["cursor", "prompt_id", "environment", "version", "kind", "source", "message", "actor", "content_sha256", "created_at"],
            "properties": {
                "cursor": {"type": "string", "description": "The event's position in the ledger (increasing in commit order, the same on every instance)."},
                "prompt_id": {"type": "string"},
                "environment": {"type": ["string", "null"]},
                "version": {"type": ["integer", "null"]},
                "kind": {"type": "string", "enum": ["create", "update", "patch", "promote", "rollback", "delete", "restore", "purge", "import", "config"]},
                "source": {"type": ["string", "null"], "description": "`staging.v3` for a promote, `v2` for a rollback."},
                "message": {"type": ["string", "null"]},
                "actor": {"type": ["string", "null"], "description": "A key's alias (or abbreviation) or `master key`; never a key or its hash."},
                "content_sha256": {"type": ["string", "null"], "description": "SHA-256 of the version's litellm_params."},
                "created_at": {"type": "string", "format": "date-time"}
            }
        },
        "PromptHistory": {
            "type": "object", "required": ["prompt_id", "events", "next_cursor"],
            "properties": {
                "prompt_id": {"type": "string"},
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEvent"}},
                "next_cursor": {"type": ["string", "null"]}
            }
        },
        "WatchEvent": {
            "type": "object",
            "description": "The `data` of one watch event: the `/history` fields plus the ETag of the version it names while that version exists (null for delete and purge).",
            "required": ["cursor", "prompt_id", "environment", "version", "kind", "etag", "created_at"],
            "properties": {
                "cursor": {"type": "string"}, "prompt_id": {"type": "string"},
                "environment": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]},
                "kind": {"type": "string"}, "etag": {"type": ["string", "null"]},
                "source": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]},
                "actor": {"type": ["string", "null"]}, "content_sha256": {"type": ["string", "null"]},
                "created_at": {"type": "string"}
            }
        },
        "WebhookRequest": {
            "type": "object", "required": ["url"],
            "properties": {
                "url": {"type": "string", "description": "An absolute http:// or https:// URL.", "example": "https://hooks.example.com/promptd"},
                "event_types": {"type": "array", "items": {"type": "string", "enum": crate::webhook_event_types()}, "description": "Absent = every type."},
                "prompt_ids": {"type": ["array", "null"], "items": {"type": "string", "pattern": ID_PATTERN}, "description": "Only these prompts; absent or null = every prompt."},
                "description": {"type": ["string", "null"]}
            }
        },
        "Webhook": {
            "type": "object",
            "required": ["id", "url", "event_types", "prompt_ids", "description", "created_at", "created_by", "disabled", "disabled_at", "disabled_reason", "failing_since"],
            "properties": {
                "id": {"type": "string"}, "url": {"type": "string"},
                "event_types": {"type": "array", "items": {"type": "string"}},
                "prompt_ids": {"type": ["array", "null"], "items": {"type": "string"}},
                "description": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "created_by": {"type": ["string", "null"]},
                "disabled": {"type": "boolean"},
                "disabled_at": {"type": ["string", "null"]},
                "disabled_reason": {"type": ["string", "null"]},
                "failing_since": {"type": ["string", "null"], "description": "When the current run of failed attempts began."}
            }
        },
        "CreatedWebhook": {
            "allOf": [{"$ref": "#/components/schemas/Webhook"},
                      {"type": "object", "required": ["secret"], "properties": {"secret": {"type": "string", "description": "`whsec_` + base64 of the signing key. Shown only here."}}}]
        },
        "WebhookList": {
            "type": "object", "required": ["webhooks"],
            "properties": {"webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}
        },
        "DeletedWebhook": {
            "type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "string"}}
        },
        "WebhookDeliveries": {
            "type": "object", "required": ["webhook", "messages"],
            "properties": {
                "webhook": {"$ref": "#/components/schemas/Webhook"},
                "messages": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message_id", "event_type", "cursor", "state", "attempt_count", "created_at", "next_attempt_at", "delivered_at", "attempts"],
                    "properties": {
                        "message_id": {"type": "string", "description": "The `webhook-id` header, the same on every attempt."},
                        "event_type": {"type": "string"},
                        "cursor": {"type": ["string", "null"]},
                        "state": {"type": "string", "enum": ["pending", "delivered", "failed", "disabled"]},
                        "attempt_count": {"type": "integer"},
                        "created_at": {"type": "string"},
                        "next_attempt_at": {"type": ["string", "null"]},
                        "delivered_at": {"type": ["string", "null"]},
                        "attempts": {"type": "array", "items": {
                            "type": "object", "required": ["at", "duration_ms", "status", "response", "error"],
                            "properties": {
                                "at": {"type": "string"}, "duration_ms": {"type": "integer"},
                                "status": {"type": ["integer", "null"]},
                                "response": {"type": ["string", "null"], "description": "The first 1 KiB of the answer."},
                                "error": {"type": ["string", "null"]}
                            }}}
                    }}}
            }
        },
        "QueuedWebhookMessage": {
            "type": "object", "required": ["message_id", "state", "deliveries"],
            "properties": {"message_id": {"type": "string"}, "state": {"type": "string"}, "deliveries": {"type": "string"}}
        },
        "AllHistory": {
            "type": "object", "required": ["events", "next_cursor", "has_more"],
            "properties": {
                "events": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEvent"}},
                "next_cursor": {"type": "string"},
                "has_more": {"type": "boolean"}
            }
        },
        "Trash": {
            "type": "object", "required": ["versions"],
            "properties": {"versions": {"type": "array", "items": {
                "type": "object",
                "required": ["prompt_id", "environment", "version", "deleted_at", "deleted_by", "purge_after", "origin", "message", "content_sha256", "prompt_spec"],
                "properties": {
                    "prompt_id": {"type": "string"}, "environment": {"type": "string"},
                    "version": {"type": "integer"}, "deleted_at": {"type": "string", "format": "date-time"},
                    "deleted_by": {"type": ["string", "null"]},
                    "purge_after": {"type": ["string", "null"], "format": "date-time"},
                    "origin": {"type": "string"}, "message": {"type": ["string", "null"]},
                    "content_sha256": {"type": "string"},
                    "prompt_spec": {"$ref": "#/components/schemas/PromptSpec"}
                }
            }}}
        }
    });
    if let (Value::Object(all), Value::Object(release)) = (&mut all, release) {
        all.extend(release);
    }
    all
}

fn responses() -> Value {
    let detail = |d: &str| ok_json(d, r("Error"));
    json!({
        "BadRequest": detail("The request is well formed but cannot be done: the message says why and how to fix it."),
        "Unauthorized": ok_json("No key, an unknown key or an expired key.", r("AuthError")),
        "Forbidden": detail("The key's role or prompt allow-list does not allow this."),
        "NotFound": detail("No such prompt, version or key."),
        "Conflict": detail("Conflicts with an existing record."),
        "PreconditionFailed": {
            "description": "`If-Match` names a version the environment has moved on from: nothing was written. The `ETag` header is the environment's current tag (absent when it has no version).",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": json_content(r("Error"))
        },
        "PayloadTooLarge": detail("The body is larger than `max_body_bytes` (default 1 MiB)."),
        "ValidationFailed": ok_json("A missing or mistyped field, invalid JSON, or a malformed query parameter.", r("ValidationError")),
        "DatabaseUnavailable": detail("The database cannot take writes right now; reads keep working. Retry in a few seconds.")
    })
}

/// The OpenAPI document of a server whose `model_list` has `models`.
pub fn document(models: &[String]) -> Value {
    let mut paths = Map::new();
    for (method, path, _, op) in operations() {
        let item = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(method.to_ascii_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "promptd",
            "version": env!("CARGO_PKG_VERSION"),
            "license": {"name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE")},
            "description": "A fast, self-hosted prompt registry speaking LiteLLM's /prompts API.\n\nEvery route except `/health/*` needs a key: press **Authorize** and paste the master key or a key from `POST /key/generate` (it is sent as `Authorization: Bearer <key>`; `x-litellm-api-key` and `api-key` headers work too).\n\nErrors are `{\"detail\": \"...\"}`, except 422 (`{\"detail\": [field errors]}`, FastAPI's shape), 401 (`{\"error\": {...}}`, LiteLLM's `auth_error`) and model failures on the run routes (OpenAI's `{\"error\": {...}}`)."
        },
        "tags": [
            {"name": "prompts", "description": "Prompt management (LiteLLM-compatible)."},
            {"name": "ledger", "description": "History of every change, the trash and restore."},
            {"name": "run", "description": "Running prompts against models from `model_list`."},
            {"name": "keys", "description": "Virtual keys."},
            {"name": "webhooks", "description": "Signed notifications of every change, from a durable outbox."},
            {"name": "health", "description": "Probes and metrics."}
        ],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The master key or a key from `POST /key/generate`."}
            },
            "schemas": schemas(models),
            "responses": responses()
        }
    })
}

/// Every documented `(METHOD, path)`, for the check against [`crate::routes::ROUTES`].
pub fn documented_operations() -> Vec<(&'static str, &'static str)> {
    operations()
        .into_iter()
        .map(|(m, p, _, _)| (m, p))
        .collect()
}

/// `/openapi.json` and the Swagger UI at `/docs`, which keeps the key entered in Authorize
/// across reloads.
pub fn docs_router(models: &[String]) -> Router<AppState> {
    let mut models = models.to_vec();
    models.sort();
    Router::new().merge(
        SwaggerUi::new("/docs")
            .external_url_unchecked("/openapi.json", document(&models))
            .config(Config::default().persist_authorization(true)),
    )
}
