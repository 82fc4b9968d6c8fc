//! Durability: what was acknowledged is there after a restart.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn prompts_versions_and_keys_survive_a_restart() {
    let app = TestApp::start().await;
    app.create("g", "User: one", None).await;
    app.create("g", "User: two", None).await;
    app.create("g", "User: prod", Some("production")).await;
    let key = app.key("internal_user", Some(&["g"])).await;
    let (_, before) = app.get("/prompts/g/versions", MASTER).await;
    let dir = app.stop().await;

    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        ..Opts::default()
    })
    .await;
    let (_, after) = app.get("/prompts/g/versions", MASTER).await;
    assert_eq!(before, after);
    let (s, info) = app.get("/prompts/g/info", &key).await;
    assert_eq!(s, 200);
    assert_eq!(info["raw_prompt_template"]["content"], "User: prod");
    // Numbering continues where it stopped.
    assert_eq!(app.create("g", "User: three", None).await["version"], 3);
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_behind_after_a_restart() {
    let app = TestApp::start().await;
    let (s, _) = app
        .post("/prompts", MASTER, prompt_body("bad", "User: {{ x", None))
        .await;
    assert_eq!(s, 400);
    let dir = app.stop().await;
    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        ..Opts::default()
    })
    .await;
    assert_eq!(
        app.get("/prompts/list", MASTER).await.1,
        json!({"prompts": []})
    );
}

#[tokio::test]
async fn serve_refuses_a_database_migrated_by_a_newer_promptd() {
    let app = TestApp::start().await;
    let db = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    let dir = app.stop().await;
    let store = promptd_store::SqlStore::connect(&db, &Default::default())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999, 'from the future', TRUE, X'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let err = TestApp::try_start(Opts {
        dir: Some(dir),
        ..Opts::default()
    })
    .await
    .err()
    .expect("refuses to start");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("newer promptd") && msg.contains("999"),
        "{msg}"
    );
}
