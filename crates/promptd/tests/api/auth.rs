//! Keys and roles: who may read and write what.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_request_without_a_key_gets_litellms_401() {
    let app = TestApp::start().await;
    let (s, body) = send(app.req(Method::GET, "/prompts/list", None)).await;
    assert_eq!(s, 401);
    assert_eq!(
        body,
        json!({"error": {"message": "Authentication Error, No api key passed in.", "type": "auth_error", "param": "None", "code": "401"}})
    );
}

#[tokio::test]
async fn a_wrong_key_gets_401_without_echoing_the_key() {
    let app = TestApp::start().await;
    let (s, body) = app
        .get("/prompts/list", "sk-wrong-key-with-secret-body-9876")
        .await;
    assert_eq!(s, 401);
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("sk-...9876"), "{msg}");
    assert!(!msg.contains("secret-body"), "{msg}");
}

#[tokio::test]
async fn the_key_is_accepted_in_the_litellm_header_too() {
    let app = TestApp::start().await;
    let (s, _) = send(
        app.req(Method::GET, "/prompts/list", None)
            .header("x-litellm-api-key", MASTER),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_viewer_reads_everything_and_writes_nothing() {
    let app = TestApp::start().await;
    app.create("g", "User: hi", None).await;
    let viewer = app.key("proxy_admin_viewer", None).await;
    assert_eq!(
        app.get("/prompts/list", &viewer).await.1["prompts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.get("/prompts/g/info", &viewer).await.0, 200);
    assert_eq!(app.get("/prompts/g/versions", &viewer).await.0, 200);
    let (s, body) = app
        .post("/prompts", &viewer, prompt_body("x", "hi", None))
        .await;
    assert_eq!(
        (s, body),
        (
            403,
            json!({"detail": "Only proxy admins can create prompts"})
        )
    );
    assert_eq!(
        app.put("/prompts/g", &viewer, prompt_body("g", "hi", None))
            .await
            .0,
        403
    );
    assert_eq!(app.patch("/prompts/g", &viewer, json!({})).await.0, 403);
    assert_eq!(app.delete("/prompts/g", &viewer).await.0, 403);
    assert_eq!(app.post("/key/generate", &viewer, json!({})).await.0, 403);
}

#[tokio::test]
async fn an_internal_user_reads_only_the_prompts_its_allow_list_names_on_every_read_path() {
    let app = TestApp::start().await;
    app.create("allowed", "User: hi {{x}}", None).await;
    app.create("secret", "User: no", None).await;
    app.create("pinned", "User: v1", None).await;
    app.create("pinned", "User: v2", None).await;
    let user = app
        .key("internal_user", Some(&["allowed", "pinned.v1"]))
        .await;

    let (_, list) = app.get("/prompts/list", &user).await;
    let ids: Vec<&str> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["allowed"]);

    assert_eq!(app.get("/prompts/allowed/info", &user).await.0, 200);
    assert_eq!(app.get("/prompts/allowed", &user).await.0, 200);
    assert_eq!(app.get("/prompts/allowed/versions", &user).await.0, 200);
    assert_eq!(
        app.post(
            "/prompts/allowed/render",
            &user,
            json!({"prompt_variables": {"x": 1}})
        )
        .await
        .0,
        200
    );

    let (s, body) = app.get("/prompts/secret/info", &user).await;
    assert_eq!(s, 403);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("may not read prompt secret"),
        "{body}"
    );
    assert_eq!(app.get("/prompts/secret", &user).await.0, 403);
    assert_eq!(app.get("/prompts/secret/versions", &user).await.0, 403);
    assert_eq!(
        app.post("/prompts/secret/render", &user, json!({})).await.0,
        403
    );
    // The allow-list does not reveal whether a prompt exists.
    assert_eq!(app.get("/prompts/does_not_exist/info", &user).await.0, 403);

    assert_eq!(app.get("/prompts/pinned.v1/info", &user).await.0, 200);
    assert_eq!(app.get("/prompts/pinned.v2/info", &user).await.0, 403);
    assert_eq!(app.get("/prompts/pinned/info", &user).await.0, 403);
    let (_, versions) = app.get("/prompts/pinned/versions", &user).await;
    assert_eq!(versions["prompts"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.post("/prompts", &user, prompt_body("x", "hi", None))
            .await
            .0,
        403
    );
    assert_eq!(app.delete("/prompts/allowed", &user).await.0, 403);
}

#[tokio::test]
async fn an_internal_user_without_an_allow_list_sees_nothing() {
    let app = TestApp::start().await;
    app.create("g", "User: hi", None).await;
    let user = app.key("internal_user", None).await;
    assert_eq!(
        app.get("/prompts/list", &user).await.1,
        json!({"prompts": []})
    );
    assert_eq!(app.get("/prompts/g/info", &user).await.0, 403);
}

#[tokio::test]
async fn an_allow_list_narrows_an_admin_key_too() {
    let app = TestApp::start().await;
    app.create("a", "User: hi", None).await;
    app.create("b", "User: hi", None).await;
    let admin = app.key("proxy_admin", Some(&["a"])).await;
    let (_, list) = app.get("/prompts/list", &admin).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/prompts/b/info", &admin).await.0, 403);
}

#[tokio::test]
async fn without_a_master_key_authentication_is_off_on_loopback() {
    let app = TestApp::start_with(Opts {
        no_master_key: true,
        ..Opts::default()
    })
    .await;
    let (s, _) = send(app.req(Method::GET, "/prompts/list", None)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn health_endpoints_need_no_key() {
    let app = TestApp::start().await;
    let (s, body) = send(app.req(Method::GET, "/health/liveliness", None)).await;
    assert_eq!((s, body), (200, json!("I'm alive!")));
    let (s, body) = send(app.req(Method::GET, "/health/readiness", None)).await;
    assert_eq!(s, 200);
    assert_eq!(body["db"], "connected");
}

#[tokio::test]
async fn metrics_need_an_admin_or_viewer_key_unless_made_public() {
    let app = TestApp::start().await;
    let (s, _) = send(app.req(Method::GET, "/metrics", None)).await;
    assert_eq!(s, 401);
    let viewer = app.key("proxy_admin_viewer", None).await;
    let user = app.key("internal_user", Some(&["g"])).await;
    let text = |r: reqwest::RequestBuilder| async move {
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let (s, body) = text(app.req(Method::GET, "/metrics", Some(&viewer))).await;
    assert_eq!(s, 200);
    assert!(body.contains("promptd_prompts "), "{body}");
    assert_eq!(
        text(app.req(Method::GET, "/metrics", Some(MASTER))).await.0,
        200
    );
    let (s, body) = text(app.req(Method::GET, "/metrics", Some(&user))).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("metrics_public"), "{body}");

    let public = TestApp::start_with(Opts {
        config_yaml: Some("promptd_settings:\n  metrics_public: true\n".into()),
        ..Opts::default()
    })
    .await;
    let (s, body) = text(public.req(Method::GET, "/metrics", None)).await;
    assert_eq!(s, 200);
    assert!(body.contains("promptd_prompts "), "{body}");
}
