//! Repository rules checked as ordinary tests: the dependency arrows and the API document.

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

#[tokio::test]
async fn every_operation_in_the_openapi_document_is_served() {
    let app = TestApp::start().await;
    let (_, doc) = send(app.req(Method::GET, "/openapi.json", None)).await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 12, "{}", paths.len());
    for (path, ops) in paths {
        let concrete = path.replace("{prompt_id}", "some_prompt");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = send(app.req(m, &concrete, Some(MASTER))).await;
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body == serde_json::json!({"detail": "Not Found"})),
                "{method} {path} is documented but not routed"
            );
        }
    }
}
