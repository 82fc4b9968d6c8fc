//! Bad input: every error says what was wrong, and nothing changes.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn malformed_json_is_a_422_with_the_position() {
    let app = TestApp::start().await;
    let (s, body) = send(
        app.req(Method::POST, "/prompts", Some(MASTER))
            .header("content-type", "application/json")
            .body("{\"prompt_id\": "),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert!(
        body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
}

#[tokio::test]
async fn missing_and_mistyped_fields_keep_fastapis_422_shape() {
    let app = TestApp::start().await;
    let (s, body) = app
        .post("/prompts", MASTER, json!({"prompt_id": "x"}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        body,
        json!({"detail": [{"type": "missing", "loc": ["body", "litellm_params"], "msg": "Field required"}]})
    );
    let (s, body) = app.post("/prompts", MASTER, json!({"prompt_id": 5, "litellm_params": {"prompt_integration": "dotprompt", "api_base": 3}})).await;
    assert_eq!(s, 422);
    let locs: Vec<_> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [
            json!(["body", "prompt_id"]),
            json!(["body", "litellm_params", "api_base"])
        ]
    );
    let (s, body) = app
        .post(
            "/prompts",
            MASTER,
            json!({"prompt_id": "x", "litellm_params": {}}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "litellm_params", "prompt_integration"])
    );
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(list, json!({"prompts": []}));
}

#[tokio::test]
async fn an_oversized_body_is_a_413_that_names_the_limit() {
    let app = TestApp::start_with(Opts {
        max_body_bytes: Some(1000),
        ..Opts::default()
    })
    .await;
    let big = "x".repeat(5000);
    let (s, body) = app
        .post("/prompts", MASTER, prompt_body("big", &big, None))
        .await;
    assert_eq!(s, 413);
    assert!(
        body["detail"].as_str().unwrap().contains("1000 bytes"),
        "{body}"
    );
    let (s, _) = app.get("/prompts/big/info", MASTER).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::start().await;
    let (s, body) = app.get("/nope", MASTER).await;
    assert_eq!((s, body), (404, json!({"detail": "Not Found"})));
    let (s, body) = send(app.req(Method::DELETE, "/prompts/list", Some(MASTER))).await;
    assert_eq!((s, body), (405, json!({"detail": "Method Not Allowed"})));
}

#[tokio::test]
async fn the_openapi_document_and_the_docs_page_are_served_from_the_binary() {
    let app = TestApp::start().await;
    let (s, doc) = send(app.req(Method::GET, "/openapi.json", None)).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/prompts/list",
        "/prompts",
        "/prompts/{prompt_id}/info",
        "/key/generate",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let resp = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "the docs page must not load from a CDN"
    );
}
