//! A key's reach (role, `metadata.prompts`, `metadata.environments`) bounds everything it can
//! do: it reads, writes and hands out keys only within it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Creates a key as `by` with this body; returns (status, answer).
async fn generate(app: &TestApp, by: &str, body: Value) -> (u16, Value) {
    app.post("/key/generate", by, body).await
}

/// An admin key limited to prompt `a` (created by the master key).
async fn admin_limited_to_a(app: &TestApp) -> String {
    let (s, out) = generate(
        app,
        MASTER,
        json!({"user_role": "proxy_admin", "key_alias": "a-admin", "metadata": {"prompts": ["a"]}}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    out["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_allow_listed_admin_key_cannot_generate_a_key_that_reaches_further() {
    let app = TestApp::start().await;
    let limited = admin_limited_to_a(&app).await;
    for wider in [
        json!({"user_role": "proxy_admin"}),
        json!({"user_role": "proxy_admin_viewer"}),
        json!({"user_role": "internal_user", "metadata": {"prompts": ["a", "b"]}}),
        json!({"user_role": "proxy_admin", "metadata": {"prompts": ["b"]}}),
    ] {
        let (s, body) = generate(&app, &limited, wider.clone()).await;
        assert_eq!(s, 403, "{wider} -> {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("reaches further than its own"),
            "{body}"
        );
    }
    // Nothing was created by the refused requests.
    let (_, list) = app.get("/key/list", MASTER).await;
    assert_eq!(list["total_count"], 1, "{list}");
}

#[tokio::test]
async fn an_allow_listed_admin_key_can_hand_out_a_narrower_key_that_works_within_it() {
    let app = TestApp::start().await;
    app.create("a", "User: v1", None).await;
    app.create("b", "User: other", None).await;
    let limited = admin_limited_to_a(&app).await;
    let (s, out) = generate(
        &app,
        &limited,
        json!({"user_role": "internal_user", "metadata": {"prompts": ["a.v1"]}}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let child = out["key"].as_str().unwrap();
    assert_eq!(app.get("/prompts/a.v1", child).await.0, 200);
    assert_eq!(app.get("/prompts/b", child).await.0, 403);
}

#[tokio::test]
async fn an_allow_listed_admin_key_cannot_read_through_a_key_it_could_not_make() {
    // The escape the probe found: generate an unrestricted admin key, then read everything.
    let app = TestApp::start().await;
    app.create("secret", "User: classified", None).await;
    let limited = admin_limited_to_a(&app).await;
    let (s, _) = generate(&app, &limited, json!({"user_role": "proxy_admin"})).await;
    assert_eq!(s, 403);
    let (s, body) = app.get("/prompts/secret", &limited).await;
    assert_eq!(s, 403);
    assert!(!body.to_string().contains("classified"));
}

#[tokio::test]
async fn an_allow_listed_admin_key_cannot_write_prompts_outside_its_list_on_any_route() {
    let app = TestApp::start().await;
    app.create("a", "User: mine", None).await;
    app.create("b", "User: classified", None).await;
    let limited = admin_limited_to_a(&app).await;

    let attempts = [
        (
            Method::POST,
            "/prompts",
            Some(prompt_body("b", "User: x", None)),
        ),
        (
            Method::POST,
            "/prompts",
            Some(prompt_body("new", "User: x", None)),
        ),
        (
            Method::PUT,
            "/prompts/b",
            Some(prompt_body("b", "User: x", None)),
        ),
        (
            Method::PATCH,
            "/prompts/b",
            Some(json!({"prompt_info": {"prompt_type": "db"}})),
        ),
        (Method::DELETE, "/prompts/b", None),
        (Method::DELETE, "/prompts/b.v1", None),
        // Unknown prompts answer 403 too: a limited key learns nothing about what exists.
        (
            Method::PUT,
            "/prompts/ghost",
            Some(prompt_body("ghost", "User: x", None)),
        ),
    ];
    for (method, path, body) in attempts {
        let mut r = app.req(method.clone(), path, Some(&limited));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (s, answer) = send(r).await;
        assert_eq!(s, 403, "{method} {path} -> {answer}");
        assert!(
            !answer.to_string().contains("classified"),
            "{method} {path} showed content: {answer}"
        );
    }
    // b is untouched: still one version with its content.
    let (_, versions) = app.get("/prompts/b/versions", MASTER).await;
    assert_eq!(versions["prompts"].as_array().unwrap().len(), 1);
    // Its own prompt it may write.
    let (s, body) = app
        .put(
            "/prompts/a",
            &limited,
            prompt_body("a", "User: mine v2", None),
        )
        .await;
    assert_eq!((s, body["version"].clone()), (200, json!(2)), "{body}");
}

#[tokio::test]
async fn a_pinned_version_in_an_allow_list_reads_that_version_but_writes_nothing() {
    let app = TestApp::start().await;
    app.create("a", "User: v1", None).await;
    let (_, out) = generate(
        &app,
        MASTER,
        json!({"user_role": "proxy_admin", "metadata": {"prompts": ["a.v1"]}}),
    )
    .await;
    let pinned = out["key"].as_str().unwrap();
    assert_eq!(app.get("/prompts/a.v1", pinned).await.0, 200);
    let (s, _) = app
        .put("/prompts/a", pinned, prompt_body("a", "User: v2", None))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn a_key_limited_to_environments_writes_only_those_and_hands_out_no_wider_key() {
    let app = TestApp::start().await;
    let (s, out) = generate(
        &app,
        MASTER,
        json!({"user_role": "proxy_admin", "key_alias": "ci",
               "metadata": {"environments": ["development", "staging"]}}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let ci = out["key"].as_str().unwrap().to_owned();

    let (s, body) = app
        .post(
            "/prompts",
            &ci,
            prompt_body("g", "User: hi", Some("staging")),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .post(
            "/prompts",
            &ci,
            prompt_body("g", "User: hi", Some("production")),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("environment production"),
        "{body}"
    );
    app.create("g", "User: prod", Some("production")).await;
    assert_eq!(
        app.put(
            "/prompts/g",
            &ci,
            prompt_body("g", "User: x", Some("production"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.patch("/prompts/g?environment=production", &ci, json!({}))
            .await
            .0,
        403
    );
    // Deleting every environment would touch production.
    assert_eq!(app.delete("/prompts/g", &ci).await.0, 403);
    assert_eq!(
        app.delete("/prompts/g?environment=staging", &ci).await.0,
        200
    );
    // It still reads production (environments limit writes only).
    assert_eq!(
        app.get("/prompts/g?environment=production", &ci).await.0,
        200
    );

    let (s, _) = generate(&app, &ci, json!({"user_role": "proxy_admin"})).await;
    assert_eq!(s, 403);
    let (s, _) = generate(
        &app,
        &ci,
        json!({"user_role": "proxy_admin", "metadata": {"environments": ["staging", "production"]}}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, body) = generate(
        &app,
        &ci,
        json!({"user_role": "proxy_admin", "metadata": {"environments": ["staging"]}}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn a_malformed_environments_list_is_refused_naming_the_field() {
    let app = TestApp::start().await;
    let (s, body) = generate(
        &app,
        MASTER,
        json!({"user_role": "proxy_admin", "metadata": {"environments": "staging"}}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("metadata.environments must be a list"),
        "{body}"
    );
}

#[tokio::test]
async fn a_limited_admin_key_sees_and_deletes_only_keys_within_its_reach() {
    let app = TestApp::start().await;
    let limited = admin_limited_to_a(&app).await;
    let (_, wide) = generate(
        &app,
        MASTER,
        json!({"user_role": "proxy_admin_viewer", "key_alias": "wide"}),
    )
    .await;
    let wide_token = wide["token"].as_str().unwrap().to_owned();
    let (_, narrow) = generate(
        &app,
        &limited,
        json!({"user_role": "internal_user", "key_alias": "narrow", "metadata": {"prompts": ["a"]}}),
    )
    .await;
    let narrow_token = narrow["token"].as_str().unwrap().to_owned();

    let (s, list) = app.get("/key/list", &limited).await;
    assert_eq!(s, 200);
    let tokens: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(tokens.contains(&narrow_token.as_str()), "{list}");
    assert!(!tokens.contains(&wide_token.as_str()), "{list}");

    assert_eq!(
        app.get(&format!("/key/info?key={wide_token}"), &limited)
            .await
            .0,
        403
    );
    let (s, _) = app
        .post(
            "/key/delete",
            &limited,
            json!({"keys": [wide_token.clone()]}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post("/key/delete", &limited, json!({"key_aliases": ["wide"]}))
        .await;
    assert_eq!(s, 403);
    // The wide key still works.
    assert_eq!(
        app.get("/prompts/list", wide["key"].as_str().unwrap())
            .await
            .0,
        200
    );
    let (s, body) = app
        .post("/key/delete", &limited, json!({"keys": [narrow_token]}))
        .await;
    assert_eq!(s, 200, "{body}");
}
