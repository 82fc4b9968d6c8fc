//! Read-modify-writes take their base inside the writing transaction: concurrent PATCHes of
//! different fields both survive, on one instance and across instances.

use serde_json::{Value, json};

use crate::common::*;

fn patch_params(content: &str) -> Value {
    json!({"litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": content}})
}

fn patch_info(tag: &str) -> Value {
    json!({"prompt_info": {"prompt_type": "db", "tag": tag}})
}

fn holds_both(latest: &Value, content: &str, tag: &str) -> bool {
    latest["litellm_params"]["dotprompt_content"] == content && latest["prompt_info"]["tag"] == tag
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_survive() {
    let app = TestApp::start().await;
    app.create("p", "User: start", None).await;
    for trial in 0..20 {
        let content = format!("User: content {trial}");
        let tag = format!("tag-{trial}");
        let a = app
            .req(reqwest::Method::PATCH, "/prompts/p", Some(MASTER))
            .json(&patch_params(&content));
        let b = app
            .req(reqwest::Method::PATCH, "/prompts/p", Some(MASTER))
            .json(&patch_info(&tag));
        let (ra, rb) = tokio::join!(send(a), send(b));
        assert_eq!(ra.0, 200, "{}", ra.1);
        assert_eq!(rb.0, 200, "{}", rb.1);
        let (_, info) = app.get("/prompts/p/info", MASTER).await;
        let latest = &info["prompt_spec"];
        assert!(
            holds_both(latest, &content, &tag),
            "trial {trial}: an acknowledged change was lost: {latest}"
        );
    }
}

#[tokio::test]
async fn concurrent_patches_on_two_instances_both_survive() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let a = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();
    let (s, body) = send(
        c.post(a.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body("p", "User: start", None)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while send(c.get(b.url("/prompts/p")).bearer_auth(MASTER)).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw the prompt"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for trial in 0..10 {
        let content = format!("User: content {trial}");
        let tag = format!("tag-{trial}");
        let ra = send(
            c.patch(a.url("/prompts/p"))
                .bearer_auth(MASTER)
                .json(&patch_params(&content)),
        );
        let rb = send(
            c.patch(b.url("/prompts/p"))
                .bearer_auth(MASTER)
                .json(&patch_info(&tag)),
        );
        let (ra, rb) = tokio::join!(ra, rb);
        assert_eq!(ra.0, 200, "{}", ra.1);
        assert_eq!(rb.0, 200, "{}", rb.1);
        // The newest version, read from the database itself (instance A may not have caught up).
        let (va, vb) = (
            ra.1["version"].as_u64().unwrap(),
            rb.1["version"].as_u64().unwrap(),
        );
        let newest = va.max(vb);
        let url = a.url(&format!("/prompts/p.v{newest}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let (s, body) = send(c.get(&url).bearer_auth(MASTER)).await;
            if s == 200 {
                let spec = &body["prompt_spec"];
                assert!(
                    holds_both(spec, &content, &tag),
                    "trial {trial}: an acknowledged change was lost: {spec}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "v{newest} not seen: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    drop((a, b));
    db.cleanup().await;
}
