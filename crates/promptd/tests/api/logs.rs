//! What promptd writes to its log: the access log, and never a key.

use crate::common::*;

#[tokio::test]
async fn the_access_log_names_method_path_and_status_but_never_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("p.db").display());
    let p = Process::serve(&["--access-log", "--database-url", &db], &[]).unwrap();
    let c = client();
    let (s, _) = send(
        c.get(p.url("/key/info?key=sk-never-logged-1234"))
            .bearer_auth(MASTER),
    )
    .await;
    assert_eq!(s, 404);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines = p.log.lock().unwrap().clone();
        if let Some(line) = lines.iter().find(|l| l.contains("promptd::access")) {
            assert!(
                line.contains("/key/info") && line.contains("404") && line.contains("GET"),
                "{line}"
            );
            assert!(
                lines.iter().all(|l| !l.contains("sk-never-logged")),
                "{lines:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access line in {lines:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn without_the_switch_there_is_no_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("p.db").display());
    let p = Process::serve(&["--database-url", &db], &[]).unwrap();
    let (s, _) = send(client().get(p.url("/prompts/list")).bearer_auth(MASTER)).await;
    assert_eq!(s, 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let lines = p.log.lock().unwrap().clone();
    assert!(
        lines.iter().all(|l| !l.contains("promptd::access")),
        "{lines:?}"
    );
}
