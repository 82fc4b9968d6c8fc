//! Reading prompts: list, info, versions, and LiteLLM's resolution rules.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn list_shows_the_latest_version_per_prompt_and_environment_with_its_version() {
    let app = TestApp::start().await;
    app.create("a", "User: 1", None).await;
    app.create("a", "User: 2", None).await;
    app.create("a", "User: p", Some("production")).await;
    app.create("b", "User: b", Some("staging")).await;
    let (s, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(s, 200);
    let rows: Vec<(String, String, u64)> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["prompt_id"].as_str().unwrap().into(),
                p["environment"].as_str().unwrap().into(),
                p["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a".into(), "production".into(), 1),
            ("a".into(), "development".into(), 2),
            ("b".into(), "staging".into(), 1)
        ]
    );
    let (_, list) = app.get("/prompts/list?environment=staging", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 1);
    let (_, list) = app.get("/prompts/list?environment=", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn list_paginates_when_asked_and_keeps_the_litellm_shape_otherwise() {
    let app = TestApp::start().await;
    for i in 0..5 {
        app.create(&format!("p{i}"), "User: x", None).await;
    }
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(
        list.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["prompts"]
    );
    let (_, page) = app.get("/prompts/list?page=2&page_size=2", MASTER).await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["total_pages"], 3);
    let ids: Vec<&str> = page["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p2", "p3"]);
    let (s, _) = app.get("/prompts/list?page=0", MASTER).await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn info_returns_the_spec_the_raw_template_and_the_environments() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    app.create("greeting", GREETING, Some("production")).await;
    let (s, info) = app.get("/prompts/greeting/info", MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(info["prompt_spec"]["prompt_id"], "greeting");
    assert_eq!(info["prompt_spec"]["environment"], "production");
    assert_eq!(info["prompt_spec"]["version"], 1);
    assert_eq!(
        info["raw_prompt_template"],
        json!({"litellm_prompt_id": "greeting", "content": "System: You are friendly.\n\nUser: Say hello to {{name}}.",
               "metadata": {"model": "gpt-4o", "temperature": 0.7, "input": {"schema": {"name": "string"}}}})
    );
    assert_eq!(info["environments"], json!(["development", "production"]));
    let (_, same) = app.get("/prompts/greeting", MASTER).await;
    assert_eq!(same, info);
}

#[tokio::test]
async fn info_addresses_versions_and_environments() {
    let app = TestApp::start().await;
    app.create("g", "User: one", None).await;
    app.create("g", "User: two", None).await;
    let (_, v1) = app.get("/prompts/g.v1/info", MASTER).await;
    assert_eq!(v1["raw_prompt_template"]["content"], "User: one");
    assert_eq!(v1["prompt_spec"]["version"], 1);
    let (_, v1) = app.get("/prompts/g_v1/info", MASTER).await;
    assert_eq!(v1["prompt_spec"]["version"], 1);
    let (s, body) = app
        .get("/prompts/g/info?environment=production", MASTER)
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        body["detail"],
        "Prompt g not found in environment production"
    );
    let (s, body) = app.get("/prompts/g.v9/info", MASTER).await;
    assert_eq!(s, 404);
    assert_eq!(body["detail"], "Prompt g.v9 not found");
}

#[tokio::test]
async fn reads_without_an_environment_serve_production_then_staging_then_development() {
    let app = TestApp::start().await;
    app.create("g", "User: dev", None).await;
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    assert_eq!(info["prompt_spec"]["environment"], "development");
    app.create("g", "User: staging", Some("staging")).await;
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    assert_eq!(info["prompt_spec"]["environment"], "staging");
    app.create("g", "User: prod", Some("production")).await;
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    assert_eq!(info["raw_prompt_template"]["content"], "User: prod");
}

#[tokio::test]
async fn missing_prompts_are_404_everywhere() {
    let app = TestApp::start().await;
    let (s, body) = app.get("/prompts/does_not_exist/info", MASTER).await;
    assert_eq!(
        (s, body),
        (404, json!({"detail": "Prompt does_not_exist not found"}))
    );
    let (s, body) = app.get("/prompts/does_not_exist/versions", MASTER).await;
    assert_eq!(
        (s, body),
        (
            404,
            json!({"detail": "No versions found for prompt ID does_not_exist"})
        )
    );
}

#[tokio::test]
async fn versions_lists_every_version_newest_first_grouped_by_environment() {
    let app = TestApp::start().await;
    app.create("g", "User: 1", None).await;
    app.create("g", "User: 2", None).await;
    app.create("g", "User: p", Some("production")).await;
    let (s, body) = app.get("/prompts/g.v1/versions", MASTER).await;
    assert_eq!(s, 200);
    let rows: Vec<(String, u64)> = body["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["environment"].as_str().unwrap().into(),
                p["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("production".into(), 1),
            ("development".into(), 2),
            ("development".into(), 1)
        ]
    );
    assert!(
        body["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["prompt_id"] == "g")
    );
    let (_, body) = app
        .get("/prompts/g/versions?environment=development", MASTER)
        .await;
    assert_eq!(body["prompts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_write_is_visible_to_the_next_list_and_info_on_the_same_instance() {
    let app = TestApp::start().await;
    for path in [
        "/prompts/list",
        "/prompts/list?page=1&page_size=10",
        "/prompts/list?environment=development",
    ] {
        assert_eq!(
            app.get(path, MASTER).await.1["prompts"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
    }
    app.create("g", "User: one", None).await;
    for path in [
        "/prompts/list",
        "/prompts/list?page=1&page_size=10",
        "/prompts/list?environment=development",
    ] {
        let (_, list) = app.get(path, MASTER).await;
        assert_eq!(list["prompts"][0]["version"], 1, "{path}");
    }
    app.put("/prompts/g", MASTER, prompt_body("g", "User: two", None))
        .await;
    assert_eq!(
        app.get("/prompts/list", MASTER).await.1["prompts"][0]["version"],
        2
    );
    assert_eq!(
        app.get("/prompts/g/info", MASTER).await.1["prompt_spec"]["version"],
        2
    );
    app.delete("/prompts/g", MASTER).await;
    assert_eq!(
        app.get("/prompts/list", MASTER).await.1["prompts"],
        json!([])
    );
}
