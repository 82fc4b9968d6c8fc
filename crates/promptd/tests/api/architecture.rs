//! Repository rules checked as ordinary tests: the dependency arrows and the API document.

use std::collections::BTreeSet;

use crate::common::*;
use reqwest::Method;

fn dependencies(krate: &str) -> Vec<String> {
    let path = format!("{}/../{krate}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("manifest");
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            out.push(name.trim().to_owned());
        }
    }
    out
}

#[test]
fn the_template_and_core_crates_depend_on_no_io_crate() {
    const IO: [&str; 8] = [
        "tokio",
        "axum",
        "hyper",
        "sqlx",
        "reqwest",
        "tower",
        "tower-http",
        "promptd-store",
    ];
    for krate in ["promptd-template", "promptd-core"] {
        let deps = dependencies(krate);
        assert!(!deps.is_empty(), "{krate} has dependencies to check");
        for d in &deps {
            assert!(!IO.contains(&d.as_str()), "{krate} must not depend on {d}");
        }
    }
    assert!(
        !dependencies("promptd-store")
            .iter()
            .any(|d| d == "axum" || d == "promptd-server"),
        "the store knows no HTTP"
    );
}

/// The OpenAPI document's operations as `(METHOD, path)`.
pub fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_every_documented_one_is_routed() {
    let app = TestApp::start().await;
    let (_, doc) = send(app.req(Method::GET, "/openapi.json", None)).await;
    let documented = documented(&doc);
    let routed: BTreeSet<(String, String)> = promptd_server::routes::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but missing from the OpenAPI document (add them to openapi.rs): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not in routes::ROUTES: {unrouted:?}"
    );
    assert_eq!(
        routed.len(),
        promptd_server::routes::ROUTES.len(),
        "a route is listed twice"
    );
}

#[tokio::test]
async fn every_row_of_the_route_table_reaches_a_handler() {
    let app = TestApp::start().await;
    for (method, path) in promptd_server::routes::ROUTES {
        let concrete = path
            .replace("{prompt_id}", "some_prompt")
            .replace("{webhook_id}", "wh_none");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app.req(m, &concrete, Some(MASTER)).send().await.unwrap();
        let status = resp.status().as_u16();
        // A stream (GET /prompts/watch) stays open: its status is enough.
        let streaming = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body: serde_json::Value = if streaming {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default()
        };
        assert_ne!(status, 405, "{method} {path} is in ROUTES but not routed");
        assert!(
            !(status == 404 && body == serde_json::json!({"detail": "Not Found"})),
            "{method} {path} is in ROUTES but not routed"
        );
    }
}
