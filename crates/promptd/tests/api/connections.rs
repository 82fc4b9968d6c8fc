//! Connections a client cannot hold forever: header, keep-alive and body timeouts, the
//! connection cap (with the health probes still answering), an early 413, and streamed
//! answers that outlast every timeout. Raw TCP where the test needs a misbehaving client.

use std::time::{Duration, Instant};

use promptd_fake_upstream::{Behavior, FakeUpstream};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

fn settings_yaml(settings: &str) -> String {
    format!("promptd_settings:\n{settings}")
}

async fn start(settings: &str) -> TestApp {
    TestApp::start_with(Opts {
        config_yaml: Some(settings_yaml(settings)),
        ..Opts::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection; returns what arrived and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server did not close the connection within {limit:?}; received {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

/// Reads one HTTP/1.1 response with a Content-Length body: (status, head, body).
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            while data.len() < end + 4 + len {
                let n = stream.read(&mut buf).await.expect("read body");
                assert!(n > 0, "closed mid-body");
                data.extend_from_slice(&buf[..n]);
            }
            let status = head[9..12].parse().expect("status");
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).into_owned();
            return (status, head, body);
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("response within 5 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn a_client_that_sends_half_a_header_is_disconnected_after_the_header_timeout() {
    let app = start("  header_read_timeout_ms: 400\n").await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: promptd\r\nX-Slow: ")
        .await
        .unwrap();
    let (got, after) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert_eq!(got, "", "nothing is answered to a head that never ends");
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_secs(2),
        "closed after {after:?}, expected about 400 ms"
    );
    // A client that sends nothing at all is closed the same way.
    let mut silent = connect(&app).await;
    let (_, after) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(after < Duration::from_secs(2), "closed after {after:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_reused_before_it() {
    let app = start("  keep_alive_timeout_ms: 600\n  header_read_timeout_ms: 5000\n").await;
    let mut conn = connect(&app).await;
    let request = b"GET /health/liveliness HTTP/1.1\r\nHost: promptd\r\n\r\n";
    conn.write_all(request).await.unwrap();
    let (status, _, body) = read_response(&mut conn).await;
    assert_eq!((status, body.as_str()), (200, "\"I'm alive!\""));
    // Within the idle timeout the same connection serves the next request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(request).await.unwrap();
    let (status, _, _) = read_response(&mut conn).await;
    assert_eq!(status, 200);
    let (got, after) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert_eq!(got, "");
    assert!(
        after >= Duration::from_millis(450) && after < Duration::from_secs(2),
        "idle connection closed after {after:?}, expected about 600 ms"
    );
}

#[tokio::test]
async fn a_body_that_stalls_half_way_gets_408_naming_the_setting_and_the_connection_closes() {
    let app = start("  body_read_timeout_ms: 500\n").await;
    let mut conn = connect(&app).await;
    let head = format!(
        "POST /prompts HTTP/1.1\r\nHost: promptd\r\nAuthorization: Bearer {MASTER}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"prompt_id\": "
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let (status, head, body) = read_response(&mut conn).await;
    let took = start.elapsed();
    assert_eq!(status, 408, "{head}\n{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("body_read_timeout_ms"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "408 after {took:?}, expected about 500 ms"
    );
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let (_, after) = read_until_closed(&mut conn, Duration::from_secs(2)).await;
    assert!(after < Duration::from_secs(2));
}

#[tokio::test]
async fn a_declared_body_above_max_body_bytes_is_refused_with_413_before_any_byte_is_sent() {
    let app = start("  max_body_bytes: 1000\n").await;
    let mut conn = connect(&app).await;
    let head = format!(
        "POST /prompts HTTP/1.1\r\nHost: promptd\r\nAuthorization: Bearer {MASTER}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
    );
    let start = Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    let (status, head, body) = read_response(&mut conn).await;
    let took = start.elapsed();
    eprintln!("413 for a 10 GB Content-Length after {took:?}");
    assert_eq!(status, 413, "{head}\n{body}");
    assert!(took < Duration::from_secs(1), "413 took {took:?}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("max_body_bytes") && detail.contains("1000 bytes"),
        "{detail}"
    );
}

#[tokio::test]
async fn two_hundred_slow_clients_are_held_to_the_connection_cap_and_health_keeps_answering() {
    // A long header timeout: slots must be freed by the cap, not by the timer.
    let app = start("  max_connections: 64\n  header_read_timeout_ms: 60000\n").await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = connect(&app).await;
        s.write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: promptd\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let health = client();
    let mut slowest = Duration::ZERO;
    for path in ["/health/liveliness", "/health/readiness"]
        .iter()
        .cycle()
        .take(10)
    {
        let start = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(5), health.get(app.url(path)).send())
            .await
            .unwrap_or_else(|_| panic!("{path} did not answer within 5 s"))
            .expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        slowest = slowest.max(start.elapsed());
    }
    eprintln!("slowest health answer among 200 slow clients: {slowest:?}");
    // The server closed the oldest slow clients to stay within the cap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut open = 0;
    let mut buf = [0u8; 64];
    for s in &mut slow {
        match s.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            _ => {}
        }
    }
    eprintln!("slow clients still connected: {open} of 200");
    assert!(open <= 64, "{open} slow connections stayed open, cap is 64");
    // A normal client with a key still gets through.
    let (s, _) = app.get("/prompts/list", MASTER).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_streamed_answer_longer_than_every_timeout_is_not_cut() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::SlowStream(Duration::from_millis(400)));
    let yaml = format!(
        "promptd_settings:\n  header_read_timeout_ms: 300\n  keep_alive_timeout_ms: 300\n  body_read_timeout_ms: 300\n\
         model_list:\n  - model_name: slow-gpt\n    litellm_params:\n      model: openai/slow\n      api_key: sk-upstream\n      api_base: \"{}\"\n      timeout: 30\n",
        fake.base_url()
    );
    let app = TestApp::start_with(Opts {
        config_yaml: Some(yaml),
        ..Opts::default()
    })
    .await;
    let start = Instant::now();
    let resp = app
        .client
        .post(app.url("/chat/completions"))
        .bearer_auth(MASTER)
        .json(&json!({"model": "slow-gpt", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.expect("the whole stream");
    let took = start.elapsed();
    assert!(
        took > Duration::from_millis(1000),
        "the stream took {took:?}, expected several pauses of 400 ms"
    );
    assert!(body.ends_with("data: [DONE]\n\n"), "stream cut: {body}");
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let app = TestApp::start().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(app.url("/prompts/list"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_a_stream_in_flight_finish_and_closes_idle_connections() {
    let fake = FakeUpstream::start().await;
    fake.set_behavior(Behavior::SlowStream(Duration::from_millis(200)));
    let yaml = format!(
        "model_list:\n  - model_name: slow-gpt\n    litellm_params:\n      model: openai/slow\n      api_key: sk-upstream\n      api_base: \"{}\"\n      timeout: 30\n",
        fake.base_url()
    );
    let app = TestApp::start_with(Opts {
        config_yaml: Some(yaml),
        ..Opts::default()
    })
    .await;
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: promptd\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle).await.0, 200);
    let resp = app
        .client
        .post(app.url("/chat/completions"))
        .bearer_auth(MASTER)
        .json(&json!({"model": "slow-gpt", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let base = app.base.clone();
    let start = Instant::now();
    let stopping = tokio::spawn(app.stop());
    let body = resp.text().await.expect("the stream finishes");
    assert!(body.ends_with("data: [DONE]\n\n"), "stream cut: {body}");
    let (_, closed_after) = read_until_closed(&mut idle, Duration::from_secs(2)).await;
    assert!(
        closed_after < Duration::from_millis(500),
        "idle connection closed after {closed_after:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown completes once the stream is done")
        .unwrap();
    assert!(start.elapsed() > Duration::from_millis(400));
    assert!(
        TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "the listener is closed"
    );
}
