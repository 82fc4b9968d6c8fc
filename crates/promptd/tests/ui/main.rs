//! The web UI, specified by flows in a real browser: each test starts promptd on port 0 with a
//! temporary SQLite database, drives Debian's chromium over WebDriver through one flow of
//! docs/ui.md, and checks the outcome both on the page and through the JSON API. Without
//! chromium and chromedriver each test prints `SKIPPED (browser)` and passes.

#[path = "../api/common.rs"]
mod common;

mod browser;

use std::time::Duration;

use browser::Browser;
use common::*;
use promptd_fake_upstream::{Behavior, FakeUpstream, Step, chunk};
use serde_json::json;

const GREETING: &str = "---\nmodel: gpt-4o\ntemperature: 0.7\ninput:\n  schema:\n    name: string\n---\nSystem: You are friendly.\n\nUser: Say hello to {{name}}.";

fn text(model: &str, body: &str) -> String {
    format!("---\nmodel: {model}\ninput:\n  schema:\n    name: string\n---\n{body}")
}

/// A server and a signed-in browser, or `None` when there is no browser.
async fn start(test: &str, opts: Opts, key: Option<&str>) -> Option<(TestApp, Browser)> {
    let tools = browser::tools(test)?;
    let app = TestApp::start_with(opts).await;
    let b = Browser::start(&tools, &app.base).await;
    if let Some(k) = key {
        b.sign_in(k).await;
    }
    Some((app, b))
}

#[tokio::test]
async fn signing_in_shows_the_prompts_and_the_key_never_reaches_the_page_or_storage() {
    let Some((app, b)) = start("sign in", Opts::default(), None).await else {
        return;
    };
    app.create("greeting", GREETING, Some("production")).await;
    app.create(
        "summarizer",
        &text("gpt-4o-mini", "User: Sum up {{name}}."),
        Some("staging"),
    )
    .await;
    b.goto("/ui/prompts").await;
    assert_eq!(
        b.path().await,
        "/ui/login",
        "not signed in: the sign-in page"
    );
    b.type_into("#key", "sk-wrong-key-1234").await;
    b.click("#sign-in").await;
    b.wait_text("#login-error", "neither the master key").await;
    b.sign_in(MASTER).await;
    let rows = b.text("#prompts").await;
    assert!(
        rows.contains("greeting") && rows.contains("production v1") && rows.contains("gpt-4o"),
        "{rows}"
    );
    assert!(
        rows.contains("summarizer") && rows.contains("staging v1") && rows.contains("master key"),
        "{rows}"
    );
    assert!(!b.path().await.contains(MASTER));
    let source = b.client.source().await.expect("source");
    assert!(!source.contains(MASTER), "the key is in the page");
    let seen = b
        .js("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
        .await;
    assert_eq!(
        seen,
        json!(["", "{}", "{}"]),
        "the session cookie is HttpOnly and nothing is stored"
    );
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "promptd_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert!(!session.value().contains(MASTER));
    b.screenshot("list").await;
    // Readable at 390 px: nothing wider than the window.
    b.client.set_window_size(390, 844).await.expect("resize");
    b.goto("/ui/prompts").await;
    let width = b.js("return document.documentElement.scrollWidth").await;
    assert!(
        width.as_u64().is_some_and(|w| w <= 390),
        "the list is {width} px wide at 390 px"
    );
    b.screenshot("list-390").await;
    b.close().await;
}

#[tokio::test]
async fn searching_by_id_and_filtering_by_environment_narrow_the_list_and_pages_hold_fifty() {
    let Some((app, b)) = start("search", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, Some("production")).await;
    app.create(
        "summarizer",
        &text("gpt-4o-mini", "User: Sum up {{name}}."),
        Some("staging"),
    )
    .await;
    for i in 0..55 {
        app.create(&format!("bulk-{i:02}"), GREETING, None).await;
    }
    b.goto("/ui/prompts").await;
    b.wait_text("#count", "57 prompts").await;
    b.wait_text("#prompts", "bulk-00").await;
    assert!(
        !b.text("#prompts").await.contains("summarizer"),
        "summarizer is on page 2"
    );
    b.click("#next-page").await;
    b.wait_text("#prompts", "summarizer").await;
    b.type_into("#q", "SUMM").await;
    b.click("#search").await;
    b.wait_text("#count", "1 prompt matching").await;
    assert!(b.text("#prompts").await.contains("summarizer"));
    b.type_into("#q", "").await;
    b.select("#environment", "production").await;
    b.click("#search").await;
    b.wait_text("#count", "1 prompt").await;
    let rows = b.text("#prompts").await;
    assert!(
        rows.contains("greeting") && !rows.contains("bulk-00"),
        "{rows}"
    );
    b.close().await;
}

#[tokio::test]
async fn opening_a_prompt_shows_environment_tabs_the_highlighted_template_schema_and_versions() {
    let Some((app, b)) = start("open", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create(
        "greeting",
        &text("gpt-4o-mini", "User: Hi {{name}}."),
        Some("staging"),
    )
    .await;
    app.create("greeting", GREETING, Some("production")).await;
    let (s, _) = app
        .put("/prompts/greeting", MASTER, json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": GREETING.replace("friendly", "kind")},
            "prompt_info": {"prompt_type": "db", "environment": "production"}, "message": "kinder system prompt"}))
        .await;
    assert_eq!(s, 200);
    b.goto("/ui/prompts").await;
    b.click(".prompt-link").await;
    b.wait_text("#prompt-title", "greeting").await;
    assert_eq!(b.text(".tabs [aria-current]").await, "production");
    assert_eq!(b.text("#template .t-role").await, "System:");
    assert_eq!(b.text("#template .t-var").await, "{{name}}");
    assert!(b.text("#model").await.contains("gpt-4o"));
    assert!(b.text("#params").await.contains("\"temperature\": 0.7"));
    let schema = b.text("#schema").await;
    assert!(
        schema.contains("name") && schema.contains("string"),
        "{schema}"
    );
    let versions = b.text("#versions").await;
    assert!(
        versions.contains("v2")
            && versions.contains("kinder system prompt")
            && versions.contains("master key"),
        "{versions}"
    );
    assert!(
        versions.contains("update") && versions.contains("create"),
        "{versions}"
    );
    b.click(".tabs a:nth-child(2)").await;
    b.wait_text(".tabs [aria-current]", "staging").await;
    assert!(b.text("#model").await.contains("gpt-4o-mini"));
    b.close().await;
}

#[tokio::test]
async fn editing_previews_as_you_type_shows_errors_at_their_line_and_saves_with_a_message() {
    let Some((app, b)) = start("edit", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, None).await;
    b.goto("/ui/prompts/greeting").await;
    b.click("#edit").await;
    b.find("#var-name").await;
    b.type_into("#var-name", "Ada").await;
    b.wait_text("#preview", "Say hello to Ada.").await;
    let draft = "---\nmodel: gpt-4o\ninput:\n  schema:\n    name: string\n    mood: string\n---\nSystem: You are {{ mood }}.\n\nUser: Welcome {{name}}!";
    b.type_into("#source", draft).await;
    b.find("#var-mood").await;
    b.type_into("#var-mood", "cheerful").await;
    b.wait_text("#preview", "You are cheerful.").await;
    b.wait_text("#preview", "Welcome Ada!").await;
    b.screenshot("edit").await;
    b.type_into("#source", &format!("{draft} {{{{ name }}"))
        .await;
    b.wait_text("#template-error", "Line 10, column").await;
    b.type_into("#source", draft).await;
    b.wait_text("#preview", "Welcome Ada!").await;
    b.click("#save").await;
    b.wait_text("#save-status", "Say what changed").await;
    b.type_into("#message", "warmer welcome").await;
    b.click("#save").await;
    b.wait_text("#save-status", "Saved greeting development v2")
        .await;
    let (_, h) = app.get("/prompts/greeting/history", MASTER).await;
    assert_eq!(h["events"][0]["message"], "warmer welcome");
    assert_eq!(h["events"][0]["version"], 2);
    let (_, info) = app.get("/prompts/greeting/info", MASTER).await;
    assert!(
        info["raw_prompt_template"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Welcome {{name}}!")
    );
    b.close().await;
}

#[tokio::test]
async fn a_stale_save_is_refused_and_the_page_shows_what_the_other_person_changed() {
    let Some((app, b)) = start("conflict", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, None).await;
    b.goto("/ui/prompts/greeting/edit?environment=development")
        .await;
    b.find("#var-name").await;
    // Someone else saves while the page is open.
    let theirs = GREETING.replace("Say hello to", "Wave at");
    let (s, _) = app
        .put("/prompts/greeting", MASTER, json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": theirs},
            "prompt_info": {"prompt_type": "db", "environment": "development"}, "message": "theirs"}))
        .await;
    assert_eq!(s, 200);
    b.type_into("#source", &GREETING.replace("friendly", "mine"))
        .await;
    b.type_into("#message", "mine").await;
    b.click("#save").await;
    b.wait_text("#conflict-text", "Someone else saved development")
        .await;
    b.wait_text("#conflict-diff", "Wave at").await;
    assert!(b.text("#save-status").await.contains("Not saved"));
    assert!(
        b.find("#source")
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
            .contains("mine"),
        "the draft is kept"
    );
    let (_, v) = app.get("/prompts/greeting/versions", MASTER).await;
    assert_eq!(
        v["prompts"].as_array().map(Vec::len),
        Some(2),
        "nothing was overwritten: {v}"
    );
    let (_, info) = app.get("/prompts/greeting/info", MASTER).await;
    assert!(
        info["raw_prompt_template"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Wave at")
    );
    b.close().await;
}

#[tokio::test]
async fn history_lists_the_events_and_the_diff_shows_two_versions_side_by_side() {
    let Some((app, b)) = start("diff", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, Some("production")).await;
    let v2 = GREETING
        .replace("gpt-4o", "gpt-4o-mini")
        .replace("Say hello to", "Greet");
    app.put("/prompts/greeting", MASTER, json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": v2},
        "prompt_info": {"prompt_type": "db", "environment": "production"}, "message": "shorter ask"}))
        .await;
    b.goto("/ui/prompts/greeting").await;
    b.click("#history").await;
    b.wait_text("#timeline", "shorter ask").await;
    let timeline = b.text("#timeline").await;
    assert!(
        timeline.contains("update") && timeline.contains("create"),
        "{timeline}"
    );
    b.wait_text("#diff-table", "production.v2").await;
    assert_eq!(
        b.text("#diff-table td.del").await,
        "User: Say hello to {{name}}."
    );
    assert_eq!(b.text("#diff-table td.add").await, "User: Greet {{name}}.");
    assert!(
        b.text("#diff-facts")
            .await
            .contains("model: gpt-4o → gpt-4o-mini")
    );
    b.screenshot("diff").await;
    b.select("#diff-to", "production.v1").await;
    b.click("#compare").await;
    b.wait_text("#diff", "identical").await;
    b.close().await;
}

#[tokio::test]
async fn promoting_says_exactly_what_changes_asks_first_and_respects_protected_environments() {
    let opts = Opts {
        config_yaml: Some("promptd_settings:\n  protected_environments: [production]\n".into()),
        ..Opts::default()
    };
    let Some((app, b)) = start("promote", opts, Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, Some("staging")).await;
    let v2 = GREETING.replace("friendly", "warm");
    app.put(
        "/prompts/greeting",
        MASTER,
        json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": v2},
        "prompt_info": {"prompt_type": "db", "environment": "staging"}}),
    )
    .await;
    // Production is protected: it starts (and changes) only through a promote.
    let (s, _) = app
        .post(
            "/prompts/greeting/promote",
            MASTER,
            json!({"from_environment": "staging", "version": 1, "to_environment": "production"}),
        )
        .await;
    assert_eq!(s, 200);
    b.goto("/ui/prompts/greeting?environment=production").await;
    b.wait_text(".note", "production is protected").await;
    assert!(
        !b.exists("#edit").await,
        "no Edit button on a protected environment"
    );
    b.goto("/ui/prompts/greeting/edit?environment=production")
        .await;
    b.wait_text("#page-error", "protected").await;
    b.goto("/ui/prompts/greeting/release").await;
    b.select("#promote-from", "staging").await;
    b.select("#promote-version", "2").await;
    b.select("#promote-to", "production").await;
    b.click("#promote").await;
    assert_eq!(
        b.text("#confirm-text").await,
        "production v1 → a copy of staging v2. Promote?"
    );
    b.click("#confirm-no").await;
    b.wait_text("#release-status", "Nothing changed").await;
    let (_, info) = app
        .get("/prompts/greeting/info?environment=production", MASTER)
        .await;
    assert_eq!(info["prompt_spec"]["version"], 1, "cancel wrote nothing");
    b.type_into("#promote-message", "ship the warm one").await;
    b.click("#promote").await;
    b.click("#confirm-yes").await;
    b.wait_text(
        "#release-status",
        "production now serves v2: a copy of staging v2",
    )
    .await;
    let (_, h) = app.get("/prompts/greeting/history", MASTER).await;
    assert_eq!(h["events"][0]["kind"], "promote");
    assert_eq!(h["events"][0]["source"], "staging.v2");
    assert_eq!(h["events"][0]["message"], "ship the warm one");
    b.close().await;
}

#[tokio::test]
async fn rolling_back_copies_an_earlier_version_after_confirmation() {
    let Some((app, b)) = start("rollback", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, Some("production")).await;
    app.put("/prompts/greeting", MASTER, json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": GREETING.replace("friendly", "terse")},
        "prompt_info": {"prompt_type": "db", "environment": "production"}})).await;
    b.goto("/ui/prompts/greeting/release").await;
    b.select("#rollback-env", "production").await;
    b.select("#rollback-version", "1").await;
    b.type_into("#rollback-message", "v2 confused users").await;
    b.click("#rollback").await;
    assert_eq!(
        b.text("#confirm-text").await,
        "production v2 → a copy of production v1. Roll back?"
    );
    b.click("#confirm-yes").await;
    b.wait_text(
        "#release-status",
        "production now serves v3: a copy of production v1",
    )
    .await;
    let (_, info) = app
        .get("/prompts/greeting/info?environment=production", MASTER)
        .await;
    assert_eq!(info["prompt_spec"]["version"], 3);
    assert!(
        info["raw_prompt_template"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("friendly")
    );
    b.close().await;
}

fn model_config(api_base: &str) -> String {
    format!(
        "model_list:\n  - model_name: echo-gpt\n    litellm_params:\n      model: openai/echo-upstream\n      api_key: sk-upstream\n      api_base: \"{api_base}\"\n      timeout: 60\n      stream_timeout: 60\n"
    )
}

#[tokio::test]
async fn the_playground_streams_the_answer_token_by_token_and_the_stop_button_cancels_it() {
    let fake = FakeUpstream::start().await;
    let opts = Opts {
        config_yaml: Some(model_config(&fake.base_url())),
        ..Opts::default()
    };
    let Some((app, b)) = start("playground", opts, Some(MASTER)).await else {
        return;
    };
    app.create("greeting", &GREETING.replace("gpt-4o", "echo-gpt"), None)
        .await;
    let piece = |s: &str| Step::Send(chunk("c1", "echo-upstream", json!({"content": s}), None));
    let pause = Step::Wait(Duration::from_millis(700));
    fake.set_behavior(Behavior::Script(vec![
        piece("Hello"),
        pause.clone(),
        piece(", Ada"),
        pause.clone(),
        piece("!"),
        Step::Send(chunk("c1", "echo-upstream", json!({}), Some("stop"))),
        Step::text("data: [DONE]\n\n"),
    ]));
    b.goto("/ui/prompts/greeting").await;
    b.click("#playground").await;
    b.type_into("#var-name", "Ada").await;
    b.click("#run").await;
    b.wait_text("#answer", "Hello").await;
    let partial = b.text("#answer").await;
    assert_eq!(
        partial, "Hello",
        "the first token shows before the rest arrives"
    );
    b.wait_text("#answer", "Hello, Ada!").await;
    b.wait_text("#run-state", "done").await;
    let sent = fake.last_request().expect("the model was called");
    assert!(
        format!("{:?}", sent).contains("Say hello to Ada."),
        "the rendered prompt went upstream"
    );
    b.screenshot("playground").await;
    // A slow answer, stopped by the user: the upstream request is cancelled.
    fake.set_behavior(Behavior::Script(vec![
        piece("Thinking"),
        Step::Wait(Duration::from_secs(30)),
        piece(" more"),
    ]));
    b.click("#run").await;
    b.wait_text("#answer", "Thinking").await;
    b.click("#stop").await;
    b.wait_text("#run-state", "stopped").await;
    assert!(
        fake.wait_for_aborted_streams(1, Duration::from_secs(10))
            .await,
        "the upstream stream was cancelled"
    );
    b.close().await;
}

#[tokio::test]
async fn restoring_from_the_trash_brings_a_deleted_version_back() {
    let Some((app, b)) = start("trash", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, Some("production")).await;
    let (s, _) = app.delete("/prompts/greeting", MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(app.get("/prompts/greeting/info", MASTER).await.0, 404);
    b.goto("/ui/trash").await;
    b.wait_text("#trash", "production v1").await;
    b.click("#trash button.restore").await;
    b.wait_text("#trash-status", "Restored greeting production v1")
        .await;
    assert_eq!(app.get("/prompts/greeting/info", MASTER).await.0, 200);
    b.close().await;
}

#[tokio::test]
async fn an_admin_creates_a_key_that_is_shown_once_and_deletes_it() {
    let Some((app, b)) = start("keys", Opts::default(), Some(MASTER)).await else {
        return;
    };
    app.create("greeting", GREETING, None).await;
    b.goto("/ui/keys").await;
    b.type_into("#key-alias", "app-key").await;
    b.select("#key-role", "internal_user").await;
    b.type_into("#key-prompts", "greeting").await;
    b.type_into("#key-envs", "development, staging").await;
    b.click("#create-key").await;
    let key = b.wait_text("#new-key-value", "sk-").await;
    b.wait_text("#keys", "app-key").await;
    let row = b.text("#keys tbody").await;
    assert!(
        row.contains("internal_user")
            && row.contains("greeting")
            && row.contains("development, staging"),
        "{row}"
    );
    assert_eq!(
        app.get("/prompts/greeting/info", &key).await.0,
        200,
        "the shown key works"
    );
    b.goto("/ui/keys").await;
    b.wait_text("#keys", "app-key").await;
    assert!(
        !b.client.source().await.expect("source").contains(&key),
        "the key is shown only once"
    );
    b.click("#keys button.delete").await;
    b.wait_text("#keys button.delete", "Really delete?").await;
    b.click("#keys button.delete").await;
    b.wait_text("#keys-status", "Deleted app-key").await;
    assert_eq!(
        app.get("/prompts/greeting/info", &key).await.0,
        401,
        "a deleted key stops working"
    );
    b.close().await;
}

#[tokio::test]
async fn a_viewer_sees_no_edit_buttons_and_the_server_refuses_its_writes() {
    let Some((app, b)) = start("viewer", Opts::default(), None).await else {
        return;
    };
    app.create("greeting", GREETING, None).await;
    let viewer = app.key("proxy_admin_viewer", None).await;
    b.sign_in(&viewer).await;
    b.goto("/ui/prompts/greeting").await;
    b.wait_text("#actions", "History").await;
    assert!(
        !b.exists("#edit").await && !b.exists("#release").await,
        "no edit or release buttons"
    );
    assert!(!b.exists("a[href='/ui/new']").await);
    b.goto("/ui/prompts/greeting/edit").await;
    b.wait_text("#page-error", "Only proxy admins can edit prompts")
        .await;
    // The page's own token, a same-origin request: the server still refuses the role.
    let status = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/prompts/greeting', {method: 'PUT', headers: {'Content-Type': 'application/json',
               'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
               body: JSON.stringify({litellm_params: {prompt_integration: 'dotprompt', dotprompt_content: 'User: hi'},
                                     prompt_info: {prompt_type: 'db', environment: 'development'}})})
             .then(r => done(r.status));",
            vec![],
        )
        .await
        .expect("fetch");
    assert_eq!(status, json!(403));
    b.close().await;
}

#[tokio::test]
async fn an_allow_listed_key_sees_only_its_prompts() {
    let Some((app, b)) = start("allow-list", Opts::default(), None).await else {
        return;
    };
    app.create("greeting", GREETING, None).await;
    app.create(
        "secret-plan",
        &text("gpt-4o", "User: the secret {{name}}"),
        None,
    )
    .await;
    let key = app.key("internal_user", Some(&["greeting"])).await;
    b.sign_in(&key).await;
    let rows = b.text("#prompts").await;
    assert!(
        rows.contains("greeting") && !rows.contains("secret-plan"),
        "{rows}"
    );
    b.goto("/ui/prompts?q=secret").await;
    b.wait_text("#count", "0 prompts").await;
    b.goto("/ui/prompts/secret-plan").await;
    b.wait_text("#page-error", "may not read prompt secret-plan")
        .await;
    assert!(!b.body_text().await.contains("the secret"));
    b.goto("/ui/prompts/secret-plan/history").await;
    b.wait_text("#page-error", "may not read").await;
    b.close().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let Some((app, b)) = start("sign out", Opts::default(), Some(MASTER)).await else {
        return;
    };
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "promptd_session")
        .map(|c| c.value().to_owned())
        .expect("session cookie");
    let with_cookie = |path: &str| {
        app.req(reqwest::Method::GET, path, None)
            .header("Cookie", format!("promptd_session={session}"))
    };
    assert_eq!(
        send(with_cookie("/prompts/list")).await.0,
        200,
        "the cookie works while signed in"
    );
    b.click("#sign-out").await;
    b.find("#key").await;
    assert_eq!(b.path().await, "/ui/login");
    assert_eq!(
        send(with_cookie("/prompts/list")).await.0,
        401,
        "the old cookie no longer works"
    );
    b.goto("/ui/prompts").await;
    b.find("#key").await;
    b.close().await;
}
