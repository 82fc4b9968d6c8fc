//! Templates cannot crash the server or make it allocate gigabytes: over-nested templates are
//! refused before parsing (400), oversized operations fail with an error naming
//! `template_max_bytes` (400), on every route that takes a template, and a stored row that
//! breaks today's bounds answers `info` and makes `render` say the template is unusable (422)
//! while the process lives.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::*;

/// The security probe's 5 KB template: 5,000 chained unary minus signs.
fn unary_bomb() -> String {
    format!("User: {{{{ {}1 }}}}", "-".repeat(5000))
}

/// 8,100 chained filters.
fn filter_bomb() -> String {
    format!("User: {{{{ 1{} }}}}", "|abs".repeat(8100))
}

const TOJSON_BOMB: &str = "User: {{ {'a':[1,[2]]}|tojson(indent=1000000000)|length }}";
const FORMAT_BOMB: &str = "User: {{ '{:>1000000000}'.format('x')|length }}";

fn detail(out: &Value) -> String {
    out["detail"]
        .as_str()
        .map_or_else(|| out.to_string(), str::to_owned)
}

async fn assert_alive(app: &TestApp) {
    let (s, _) = app.get("/prompts/list", MASTER).await;
    assert_eq!(s, 200, "the server still answers");
}

#[tokio::test]
async fn prompts_test_refuses_an_over_nested_template_and_the_server_lives() {
    let app = TestApp::start().await;
    for bomb in [unary_bomb(), filter_bomb()] {
        let (s, out) = app
            .post("/prompts/test", MASTER, json!({"dotprompt_content": bomb}))
            .await;
        assert_eq!(s, 400, "{out}");
        assert!(
            detail(&out).contains("nests deeper than 200 levels"),
            "{out}"
        );
    }
    assert_alive(&app).await;
}

#[tokio::test]
async fn creating_a_prompt_refuses_an_over_nested_template() {
    let app = TestApp::start().await;
    let (s, out) = app
        .post("/prompts", MASTER, prompt_body("deep", &unary_bomb(), None))
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(
        detail(&out).contains("nests deeper than 200 levels"),
        "{out}"
    );
    assert_alive(&app).await;
}

#[tokio::test]
async fn the_converter_refuses_an_over_nested_template() {
    let app = TestApp::start().await;
    let form = Form::new().part("file", Part::text(filter_bomb()).file_name("deep.prompt"));
    let (s, out) = send(
        app.client
            .post(app.url("/utils/dotprompt_json_converter"))
            .bearer_auth(MASTER)
            .multipart(form),
    )
    .await;
    assert_eq!(s, 400, "{out}");
    assert!(
        detail(&out).contains("nests deeper than 200 levels"),
        "{out}"
    );
    assert_alive(&app).await;
}

#[tokio::test]
async fn rendering_a_huge_tojson_indent_or_format_width_fails_naming_template_max_bytes() {
    let app = TestApp::start().await;
    for (id, text, what) in [
        ("tojson_bomb", TOJSON_BOMB, "tojson"),
        ("format_bomb", FORMAT_BOMB, "str.format"),
    ] {
        app.create(id, text, None).await;
        let (s, out) = app
            .post(&format!("/prompts/{id}/render"), MASTER, json!({}))
            .await;
        assert_eq!(s, 400, "{out}");
        let d = detail(&out);
        assert!(
            d.contains("template_max_bytes (16777216) exceeded") && d.contains(what),
            "{d}"
        );
    }
    assert_alive(&app).await;
}

#[tokio::test]
async fn prompts_test_stops_a_huge_format_width_before_any_model_call() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some(
            "model_list:\n  - model_name: mock-gpt\n    litellm_params:\n      model: openai/gpt-4o-mini\n      mock_response: hi\n"
                .into(),
        ),
        ..Opts::default()
    })
    .await;
    let (s, out) = app
        .post(
            "/prompts/test",
            MASTER,
            json!({"dotprompt_content": format!("---\nmodel: mock-gpt\n---\n{FORMAT_BOMB}")}),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("template_max_bytes"), "{out}");
    assert_alive(&app).await;
}

#[tokio::test]
async fn a_stored_row_over_todays_bounds_fails_cleanly_on_info_and_render() {
    let app = TestApp::start().await;
    app.create("stored_bomb", "User: placeholder", None).await;
    let db = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    let dir = app.stop().await;
    let store = promptd_store::SqlStore::connect(&db, &Default::default())
        .await
        .unwrap();
    let params = json!({"prompt_id": "stored_bomb", "prompt_integration": "dotprompt", "dotprompt_content": unary_bomb()});
    sqlx::query("UPDATE prompt_versions SET litellm_params = ? WHERE prompt_id = 'stored_bomb'")
        .bind(params.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        ..Opts::default()
    })
    .await;
    let (s, out) = app.get("/prompts/stored_bomb/info", MASTER).await;
    assert_eq!(s, 200, "{out}");
    // The template did not compile, so there is no parsed form to show.
    assert_eq!(out["raw_prompt_template"], Value::Null, "{out}");
    let (s, out) = app
        .post("/prompts/stored_bomb/render", MASTER, json!({}))
        .await;
    assert_eq!(s, 422, "{out}");
    let d = detail(&out);
    assert!(
        d.contains("has no usable template") && d.contains("nests deeper than 200 levels"),
        "{d}"
    );
    assert_alive(&app).await;
}

#[tokio::test]
async fn the_template_max_bytes_setting_sets_the_allocation_limit() {
    let app = TestApp::start_with(Opts {
        config_yaml: Some("promptd_settings:\n  template_max_bytes: 1000\n".into()),
        ..Opts::default()
    })
    .await;
    app.create("budget", "User: {{ 'x' * n }}", None).await;
    let render = |n: u64| {
        app.post(
            "/prompts/budget/render",
            MASTER,
            json!({"prompt_variables": {"n": n}}),
        )
    };
    let (s, out) = render(1000).await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = render(1001).await;
    assert_eq!(s, 400, "{out}");
    assert!(
        detail(&out).contains("template_max_bytes (1000) exceeded"),
        "{out}"
    );
}
