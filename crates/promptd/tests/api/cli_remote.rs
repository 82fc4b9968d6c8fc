//! `promptd history` and `promptd diff` against a running server, as a person runs them.

use serde_json::json;

use crate::common::*;

fn promptd(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"))
        .args(args)
        .env_remove("PROMPTD_URL")
        .env_remove("PROMPTD_KEY")
        .envs(envs.iter().copied())
        .output()
        .expect("run promptd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn promptd_history_prints_every_change_newest_first_with_who_and_why() {
    let app = TestApp::start().await;
    app.create("g", "User: one", Some("staging")).await;
    let (s, _) = app
        .post(
            "/prompts/g/promote",
            MASTER,
            json!({"from_environment": "staging", "to_environment": "production", "message": "ship it"}),
        )
        .await;
    assert_eq!(s, 200);
    let base = app.base.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        promptd(
            &["history", "g", "--url", &base],
            &[("PROMPTD_KEY", MASTER)],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("time (UTC)"), "{out}");
    assert!(
        lines[1].contains("promote") && lines[1].contains("production v1"),
        "{out}"
    );
    assert!(
        lines[1].contains("master key") && lines[1].contains("from staging.v1"),
        "{out}"
    );
    assert!(lines[1].contains("\"ship it\""), "{out}");
    assert!(
        lines[2].contains("create") && lines[2].contains("staging v1"),
        "{out}"
    );
    // --json: one event per line, as the API answers it.
    let base = app.base.clone();
    let (code, out, _) = tokio::task::spawn_blocking(move || {
        promptd(
            &[
                "history", "g", "--json", "--limit", "1", "--url", &base, "--key", MASTER,
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "promote");
    assert_eq!(out.lines().count(), 1);
}

#[tokio::test]
async fn promptd_diff_prints_the_template_diff_and_the_settings_that_changed() {
    let app = TestApp::start().await;
    app.create(
        "g",
        "---\nmodel: gpt-4o\n---\nUser: hello",
        Some("production"),
    )
    .await;
    app.create(
        "g",
        "---\nmodel: gpt-4o-mini\ntemperature: 0.2\ninput:\n  schema:\n    name: string\n---\nUser: hello {{name}}",
        Some("staging"),
    )
    .await;
    let base = app.base.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        promptd(
            &[
                "diff",
                "g",
                "production",
                "staging",
                "--url",
                &base,
                "--key",
                MASTER,
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("prompt g: production.v1 → staging.v1"),
        "{out}"
    );
    assert!(
        out.contains("-User: hello\n") && out.contains("+User: hello {{name}}\n"),
        "{out}"
    );
    assert!(out.contains("model: gpt-4o → gpt-4o-mini"), "{out}");
    assert!(out.contains("+ parameter temperature: 0.2"), "{out}");
    assert!(out.contains("+ variable name"), "{out}");
}

#[tokio::test]
async fn the_remote_commands_say_what_went_wrong_and_exit_1() {
    let app = TestApp::start().await;
    let base = app.base.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        promptd(&["history", "g", "--url", &base, "--key", "sk-wrong"], &[])
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("401") && err.contains("PROMPTD_KEY"), "{err}");
    let base = app.base.clone();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        promptd(
            &["diff", "nope", "a", "b", "--url", &base, "--key", MASTER],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = promptd(
        &["history", "../key/list", "--url", "http://127.0.0.1:9"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("is not a prompt id"), "{err}");
    let (code, _, err) = promptd(&["history", "g", "--url", "http://127.0.0.1:9"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach promptd"), "{err}");
}
