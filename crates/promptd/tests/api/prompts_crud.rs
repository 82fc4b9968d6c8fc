//! Creating, updating, patching and deleting prompts.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn post_creates_version_one_and_returns_the_versioned_id() {
    let app = TestApp::start().await;
    let spec = app.create("greeting", GREETING, None).await;
    assert_eq!(spec["prompt_id"], "greeting.v1");
    assert_eq!(spec["version"], 1);
    assert_eq!(spec["environment"], "development");
    assert_eq!(spec["created_by"], "default_user_id");
    assert_eq!(
        spec["prompt_info"],
        json!({"prompt_type": "db", "environment": "development"})
    );
    assert!(spec["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&str> = spec
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "prompt_id",
            "litellm_params",
            "prompt_info",
            "created_at",
            "updated_at",
            "version",
            "environment",
            "created_by"
        ]
    );
}

#[tokio::test]
async fn posting_the_same_id_again_appends_the_next_version_per_environment() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    assert_eq!(
        app.create("greeting", GREETING, None).await["prompt_id"],
        "greeting.v2"
    );
    assert_eq!(
        app.create("greeting", GREETING, Some("production")).await["prompt_id"],
        "greeting.v1"
    );
    assert_eq!(
        app.create("greeting", GREETING, Some("production")).await["version"],
        2
    );
}

#[tokio::test]
async fn put_appends_a_version_of_an_existing_prompt_and_ignores_a_version_in_the_path() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    let (s, body) = app
        .put(
            "/prompts/greeting.v1",
            MASTER,
            prompt_body("greeting", "User: v2 {{x}}", None),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["prompt_id"], "greeting.v2");
    let (_, info) = app.get("/prompts/greeting/info", MASTER).await;
    assert_eq!(info["raw_prompt_template"]["content"], "User: v2 {{x}}");
}

#[tokio::test]
async fn put_on_a_missing_prompt_returns_404() {
    let app = TestApp::start().await;
    let (s, body) = app
        .put("/prompts/nope", MASTER, prompt_body("nope", "hi", None))
        .await;
    assert_eq!(s, 404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Prompt with ID nope not found"),
        "{body}"
    );
}

#[tokio::test]
async fn fifty_concurrent_puts_get_versions_two_to_fifty_one_without_gaps_or_errors() {
    let app = TestApp::start().await;
    app.create("busy", "User: hi", None).await;
    let puts = (0..50)
        .map(|i| {
            app.client
                .put(app.url("/prompts/busy"))
                .bearer_auth(MASTER)
                .json(&prompt_body("busy", &format!("User: {i}"), None))
        })
        .collect();
    assert_eq!(
        concurrent_versions(puts).await,
        (2..=51).collect::<Vec<u64>>()
    );
    let (_, list) = app.get("/prompts/busy/versions", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 51);
}

#[tokio::test]
async fn fifty_concurrent_creates_of_a_new_prompt_get_versions_one_to_fifty() {
    let app = TestApp::start().await;
    let posts = (0..50)
        .map(|i| {
            app.client
                .post(app.url("/prompts"))
                .bearer_auth(MASTER)
                .json(&prompt_body("fresh", &format!("User: {i}"), None))
        })
        .collect();
    assert_eq!(
        concurrent_versions(posts).await,
        (1..=50).collect::<Vec<u64>>()
    );
}

#[tokio::test]
async fn patch_stores_the_changed_fields_as_a_new_version_and_keeps_the_old_one() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    let (s, body) = app
        .patch(
            "/prompts/greeting",
            MASTER,
            json!({"prompt_info": {"prompt_type": "db", "owner": "team-a"}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["prompt_id"], "greeting.v2");
    assert_eq!(body["prompt_info"]["owner"], "team-a");
    assert_eq!(body["litellm_params"]["dotprompt_content"], GREETING);
    let (_, v1) = app.get("/prompts/greeting.v1/info", MASTER).await;
    assert_eq!(v1["prompt_spec"]["prompt_info"].get("owner"), None);
}

#[tokio::test]
async fn patch_refuses_to_move_a_prompt_between_environments() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    let (s, body) = app
        .patch(
            "/prompts/greeting",
            MASTER,
            json!({"prompt_info": {"prompt_type": "db", "environment": "production"}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("cannot move a prompt between environments"),
        "{body}"
    );
}

#[tokio::test]
async fn patch_on_a_missing_environment_returns_404() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    let (s, body) = app
        .patch(
            "/prompts/greeting?environment=production",
            MASTER,
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        body["detail"],
        "Prompt with ID greeting not found in environment production"
    );
}

#[tokio::test]
async fn delete_of_a_versioned_id_deletes_only_that_version() {
    let app = TestApp::start().await;
    for _ in 0..3 {
        app.create("greeting", GREETING, None).await;
    }
    let (s, body) = app.delete("/prompts/greeting.v2", MASTER).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["message"],
        "Prompt greeting version 2 deleted successfully from development"
    );
    let (_, list) = app.get("/prompts/greeting/versions", MASTER).await;
    let versions: Vec<u64> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 1]);
    let (s, _) = app.get("/prompts/greeting.v2/info", MASTER).await;
    assert_eq!(s, 404);
    // Numbers are never reused while the environment has versions.
    assert_eq!(app.create("greeting", GREETING, None).await["version"], 4);
}

#[tokio::test]
async fn delete_of_a_base_id_deletes_every_version_and_optionally_one_environment() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    app.create("greeting", GREETING, Some("production")).await;
    let (s, body) = app
        .delete("/prompts/greeting?environment=production", MASTER)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["message"],
        "Prompt greeting deleted successfully from production"
    );
    let (_, info) = app.get("/prompts/greeting/info", MASTER).await;
    assert_eq!(info["environments"], json!(["development"]));
    let (s, body) = app.delete("/prompts/greeting", MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(body["message"], "Prompt greeting deleted successfully");
    let (s, _) = app.get("/prompts/greeting/info", MASTER).await;
    assert_eq!(s, 404);
    // The deleted versions sit in the trash and keep their numbers (LiteLLM would start over
    // at 1; see docs/compatibility.md); a purge forgets them and the numbering.
    assert_eq!(app.create("greeting", GREETING, None).await["version"], 2);
    let (s, _) = app.delete("/prompts/greeting?purge=true", MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(app.create("greeting", GREETING, None).await["version"], 1);
}

#[tokio::test]
async fn deleting_a_version_that_exists_in_several_environments_asks_which() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    app.create("greeting", GREETING, Some("staging")).await;
    let (s, body) = app.delete("/prompts/greeting.v1", MASTER).await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("add ?environment="),
        "{body}"
    );
}

#[tokio::test]
async fn delete_of_a_missing_prompt_returns_404() {
    let app = TestApp::start().await;
    let (s, body) = app.delete("/prompts/nope_missing", MASTER).await;
    assert_eq!(s, 404);
    assert_eq!(body["detail"], "Prompt with ID nope_missing not found");
}

#[tokio::test]
async fn ids_with_underscores_and_dots_that_are_not_versions_work_everywhere() {
    let app = TestApp::start().await;
    for id in [
        "my_var_prompt",
        "api.vendor",
        "code_validator",
        "dev_validation",
    ] {
        let spec = app.create(id, "User: hi", None).await;
        assert_eq!(spec["prompt_id"], format!("{id}.v1"));
        let (s, info) = app.get(&format!("/prompts/{id}/info"), MASTER).await;
        assert_eq!(s, 200, "{id}: {info}");
        assert_eq!(info["prompt_spec"]["prompt_id"], id);
        let (s, _) = app
            .put(
                &format!("/prompts/{id}"),
                MASTER,
                prompt_body(id, "User: v2", None),
            )
            .await;
        assert_eq!(s, 200, "{id}");
        let (_, info) = app.get(&format!("/prompts/{id}/info"), MASTER).await;
        assert_eq!(info["prompt_spec"]["version"], 2, "{id}");
    }
}

#[tokio::test]
async fn post_with_a_version_suffix_or_unsafe_characters_is_refused_with_the_reason() {
    let app = TestApp::start().await;
    let (s, body) = app
        .post("/prompts", MASTER, prompt_body("greeting.v2", "hi", None))
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Send prompt_id 'greeting'"),
        "{body}"
    );
    let (s, body) = app
        .post("/prompts", MASTER, prompt_body("bad id/x", "hi", None))
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("use only letters, digits"),
        "{body}"
    );
}

#[tokio::test]
async fn clients_cannot_create_config_prompts() {
    let app = TestApp::start().await;
    let mut body = prompt_body("c", "hi", None);
    body["prompt_info"]["prompt_type"] = json!("config");
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 400);
    assert!(
        out["detail"]
            .as_str()
            .unwrap()
            .contains("reserved for prompts loaded from the config file")
    );
}

#[tokio::test]
async fn flat_prompt_data_is_accepted_as_the_template() {
    let app = TestApp::start().await;
    let body = json!({
        "prompt_id": "flat",
        "litellm_params": {"prompt_integration": "dotprompt", "prompt_id": "flat",
            "prompt_data": {"content": "System: hi {{x}}", "metadata": {"model": "gpt-4o", "temperature": 0.2}}},
        "prompt_info": {"prompt_type": "db"}
    });
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 200, "{out}");
    let (_, info) = app.get("/prompts/flat/info", MASTER).await;
    assert_eq!(info["raw_prompt_template"]["content"], "System: hi {{x}}");
    assert_eq!(info["raw_prompt_template"]["metadata"]["model"], "gpt-4o");
}

#[tokio::test]
async fn keyed_prompt_data_with_a_prompt_id_is_refused_as_ambiguous() {
    let app = TestApp::start().await;
    let body = json!({
        "prompt_id": "amb",
        "litellm_params": {"prompt_integration": "dotprompt", "prompt_id": "amb",
            "prompt_data": {"tmpl": {"content": "hi", "metadata": {}}}},
    });
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 400);
    assert!(
        out["detail"]
            .as_str()
            .unwrap()
            .starts_with("litellm_params.prompt_id cannot be combined")
    );
}

#[tokio::test]
async fn unknown_integrations_are_refused_with_the_supported_list() {
    let app = TestApp::start().await;
    let body = json!({"prompt_id": "x", "litellm_params": {"prompt_integration": "langfuse"}});
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 400);
    assert_eq!(
        out["detail"],
        "Unsupported prompt_integration 'langfuse'. promptd supports: dotprompt."
    );
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(list["prompts"], json!([]));
}

#[tokio::test]
async fn an_invalid_template_is_refused_with_line_and_column_and_stores_nothing() {
    let app = TestApp::start().await;
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("broken", "---\nmodel: x\n---\nUser: {% if %}", None),
        )
        .await;
    assert_eq!(s, 400);
    let detail = out["detail"].as_str().unwrap();
    assert!(detail.contains("line 4"), "{detail}");
    let (s, _) = app.get("/prompts/broken/info", MASTER).await;
    assert_eq!(s, 404);
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("badyaml", "---\nmodel: [unclosed\n---\nhi", None),
        )
        .await;
    assert_eq!(s, 400);
    assert!(out["detail"].as_str().unwrap().contains("line"), "{out}");
}

#[tokio::test]
async fn prompt_file_is_refused_through_the_api() {
    let app = TestApp::start().await;
    let body = json!({"prompt_id": "f", "litellm_params": {"prompt_integration": "dotprompt", "prompt_file": "/etc/passwd"}});
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 400);
    assert!(
        out["detail"]
            .as_str()
            .unwrap()
            .contains("only accepted in the config file")
    );
}

#[tokio::test]
async fn secrets_in_litellm_params_are_stored_but_never_returned_and_survive_a_round_trip() {
    let app = TestApp::start().await;
    let mut body = prompt_body("s", "User: hi", None);
    body["litellm_params"]["api_key"] = json!("sk-upstream-secret");
    body["litellm_params"]["langfuse_secret_key"] = json!("lf-secret");
    body["litellm_params"]["gitlab_access_token"] = json!("gl-secret");
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 200);
    let text = out.to_string();
    assert!(
        !text.contains("sk-upstream-secret")
            && !text.contains("lf-secret")
            && !text.contains("gl-secret")
    );
    for path in ["/prompts/list", "/prompts/s/info", "/prompts/s/versions"] {
        let (_, out) = app.get(path, MASTER).await;
        let text = out.to_string();
        assert!(
            !text.contains("sk-upstream-secret")
                && !text.contains("lf-secret")
                && !text.contains("gl-secret"),
            "{path}: {text}"
        );
    }
    // Sending back what was shown keeps the stored secret.
    let (_, info) = app.get("/prompts/s/info", MASTER).await;
    let resend = json!({"prompt_id": "s", "litellm_params": info["prompt_spec"]["litellm_params"], "prompt_info": {"prompt_type": "db"}});
    let (s, _) = app.put("/prompts/s", MASTER, resend).await;
    assert_eq!(s, 200);
    let stored = app
        .state
        .index
        .read()
        .resolve(&promptd_core::PromptId::from_trusted("s"), None, Some(2))
        .unwrap();
    assert_eq!(
        stored.record.litellm_params.to_map()["api_key"],
        "sk-upstream-secret"
    );
}
