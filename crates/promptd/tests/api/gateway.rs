//! `GET /beta/litellm_prompt_management`: the endpoint LiteLLM's `generic_prompt_management`
//! integration reads prompts from (the real LiteLLM proxy is checked end to end by
//! `scripts/litellm-gateway-check.sh`).

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const PATH: &str = "/beta/litellm_prompt_management";

async fn gateway(app: &TestApp, query: &str, key: &str) -> (u16, serde_json::Value) {
    app.get(&format!("{PATH}?{query}"), key).await
}

#[tokio::test]
async fn the_gateway_serves_the_production_messages_with_single_brace_placeholders() {
    let app = TestApp::start().await;
    app.create("greeting", "User: draft {{name}}", None).await;
    app.create("greeting", GREETING, Some("production")).await;
    let (s, out) = gateway(&app, "prompt_id=greeting", MASTER).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out,
        json!({
            "prompt_id": "greeting",
            "prompt_template": [
                {"role": "system", "content": "You are friendly."},
                {"role": "user", "content": "Say hello to {name}."}
            ],
            "prompt_template_model": "gpt-4o",
            "prompt_template_optional_params": {"temperature": 0.7},
            "version": 1,
            "environment": "production"
        })
    );
}

#[tokio::test]
async fn environment_and_version_choose_the_version_as_info_does() {
    let app = TestApp::start().await;
    app.create("g", "User: one {{ x }}", None).await;
    app.create("g", "User: two {{ x }}", None).await;
    app.create("g", "User: staged {{ x }}", Some("staging"))
        .await;
    let content = |out: &serde_json::Value| out["prompt_template"][0]["content"].clone();

    let (_, out) = gateway(&app, "prompt_id=g", MASTER).await;
    assert_eq!(content(&out), "staged {x}");
    let (_, out) = gateway(&app, "prompt_id=g&environment=development", MASTER).await;
    assert_eq!(
        (content(&out), out["version"].clone()),
        (json!("two {x}"), json!(2))
    );
    let (_, out) = gateway(
        &app,
        "prompt_id=g&environment=development&version=1",
        MASTER,
    )
    .await;
    assert_eq!(content(&out), "one {x}");
    let (_, out) = gateway(&app, "prompt_id=g.v1&environment=development", MASTER).await;
    assert_eq!(content(&out), "one {x}");
    // The same version twice is fine; two different ones are a 400 that says so.
    let (s, _) = gateway(
        &app,
        "prompt_id=g.v1&environment=development&version=1",
        MASTER,
    )
    .await;
    assert_eq!(s, 200);
    let (s, out) = gateway(&app, "prompt_id=g.v1&version=2", MASTER).await;
    assert_eq!(s, 400, "{out}");
    assert!(
        out["detail"].as_str().unwrap().contains("send one"),
        "{out}"
    );
}

#[tokio::test]
async fn unknown_query_parameters_from_provider_specific_query_params_are_ignored() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, Some("production")).await;
    let (s, out) = gateway(&app, "prompt_id=greeting&team=search&label=x", MASTER).await;
    assert_eq!(s, 200, "{out}");
}

#[tokio::test]
async fn a_missing_prompt_id_or_a_bad_version_is_a_422_naming_the_parameter() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    for query in ["", "prompt_id="] {
        let (s, out) = gateway(&app, query, MASTER).await;
        assert_eq!(s, 422, "{query}: {out}");
        assert_eq!(
            out["detail"][0]["loc"],
            json!(["query", "prompt_id"]),
            "{out}"
        );
        assert!(
            out["detail"][0]["msg"]
                .as_str()
                .unwrap()
                .contains("litellm_params.prompt_id"),
            "{out}"
        );
    }
    for bad in ["0", "two", "-1", "99999999999"] {
        let (s, out) = gateway(&app, &format!("prompt_id=greeting&version={bad}"), MASTER).await;
        assert_eq!(s, 422, "{bad}: {out}");
        assert_eq!(
            out["detail"][0]["loc"],
            json!(["query", "version"]),
            "{out}"
        );
    }
    let (s, out) = gateway(
        &app,
        "prompt_id=greeting&environment=Not%20An%20Env",
        MASTER,
    )
    .await;
    assert_eq!(s, 400, "{out}");
}

#[tokio::test]
async fn the_gateway_needs_a_key_that_may_read_the_prompt() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, Some("production")).await;
    app.create("other", "User: hi", Some("production")).await;

    let (s, out) = send(app.req(Method::GET, &format!("{PATH}?prompt_id=greeting"), None)).await;
    assert_eq!(s, 401, "{out}");
    let (s, _) = gateway(&app, "prompt_id=greeting", "sk-not-a-key").await;
    assert_eq!(s, 401);

    let allowed = app.key("internal_user", Some(&["greeting"])).await;
    let (s, out) = gateway(&app, "prompt_id=greeting", &allowed).await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = gateway(&app, "prompt_id=other", &allowed).await;
    assert_eq!(s, 403, "{out}");
    let (s, out) = gateway(&app, "prompt_id=greeting.v1", &allowed).await;
    assert_eq!(s, 200, "{out}");
}

#[tokio::test]
async fn an_unknown_prompt_version_or_environment_is_404() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    for query in [
        "prompt_id=nope",
        "prompt_id=greeting&version=9",
        "prompt_id=greeting&environment=production",
        "prompt_id=..bad",
    ] {
        let (s, out) = gateway(&app, query, MASTER).await;
        assert_eq!(s, 404, "{query}: {out}");
    }
}

#[tokio::test]
async fn a_template_that_substitution_cannot_express_is_a_422_naming_variable_line_and_alternatives()
 {
    let app = TestApp::start().await;
    let cases = [
        (
            "cond",
            "---\nmodel: gpt-4o\n---\nSystem: Be brief.\n{% if premium %}System: Be generous.{% endif %}\nUser: {{ q }}",
            "'premium'",
            "line 5",
        ),
        (
            "loop",
            "User: Summarise:\n{% for d in docs %}- {{ d }}\n{% endfor %}",
            "'docs'",
            "line 2",
        ),
        ("filter", "User: {{ name|upper }}", "'name'", "line 1"),
        ("attr", "User: {{ user.name }}", "'user'", "line 1"),
    ];
    for (id, text, variable, line) in cases {
        app.create(id, text, Some("production")).await;
        let (s, out) = gateway(&app, &format!("prompt_id={id}"), MASTER).await;
        assert_eq!(s, 422, "{id}: {out}");
        let detail = out["detail"].as_str().expect("a text detail");
        for needle in [
            variable,
            line,
            "/chat/completions",
            &format!("/prompts/{id}/render"),
        ] {
            assert!(
                detail.contains(needle),
                "{id}: {needle} missing from {detail}"
            );
        }
    }
    // promptd's own render still serves them.
    let (s, out) = app
        .post(
            "/prompts/loop/render",
            MASTER,
            json!({"prompt_variables": {"docs": ["a", "b"]}}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
}

#[tokio::test]
async fn template_text_holding_a_placeholder_of_its_own_variable_is_a_422() {
    let app = TestApp::start().await;
    app.create(
        "lit",
        "User: {% raw %}{name}{% endraw %} means {{ name }}",
        None,
    )
    .await;
    let (s, out) = gateway(&app, "prompt_id=lit", MASTER).await;
    assert_eq!(s, 422, "{out}");
    assert!(out["detail"].as_str().unwrap().contains("{name}"), "{out}");
}

#[tokio::test]
async fn a_template_without_variables_is_served_as_promptd_renders_it() {
    let app = TestApp::start().await;
    app.create(
        "fixed",
        "{% for n in ['a', 'b'] %}User: {{ n|upper }}\n{% endfor %}",
        None,
    )
    .await;
    let (s, out) = gateway(&app, "prompt_id=fixed", MASTER).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["prompt_template"],
        json!([{"role": "user", "content": "A"}, {"role": "user", "content": "B"}])
    );
    assert_eq!(out["prompt_template_model"], json!(null));
    assert_eq!(out["prompt_template_optional_params"], json!({}));
}

#[tokio::test]
async fn a_genkit_dotprompt_prompt_is_a_422_pointing_at_promptds_own_render() {
    let app = TestApp::start().await;
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            serde_json::json!({
                "prompt_id": "gk",
                "litellm_params": {"prompt_integration": "dotprompt", "prompt_dialect": "genkit",
                                   "dotprompt_content": "---\nmodel: gpt-4o\n---\n{{role \"system\"}}Be brief.\n{{role \"user\"}}Hello {{name}}"},
                "prompt_info": {"prompt_type": "db", "environment": "production"}
            }),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = gateway(&app, "prompt_id=gk", MASTER).await;
    assert_eq!(s, 422, "{out}");
    let detail = out["detail"].as_str().unwrap();
    assert!(
        detail.contains("genkit") && detail.contains("/render"),
        "{detail}"
    );
}
