//! Several promptd processes on one PostgreSQL database (skipped without
//! `PROMPTD_TEST_POSTGRES_URL`; CI sets it).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    send(c.get(url).bearer_auth(MASTER)).await
}

/// Polls `url` until `done` holds, returning how long it took.
async fn wait_until(
    c: &reqwest::Client,
    url: &str,
    limit: Duration,
    done: impl Fn(u16, &Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let (s, body) = get(c, url.to_owned()).await;
        if done(s, &body) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not seen within {limit:?}: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn serve_refuses_an_unmigrated_postgres_database_and_says_what_to_run() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let err = Process::serve(&["--database-url", &db.url], &[])
        .err()
        .expect("refuses to start");
    assert!(err.contains("promptd migrate"), "{err}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_write_on_one_instance_is_served_by_the_other_within_moments() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let a = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();

    let (s, body) = send(
        c.post(a.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body("shared", "User: one", None)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let took = wait_until(
        &c,
        &b.url("/prompts/shared/info"),
        Duration::from_millis(500),
        |s, _| s == 200,
    )
    .await;
    eprintln!("create visible on B after {took:?}");

    send(
        c.put(a.url("/prompts/shared"))
            .bearer_auth(MASTER)
            .json(&prompt_body("shared", "User: two", None)),
    )
    .await;
    wait_until(
        &c,
        &b.url("/prompts/shared/info"),
        Duration::from_millis(500),
        |_, v| v["prompt_spec"]["version"] == 2,
    )
    .await;

    let (s, out) = send(
        c.post(b.url("/key/generate"))
            .bearer_auth(MASTER)
            .json(&json!({"user_role": "proxy_admin_viewer"})),
    )
    .await;
    assert_eq!(s, 200);
    let key = out["key"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let (s, _) = send(c.get(a.url("/prompts/list")).bearer_auth(&key)).await;
        if s == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "key from B not accepted by A"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    send(c.delete(b.url("/prompts/shared")).bearer_auth(MASTER)).await;
    wait_until(
        &c,
        &a.url("/prompts/shared/info"),
        Duration::from_millis(500),
        |s, _| s == 404,
    )
    .await;
    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn two_instances_with_32_concurrent_puts_each_get_64_consecutive_versions() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let a = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();
    let (s, _) = send(
        c.post(a.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body("race", "User: 0", None)),
    )
    .await;
    assert_eq!(s, 200);
    wait_until(
        &c,
        &b.url("/prompts/race/info"),
        Duration::from_secs(2),
        |s, _| s == 200,
    )
    .await;
    let puts = (0..64)
        .map(|i| {
            let p = if i % 2 == 0 { &a } else { &b };
            c.put(p.url("/prompts/race"))
                .bearer_auth(MASTER)
                .json(&prompt_body("race", &format!("User: {i}"), None))
        })
        .collect();
    assert_eq!(
        concurrent_versions(puts).await,
        (2..=65).collect::<Vec<u64>>()
    );
    for p in [&a, &b] {
        wait_until(
            &c,
            &p.url("/prompts/race/versions"),
            Duration::from_secs(2),
            |_, v| v["prompts"].as_array().is_some_and(|a| a.len() == 65),
        )
        .await;
    }
    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn when_the_database_is_unreachable_reads_keep_working_writes_get_503_and_all_recovers() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let cfg = "promptd_settings:\n  database_acquire_timeout_ms: 1000\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let a = Process::serve(
        &[
            "--database-url",
            &db.url,
            "--config",
            cfg_path.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();
    send(
        c.post(a.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body("p", "User: hi", None)),
    )
    .await;

    // Take the database away: refuse new connections and cut the existing ones.
    db.admin(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
        db.name()
    ))
    .await;
    db.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
        db.name()
    ))
    .await;

    let (s, _) = get(&c, a.url("/prompts/p/info")).await;
    assert_eq!(s, 200, "reads are served from memory");
    let start = Instant::now();
    let (s, body) = send(
        c.put(a.url("/prompts/p"))
            .bearer_auth(MASTER)
            .json(&prompt_body("p", "User: x", None)),
    )
    .await;
    assert_eq!(s, 503, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the write failed fast ({:?})",
        start.elapsed()
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("database is unavailable")
    );
    let (s, _) = send(c.get(a.url("/health/readiness"))).await;
    assert_eq!(s, 503);

    // Bring it back: writes work again and the other instance hears about them.
    db.admin(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
        db.name()
    ))
    .await;
    let start = Instant::now();
    loop {
        let (s, _) = send(
            c.put(a.url("/prompts/p"))
                .bearer_auth(MASTER)
                .json(&prompt_body("p", "User: back", None)),
        )
        .await;
        if s == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "writes did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until(
        &c,
        &b.url("/prompts/p/info"),
        Duration::from_secs(10),
        |_, v| v["raw_prompt_template"]["content"] == "User: back",
    )
    .await;
    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn a_promotion_on_one_instance_is_served_by_the_other() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let a = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();
    for (env, text) in [("staging", "User: staged"), ("production", "User: live")] {
        let (s, body) = send(
            c.post(a.url("/prompts"))
                .bearer_auth(MASTER)
                .json(&prompt_body("rel", text, Some(env))),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, body) = send(
        c.post(a.url("/prompts/rel/promote"))
            .bearer_auth(MASTER)
            .json(&json!({"from_environment": "staging", "to_environment": "production"})),
    )
    .await;
    assert_eq!((s, body["version"].clone()), (200, json!(2)), "{body}");
    wait_until(
        &c,
        &b.url("/prompts/rel/info"),
        Duration::from_millis(500),
        |s, body| {
            s == 200
                && body["prompt_spec"]["version"] == 2
                && body["raw_prompt_template"]["content"] == "User: staged"
        },
    )
    .await;
    // B answers the ETag A's write made, and the same history with the same cursors.
    let tag = |url: String| {
        let c = c.clone();
        async move {
            let r = c.get(url).bearer_auth(MASTER).send().await.unwrap();
            r.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    let on_a = tag(a.url("/prompts/rel/info?environment=production")).await;
    let on_b = tag(b.url("/prompts/rel/info?environment=production")).await;
    assert!(on_a.starts_with("\"production.v2."), "{on_a}");
    assert_eq!(on_a, on_b);
    let (_, ha) = get(&c, a.url("/prompts/rel/history")).await;
    let (_, hb) = get(&c, b.url("/prompts/rel/history")).await;
    assert_eq!(ha, hb);
    assert_eq!(hb["events"][0]["kind"], "promote");
    assert_eq!(hb["events"][0]["source"], "staging.v1");
    // A stale If-Match on B is refused: B checks in the database, not in its memory.
    let stale = send(
        c.put(b.url("/prompts/rel"))
            .bearer_auth(MASTER)
            .header("if-match", on_a.replace("v2", "v1"))
            .json(&prompt_body("rel", "User: late", Some("production"))),
    )
    .await;
    assert_eq!(stale.0, 412, "{}", stale.1);
    // Deleting on A moves the versions to the trash that B lists; restoring on B is served by A.
    let (s, _) = send(
        c.delete(a.url("/prompts/rel?environment=production"))
            .bearer_auth(MASTER),
    )
    .await;
    assert_eq!(s, 200);
    wait_until(
        &c,
        &b.url("/prompts/rel/info?environment=production"),
        Duration::from_millis(500),
        |s, _| s == 404,
    )
    .await;
    let (_, trash) = get(&c, b.url("/prompts/trash")).await;
    assert_eq!(trash["versions"].as_array().unwrap().len(), 2);
    let (s, body) = send(
        c.post(b.url("/prompts/rel/restore"))
            .bearer_auth(MASTER)
            .json(&json!({"environment": "production"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    wait_until(
        &c,
        &a.url("/prompts/rel/info?environment=production"),
        Duration::from_millis(500),
        |s, body| s == 200 && body["prompt_spec"]["version"] == 2,
    )
    .await;
    drop((a, b));
    db.cleanup().await;
}
