//! Prompts as code and data you can't lose: `POST /prompts/batch` (all or nothing),
//! `promptd push/pull/diff DIR`, and `promptd backup/restore/copy`, against real servers on
//! SQLite and PostgreSQL.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

fn promptd(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"))
        .args(args)
        .env_remove("PROMPTD_URL")
        .env_remove("PROMPTD_KEY")
        .env_remove("PROMPTD_DATABASE_URL")
        .output()
        .expect("run promptd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        promptd(&refs)
    })
    .await
    .expect("promptd")
}

fn item(id: &str, env: &str, content: &str) -> Value {
    json!({"prompt_id": id, "environment": env,
           "litellm_params": {"prompt_id": id, "prompt_integration": "dotprompt", "dotprompt_content": content}})
}

async fn start(pg: Option<&PgDb>) -> TestApp {
    TestApp::start_with(Opts {
        database_url: pg.map(|p| p.url.clone()),
        ..Opts::default()
    })
    .await
}

/// Runs `story` on SQLite, then on PostgreSQL when it is configured.
macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $story:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $story(None).await;
        }
        #[tokio::test]
        async fn $postgres() {
            if let Some(pg) = PgDb::migrated().await {
                $story(Some(&pg)).await;
                pg.cleanup().await;
            }
        }
    };
}

both_backends!(
    a_bad_item_in_the_middle_of_1000_writes_nothing_on_sqlite,
    a_bad_item_in_the_middle_of_1000_writes_nothing_on_postgresql,
    a_bad_item_in_the_middle_of_1000_writes_nothing
);

async fn a_bad_item_in_the_middle_of_1000_writes_nothing(pg: Option<&PgDb>) {
    let app = start(pg).await;
    app.create("p1", "User: before", Some("staging")).await;
    let mut items: Vec<Value> = (0..1000)
        .map(|i| item(&format!("p{i}"), "staging", &format!("User: {i}")))
        .collect();
    items[500] = item("p500", "staging", "User: {% if %}");
    items[501]["prompt_id"] = json!("bad id!");
    let (s, body) = app
        .post("/prompts/batch", MASTER, json!({"items": items}))
        .await;
    assert_eq!(s, 400, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let indices: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [500, 501], "{body}");
    assert!(
        errors[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Invalid prompt template"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was written")
    );
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 1, "only p1");
    let (_, hist) = app.get("/prompts/p2/history", MASTER).await;
    assert!(
        hist["events"].as_array().is_none_or(Vec::is_empty),
        "{hist}"
    );
    // A refusal found inside the transaction (If-Match) also writes nothing.
    let (_, p1) = app
        .get("/prompts/p1/info?environment=staging", MASTER)
        .await;
    assert_eq!(p1["prompt_spec"]["version"], 1, "{p1}");
    items[500] = item("p500", "staging", "User: fine");
    items[501] = item("p501", "staging", "User: fine");
    items[1]["if_match"] = json!("\"staging.v7.0000000000000000\"");
    let (s, body) = app
        .post("/prompts/batch", MASTER, json!({"items": items}))
        .await;
    assert_eq!(s, 412, "{body}");
    assert_eq!(body["errors"][0]["index"], 1, "{body}");
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 1);
    // The same batch without the stale tag goes through whole.
    items[1].as_object_mut().unwrap().remove("if_match");
    let (s, body) = app
        .post(
            "/prompts/batch",
            MASTER,
            json!({"items": items, "message": "all at once"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["summary"]["create"], 999);
    assert_eq!(body["summary"]["update"], 1);
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(list["prompts"].as_array().unwrap().len(), 1000);
    let (_, hist) = app.get("/prompts/p1/history", MASTER).await;
    assert_eq!(hist["events"][0]["message"], "all at once");
    assert_eq!(hist["events"][0]["version"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_skips_unchanged_items_prunes_only_named_environments_and_records_each_change() {
    let app = TestApp::start().await;
    app.create("keep", "User: same", Some("staging")).await;
    app.create("old", "User: old", Some("staging")).await;
    app.create("old", "User: old", Some("production")).await;
    let body = json!({
        "items": [item("keep", "staging", "User: same"), item("new", "staging", "User: new")],
        "prune": true, "dry_run": true, "message": "sync"});
    let (s, plan) = app.post("/prompts/batch", MASTER, body.clone()).await;
    assert_eq!(s, 200, "{plan}");
    let actions: Vec<(String, String)> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["prompt_id"].as_str().unwrap().to_owned(),
                i["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("keep".into(), "unchanged".into()),
            ("new".into(), "create".into()),
            ("old".into(), "delete".into())
        ]
    );
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(
        list["prompts"].as_array().unwrap().len(),
        3,
        "a dry run writes nothing"
    );
    let mut apply = body;
    apply["dry_run"] = json!(false);
    let (s, done) = app.post("/prompts/batch", MASTER, apply).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(
        done["summary"],
        json!({"create": 1, "update": 0, "unchanged": 1, "delete": 1})
    );
    let (s, _) = app
        .get("/prompts/old/info?environment=staging", MASTER)
        .await;
    assert_eq!(s, 404, "pruned from staging");
    let (s, _) = app
        .get("/prompts/old/info?environment=production", MASTER)
        .await;
    assert_eq!(
        s, 200,
        "production was not named, so nothing there is pruned"
    );
    let (_, trash) = app.get("/prompts/trash?prompt_id=old", MASTER).await;
    assert_eq!(trash["versions"].as_array().unwrap().len(), 1, "{trash}");
    let (_, hist) = app.get("/prompts/keep/history", MASTER).await;
    assert_eq!(
        hist["events"].as_array().unwrap().len(),
        1,
        "unchanged: no event"
    );
    let (_, hist) = app.get("/prompts/old/history", MASTER).await;
    assert_eq!(hist["events"][0]["kind"], "delete");
    assert_eq!(hist["events"][0]["message"], "sync");
}

#[tokio::test]
async fn a_batch_item_the_key_may_not_write_is_refused_with_403_and_nothing_is_written() {
    let app = TestApp::start().await;
    let (s, out) = app
        .post(
            "/key/generate",
            MASTER,
            json!({"user_role": "proxy_admin", "metadata": {"prompts": ["mine"]}}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let key = out["key"].as_str().unwrap().to_owned();
    let (s, body) = app
        .post(
            "/prompts/batch",
            &key,
            json!({"items": [item("mine", "staging", "User: a"), item("theirs", "staging", "User: b")]}),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["errors"][0]["index"], 1);
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("theirs")
    );
    let (s, _) = app.get("/prompts/mine/info", MASTER).await;
    assert_eq!(s, 404);
    let (s, body) = app
        .post(
            "/prompts/batch",
            MASTER,
            json!({"items": [item("a", "staging", "User: a"), item("a", "staging", "User: b")]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("again")
    );
}

both_backends!(
    push_pull_and_push_again_round_trip_exactly_on_sqlite,
    push_pull_and_push_again_round_trip_exactly_on_postgresql,
    push_pull_and_push_again_round_trip_exactly
);

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

async fn push_pull_and_push_again_round_trip_exactly(pg: Option<&PgDb>) {
    let app = start(pg).await;
    // A prompt written through the API with settings beyond the template (a secret included).
    let (s, out) = app
        .post(
            "/prompts",
            MASTER,
            json!({"prompt_id": "api_made", "litellm_params": {"prompt_integration": "dotprompt",
                "dotprompt_content": GREETING, "api_key": "sk-upstream-secret", "ignore_prompt_manager_model": true,
                "custom": {"a": 1}}, "prompt_info": {"environment": "production"}}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    write(&src, "staging/greeting.prompt", GREETING);
    write(&src, "production/greeting.prompt", GREETING);
    write(&src, "production/short.prompt", "User: hi\n");
    let dir = src.display().to_string();
    let base = app.base.clone();
    let remote = |a: Vec<&str>| {
        let mut v: Vec<String> = a.into_iter().map(str::to_owned).collect();
        v.extend(["--url".into(), base.clone(), "--key".into(), MASTER.into()]);
        v
    };
    let (code, out, err) = run(remote(vec!["push", &dir, "--dry-run"])).await;
    assert_eq!(code, 2, "changes planned: {out}{err}");
    assert!(out.contains("+ staging/greeting  (new)"), "{out}");
    assert!(out.contains("Plan: 3 to create"), "{out}");
    let (_, list) = app.get("/prompts/list", MASTER).await;
    assert_eq!(
        list["prompts"].as_array().unwrap().len(),
        1,
        "a dry run writes nothing"
    );
    let (code, out, err) = run(remote(vec!["push", &dir, "-m", "from git"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Applied: 3 created"), "{out}");
    let (_, hist) = app.get("/prompts/short/history", MASTER).await;
    assert_eq!(hist["events"][0]["message"], "from git");
    let (code, out, _) = run(remote(vec!["push", &dir, "--dry-run"])).await;
    assert_eq!(code, 0, "in sync: {out}");
    // Pull everything, push the pulled folder: nothing to do, byte for byte.
    let pulled = work.path().join("pulled");
    let pdir = pulled.display().to_string();
    let (code, out, err) = run(remote(vec!["pull", &pdir])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(pulled.join("production/short.prompt")).unwrap(),
        "User: hi\n"
    );
    let extra: Value = serde_json::from_str(
        &std::fs::read_to_string(pulled.join("production/api_made.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(extra["api_key"], "**redacted**", "never the secret");
    let (code, out, err) = run(remote(vec!["push", &pdir, "--dry-run"])).await;
    assert_eq!(code, 0, "pull then push reports nothing: {out}{err}");
    assert!(out.contains("No changes: 4 prompt(s) in sync."), "{out}");
    let (code, out, _) = run(remote(vec!["push", &pdir])).await;
    assert_eq!(code, 0, "{out}");
    let (_, info) = app.get("/prompts/api_made/info", MASTER).await;
    assert_eq!(
        info["prompt_spec"]["version"], 1,
        "nothing new was written: {info}"
    );
    // A change and a removal: the plan shows both; `diff DIR` prints it, `--prune` applies it.
    write(&pulled, "production/short.prompt", "User: hello\n");
    std::fs::remove_file(pulled.join("staging/greeting.prompt")).unwrap();
    let (code, out, _) = run(remote(vec!["diff", &pdir, "--prune"])).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("~ production/short  (changes v1)"), "{out}");
    assert!(out.contains("+User: hello"), "{out}");
    assert!(out.contains("- staging/greeting"), "{out}");
    let (code, out, _) = run(remote(vec!["push", &pdir, "--dry-run"])).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        !out.contains("- staging/greeting"),
        "no removal without --prune: {out}"
    );
    let (code, out, err) = run(remote(vec!["push", &pdir, "--prune", "-m", "tidy"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 changed, 1 removed"), "{out}");
    let (s, _) = app
        .get("/prompts/greeting/info?environment=staging", MASTER)
        .await;
    assert_eq!(s, 404);
    // Errors: exit 1 with the reason.
    write(&pulled, "production/broken.prompt", "User: {% if %}");
    let (code, _, err) = run(remote(vec!["push", &pdir, "--dry-run"])).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("production/broken"), "{err}");
    let (code, _, err) = run(remote(vec!["diff", "a", "b"])).await;
    assert_eq!(code, 1);
    assert!(err.contains("DIR"), "{err}");
    app.stop().await;
}

/// Every answer a client can read about every prompt, to compare two servers.
async fn answers(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get("/prompts/list", MASTER).await;
    let mut out = vec![list.clone()];
    let mut ids: Vec<String> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["prompt_id"].as_str().unwrap().to_owned())
        .collect();
    ids.dedup();
    for id in ids {
        for path in [
            format!("/prompts/{id}/info"),
            format!("/prompts/{id}/versions"),
            format!("/prompts/{id}/history?limit=1000"),
        ] {
            out.push(app.get(&path, MASTER).await.1);
        }
    }
    out.push(app.get("/prompts/trash", MASTER).await.1);
    out.push(app.get("/history?limit=1000", MASTER).await.1);
    out
}

#[tokio::test]
async fn a_backup_taken_under_concurrent_writes_restores_every_acknowledged_version_byte_for_byte()
{
    let app = TestApp::start().await;
    let db = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    for i in 0..50 {
        app.create(
            &format!("seed{i}"),
            &format!("User: seed {i}"),
            Some("staging"),
        )
        .await;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(parking_lot_free::Acked::default());
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, stop, acked) = (
            app.client.clone(),
            app.base.clone(),
            stop.clone(),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = client
                    .post(format!("{base}/prompts"))
                    .bearer_auth(MASTER)
                    .json(&prompt_body(
                        &format!("w{w}"),
                        &format!("User: {n}"),
                        Some("staging"),
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                acked.push(r.json::<Value>().await.unwrap());
                n += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = acked.snapshot();
    let file = app.dir.path().join("b.jsonl.gz").display().to_string();
    let (code, out, err) = run(vec![
        "backup".into(),
        "--database-url".into(),
        db,
        "--out".into(),
        file.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    assert!(before.len() > 10, "the writers were busy: {}", before.len());
    assert!(
        acked.snapshot().len() > before.len(),
        "writes went on during the backup"
    );
    // Restore into a new database, serve it, and read every acknowledged version back.
    let target = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", target.path().join("promptd.db").display());
    let (code, out, err) = run(vec![
        "restore".into(),
        file,
        "--database-url".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let restored = TestApp::start_with(Opts {
        dir: Some(target),
        ..Opts::default()
    })
    .await;
    for v in &before {
        let id = v["prompt_id"].as_str().unwrap(); // "w0.v7"
        let (s, got) = restored
            .get(&format!("/prompts/{id}/info?environment=staging"), MASTER)
            .await;
        assert_eq!(s, 200, "{id} was acknowledged before the backup: {got}");
        let spec = &got["prompt_spec"];
        for field in [
            "litellm_params",
            "prompt_info",
            "created_at",
            "updated_at",
            "version",
            "created_by",
        ] {
            assert_eq!(spec[field], v[field], "{id}: {field}");
        }
    }
    restored.stop().await;
}

/// A tiny shared list (the test needs no extra dependency).
mod parking_lot_free {
    #[derive(Default)]
    pub struct Acked(std::sync::Mutex<Vec<serde_json::Value>>);
    impl Acked {
        pub fn push(&self, v: serde_json::Value) {
            self.0.lock().unwrap().push(v);
        }
        pub fn snapshot(&self) -> Vec<serde_json::Value> {
            self.0.lock().unwrap().clone()
        }
    }
}

#[tokio::test]
async fn promptd_copy_moves_sqlite_to_postgresql_and_the_new_server_answers_the_same() {
    let Some(pg) = PgDb::create().await else {
        return;
    };
    let app = TestApp::start().await;
    app.create("g", GREETING, Some("staging")).await;
    app.create("g", "User: v2", Some("staging")).await;
    let (s, _) = app
        .post(
            "/prompts/g/promote",
            MASTER,
            json!({"from_environment": "staging", "to_environment": "production", "message": "ship"}),
        )
        .await;
    assert_eq!(s, 200);
    app.create("gone", "User: x", None).await;
    let (s, _) = app.delete("/prompts/gone", MASTER).await;
    assert_eq!(s, 200);
    let key = app.key("internal_user", Some(&["g"])).await;
    let before = answers(&app).await;
    let db = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    let (code, out, err) = run(vec![
        "copy".into(),
        "--from".into(),
        db,
        "--to".into(),
        pg.url.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let moved = start(Some(&pg)).await;
    assert_eq!(
        answers(&moved).await,
        before,
        "every answer is the same after the move"
    );
    let (s, _) = moved.get("/prompts/g/info", &key).await;
    assert_eq!(s, 200, "keys came along (their hashes)");
    let (s, out) = moved.post("/prompts/g/restore", MASTER, json!({})).await;
    assert_eq!(s, 404, "{out}");
    let (s, out) = moved.post("/prompts/gone/restore", MASTER, json!({})).await;
    assert_eq!(s, 200, "the trash came along: {out}");
    // A second copy into the now non-empty database is refused.
    let db = format!("sqlite://{}", app.dir.path().join("promptd.db").display());
    let (code, _, err) = run(vec![
        "copy".into(),
        "--from".into(),
        db,
        "--to".into(),
        pg.url.clone(),
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    moved.stop().await;
    app.stop().await;
    pg.cleanup().await;
}

/// A backup of `n` versions, built directly (fast), for restore tests.
fn big_backup(dir: &Path, name: &str, n: usize) -> std::path::PathBuf {
    use promptd_store::backup::*;
    let versions: Vec<VersionRow> = (0..n)
        .map(|i| VersionRow {
            id: format!("id-{i}"),
            prompt_id: format!("p{i}"),
            version: 1,
            environment: "staging".into(),
            created_by: None,
            litellm_params: format!(
                "{{\"prompt_integration\":\"dotprompt\",\"dotprompt_content\":\"User: prompt number {i}\"}}"
            ),
            prompt_info: "{\"prompt_type\":\"db\",\"environment\":\"staging\"}".into(),
            created_at: 1,
            updated_at: 1,
            origin: "create".into(),
            origin_source: None,
            message: None,
            actor: None,
            content_sha256: None,
            deleted_at: None,
            deleted_by: None,
        })
        .collect();
    let snap = Snapshot {
        header: Header {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            schema_version: SCHEMA_VERSION,
            promptd_version: "test".into(),
            source_backend: "sqlite".into(),
            created_at: 1,
        },
        counters: versions
            .iter()
            .map(|v| CounterRow {
                prompt_id: v.prompt_id.clone(),
                environment: v.environment.clone(),
                last_version: 1,
            })
            .collect(),
        versions,
        events: Vec::new(),
        last_seq: 0,
        keys: Vec::new(),
    };
    let file = dir.join(format!("{name}.jsonl.gz"));
    write_backup(&snap, &file).unwrap();
    file
}

async fn count_versions(url: &str) -> i64 {
    let store = promptd_store::SqlStore::connect(url, &Default::default())
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prompt_versions")
        .fetch_one(store.pool())
        .await
        .unwrap_or(0);
    store.close().await;
    n
}

both_backends!(
    a_restore_killed_at_any_moment_leaves_the_target_empty_or_complete_on_sqlite,
    a_restore_killed_at_any_moment_leaves_the_target_empty_or_complete_on_postgresql,
    a_restore_killed_at_any_moment_leaves_the_target_empty_or_complete
);

async fn a_restore_killed_at_any_moment_leaves_the_target_empty_or_complete(pg: Option<&PgDb>) {
    const N: usize = 30_000;
    const M: usize = 29_000;
    let work = tempfile::tempdir().unwrap();
    let big = big_backup(work.path(), "big", N);
    let other = big_backup(work.path(), "other", M);
    let url = match pg {
        Some(p) => p.url.clone(),
        None => format!("sqlite://{}", work.path().join("t.db").display()),
    };
    let restore = |file: &Path, force: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"));
        c.args([
            "restore",
            &file.display().to_string(),
            "--database-url",
            &url,
        ]);
        if force {
            c.arg("--force");
        }
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    // How long a whole restore takes here, to kill the next ones part of the way through.
    let t0 = std::time::Instant::now();
    assert!(restore(&other, false).status().unwrap().success());
    let full = t0.elapsed();
    assert_eq!(count_versions(&url).await, M as i64);
    // Killed while replacing everything (--force): the old content, or the new, never a mix.
    for fraction in [0.3, 0.6, 0.9] {
        let mut child = restore(&big, true).spawn().unwrap();
        tokio::time::sleep(full.mul_f64(fraction)).await;
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let n = count_versions(&url).await;
        assert!(
            n == M as i64 || n == N as i64,
            "after a kill at {fraction} of a restore: {n} versions"
        );
        if n == N as i64 {
            break;
        }
    }
    // Killed while restoring into an empty database: empty or complete.
    if let Some(pg) = pg {
        pg.exec("DELETE FROM prompt_versions; DELETE FROM prompt_counters")
            .await;
    } else {
        for f in ["t.db", "t.db-wal", "t.db-shm"] {
            let _ = std::fs::remove_file(work.path().join(f));
        }
    }
    let mut child = restore(&big, false).spawn().unwrap();
    tokio::time::sleep(full.mul_f64(0.6)).await;
    let _ = child.kill();
    let _ = child.wait();
    let n = count_versions(&url).await;
    assert!(n == 0 || n == N as i64, "after a kill: {n} versions");
    // Afterwards a restore completes (the target is empty, or --force replaces it).
    assert!(restore(&big, true).status().unwrap().success());
    assert_eq!(count_versions(&url).await, N as i64);
}
