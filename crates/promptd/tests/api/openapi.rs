//! The OpenAPI document says what the server does: which routes need a key, the error shapes,
//! the bounds of parameters, content types, and the configured models. (That every route is
//! documented and every documented route is served is in `architecture.rs`;
//! `scripts/schemathesis.sh` fuzzes the whole document against a running server.)

use reqwest::Method;
use serde_json::{Value, json};

use crate::architecture::documented;
use crate::common::*;

async fn document(app: &TestApp) -> Value {
    let (status, doc) = send(app.req(Method::GET, "/openapi.json", None)).await;
    assert_eq!(status, 200);
    doc
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    op
}

/// A `$ref` inside the document, followed.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let pointer = r.trim_start_matches('#');
            resolve(doc, doc.pointer(pointer).expect("dangling $ref"))
        }
        None => v,
    }
}

fn response<'a>(doc: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    resolve(doc, &operation(doc, method, path)["responses"][status])
}

fn schema_name(resp: &Value, media: &str) -> String {
    resp["content"][media]["schema"]["$ref"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("#/components/schemas/")
        .to_owned()
}

const PUBLIC: [&str; 3] = [
    "/health/liveliness",
    "/health/liveness",
    "/health/readiness",
];

#[tokio::test]
async fn every_route_but_health_declares_the_bearer_key_and_its_401() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": "The master key or a key from `POST /key/generate`."})
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    for (method, path) in documented(&doc) {
        let op = operation(&doc, &method, &path);
        if PUBLIC.contains(&path.as_str()) {
            assert_eq!(op["security"], json!([]), "{method} {path} needs no key");
            assert!(op["responses"].get("401").is_none(), "{method} {path}");
        } else {
            assert!(
                op.get("security").is_none(),
                "{method} {path} must inherit the bearer key"
            );
            assert_eq!(
                schema_name(response(&doc, &method, &path, "401"), "application/json"),
                "AuthError",
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn the_routes_documented_as_secured_refuse_a_request_without_a_key() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    for (method, path) in documented(&doc) {
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        let concrete = path.replace("{prompt_id}", "greeting");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = send(app.req(m, &concrete, None)).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert_eq!(body["error"]["type"], "auth_error", "{method} {path}");
    }
    for path in PUBLIC {
        let (status, _) = send(app.req(Method::GET, path, None)).await;
        assert_eq!(status, 200, "{path} needs no key");
    }
}

#[tokio::test]
async fn the_documented_error_shapes_are_the_ones_the_server_sends() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Error"]["properties"]["detail"]["type"], "string");
    assert_eq!(
        schemas["ValidationError"]["properties"]["detail"]["type"],
        "array"
    );
    assert_eq!(
        schemas["FieldError"]["required"],
        json!(["type", "loc", "msg"])
    );

    // 404: a string.
    assert_eq!(
        schema_name(
            response(&doc, "GET", "/prompts/{prompt_id}/info", "404"),
            "application/json"
        ),
        "Error"
    );
    let (status, body) = app.get("/prompts/nope/info", MASTER).await;
    assert_eq!(status, 404);
    assert!(body["detail"].is_string(), "{body}");

    // 422: FastAPI's list.
    assert_eq!(
        schema_name(
            response(&doc, "POST", "/prompts", "422"),
            "application/json"
        ),
        "ValidationError"
    );
    let (status, body) = app
        .post("/prompts", MASTER, json!({"prompt_id": "x"}))
        .await;
    assert_eq!(status, 422);
    let first = &body["detail"][0];
    for field in ["type", "loc", "msg"] {
        assert!(first.get(field).is_some(), "{field} missing from {body}");
    }

    // DELETE answers a message (and, for a purge, what was destroyed), not an error.
    assert_eq!(
        schema_name(
            response(&doc, "DELETE", "/prompts/{prompt_id}", "200"),
            "application/json"
        ),
        "Deleted"
    );
    assert_eq!(schemas["Deleted"]["required"], json!(["message"]));
    app.create("gone", "User: hi", None).await;
    let (status, body) = app.delete("/prompts/gone", MASTER).await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Prompt gone deleted successfully"}))
    );
}

#[tokio::test]
async fn writes_document_their_statuses_from_400_to_503() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    for (method, path) in [
        ("POST", "/prompts"),
        ("PUT", "/prompts/{prompt_id}"),
        ("PATCH", "/prompts/{prompt_id}"),
    ] {
        let responses = &operation(&doc, method, path)["responses"];
        for status in ["200", "400", "401", "403", "413", "422", "503"] {
            assert!(
                responses.get(status).is_some(),
                "{method} {path} lacks {status}"
            );
        }
    }
    let generate = &operation(&doc, "POST", "/key/generate")["responses"];
    assert!(generate.get("409").is_some(), "a taken key_alias is 409");
    // The run routes pass the model's own error statuses through.
    for path in ["/chat/completions", "/v1/chat/completions", "/prompts/test"] {
        let responses = &operation(&doc, "POST", path)["responses"];
        for status in ["502", "504", "default"] {
            assert_eq!(
                schema_name(response(&doc, "POST", path, status), "application/json"),
                "UpstreamError",
                "{path} {status}"
            );
        }
        assert!(responses.get("400").is_some(), "{path}");
    }
}

#[tokio::test]
async fn page_bounds_in_the_document_are_the_ones_the_server_enforces() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let bounds = |path: &str, name: &str| {
        let params = operation(&doc, "GET", path)["parameters"]
            .as_array()
            .unwrap();
        let p = params.iter().find(|p| p["name"] == name).expect(name);
        (
            p["schema"]["minimum"].as_u64(),
            p["schema"]["maximum"].as_u64(),
        )
    };
    assert_eq!(bounds("/prompts/list", "page").0, Some(1));
    assert_eq!(bounds("/prompts/list", "page_size"), (Some(1), Some(1000)));
    assert_eq!(bounds("/key/list", "page").0, Some(1));
    assert_eq!(bounds("/key/list", "size"), (Some(1), Some(100)));

    for (query, status) in [
        ("/prompts/list?page=0", 422),
        ("/prompts/list?page_size=0", 422),
        ("/prompts/list?page_size=1001", 422),
        ("/prompts/list?page=1&page_size=1000", 200),
        ("/key/list?page=0", 422),
        ("/key/list?size=0", 422),
        ("/key/list?size=101", 422),
        ("/key/list?page=1&size=100", 200),
    ] {
        let (s, body) = app.get(query, MASTER).await;
        assert_eq!(s, status, "{query}: {body}");
    }
    let (_, body) = app.get("/key/list?size=101", MASTER).await;
    assert_eq!(body["detail"][0]["loc"], json!(["query", "size"]), "{body}");
}

#[tokio::test]
async fn streamed_and_plain_text_answers_have_their_content_types_documented() {
    let app = TestApp::start().await;
    let doc = document(&app).await;
    let content = |method: &str, path: &str| {
        let mut types: Vec<String> = response(&doc, method, path, "200")["content"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        types.sort();
        types
    };
    assert_eq!(content("POST", "/prompts/test"), ["text/event-stream"]);
    assert_eq!(
        content("POST", "/chat/completions"),
        ["application/json", "text/event-stream"]
    );
    assert_eq!(content("GET", "/metrics"), ["text/plain"]);
    assert_eq!(
        content("POST", "/utils/dotprompt_json_converter"),
        ["application/json"]
    );
    let upload = &operation(&doc, "POST", "/utils/dotprompt_json_converter")["requestBody"];
    assert!(
        upload["content"]["multipart/form-data"].is_object(),
        "{upload}"
    );
}

#[tokio::test]
async fn the_chat_model_field_lists_the_configured_models() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some(
            "model_list:\n  - model_name: b-mock\n    litellm_params: {model: openai/x, mock_response: hi}\n  - model_name: a-mock\n    litellm_params: {model: openai/y, mock_response: hi}\n".into(),
        ),
        ..Opts::default()
    })
    .await;
    let doc = document(&app).await;
    let chat = &doc["components"]["schemas"]["ChatRequest"];
    assert_eq!(
        chat["anyOf"][0]["properties"]["model"]["enum"],
        json!(["a-mock", "b-mock"])
    );
    assert_eq!(chat["examples"][0]["model"], "a-mock");

    let plain = TestApp::start().await;
    let doc = document(&plain).await;
    let model = &doc["components"]["schemas"]["ChatRequest"]["anyOf"][0]["properties"]["model"];
    assert_eq!(*model, json!({"type": "string"}), "no model_list, no enum");
}

#[tokio::test]
async fn the_docs_page_keeps_the_key_entered_in_authorize() {
    let app = TestApp::start().await;
    let resp = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let js = resp.text().await.unwrap();
    assert!(
        js.contains("\"persistAuthorization\": true")
            || js.contains("\"persistAuthorization\":true"),
        "{js}"
    );
    assert!(js.contains("/openapi.json"), "{js}");
}

// The server enforces what the document declares (each found by schemathesis).

#[tokio::test]
async fn chat_requests_with_a_mistyped_field_promptd_reads_are_422() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some(
            "model_list:\n  - model_name: mock-gpt\n    litellm_params: {model: openai/x, mock_response: hi}\n".into(),
        ),
        ..Opts::default()
    })
    .await;
    app.create("greeting", "---\nmodel: mock-gpt\n---\nUser: hi", None)
        .await;
    for (body, field) in [
        (json!({"model": "mock-gpt", "messages": "hi"}), "messages"),
        (json!({"model": "mock-gpt", "messages": [1]}), "messages"),
        (
            json!({"model": "mock-gpt", "messages": [], "stream": "yes"}),
            "stream",
        ),
        (json!({"model": 5, "prompt_id": "greeting"}), "model"),
        // The prompt fields are checked without a prompt_id too.
        (
            json!({"model": "mock-gpt", "prompt_version": {}}),
            "prompt_version",
        ),
        (
            json!({"model": "mock-gpt", "prompt_variables": []}),
            "prompt_variables",
        ),
        // An environment name that cannot exist (found by schemathesis).
        (
            json!({"model": "mock-gpt", "prompt_environment": "O*"}),
            "prompt_environment",
        ),
    ] {
        let (status, out) = app.post("/chat/completions", MASTER, body.clone()).await;
        assert_eq!(status, 422, "{body}: {out}");
        // OpenAI's error shape on this route: `param` names the field.
        assert_eq!(out["error"]["param"], json!(field), "{out}");
    }
    let (status, out) = app
        .post(
            "/chat/completions",
            MASTER,
            json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "x"}], "stream": false}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
}

#[tokio::test]
async fn a_version_sent_as_a_whole_float_is_read_as_an_integer() {
    let app = TestApp::start().await;
    app.create("greeting", "User: hi", None).await;
    let (status, out) = app
        .post("/prompts/greeting/render", MASTER, json!({"version": 1.0}))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["version"], 1);
    let (status, _) = app
        .post("/prompts/greeting/render", MASTER, json!({"version": 1.5}))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_path_id_that_is_not_utf8_is_a_json_404_like_any_unknown_id() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::GET, "/prompts/%FF/info"),
        (Method::GET, "/prompts/%FF"),
        (Method::GET, "/prompts/%FF/versions"),
        (Method::DELETE, "/prompts/%FF"),
    ] {
        let (status, body) = send(app.req(method.clone(), path, Some(MASTER))).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("Prompt ids use only"),
            "{body}"
        );
    }
}

/// The committed snapshot of the API description. A change of the API shows up as a diff of
/// this file in review; regenerate it with `PROMPTD_UPDATE_OPENAPI=1 cargo test -p promptd
/// --test api openapi::the_api_description_matches_its_reviewed_snapshot`.
const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[tokio::test]
async fn the_api_description_matches_its_reviewed_snapshot() {
    let app = TestApp::start().await;
    let mut doc = document(&app).await;
    // The version changes with every release; the API does not.
    doc["info"]["version"] = Value::from("(version)");
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("PROMPTD_UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == text,
        "the OpenAPI document changed; review the change and update docs/openapi.json with \
         PROMPTD_UPDATE_OPENAPI=1 cargo test -p promptd --test api openapi::the_api_description_matches_its_reviewed_snapshot"
    );
}
