//! `GET /prompts/{id}/diff`: what changes between two versions or environments.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const STAGING: &str = "---\nmodel: gpt-4o\ntemperature: 0.7\nmax_tokens: 100\ninput:\n  schema:\n    name: string\n---\nSystem: You are friendly.\n\nUser: Say hello to {{name}}.";
const PRODUCTION: &str = "---\nmodel: gpt-4o-mini\ntemperature: 0.2\ntop_p: 0.9\ninput:\n  schema:\n    name: string\n    lang: string\n---\nSystem: You are friendly.\n\nUser: Say hello to {{name}} in {{lang}}.";

async fn two_environments() -> TestApp {
    let app = TestApp::start().await;
    app.create("g", STAGING, Some("staging")).await;
    app.create("g", PRODUCTION, Some("production")).await;
    app
}

#[tokio::test]
async fn a_diff_names_the_template_lines_model_parameters_and_variables_that_change() {
    let app = two_environments().await;
    let (s, d) = app
        .get("/prompts/g/diff?from=staging&to=production", MASTER)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["from"], "staging.v1");
    assert_eq!(d["to"], "production.v1");
    assert_eq!(d["identical"], false);
    assert_eq!(
        d["model"],
        json!({"from": "gpt-4o", "to": "gpt-4o-mini", "changed": true})
    );
    assert_eq!(
        d["parameters"],
        json!({"added": {"top_p": 0.9}, "removed": {"max_tokens": 100},
               "changed": {"temperature": {"from": 0.7, "to": 0.2}}})
    );
    assert_eq!(d["variables"], json!({"added": ["lang"], "removed": []}));
    let text = d["template"].as_str().unwrap();
    assert!(
        text.starts_with("--- a/staging.v1\n+++ b/production.v1\n"),
        "{text}"
    );
    assert!(text.contains("-User: Say hello to {{name}}.\n"), "{text}");
    assert!(
        text.contains("+User: Say hello to {{name}} in {{lang}}.\n"),
        "{text}"
    );
    assert!(text.contains(" System: You are friendly.\n"), "{text}");
}

#[tokio::test]
async fn with_accept_text_plain_the_diff_is_the_unified_diff_alone() {
    let app = two_environments().await;
    let resp = app
        .req(
            Method::GET,
            "/prompts/g/diff?from=staging.v1&to=production",
            Some(MASTER),
        )
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.starts_with("--- a/staging.v1\n+++ b/production.v1\n@@"),
        "{text}"
    );
}

#[tokio::test]
async fn the_same_version_on_both_sides_is_identical_with_an_empty_diff() {
    let app = two_environments().await;
    let (s, d) = app
        .get("/prompts/g/diff?from=staging&to=staging.v1", MASTER)
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["identical"], true);
    assert_eq!(d["template"], "");
}

#[tokio::test]
async fn a_diff_refuses_unknown_sides_missing_refs_and_keys_outside_the_allow_list() {
    let app = two_environments().await;
    let (s, d) = app.get("/prompts/g/diff?from=staging&to=qa", MASTER).await;
    assert_eq!(s, 404, "{d}");
    assert!(d["detail"].as_str().unwrap().contains("qa"), "{d}");
    assert_eq!(
        app.get("/prompts/g/diff?from=staging.v9&to=production", MASTER)
            .await
            .0,
        404
    );
    let (s, d) = app.get("/prompts/g/diff?from=staging", MASTER).await;
    assert_eq!(s, 400);
    assert!(
        d["detail"].as_str().unwrap().contains("to is required"),
        "{d}"
    );
    let other = app.key("internal_user", Some(&["other"])).await;
    assert_eq!(
        app.get("/prompts/g/diff?from=staging&to=production", &other)
            .await
            .0,
        403
    );
}
