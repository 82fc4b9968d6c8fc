//! The web UI's sessions over plain HTTP (no browser needed): sign-in sets an HttpOnly,
//! SameSite=Strict cookie; the cookie is an API credential whose writes need the session's CSRF
//! token and this origin; sign-out and key deletion end sessions on the server; the draft
//! preview endpoint; and the UI routes' place beside the JSON API.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::common::*;

const GREETING: &str =
    "---\nmodel: gpt-4o\ninput:\n  schema:\n    name: string\n---\nUser: Hello {{name}}.";

fn no_redirects() -> reqwest::Client {
    let _ = client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `key`; answers the session cookie (`promptd_session=…`) and the page's CSRF token.
async fn sign_in(app: &TestApp, key: &str) -> (String, String) {
    let http = no_redirects();
    let resp = http
        .post(app.url("/ui/login"))
        .form(&[("key", key)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains(key), "the cookie holds no key");
    let cookie = set.split(';').next().expect("cookie").to_owned();
    let page = http
        .get(app.url("/ui/prompts"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf meta")
        .to_owned();
    (cookie, csrf)
}

fn write_body() -> serde_json::Value {
    json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": GREETING},
           "prompt_info": {"prompt_type": "db", "environment": "development"}})
}

#[tokio::test]
async fn a_session_cookie_reads_the_api_but_its_writes_need_the_csrf_token_and_this_origin() {
    let app = TestApp::start().await;
    app.create("greeting", GREETING, None).await;
    let (cookie, csrf) = sign_in(&app, MASTER).await;
    let with = |m: Method, p: &str| app.req(m, p, None).header("Cookie", &cookie);
    assert_eq!(send(with(Method::GET, "/prompts/list")).await.0, 200);
    let (s, b) = send(with(Method::PUT, "/prompts/greeting").json(&write_body())).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("X-CSRF-Token"),
        "{b}"
    );
    let (s, _) = send(
        with(Method::PUT, "/prompts/greeting")
            .header("X-CSRF-Token", "wrong")
            .json(&write_body()),
    )
    .await;
    assert_eq!(s, 403);
    let host = app.base.trim_start_matches("http://").to_owned();
    let (s, b) = send(
        with(Method::PUT, "/prompts/greeting")
            .header("X-CSRF-Token", &csrf)
            .header("Origin", "https://evil.example")
            .json(&write_body()),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("evil.example"),
        "{b}"
    );
    let (s, b) = send(
        with(Method::PUT, "/prompts/greeting")
            .header("X-CSRF-Token", &csrf)
            .header("Origin", format!("http://{host}"))
            .json(&write_body()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["created_by"], "default_user_id");
    // A Bearer key needs no CSRF token.
    assert_eq!(
        app.put("/prompts/greeting", MASTER, write_body()).await.0,
        200
    );
}

#[tokio::test]
async fn signing_out_and_deleting_the_key_end_sessions_on_the_server() {
    let app = TestApp::start().await;
    let key = app.key("proxy_admin_viewer", None).await;
    let (cookie, csrf) = sign_in(&app, &key).await;
    let list = || {
        app.req(Method::GET, "/prompts/list", None)
            .header("Cookie", &cookie)
    };
    assert_eq!(send(list()).await.0, 200);
    let (s, _) = app
        .post("/key/delete", MASTER, json!({"keys": [key]}))
        .await;
    assert_eq!(s, 200);
    let (s, b) = send(list()).await;
    assert_eq!(s, 401, "a deleted key ends its sessions: {b}");
    assert!(b.to_string().contains("was deleted"), "{b}");

    let (cookie, csrf2) = sign_in(&app, MASTER).await;
    assert_ne!(csrf, csrf2, "each session has its own token");
    let http = no_redirects();
    let forged = http
        .post(app.url("/ui/logout"))
        .header("Cookie", &cookie)
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("logout");
    assert_eq!(forged.status(), 403, "sign-out needs the token");
    let out = http
        .post(app.url("/ui/logout"))
        .header("Cookie", &cookie)
        .form(&[("csrf_token", csrf2.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    let cleared = out
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (s, _) = send(
        app.req(Method::GET, "/prompts/list", None)
            .header("Cookie", &cookie),
    )
    .await;
    assert_eq!(s, 401);
    let page = http
        .get(app.url("/ui/prompts"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 303, "pages send an ended session to sign in");
}

#[tokio::test]
async fn a_wrong_key_gets_no_session_and_the_cookie_is_secure_behind_https() {
    let app = TestApp::start().await;
    let http = no_redirects();
    let resp = http
        .post(app.url("/ui/login"))
        .form(&[("key", "sk-not-a-key")])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("set-cookie").is_none());
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("neither the master key") && !html.contains("sk-not-a-key"),
        "{html}"
    );
    let resp = http
        .post(app.url("/ui/login"))
        .header("X-Forwarded-Proto", "https")
        .form(&[("key", MASTER)])
        .send()
        .await
        .expect("login");
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(set.ends_with("; Secure"), "{set}");
    let cross = http
        .post(app.url("/ui/login"))
        .header("Origin", "https://evil.example")
        .form(&[("key", MASTER)])
        .send()
        .await
        .expect("login");
    assert_eq!(cross.status(), 403, "no sign-in from another site");
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_assets_are_embedded() {
    let app = TestApp::start().await;
    let (cookie, _) = sign_in(&app, MASTER).await;
    let resp = no_redirects()
        .get(app.url("/ui/prompts"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("page");
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        resp.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let html = resp.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other host is referenced"
    );
    let mut total = html.len();
    for (name, ty) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let r = app
            .client
            .get(app.url(&format!("/ui/assets/{name}")))
            .send()
            .await
            .expect("asset");
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with(ty)
        );
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{name} names no other host"
        );
        total += body.len();
    }
    assert!(total < 200 * 1024, "the UI is {total} bytes uncompressed");
    let (s, _) = send(app.req(Method::GET, "/ui/assets/nope.js", None)).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_preview_renders_a_draft_and_reports_its_errors_at_line_and_column() {
    let app = TestApp::start().await;
    let (s, b) = app
        .post(
            "/prompts/draft/preview",
            MASTER,
            json!({"dotprompt_content": GREETING, "prompt_variables": {"name": "Ada"}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["messages"],
        json!([{"role": "user", "content": "Hello Ada."}])
    );
    assert_eq!(
        b["variables"],
        json!([{"name": "name", "type": "string", "required": true}])
    );
    assert_eq!(b["model"], "gpt-4o");
    assert_eq!(b["error"], serde_json::Value::Null);
    let (_, b) = app
        .post(
            "/prompts/draft/preview",
            MASTER,
            json!({"dotprompt_content": GREETING}),
        )
        .await;
    assert_eq!(b["error"]["kind"], "render", "{b}");
    assert_eq!(
        b["variables"][0]["name"], "name",
        "the form can be built before the values exist"
    );
    let (_, b) = app
        .post(
            "/prompts/draft/preview",
            MASTER,
            json!({"dotprompt_content": format!("{GREETING} {{{{ x")}),
        )
        .await;
    assert_eq!(
        (b["error"]["kind"].as_str(), b["error"]["line"].as_u64()),
        (Some("parse"), Some(7)),
        "{b}"
    );
    assert!(b["error"]["column"].as_u64().is_some(), "{b}");
    let (s, _) = app.post("/prompts/draft/preview", MASTER, json!({})).await;
    assert_eq!(s, 422);
    let key = app.key("internal_user", Some(&["greeting"])).await;
    let (s, _) = app
        .post(
            "/prompts/draft/preview",
            &key,
            json!({"dotprompt_content": GREETING}),
        )
        .await;
    assert_eq!(s, 403, "outside the key's allow-list");
}

#[tokio::test]
async fn every_ui_route_is_under_ui_routed_and_outside_the_api_description() {
    let app = TestApp::start().await;
    let (_, doc) = send(app.req(Method::GET, "/openapi.json", None)).await;
    let documented = crate::architecture::documented(&doc);
    let api: BTreeSet<(String, String)> = promptd_server::routes::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    for (method, path) in promptd_server::routes::ui::UI_ROUTES {
        assert!(
            path == &"/ui" || path.starts_with("/ui/"),
            "{path} is not under /ui"
        );
        let key = ((*method).to_owned(), (*path).to_owned());
        assert!(
            !documented.contains(&key) && !api.contains(&key),
            "{method} {path} is HTML, not API"
        );
        let concrete = path
            .replace("{prompt_id}", "greeting")
            .replace("{name}", "app.css");
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let (status, _) = send(
            app.req(m, &concrete, None)
                .header("Origin", "https://evil.example"),
        )
        .await;
        assert!(
            status != 404 && status != 405,
            "{method} {path} is not routed ({status})"
        );
    }
}
