//! Credentials inside `litellm_params` are never shown to readers, at any depth, and come
//! back intact when a client sends the redacted form back.

use serde_json::{Value, json};

use crate::common::*;

fn body_with_secrets(id: &str) -> Value {
    json!({
        "prompt_id": id,
        "litellm_params": {
            "prompt_integration": "dotprompt",
            "dotprompt_content": "User: hi",
            "api_base": "https://svc-user:PASS-in-url@llm.example/v1",
            "db_password": "PASS-db",
            "vertex_credentials": {"type": "service_account", "private_key": "PASS-pem"},
            "extra_headers": {"Authorization": "Bearer PASS-header", "x-region": "eu"},
        },
        "prompt_info": {"prompt_type": "db"},
    })
}

fn assert_no_secret(what: &str, body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("PASS"), "{what} leaked a credential: {text}");
}

#[tokio::test]
async fn credentials_are_redacted_on_every_read_path_and_for_allow_listed_keys() {
    let app = TestApp::start().await;
    let (s, created) = app.post("/prompts", MASTER, body_with_secrets("g")).await;
    assert_eq!(s, 200, "{created}");
    assert_no_secret("the write answer", &created);
    let user = app.key("internal_user", Some(&["g"])).await;
    for key in [MASTER, user.as_str()] {
        for path in [
            "/prompts/list",
            "/prompts/g",
            "/prompts/g/info",
            "/prompts/g/versions",
        ] {
            let (s, body) = app.get(path, key).await;
            assert_eq!(s, 200, "{path}: {body}");
            assert_no_secret(path, &body);
        }
    }
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    let params = &info["prompt_spec"]["litellm_params"];
    assert_eq!(params["api_base"], "https://**redacted**@llm.example/v1");
    assert_eq!(params["db_password"], "**redacted**");
    assert_eq!(params["vertex_credentials"], "**redacted**");
    assert_eq!(params["extra_headers"]["Authorization"], "**redacted**");
    assert_eq!(params["extra_headers"]["x-region"], "eu");
}

#[tokio::test]
async fn sending_the_redacted_form_back_keeps_the_stored_credentials() {
    let app = TestApp::start().await;
    app.post("/prompts", MASTER, body_with_secrets("g")).await;
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    let mut params = info["prompt_spec"]["litellm_params"].clone();
    params["dotprompt_content"] = json!("User: edited");
    let (s, body) = app
        .put(
            "/prompts/g",
            MASTER,
            json!({"litellm_params": params, "prompt_info": {"prompt_type": "db"}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // What is stored is the original, not the marker.
    let stored = app
        .state
        .index
        .read()
        .resolve(
            &promptd_core::PromptId::from_trusted("g".to_owned()),
            None,
            None,
        )
        .unwrap()
        .record
        .litellm_params
        .to_map();
    assert_eq!(
        stored["api_base"],
        "https://svc-user:PASS-in-url@llm.example/v1"
    );
    assert_eq!(stored["db_password"], "PASS-db");
    assert_eq!(stored["vertex_credentials"]["private_key"], "PASS-pem");
    assert_eq!(
        stored["extra_headers"]["Authorization"],
        "Bearer PASS-header"
    );
    assert_eq!(stored["dotprompt_content"], "User: edited");
}
