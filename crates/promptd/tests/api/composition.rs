//! Composition: a stored prompt includes another (`{% include "name" %}` in LiteLLM's Jinja
//! dialect, `{{> name}}` in Genkit's), floating (the latest version in the including version's
//! environment) or pinned (`name.v1`); cycles and missing prompts are refused when saved;
//! deleting an included prompt is 409 unless forced; the render answer names the versions used.

use promptd_fake_upstream::FakeUpstream;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

fn genkit_body(id: &str, content: &str) -> Value {
    json!({
        "prompt_id": id,
        "litellm_params": {"prompt_id": id, "prompt_integration": "dotprompt",
                           "prompt_dialect": "genkit", "dotprompt_content": content},
        "prompt_info": {"prompt_type": "db"},
    })
}

async fn create_genkit(app: &TestApp, id: &str, content: &str) {
    let (s, out) = app.post("/prompts", MASTER, genkit_body(id, content)).await;
    assert_eq!(s, 200, "{out}");
}

async fn render(app: &TestApp, id: &str, vars: Value) -> (u16, Value) {
    app.post(
        &format!("/prompts/{id}/render"),
        MASTER,
        json!({"prompt_variables": vars}),
    )
    .await
}

fn detail(out: &Value) -> &str {
    out["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_jinja_prompt_renders_the_latest_text_of_the_prompt_it_includes_and_names_its_version() {
    let app = TestApp::start().await;
    app.create("safety", "System: Never reveal secrets.", None)
        .await;
    app.create(
        "support",
        "{% include \"safety\" %}\nUser: Help {{name}}.",
        None,
    )
    .await;
    let (s, out) = render(&app, "support", json!({"name": "Ada"})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["messages"],
        json!([{"role": "system", "content": "Never reveal secrets."},
               {"role": "user", "content": "Help Ada."}])
    );
    assert_eq!(
        out["includes"],
        json!([{"prompt_id": "safety", "environment": "development", "version": 1}])
    );
    // The include is updated: the including prompt renders the new text at once.
    app.create("safety", "System: Never reveal secrets or keys.", None)
        .await;
    let (s, out) = render(&app, "support", json!({"name": "Ada"})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["messages"][0]["content"],
        "Never reveal secrets or keys."
    );
    assert_eq!(out["includes"][0]["version"], 2);
}

#[tokio::test]
async fn a_pinned_include_keeps_its_version_after_the_included_prompt_changes() {
    let app = TestApp::start().await;
    app.create("tone", "Be terse.", None).await;
    app.create("tone", "Be chatty.", None).await;
    app.create("ask", "User: {% include \"tone.v1\" %} {{q}}", None)
        .await;
    let (s, out) = render(&app, "ask", json!({"q": "Why?"})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["messages"][0]["content"], "Be terse. Why?");
    assert_eq!(
        out["includes"],
        json!([{"prompt_id": "tone", "environment": "development", "version": 1}])
    );
    // The info answer lists the dependency after LiteLLM's keys.
    let (s, info) = app.get("/prompts/ask/info", MASTER).await;
    assert_eq!(s, 200, "{info}");
    let keys: Vec<&String> = info.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "prompt_spec",
            "raw_prompt_template",
            "environments",
            "dependencies"
        ]
    );
    assert_eq!(
        info["dependencies"],
        json!([{"name": "tone.v1", "prompt_id": "tone", "environment": "development",
                "version": 1, "pinned": true}])
    );
    // A prompt without includes keeps LiteLLM's exact shape.
    let (_, info) = app.get("/prompts/tone/info", MASTER).await;
    assert!(info.get("dependencies").is_none(), "{info}");
}

#[tokio::test]
async fn includes_resolve_in_the_including_versions_environment() {
    let app = TestApp::start().await;
    app.create("house", "Style: dev.", Some("development"))
        .await;
    app.create("house", "Style: prod.", Some("production"))
        .await;
    app.create("page", "User: {% include \"house\" %}", Some("production"))
        .await;
    let (s, out) = render(&app, "page", json!({})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["messages"][0]["content"], "Style: prod.");
    assert_eq!(out["includes"][0]["environment"], "production");
    // An include of a prompt that has no version in the environment is refused when saved.
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("page", "User: {% include \"nowhere\" %}", Some("staging")),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("'nowhere'"), "{out}");
    assert!(detail(&out).contains("staging"), "{out}");
}

#[tokio::test]
async fn a_cycle_is_refused_when_saved_also_when_the_included_prompt_closes_it() {
    let app = TestApp::start().await;
    // Directly.
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("me", "{% include \"me\" %}", None),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("me → me"), "{out}");
    // a includes b; saving b that includes a closes the cycle.
    app.create("b", "User: plain", None).await;
    app.create("a", "{% include \"b\" %}", None).await;
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("b", "{% include \"a\" %}", None),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("b → a → b"), "{out}");
    // Nothing was written: b still renders its first version through a.
    let (s, out) = render(&app, "a", json!({})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["messages"][0]["content"], "plain");
    // A non-literal include name is refused with the way to write it.
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("c", "{% include name %}", None),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("quoted string"), "{out}");
}

#[tokio::test]
async fn deleting_an_included_prompt_is_409_naming_who_includes_it_unless_forced() {
    let app = TestApp::start().await;
    app.create("preamble", "System: Be kind.", None).await;
    app.create("one", "{% include \"preamble\" %}\nUser: 1", None)
        .await;
    app.create("two", "{% include \"preamble.v1\" %}\nUser: 2", None)
        .await;
    let (s, out) = app.delete("/prompts/preamble", MASTER).await;
    assert_eq!(s, 409, "{out}");
    assert!(detail(&out).contains("one, two"), "{out}");
    assert!(detail(&out).contains("force=true"), "{out}");
    let (s, _) = app.get("/prompts/preamble/info", MASTER).await;
    assert_eq!(s, 200, "a refused delete deletes nothing");
    let (s, out) = app.delete("/prompts/preamble?force=true", MASTER).await;
    assert_eq!(s, 200, "{out}");
    // The including prompt now says what is missing instead of rendering half a prompt.
    let (s, out) = render(&app, "one", json!({})).await;
    assert_eq!(s, 422, "{out}");
    assert!(detail(&out).contains("'preamble'"), "{out}");
}

#[tokio::test]
async fn a_genkit_prompt_includes_stored_prompts_as_partials_floating_and_pinned() {
    let app = TestApp::start().await;
    create_genkit(&app, "rules", "{{role \"system\"}}Follow the rules.").await;
    create_genkit(&app, "sign", "-- {{who}}").await;
    create_genkit(&app, "sign", "Regards, {{who}}").await;
    create_genkit(
        &app,
        "letter",
        "{{> rules}}\n{{role \"user\"}}Write to {{who}}. {{> sign.v1}} / {{> sign}}",
    )
    .await;
    let (s, out) = render(&app, "letter", json!({"who": "Lin"})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["messages"],
        json!([{"role": "system", "content": "Follow the rules."},
               {"role": "user", "content": "Write to Lin. -- Lin / Regards, Lin"}])
    );
    let includes = out["includes"].as_array().unwrap();
    assert_eq!(includes.len(), 3, "{out}");
    assert!(
        includes
            .contains(&json!({"prompt_id": "sign", "environment": "development", "version": 1}))
    );
    assert!(
        includes
            .contains(&json!({"prompt_id": "sign", "environment": "development", "version": 2}))
    );
    // Cycle through a Genkit partial, closed by saving the included prompt.
    let (s, out) = app
        .post("/prompts", MASTER, genkit_body("rules", "{{> letter}}"))
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("rules → letter → rules"), "{out}");
    // Deleting one that is included: 409, then forced.
    let (s, out) = app.delete("/prompts/sign", MASTER).await;
    assert_eq!(s, 409, "{out}");
    assert!(detail(&out).contains("letter"), "{out}");
    // A Jinja prompt cannot include a Genkit one.
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            prompt_body("mix", "{% include \"rules\" %}", None),
        )
        .await;
    assert_eq!(s, 400, "{out}");
    assert!(detail(&out).contains("dialect"), "{out}");
}

#[tokio::test]
async fn chat_completions_with_a_prompt_id_sends_the_included_text() {
    let fake = FakeUpstream::start().await;
    let models = format!(
        "model_list:\n  - model_name: echo-gpt\n    litellm_params:\n      model: openai/echo-upstream\n      api_key: sk-upstream-key\n      api_base: \"{}\"\n",
        fake.base_url()
    );
    let app = TestApp::start_with(Opts {
        config_yaml: Some(models),
        ..Opts::default()
    })
    .await;
    app.create("safety", "System: Stay safe.", None).await;
    app.create(
        "chat",
        "---\nmodel: echo-gpt\n---\n{% include \"safety\" %}\nUser: {{q}}",
        None,
    )
    .await;
    let resp = app
        .req(Method::POST, "/chat/completions", Some(MASTER))
        .json(&json!({"prompt_id": "chat", "prompt_variables": {"q": "hi"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.text().await;
    assert_eq!(
        fake.last_request().unwrap().body["messages"],
        json!([{"role": "system", "content": "Stay safe."}, {"role": "user", "content": "hi"}])
    );
}

/// BENCHMARKS.md: render time over HTTP with and without one include (run with `--ignored
/// --nocapture`, ideally `--release`). Includes resolve from memory, so the difference is
/// the index walk and a cache lookup, not a database read.
#[tokio::test]
#[ignore]
async fn bench_render_with_and_without_one_include() {
    let app = TestApp::start().await;
    app.create("plain", "System: Be kind.\nUser: Hi {{name}}.", None)
        .await;
    app.create("pre", "System: Be kind.", None).await;
    app.create(
        "composed",
        "{% include \"pre\" %}\nUser: Hi {{name}}.",
        None,
    )
    .await;
    for id in ["plain", "composed"] {
        let (s, out) = render(&app, id, json!({"name": "Ada"})).await;
        assert_eq!(s, 200, "{out}");
    }
    let n = 2000;
    for id in ["plain", "composed", "plain", "composed"] {
        let start = std::time::Instant::now();
        for _ in 0..n {
            let (s, _) = render(&app, id, json!({"name": "Ada"})).await;
            assert_eq!(s, 200);
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("{id}: {per:.1} µs per render over HTTP ({n} sequential)");
    }
}
