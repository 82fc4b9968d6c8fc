//! `promptd import litellm` against a table with LiteLLM's column layout.

use serde_json::json;

use crate::common::*;

const LITELLM_TABLE: &str = r#"
CREATE TABLE "LiteLLM_PromptTable" (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    environment TEXT NOT NULL DEFAULT 'development',
    created_by TEXT,
    litellm_params JSONB NOT NULL,
    prompt_info JSONB,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL,
    UNIQUE (prompt_id, version, environment)
);
INSERT INTO "LiteLLM_PromptTable" VALUES
 ('r1', 'greeting', 1, 'development', 'alice',
  '{"prompt_id":"greeting","prompt_integration":"dotprompt","dotprompt_content":"---\nmodel: gpt-4o\n---\nUser: hi {{name}}"}',
  '{"prompt_type":"db","environment":"development"}', '2026-01-02 03:04:05.678', '2026-01-02 03:04:05.678'),
 ('r2', 'greeting', 2, 'development', 'bob',
  '{"prompt_id":"greeting","prompt_integration":"dotprompt","dotprompt_content":"User: v2"}',
  '{"prompt_type":"db","environment":"staging"}', '2026-01-03 00:00:00', '2026-01-03 00:00:00'),
 ('r3', 'greeting', 1, 'production', 'carol',
  to_jsonb('{"prompt_id":"greeting","prompt_integration":"dotprompt","prompt_data":{"content":"User: prod","metadata":{"model":"m"}}}'::text),
  NULL, '2026-01-04 00:00:00', '2026-01-04 00:00:00'),
 ('r4', 'greeting.v2', 1, 'development', 'dave',
  '{"prompt_integration":"dotprompt","dotprompt_content":"User: bug"}', '{"prompt_type":"db"}', '2026-01-05 00:00:00', '2026-01-05 00:00:00'),
 ('r5', 'lf', 1, 'development', NULL,
  '{"prompt_integration":"langfuse","langfuse_secret_key":"x"}', '{"prompt_type":"db"}', '2026-01-06 00:00:00', '2026-01-06 00:00:00');
"#;

fn import(from: &str, target: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"))
        .args([
            "import",
            "litellm",
            "--from",
            from,
            "--database-url",
            target,
        ])
        .output()
        .expect("run promptd import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn importing_a_litellm_table_keeps_versions_environments_authors_and_times_and_is_idempotent()
{
    let Some(source) = PgDb::create().await else {
        return;
    };
    source.exec(LITELLM_TABLE).await;
    let app = TestApp::start().await;
    let target = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    let dir = app.stop().await;

    let first = import(&source.url, &target);
    assert!(
        first.starts_with("read 5 rows: imported 3, already present 0, skipped 2"),
        "{first}"
    );
    assert!(
        first.contains("greeting.v2 v1") && first.contains("version suffix"),
        "{first}"
    );
    assert!(
        first.contains("lf v1") && first.contains("'langfuse' is not supported"),
        "{first}"
    );
    let second = import(&source.url, &target);
    assert!(
        second.starts_with("read 5 rows: imported 0, already present 3, skipped 2"),
        "{second}"
    );

    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        ..Opts::default()
    })
    .await;
    let (_, versions) = app.get("/prompts/greeting/versions", MASTER).await;
    let rows: Vec<(String, u64, String)> = versions["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["environment"].as_str().unwrap().into(),
                p["version"].as_u64().unwrap(),
                p["created_by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("production".into(), 1, "carol".into()),
            ("development".into(), 2, "bob".into()),
            ("development".into(), 1, "alice".into())
        ]
    );
    let (_, v1) = app
        .get("/prompts/greeting.v1/info?environment=development", MASTER)
        .await;
    assert_eq!(
        v1["prompt_spec"]["created_at"],
        "2026-01-02T03:04:05.678000Z"
    );
    let (_, v2) = app
        .get("/prompts/greeting.v2/info?environment=development", MASTER)
        .await;
    assert_eq!(
        v2["prompt_spec"]["prompt_info"],
        json!({"prompt_type": "db", "environment": "development"}),
        "the column wins over drifted JSON"
    );
    let (_, prod) = app.get("/prompts/greeting/info", MASTER).await;
    assert_eq!(prod["raw_prompt_template"]["content"], "User: prod");
    // New versions continue after the imported ones.
    assert_eq!(app.create("greeting", "User: v3", None).await["version"], 3);
    source.cleanup().await;
}
