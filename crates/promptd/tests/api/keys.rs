//! Virtual key management (`/key/*`).

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_generated_key_is_shown_once_and_stored_only_as_its_hash() {
    let app = TestApp::start().await;
    let (s, out) = app
        .post("/key/generate", MASTER, json!({"key_alias": "ci", "user_id": "u1", "user_role": "proxy_admin_viewer", "metadata": {"team": "x"}}))
        .await;
    assert_eq!(s, 200, "{out}");
    let key = out["key"].as_str().unwrap();
    assert!(key.starts_with("sk-") && key.len() > 40);
    let token = out["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert_ne!(token, key);
    // The secret is nowhere in the database file.
    let db = std::fs::read(app.dir.path().join("promptd.db")).unwrap();
    let wal = std::fs::read(app.dir.path().join("promptd.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(!hay.windows(key.len()).any(|w| w == key.as_bytes()));
    // Info never shows it again.
    let (s, info) = app.get(&format!("/key/info?key={key}"), MASTER).await;
    assert_eq!(s, 200);
    assert_eq!(info["info"]["key_alias"], "ci");
    assert!(!info.to_string().contains(key));
}

#[tokio::test]
async fn a_key_can_read_its_own_info_but_not_another_keys() {
    let app = TestApp::start().await;
    let a = app.key("internal_user", Some(&["x"])).await;
    let b = app.key("internal_user", None).await;
    let (s, own) = app.get("/key/info", &a).await;
    assert_eq!(s, 200);
    assert_eq!(own["info"]["metadata"]["prompts"], json!(["x"]));
    let (s, _) = app.get(&format!("/key/info?key={b}"), &a).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn keys_are_listed_and_deleted_and_a_deleted_key_stops_working() {
    let app = TestApp::start().await;
    let k = app.key("proxy_admin_viewer", None).await;
    assert_eq!(app.get("/prompts/list", &k).await.0, 200);
    let (_, list) = app.get("/key/list", MASTER).await;
    assert_eq!(list["total_count"], 1);
    let (_, full) = app.get("/key/list?return_full_object=true", MASTER).await;
    assert_eq!(full["keys"][0]["user_role"], "proxy_admin_viewer");
    let (s, out) = app.post("/key/delete", MASTER, json!({"keys": [k]})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["deleted_keys"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/prompts/list", &k).await.0, 401);
}

#[tokio::test]
async fn keys_can_be_deleted_by_alias() {
    let app = TestApp::start().await;
    app.post("/key/generate", MASTER, json!({"key_alias": "gone"}))
        .await;
    let (s, _) = app
        .post("/key/delete", MASTER, json!({"key_aliases": ["gone"]}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post("/key/delete", MASTER, json!({"key_aliases": ["gone"]}))
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::start().await;
    let (_, out) = app
        .post(
            "/key/generate",
            MASTER,
            json!({"expires": "2020-01-01T00:00:00Z"}),
        )
        .await;
    let (s, body) = app.get("/prompts/list", out["key"].as_str().unwrap()).await;
    assert_eq!(s, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Expired Key")
    );
    let (_, out) = app
        .post("/key/generate", MASTER, json!({"duration": "1h"}))
        .await;
    assert!(out["expires"].is_string());
}

#[tokio::test]
async fn bad_key_requests_say_what_is_wrong() {
    let app = TestApp::start().await;
    let (s, body) = app
        .post("/key/generate", MASTER, json!({"user_role": "god"}))
        .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("proxy_admin, proxy_admin_viewer, internal_user")
    );
    let (s, _) = app
        .post(
            "/key/generate",
            MASTER,
            json!({"metadata": {"prompts": "greeting"}}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .post("/key/generate", MASTER, json!({"duration": "soon"}))
        .await;
    assert_eq!(s, 400);
    app.post("/key/generate", MASTER, json!({"key_alias": "dup"}))
        .await;
    let (s, body) = app
        .post("/key/generate", MASTER, json!({"key_alias": "dup"}))
        .await;
    assert_eq!(s, 409);
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
}
