//! Releasing: promote a version into another environment, roll an environment back, and
//! protected environments that change only that way.

use serde_json::{Value, json};

use crate::common::*;

fn served(info: &Value) -> (&str, u64) {
    (
        info["raw_prompt_template"]["content"].as_str().unwrap(),
        info["prompt_spec"]["version"].as_u64().unwrap(),
    )
}

async fn versions_in(app: &TestApp, env: &str) -> usize {
    let (_, v) = app
        .get(&format!("/prompts/g/versions?environment={env}"), MASTER)
        .await;
    v["prompts"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn promoting_copies_a_version_as_the_next_version_of_the_target_environment() {
    let app = TestApp::start().await;
    app.create("g", "User: dev one", Some("staging")).await;
    app.create("g", "User: staging two", Some("staging")).await;
    app.create("g", "User: prod one", Some("production")).await;
    let (s, body) = app
        .post(
            "/prompts/g/promote",
            MASTER,
            json!({"from_environment": "staging", "to_environment": "production"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["prompt_id"], "g.v2");
    assert_eq!(body["environment"], "production");
    assert_eq!(body["prompt_info"]["environment"], "production");
    let (_, info) = app.get("/prompts/g", MASTER).await;
    assert_eq!(served(&info), ("User: staging two", 2));
    // A pinned source version.
    let (s, body) = app
        .post(
            "/prompts/g/promote",
            MASTER,
            json!({"from_environment": "staging", "version": 1, "to_environment": "production"}),
        )
        .await;
    assert_eq!((s, body["version"].clone()), (200, json!(3)), "{body}");
    let (_, info) = app.get("/prompts/g", MASTER).await;
    assert_eq!(served(&info), ("User: dev one", 3));
}

#[tokio::test]
async fn promoting_what_the_target_already_serves_answers_that_version_and_writes_nothing() {
    let app = TestApp::start().await;
    app.create("g", "User: same", Some("staging")).await;
    let promote = json!({"from_environment": "staging", "to_environment": "production"});
    let (s, first) = app
        .post("/prompts/g/promote", MASTER, promote.clone())
        .await;
    assert_eq!(s, 200, "{first}");
    let (s, again) = app.post("/prompts/g/promote", MASTER, promote).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["prompt_id"], first["prompt_id"]);
    assert_eq!(versions_in(&app, "production").await, 1);
}

#[tokio::test]
async fn rolling_back_appends_a_copy_of_an_earlier_version() {
    let app = TestApp::start().await;
    app.create("g", "User: good", Some("production")).await;
    app.create("g", "User: broken", Some("production")).await;
    let (s, body) = app
        .post(
            "/prompts/g/rollback",
            MASTER,
            json!({"environment": "production", "to_version": 1}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["prompt_id"], "g.v3");
    let (_, info) = app.get("/prompts/g", MASTER).await;
    assert_eq!(served(&info), ("User: good", 3));
    // History stays: v2 is still there.
    assert_eq!(versions_in(&app, "production").await, 3);
}

#[tokio::test]
async fn releases_refuse_unknown_versions_and_malformed_bodies() {
    let app = TestApp::start().await;
    app.create("g", "User: one", Some("staging")).await;
    let (s, body) = app
        .post(
            "/prompts/g/promote",
            MASTER,
            json!({"from_environment": "qa", "to_environment": "production"}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    let (s, _) = app
        .post(
            "/prompts/g/rollback",
            MASTER,
            json!({"environment": "staging", "to_version": 7}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, body) = app.post("/prompts/g/promote", MASTER, json!({})).await;
    assert_eq!(s, 422, "{body}");
    let fields: Vec<&str> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][1].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["from_environment", "to_environment"]);
    let (s, body) = app
        .post(
            "/prompts/g/rollback",
            MASTER,
            json!({"environment": "staging"}),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "to_version"]));
    let viewer = app.key("proxy_admin_viewer", None).await;
    let (s, _) = app
        .post(
            "/prompts/g/promote",
            &viewer,
            json!({"from_environment": "staging", "to_environment": "production"}),
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_ci_key_limited_to_development_and_staging_cannot_promote_into_production() {
    let app = TestApp::start().await;
    let (_, ci) = app
        .post(
            "/key/generate",
            MASTER,
            json!({"user_role": "proxy_admin", "metadata": {"environments": ["development", "staging"]}}),
        )
        .await;
    let ci = ci["key"].as_str().unwrap().to_owned();
    let (_, release) = app
        .post("/key/generate", MASTER, json!({"user_role": "proxy_admin"}))
        .await;
    let release = release["key"].as_str().unwrap().to_owned();
    let (s, body) = app
        .post(
            "/prompts",
            &ci,
            prompt_body("g", "User: new", Some("development")),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .put(
            "/prompts/g",
            &ci,
            prompt_body("g", "User: staged", Some("staging")),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let into = |to: &str| json!({"from_environment": "development", "to_environment": to});
    assert_eq!(
        app.post("/prompts/g/promote", &ci, into("staging")).await.0,
        200
    );
    let (s, body) = app
        .post("/prompts/g/promote", &ci, into("production"))
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("environment production"),
        "{body}"
    );
    assert_eq!(
        app.post("/prompts/g/promote", &release, into("production"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_protected_environment_changes_only_through_promote_or_rollback() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some("promptd_settings:\n  protected_environments: [production]\n".into()),
        ..Opts::default()
    })
    .await;
    app.create("g", "User: staged", Some("staging")).await;
    let (s, body) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("g", "User: direct", Some("production")),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("protected_environments"),
        "{body}"
    );
    let release = json!({"from_environment": "staging", "to_environment": "production"});
    assert_eq!(app.post("/prompts/g/promote", MASTER, release).await.0, 200);
    assert_eq!(
        app.put(
            "/prompts/g",
            MASTER,
            prompt_body("g", "User: direct", Some("production"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.patch("/prompts/g?environment=production", MASTER, json!({}))
            .await
            .0,
        403
    );
    app.put(
        "/prompts/g",
        MASTER,
        prompt_body("g", "User: staged two", Some("staging")),
    )
    .await;
    let release = json!({"from_environment": "staging", "to_environment": "production"});
    assert_eq!(app.post("/prompts/g/promote", MASTER, release).await.0, 200);
    let (s, body) = app
        .post(
            "/prompts/g/rollback",
            MASTER,
            json!({"environment": "production", "to_version": 1}),
        )
        .await;
    assert_eq!((s, body["version"].clone()), (200, json!(3)), "{body}");
}
