//! The ledger: history of every change, ETags and compare-and-swap, the trash and restore, and
//! the release story from development to production and back, on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Sends a request and returns status, ETag header and body.
async fn tagged(r: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = r.send().await.expect("request");
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    (
        status,
        etag,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn etag(app: &TestApp, path: &str) -> String {
    let (s, tag, body) = tagged(app.req(Method::GET, path, Some(MASTER))).await;
    assert_eq!(s, 200, "{path}: {body}");
    tag.unwrap_or_else(|| panic!("{path} answered no ETag"))
}

fn with_if_match(r: reqwest::RequestBuilder, tag: &str) -> reqwest::RequestBuilder {
    r.header("if-match", tag)
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    let (s, body) = app.get(&format!("/prompts/{id}/history"), MASTER).await;
    assert_eq!(s, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}.v{}",
                e["kind"].as_str().unwrap(),
                e["environment"].as_str().unwrap_or("-"),
                e["version"]
            )
        })
        .collect()
}

fn served_content(info: &Value) -> &str {
    info["raw_prompt_template"]["content"].as_str().unwrap()
}

#[tokio::test]
async fn every_write_is_an_event_with_actor_message_source_and_content_hash() {
    let app = TestApp::start().await;
    let mut body = prompt_body("g", "User: one", Some("staging"));
    body["message"] = json!("first draft");
    let (s, _) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 200);
    let key = {
        let (s, out) = app
            .post(
                "/key/generate",
                MASTER,
                json!({"user_role": "proxy_admin", "key_alias": "release-bot"}),
            )
            .await;
        assert_eq!(s, 200, "{out}");
        out["key"].as_str().unwrap().to_owned()
    };
    let (s, out) = app
        .post(
            "/prompts/g/promote",
            &key,
            json!({"from_environment": "staging", "to_environment": "production", "message": "ship it"}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let events = history(&app, "g").await;
    assert_eq!(
        kinds(&events),
        ["promote production.v1", "create staging.v1"],
        "newest first"
    );
    let (promote, create) = (&events[0], &events[1]);
    assert_eq!(promote["actor"], "release-bot");
    assert_eq!(promote["message"], "ship it");
    assert_eq!(promote["source"], "staging.v1");
    assert_eq!(create["actor"], "master key");
    assert_eq!(create["message"], "first draft");
    assert_eq!(create["source"], Value::Null);
    let hash = create["content_sha256"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(
        promote["content_sha256"], create["content_sha256"],
        "a promoted copy has its source's content hash"
    );
    assert!(create["created_at"].as_str().unwrap().ends_with('Z'));
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains(&key) && !text.contains("sk-"),
        "no key in the ledger"
    );
    // PUT is an update, PATCH a patch; rollback names the version it copied.
    let mut put = prompt_body("g", "User: two", Some("production"));
    put["message"] = json!("reword");
    let (s, _) = app.put("/prompts/g", MASTER, put).await;
    assert_eq!(s, 200);
    let (s, _) = app
        .patch(
            "/prompts/g?environment=production",
            MASTER,
            json!({"prompt_info": {"prompt_type": "db", "owner": "ada"}, "message": "owner"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post(
            "/prompts/g/rollback",
            MASTER,
            json!({"environment": "production", "to_version": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let events = history(&app, "g").await;
    assert_eq!(
        kinds(&events[..3]),
        [
            "rollback production.v4",
            "patch production.v3",
            "update production.v2"
        ]
    );
    assert_eq!(events[0]["source"], "v1");
    assert_eq!(events[1]["message"], "owner");
}

#[tokio::test]
async fn a_message_that_is_not_a_short_string_is_refused_by_field() {
    let app = TestApp::start().await;
    let mut body = prompt_body("g", "User: one", None);
    body["message"] = json!(42);
    let (s, out) = app.post("/prompts", MASTER, body.clone()).await;
    assert_eq!(s, 422, "{out}");
    assert_eq!(out["detail"][0]["loc"], json!(["body", "message"]));
    body["message"] = json!("x".repeat(4097));
    let (s, out) = app.post("/prompts", MASTER, body).await;
    assert_eq!(s, 422, "{out}");
    assert!(out["detail"][0]["msg"].as_str().unwrap().contains("4096"));
}

#[tokio::test]
async fn history_pages_newest_first_with_a_cursor() {
    let app = TestApp::start().await;
    for i in 0..7 {
        app.create("g", &format!("User: {i}"), None).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/prompts/g/history?limit=3&cursor={c}"),
            None => "/prompts/g/history?limit=3".to_owned(),
        };
        let (s, page) = app.get(&path, MASTER).await;
        assert_eq!(s, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            seen.push(e["version"].as_u64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1]);
    let (s, out) = app.get("/prompts/g/history?cursor=abc", MASTER).await;
    assert_eq!(s, 400, "{out}");
    let (s, out) = app.get("/prompts/g/history?limit=0", MASTER).await;
    assert_eq!(s, 400, "{out}");
    let (s, _) = app.get("/prompts/never/history", MASTER).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_audit_export_lists_every_prompt_oldest_first_for_admins_and_viewers_only() {
    let app = TestApp::start().await;
    app.create("a", "User: a", None).await;
    app.create("b", "User: b", None).await;
    app.create("a", "User: a2", None).await;
    let (s, all) = app.get("/history?limit=2", MASTER).await;
    assert_eq!(s, 200, "{all}");
    let ids: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["prompt_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(all["has_more"], true);
    let next = all["next_cursor"].as_str().unwrap();
    let (_, rest) = app.get(&format!("/history?after={next}"), MASTER).await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    let last = rest["next_cursor"].as_str().unwrap().to_owned();
    // Nothing new: the cursor stays put, so an exporter can keep polling with it.
    let (_, none) = app.get(&format!("/history?after={last}"), MASTER).await;
    assert_eq!(none["events"], json!([]));
    assert_eq!(none["next_cursor"], last);
    // A viewer may export; an allow-listed viewer sees its prompts only; a user may not.
    let viewer = app.key("proxy_admin_viewer", None).await;
    let (s, _) = app.get("/history", &viewer).await;
    assert_eq!(s, 200);
    let only_b = app.key("proxy_admin_viewer", Some(&["b"])).await;
    let (_, some) = app.get("/history", &only_b).await;
    assert_eq!(some["events"].as_array().unwrap().len(), 1);
    assert_eq!(some["events"][0]["prompt_id"], "b");
    let user = app.key("internal_user", Some(&["a"])).await;
    let (s, out) = app.get("/history", &user).await;
    assert_eq!(s, 403, "{out}");
    // One prompt's history needs the right to read it.
    let (s, _) = app.get("/prompts/a/history", &user).await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/prompts/b/history", &user).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn reads_answer_an_etag_naming_the_served_version_and_304_when_it_is_current() {
    let app = TestApp::start().await;
    app.create("g", "User: one", Some("production")).await;
    app.create("g", "User: dev", Some("development")).await;
    let tag = etag(&app, "/prompts/g/info").await;
    assert!(tag.starts_with("\"production.v1."), "{tag}");
    assert_eq!(etag(&app, "/prompts/g").await, tag);
    assert_eq!(etag(&app, "/prompts/g/versions").await, tag);
    let dev = etag(&app, "/prompts/g/info?environment=development").await;
    assert!(dev.starts_with("\"development.v1."), "{dev}");
    for path in ["/prompts/g/info", "/prompts/g", "/prompts/g/versions"] {
        let (s, again, body) = tagged(
            app.req(Method::GET, path, Some(MASTER))
                .header("if-none-match", &tag),
        )
        .await;
        assert_eq!(s, 304, "{path}");
        assert_eq!(again.as_deref(), Some(tag.as_str()));
        assert_eq!(body, Value::String(String::new()), "no body with a 304");
    }
    let list = etag(&app, "/prompts/list").await;
    let (s, _, _) = tagged(
        app.req(Method::GET, "/prompts/list", Some(MASTER))
            .header("if-none-match", &list),
    )
    .await;
    assert_eq!(s, 304);
    // A new version changes the tags.
    app.create("g", "User: two", Some("production")).await;
    let (s, new_tag, _) = tagged(
        app.req(Method::GET, "/prompts/g/info", Some(MASTER))
            .header("if-none-match", &tag),
    )
    .await;
    assert_eq!(s, 200);
    assert!(new_tag.unwrap().starts_with("\"production.v2."));
    let (s, _, _) = tagged(
        app.req(Method::GET, "/prompts/list", Some(MASTER))
            .header("if-none-match", &list),
    )
    .await;
    assert_eq!(s, 200, "the list changed");
}

#[tokio::test]
async fn a_write_with_a_stale_if_match_gets_412_with_the_current_etag_and_writes_nothing() {
    let app = TestApp::start().await;
    app.create("g", "User: one", Some("production")).await;
    let seen = etag(&app, "/prompts/g/info?environment=production").await;
    // Someone else saves first.
    app.create("g", "User: theirs", Some("production")).await;
    let current = etag(&app, "/prompts/g/info?environment=production").await;
    let put = prompt_body("g", "User: mine", Some("production"));
    let (s, tag, body) = tagged(with_if_match(
        app.req(Method::PUT, "/prompts/g", Some(MASTER)).json(&put),
        &seen,
    ))
    .await;
    assert_eq!(s, 412, "{body}");
    assert_eq!(tag.as_deref(), Some(current.as_str()));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("changed since you read it"),
        "{body}"
    );
    let (s, body) = app
        .patch(
            "/prompts/g?environment=production",
            MASTER,
            json!({"prompt_info": {"prompt_type": "db"}}),
        )
        .await;
    assert_eq!(s, 200, "a write without If-Match is unconditional: {body}");
    let current = etag(&app, "/prompts/g/info?environment=production").await;
    for (method, path, body) in [
        (
            Method::PATCH,
            "/prompts/g?environment=production",
            json!({"prompt_info": {"prompt_type": "db"}}),
        ),
        (Method::POST, "/prompts", put.clone()),
        (
            Method::POST,
            "/prompts/g/rollback",
            json!({"environment": "production", "to_version": 1}),
        ),
    ] {
        let (s, _, out) = tagged(with_if_match(
            app.req(method.clone(), path, Some(MASTER)).json(&body),
            &seen,
        ))
        .await;
        assert_eq!(s, 412, "{method} {path}: {out}");
    }
    let (s, _, _) = tagged(with_if_match(
        app.req(
            Method::DELETE,
            "/prompts/g?environment=production",
            Some(MASTER),
        ),
        &seen,
    ))
    .await;
    assert_eq!(s, 412);
    let (_, v) = app.get("/prompts/g/versions", MASTER).await;
    assert_eq!(v["prompts"].as_array().unwrap().len(), 3, "nothing written");
    // With the current tag the write goes through.
    let (s, _, body) = tagged(with_if_match(
        app.req(Method::PUT, "/prompts/g", Some(MASTER)).json(&put),
        &current,
    ))
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["version"], 4);
    // `*`: only when the environment has a version.
    let staging = prompt_body("g", "User: s", Some("staging"));
    let (s, _, _) = tagged(with_if_match(
        app.req(Method::PUT, "/prompts/g", Some(MASTER))
            .json(&staging),
        "*",
    ))
    .await;
    assert_eq!(s, 412);
}

#[tokio::test]
async fn deleted_versions_go_to_the_trash_and_come_back_with_their_numbers() {
    let app = TestApp::start().await;
    for i in 1..=3 {
        app.create("g", &format!("User: {i}"), Some("staging"))
            .await;
    }
    app.create("g", "User: p", Some("production")).await;
    let (s, _) = app
        .delete("/prompts/g.v3?environment=staging", MASTER)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .get("/prompts/g.v3/info?environment=staging", MASTER)
        .await;
    assert_eq!(s, 404, "reads behave as before");
    let (s, trash) = app.get("/prompts/trash", MASTER).await;
    assert_eq!(s, 200, "{trash}");
    let row = &trash["versions"][0];
    assert_eq!(
        (
            row["prompt_id"].clone(),
            row["environment"].clone(),
            row["version"].clone()
        ),
        (json!("g"), json!("staging"), json!(3))
    );
    assert_eq!(row["deleted_by"], "master key");
    assert!(row["purge_after"].is_string());
    assert_eq!(
        row["prompt_spec"]["litellm_params"]["dotprompt_content"],
        "User: 3"
    );
    // The number stays taken: the next staging version is 4.
    assert_eq!(
        app.create("g", "User: 4", Some("staging")).await["version"],
        4
    );
    // Delete the whole prompt, then restore one version, then the rest.
    let (s, _) = app.delete("/prompts/g", MASTER).await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/prompts/g", MASTER).await;
    assert_eq!(s, 404);
    let (s, out) = app
        .post(
            "/prompts/g/restore",
            MASTER,
            json!({"environment": "staging", "version": 3, "message": "needed after all"}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["restored"],
        json!([{"environment": "staging", "version": 3}])
    );
    let (_, info) = app.get("/prompts/g/info?environment=staging", MASTER).await;
    assert_eq!(served_content(&info), "User: 3");
    let (s, out) = app.post("/prompts/g/restore", MASTER, json!({})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["restored"].as_array().unwrap().len(), 4);
    let (_, info) = app.get("/prompts/g/info", MASTER).await;
    assert_eq!(served_content(&info), "User: p");
    let (_, info) = app.get("/prompts/g/info?environment=staging", MASTER).await;
    assert_eq!(served_content(&info), "User: 4");
    let (s, out) = app.post("/prompts/g/restore", MASTER, json!({})).await;
    assert_eq!(s, 404, "nothing left in the trash: {out}");
    let (s, out) = app
        .post("/prompts/g/restore", MASTER, json!({"version": 2}))
        .await;
    assert_eq!(s, 400, "one version needs its environment: {out}");
    let events = history(&app, "g").await;
    assert_eq!(events[0]["kind"], "restore");
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "delete").count(),
        5,
        "one delete event per trashed version"
    );
    let restored_3 = events
        .iter()
        .find(|e| e["kind"] == "restore" && e["version"] == 3)
        .unwrap();
    assert_eq!(restored_3["message"], "needed after all");
}

#[tokio::test]
async fn a_purge_destroys_live_and_trashed_versions_and_is_recorded() {
    let app = TestApp::start().await;
    app.create("g", "User: 1", None).await;
    app.create("g", "User: 2", None).await;
    app.delete("/prompts/g.v2?environment=development", MASTER)
        .await;
    let (s, out) = app.delete("/prompts/g?purge=true", MASTER).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["purged"].as_array().unwrap().len(), 2);
    let (_, trash) = app.get("/prompts/trash", MASTER).await;
    assert_eq!(trash["versions"], json!([]));
    let (s, _) = app.post("/prompts/g/restore", MASTER, json!({})).await;
    assert_eq!(s, 404);
    let (s, _) = app.delete("/prompts/g?purge=true", MASTER).await;
    assert_eq!(s, 404, "nothing left to purge");
    let events = history(&app, "g").await;
    assert_eq!(
        kinds(&events[..2]),
        ["purge development.v2", "purge development.v1"]
    );
    // Only admins purge; a viewer cannot even see the trash of prompts outside its list.
    let viewer = app.key("proxy_admin_viewer", None).await;
    app.create("h", "User: h", None).await;
    let (s, _) = app.delete("/prompts/h?purge=true", &viewer).await;
    assert_eq!(s, 403);
    let user = app.key("internal_user", Some(&["h"])).await;
    let (s, _) = app.get("/prompts/trash", &user).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn versions_past_the_trash_retention_are_purged_when_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = "promptd_settings:\n  trash_retention_days: 7\n".to_owned();
    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        config_yaml: Some(config.clone()),
        ..Opts::default()
    })
    .await;
    app.create("old", "User: old", None).await;
    app.create("recent", "User: recent", None).await;
    app.delete("/prompts/old", MASTER).await;
    app.delete("/prompts/recent", MASTER).await;
    let dir = app.stop().await;
    // Make the first deletion eight days old, as if the server had been down a week.
    let db = dir.path().join("promptd.db");
    let eight_days_ago = promptd_core::time_fmt::now_ms() - 8 * 86_400_000;
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "UPDATE prompt_versions SET deleted_at = {eight_days_ago} WHERE prompt_id = 'old'"
        ))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        // Without the sqlite3 tool, edit through sqlx.
        let store = promptd_store::SqlStore::connect(
            &format!("sqlite://{}", db.display()),
            &promptd_store::StoreOptions::default(),
        )
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE prompt_versions SET deleted_at = {eight_days_ago} WHERE prompt_id = 'old'"
        )))
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
    }
    let app = TestApp::start_with(Opts {
        dir: Some(dir),
        config_yaml: Some(config),
        ..Opts::default()
    })
    .await;
    let mut left = Vec::new();
    for _ in 0..100 {
        let (_, trash) = app.get("/prompts/trash", MASTER).await;
        left = trash["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["prompt_id"].as_str().unwrap().to_owned())
            .collect();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, ["recent"]);
    let events = history(&app, "old").await;
    assert_eq!(events[0]["kind"], "purge");
    assert_eq!(events[0]["actor"], "trash retention");
}

#[tokio::test]
async fn thirty_two_concurrent_promotes_and_puts_into_one_environment_get_consecutive_numbers() {
    let app = TestApp::start().await;
    for i in 0..16 {
        app.create("g", &format!("User: staging {i}"), Some("staging"))
            .await;
    }
    let mut requests = Vec::new();
    for i in 0..32u32 {
        if i % 2 == 0 {
            requests.push(
                app.req(Method::POST, "/prompts/g/promote", Some(MASTER))
                    .json(&json!({"from_environment": "staging", "version": i / 2 + 1,
                                  "to_environment": "production"})),
            );
        } else {
            requests.push(
                app.req(Method::PUT, "/prompts/g", Some(MASTER))
                    .json(&prompt_body(
                        "g",
                        &format!("User: put {i}"),
                        Some("production"),
                    )),
            );
        }
    }
    let versions = concurrent_versions(requests).await;
    assert_eq!(versions, (1..=32).collect::<Vec<u64>>());
    let events = history(&app, "g").await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["environment"] == "production")
            .count(),
        32,
        "one event per version"
    );
}

/// The release story of the issue, step by step, checking what is served, the versions, the
/// ETags and the history at every step.
async fn release_story(app: &TestApp) {
    let served = |env: &'static str| async move {
        let (s, tag, info) = tagged(app.req(
            Method::GET,
            &format!("/prompts/story/info?environment={env}"),
            Some(MASTER),
        ))
        .await;
        (s, tag, info)
    };
    // 1. Create in development.
    app.create("story", "User: hello v1", Some("development"))
        .await;
    let (_, dev_tag, info) = served("development").await;
    assert_eq!(served_content(&info), "User: hello v1");
    // 2. Promote to staging, 3. then to production.
    for (from, to) in [("development", "staging"), ("staging", "production")] {
        let (s, out) = app
            .post(
                "/prompts/story/promote",
                MASTER,
                json!({"from_environment": from, "to_environment": to, "message": format!("{from} → {to}")}),
            )
            .await;
        assert_eq!((s, out["version"].clone()), (200, json!(1)), "{out}");
    }
    let (_, prod_tag1, info) = served("production").await;
    assert_eq!(served_content(&info), "User: hello v1");
    let prod_tag1 = prod_tag1.unwrap();
    assert!(prod_tag1.starts_with("\"production.v1."));
    assert_eq!(
        prod_tag1.rsplit('.').next(),
        dev_tag.unwrap().rsplit('.').next(),
        "same content, same hash part"
    );
    // 4. Edit staging (with compare-and-swap), 5. diff staging against production.
    let staging_tag = served("staging").await.1.unwrap();
    let (s, _, out) = tagged(with_if_match(
        app.req(Method::PUT, "/prompts/story", Some(MASTER))
            .json(&json!({
                "litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": "User: hello v2"},
                "prompt_info": {"prompt_type": "db", "environment": "staging"},
                "message": "friendlier"
            })),
        &staging_tag,
    ))
    .await;
    assert_eq!((s, out["version"].clone()), (200, json!(2)), "{out}");
    let (s, diff) = app
        .get("/prompts/story/diff?from=production&to=staging", MASTER)
        .await;
    assert_eq!(s, 200, "{diff}");
    assert_eq!(diff["identical"], false);
    assert!(
        diff["template"]
            .as_str()
            .unwrap()
            .contains("+User: hello v2")
    );
    // Promote the edit, then roll production back to v1.
    let (s, out) = app
        .post(
            "/prompts/story/promote",
            MASTER,
            json!({"from_environment": "staging", "to_environment": "production"}),
        )
        .await;
    assert_eq!((s, out["version"].clone()), (200, json!(2)), "{out}");
    let prod_tag2 = served("production").await.1.unwrap();
    assert!(prod_tag2.starts_with("\"production.v2."));
    let (s, _, out) = tagged(with_if_match(
        app.req(Method::POST, "/prompts/story/rollback", Some(MASTER))
            .json(&json!({"environment": "production", "to_version": 1, "message": "v2 confused users"})),
        &prod_tag2,
    ))
    .await;
    assert_eq!((s, out["version"].clone()), (200, json!(3)), "{out}");
    let (_, prod_tag3, info) = served("production").await;
    assert_eq!(served_content(&info), "User: hello v1");
    let prod_tag3 = prod_tag3.unwrap();
    assert!(prod_tag3.starts_with("\"production.v3."));
    assert_eq!(
        prod_tag3.rsplit('.').next(),
        prod_tag1.rsplit('.').next(),
        "the rollback serves v1's content"
    );
    // 6. Delete production (to the trash), 7. restore it, 8. purge the whole prompt.
    let (s, _) = app
        .delete("/prompts/story?environment=production", MASTER)
        .await;
    assert_eq!(s, 200);
    assert_eq!(served("production").await.0, 404);
    let (s, out) = app
        .post(
            "/prompts/story/restore",
            MASTER,
            json!({"environment": "production"}),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let (_, tag, info) = served("production").await;
    assert_eq!(served_content(&info), "User: hello v1");
    assert_eq!(
        tag.unwrap(),
        prod_tag3,
        "restored with its number and content"
    );
    let (s, _) = app.delete("/prompts/story?purge=true", MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(served("production").await.0, 404);
    let (_, trash) = app.get("/prompts/trash?prompt_id=story", MASTER).await;
    assert_eq!(trash["versions"], json!([]));
    // The history tells the whole story, newest first.
    let events = history(app, "story").await;
    let mut story = kinds(&events);
    story.reverse();
    assert_eq!(
        story,
        [
            "create development.v1",
            "promote staging.v1",
            "promote production.v1",
            "update staging.v2",
            "promote production.v2",
            "rollback production.v3",
            "delete production.v1",
            "delete production.v2",
            "delete production.v3",
            "restore production.v1",
            "restore production.v2",
            "restore production.v3",
            "purge development.v1",
            "purge production.v1",
            "purge production.v2",
            "purge production.v3",
            "purge staging.v1",
            "purge staging.v2",
        ]
    );
    let rollback = events.iter().find(|e| e["kind"] == "rollback").unwrap();
    assert_eq!(rollback["message"], "v2 confused users");
    assert_eq!(rollback["source"], "v1");
    // A purged prompt starts over at 1.
    assert_eq!(
        app.create("story", "User: again", Some("production")).await["version"],
        1
    );
}

#[tokio::test]
async fn the_release_story_holds_on_sqlite() {
    let app = TestApp::start().await;
    release_story(&app).await;
}

#[tokio::test]
async fn the_release_story_holds_on_postgres() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let app = TestApp::start_with(Opts {
        database_url: Some(db.url.clone()),
        ..Opts::default()
    })
    .await;
    release_story(&app).await;
    app.stop().await;
    db.cleanup().await;
}

/// Every event of `id`, oldest first, through the API.
async fn all_events(c: &reqwest::Client, base: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/prompts/{id}/history?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (s, page) = send(c.get(url).bearer_auth(MASTER)).await;
        assert_eq!(s, 200, "{page}");
        out.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out.reverse();
    out
}

#[tokio::test]
async fn after_a_kill_9_during_writes_every_version_has_its_event_and_every_event_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let server = Process::serve(&["--database-url", &db], &[]).unwrap();
    let c = client();
    let (s, _) = send(
        c.post(server.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body("k", "User: 0", Some("production"))),
    )
    .await;
    assert_eq!(s, 200);
    // Writers PUT new versions and trash the odd ones until the server dies under them.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (c, base, acked) = (c.clone(), server.base.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let body = prompt_body("k", &format!("User: {w}-{i}"), Some("production"));
                let Ok(r) = c
                    .put(format!("{base}/prompts/k"))
                    .bearer_auth(MASTER)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(v) = r.json::<Value>().await else {
                    return;
                };
                let Some(n) = v["version"].as_u64() else {
                    return;
                };
                acked.lock().unwrap().push(n);
                if n % 2 == 1 {
                    let url = format!("{base}/prompts/k.v{n}?environment=production");
                    if c.delete(url).bearer_auth(MASTER).send().await.is_err() {
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    let _ = server.child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the writers got going: {acknowledged:?}"
    );
    let server = Process::serve(&["--database-url", &db], &[]).unwrap();
    let (_, live) = send(c.get(server.url("/prompts/k/versions")).bearer_auth(MASTER)).await;
    let (_, trash) = send(
        c.get(server.url("/prompts/trash?prompt_id=k"))
            .bearer_auth(MASTER),
    )
    .await;
    let mut stored: Vec<(u64, String)> = Vec::new();
    for p in live["prompts"].as_array().unwrap() {
        stored.push((p["version"].as_u64().unwrap(), "live".into()));
    }
    for t in trash["versions"].as_array().unwrap() {
        stored.push((t["version"].as_u64().unwrap(), "trash".into()));
    }
    stored.sort();
    let numbers: Vec<u64> = stored.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "consecutive numbers, none lost"
    );
    for n in &acknowledged {
        assert!(numbers.contains(n), "acknowledged version {n} survived");
    }
    let events = all_events(&c, &server.base, "k").await;
    for (v, place) in &stored {
        let created: Vec<&Value> = events
            .iter()
            .filter(|e| e["version"] == *v && e["kind"] != "delete")
            .collect();
        assert_eq!(
            created.len(),
            1,
            "version {v} has exactly one creation event"
        );
        let deleted = events
            .iter()
            .filter(|e| e["version"] == *v && e["kind"] == "delete")
            .count();
        assert_eq!(
            deleted,
            usize::from(place == "trash"),
            "version {v} ({place}) has a delete event exactly when it is in the trash"
        );
    }
    let versions_with_events: std::collections::BTreeSet<u64> = events
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions_with_events.into_iter().collect::<Vec<_>>(),
        numbers,
        "no event names a version that does not exist"
    );
}
