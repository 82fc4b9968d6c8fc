//! Read-only prompts from the config file.

use serde_json::json;

use crate::common::*;

const CONFIG: &str = r#"
general_settings:
  master_key: os.environ/PROMPTD_TEST_CONFIG_MASTER
litellm_settings:
  drop_params: true
prompts:
  - prompt_id: greeting
    litellm_params:
      prompt_id: greeting
      prompt_integration: dotprompt
      prompt_file: prompts/greeting.prompt
  - prompt_id: inline
    litellm_params:
      prompt_integration: dotprompt
      dotprompt_content: |
        ---
        model: gpt-4
        ---
        System: You are a helpful assistant.
        User: {{user_message}}
  - prompt_id: data
    litellm_params:
      prompt_integration: dotprompt
      prompt_data:
        content: "User: {{q}}"
        metadata: {model: m}
"#;

const GREETING_FILE: &str = "---\nmodel: mock-gpt\ntemperature: 0.7\nmax_tokens: 100\ninput:\n  schema:\n    name: string\n---\nSystem: You are a friendly assistant.\n\nUser: Say hello to {{name}}.\n";

#[allow(unsafe_code)]
async fn start() -> TestApp {
    // SAFETY: a variable no other code reads, always set to the same value.
    unsafe { std::env::set_var("PROMPTD_TEST_CONFIG_MASTER", "sk-from-env") };
    TestApp::start_with(Opts {
        config_yaml: Some(CONFIG.into()),
        files: vec![("prompts/greeting.prompt".into(), GREETING_FILE.into())],
        no_master_key: true,
        ..Opts::default()
    })
    .await
}

#[tokio::test]
async fn config_prompts_load_from_file_inline_text_and_prompt_data_and_match_litellms_info() {
    let app = start().await;
    let (s, info) = app.get("/prompts/greeting/info", "sk-from-env").await;
    assert_eq!(s, 200, "{info}");
    // Transcript 03 (LiteLLM 1.108.7), minus the file path which is ours.
    assert_eq!(
        info["prompt_spec"]["prompt_info"],
        json!({"prompt_type": "config", "environment": "development"})
    );
    assert_eq!(info["prompt_spec"]["version"], 1);
    assert_eq!(info["prompt_spec"]["created_at"], json!(null));
    assert_eq!(
        info["raw_prompt_template"],
        json!({"litellm_prompt_id": "greeting", "content": "System: You are a friendly assistant.\n\nUser: Say hello to {{name}}.",
               "metadata": {"model": "mock-gpt", "temperature": 0.7, "max_tokens": 100, "input": {"schema": {"name": "string"}}}})
    );
    assert_eq!(info["environments"], json!([]));
    assert_eq!(app.get("/prompts/inline/info", "sk-from-env").await.0, 200);
    assert_eq!(
        app.get("/prompts/data/info", "sk-from-env").await.1["raw_prompt_template"]["content"],
        "User: {{q}}"
    );
    let (_, list) = app.get("/prompts/list", "sk-from-env").await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_master_key_can_come_from_the_config_via_os_environ() {
    let app = start().await;
    assert_eq!(app.get("/prompts/list", "sk-from-env").await.0, 200);
    assert_eq!(app.get("/prompts/list", "sk-other").await.0, 401);
}

#[tokio::test]
async fn config_prompts_cannot_be_changed_or_deleted_through_the_api() {
    let app = start().await;
    let k = "sk-from-env";
    let (s, body) = app
        .put("/prompts/greeting", k, prompt_body("greeting", "hi", None))
        .await;
    assert_eq!(
        (s, body),
        (400, json!({"detail": "Cannot update config prompts."}))
    );
    let (s, body) = app.patch("/prompts/greeting", k, json!({})).await;
    assert_eq!(
        (s, body),
        (400, json!({"detail": "Cannot update config prompts."}))
    );
    let (s, body) = app.delete("/prompts/greeting", k).await;
    assert_eq!(
        (s, body),
        (400, json!({"detail": "Cannot delete config prompts."}))
    );
    let (s, body) = app
        .post("/prompts", k, prompt_body("greeting", "hi", None))
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("defined in the config file")
    );
}

#[tokio::test]
async fn a_broken_config_entry_stops_startup_naming_the_entry() {
    let bad = "prompts:\n  - prompt_id: good\n    litellm_params: {prompt_integration: dotprompt, dotprompt_content: hi}\n  - prompt_id: broken\n    litellm_params:\n      prompt_integration: dotprompt\n      dotprompt_content: \"User: {% if %}\"\n";
    let err = TestApp::try_start(Opts {
        config_yaml: Some(bad.into()),
        ..Opts::default()
    })
    .await
    .err()
    .expect("startup fails");
    let msg = format!("{err:#}");
    assert!(msg.contains("broken"), "{msg}");
    let missing = "prompts:\n  - prompt_id: f\n    litellm_params: {prompt_integration: dotprompt, prompt_file: nope.prompt}\n";
    let err = TestApp::try_start(Opts {
        config_yaml: Some(missing.into()),
        ..Opts::default()
    })
    .await
    .err()
    .expect("startup fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("prompts[0] (prompt_id 'f')") && msg.contains("nope.prompt"),
        "{msg}"
    );
}
