//! PostgreSQL behind a network that silently drops packets (skipped without
//! `PROMPTD_TEST_POSTGRES_URL`). A small TCP proxy between promptd and PostgreSQL can stop
//! forwarding bytes in both directions while keeping every socket open, as a blackholed network
//! does: nothing fails, nothing answers. Writes must fail with 503 within the documented bound,
//! reads keep coming from memory, and everything recovers without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::*;

/// The proxy's network state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    blackholed: bool,
    /// Connections opened before this generation stay silent forever (their state was lost
    /// in the network, as when a NAT or firewall forgets a flow); newer ones work.
    lost_before: u64,
}

/// A loopback TCP proxy to PostgreSQL that can blackhole its traffic.
struct Proxy {
    port: u16,
    net: Arc<watch::Sender<Net>>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let net = Arc::new(
            watch::channel(Net {
                blackholed: false,
                lost_before: 0,
            })
            .0,
        );
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let (n, g) = (net.clone(), generation.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let born = g.load(std::sync::atomic::Ordering::SeqCst);
                let rx = n.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let mut rx2 = rx.clone();
                    if !pass(&mut rx2, born).await {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, rx.clone(), born), pump(sr, cw, rx, born));
                });
            }
        });
        Proxy {
            port,
            net,
            generation,
            task,
        }
    }

    fn blackhole(&self) {
        // Connections of the stalled network belong to the old generation.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.net.send_modify(|n| n.blackholed = true);
    }

    /// Ends the stall; connections that lived through it stay silent forever.
    fn heal_losing_old_connections(&self) {
        let now = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        self.net.send_modify(|n| {
            n.blackholed = false;
            n.lost_before = now;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until a connection of generation `born` may pass bytes; `false` if the proxy is gone.
async fn pass(rx: &mut watch::Receiver<Net>, born: u64) -> bool {
    rx.wait_for(|n| !n.blackholed && born >= n.lost_before)
        .await
        .is_ok()
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rx: watch::Receiver<Net>,
    born: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !pass(&mut rx, born).await {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just as the stall began are held, not delivered.
        if !pass(&mut rx, born).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Splits `postgres://user@host:port/db` into its `host:port` and a URL builder for another port.
fn split_url(url: &str) -> (String, impl Fn(u16) -> String + use<>) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth_host, path) = rest.split_once('/').unwrap();
    let (auth, host) = match auth_host.rsplit_once('@') {
        Some((a, h)) => (format!("{a}@"), h),
        None => (String::new(), auth_host),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let (scheme, path) = (scheme.to_owned(), path.to_owned());
    (host, move |port| {
        format!("{scheme}://{auth}127.0.0.1:{port}/{path}")
    })
}

async fn timed(r: reqwest::RequestBuilder) -> (u16, Value, Duration) {
    let start = Instant::now();
    let (s, body) = send(r).await;
    (s, body, start.elapsed())
}

const ACQUIRE_MS: u64 = 1000;
const STATEMENT_MS: u64 = 1000;
/// The documented bound for a write: acquire + statement timeouts.
const WRITE_BOUND: Duration = Duration::from_millis(ACQUIRE_MS + STATEMENT_MS);
const SLACK: Duration = Duration::from_millis(700);

// Several threads: `Process::serve` blocks while promptd starts, and the proxy must run meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_blackhole_to_postgres_bounds_writes_keeps_reads_and_heals_without_a_restart() {
    let Some(db) = PgDb::migrated().await else {
        return;
    };
    let (upstream, url_on_port) = split_url(&db.url);
    let proxy = Proxy::start(upstream).await;
    let proxied_url = url_on_port(proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.yaml");
    std::fs::write(
        &cfg_path,
        format!(
            "promptd_settings:\n  database_acquire_timeout_ms: {ACQUIRE_MS}\n  database_statement_timeout_ms: {STATEMENT_MS}\n  \
             database_connect_timeout_ms: 1000\n  database_keepalive_ms: 500\n"
        ),
    )
    .unwrap();
    let a = Process::serve(
        &[
            "--database-url",
            &proxied_url,
            "--config",
            cfg_path.to_str().unwrap(),
        ],
        &[],
    )
    .unwrap();
    // Another instance, on a healthy network, writes while A is cut off.
    let b = Process::serve(&["--database-url", &db.url], &[]).unwrap();
    let c = client();
    let post = |p: &Process, id: &str| {
        c.post(p.url("/prompts"))
            .bearer_auth(MASTER)
            .json(&prompt_body(id, "User: hi", None))
    };
    let (s, body, _) = timed(post(&a, "before")).await;
    assert_eq!(s, 200, "{body}");

    // A write in flight when the stall starts: it waits on a row lock held elsewhere.
    let mut locker = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "BEGIN; SELECT last_version FROM prompt_counters WHERE prompt_id = 'before' FOR UPDATE",
    )
    .execute(&mut locker)
    .await
    .unwrap();
    let in_flight = tokio::spawn(timed(
        c.put(a.url("/prompts/before"))
            .bearer_auth(MASTER)
            .json(&prompt_body("before", "User: two", None)),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.blackhole();
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();
    let (s, body, took) = in_flight.await.unwrap();
    eprintln!("write in flight when the stall began: {s} after {took:?}");
    assert_eq!(s, 503, "{body}");
    assert!(took < WRITE_BOUND + SLACK, "in-flight write took {took:?}");

    // Writes during the stall, several at once: the ones queued behind the first (writes of
    // one instance are serialised) answer within the bound too, counted from their arrival.
    let during: Vec<_> = (0..3)
        .map(|i| tokio::spawn(timed(post(&a, &format!("during{i}")))))
        .collect();
    for w in during {
        let (s, body, took) = w.await.unwrap();
        eprintln!("write during the stall: {s} after {took:?}");
        assert_eq!(s, 503, "{body}");
        assert!(took < WRITE_BOUND + SLACK, "write took {took:?}");
    }

    // Reads come from memory, at memory speed.
    let (s, body, took) = timed(c.get(a.url("/prompts/before/info")).bearer_auth(MASTER)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["prompt_spec"]["version"], 1);
    assert!(took < Duration::from_millis(500), "read took {took:?}");

    // Readiness says so, within the same bound.
    let (s, _, took) = timed(c.get(a.url("/health/readiness"))).await;
    eprintln!("readiness during the stall: {s} after {took:?}");
    assert_eq!(s, 503);
    assert!(took < WRITE_BOUND + SLACK, "readiness took {took:?}");

    // Meanwhile B writes on a healthy network; A cannot hear about it yet.
    let (s, body, _) = timed(post(&b, "while_cut_off")).await;
    assert_eq!(s, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The network comes back, but every connection that lived through the stall stays
    // silent forever: only fresh connections work.
    proxy.heal_losing_old_connections();
    let healed = Instant::now();
    let (s, body, took) = timed(post(&a, "after")).await;
    eprintln!("first write after the stall: {s} after {took:?}");
    assert_eq!(s, 200, "the first write after the stall: {body}");
    assert!(took < WRITE_BOUND + SLACK, "write took {took:?}");

    // A's listener noticed its silent connection, reconnected and resynchronised.
    loop {
        let (s, _) = send(
            c.get(a.url("/prompts/while_cut_off/info"))
                .bearer_auth(MASTER),
        )
        .await;
        if s == 200 {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(10),
            "A never saw the write B made during the stall"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "A saw B's write {:?} after the network healed",
        healed.elapsed()
    );
    // And A's own writes reach B as usual.
    let start = Instant::now();
    loop {
        let (s, _) = send(c.get(b.url("/prompts/after/info")).bearer_auth(MASTER)).await;
        if s == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, _, _) = timed(c.get(a.url("/health/readiness"))).await;
    assert_eq!(s, 200);
    // The write that was in flight was not made.
    let (_, body) = send(c.get(a.url("/prompts/before/info")).bearer_auth(MASTER)).await;
    assert_eq!(body["prompt_spec"]["version"], 1, "{body}");
    drop((a, b, proxy));
    db.cleanup().await;
}
