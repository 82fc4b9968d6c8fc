//! The test harness: `TestApp` starts promptd in-process on 127.0.0.1:0 with its own SQLite
//! file; requests act as the master key (`MASTER`) or as a key made with
//! `TestApp::key(role, allow_list)`. `Process` runs the real binary, `PgDb` a PostgreSQL database.

#![allow(dead_code)]

use std::path::PathBuf;

use promptd::{DbArgs, ServeArgs, ServeConfig};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const MASTER: &str = "sk-test-master-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub dir: TempDir,
    pub state: promptd_server::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    /// The change listener and the trash sweeper; stopped with the server.
    background: Vec<JoinHandle<()>>,
}

pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().expect("client")
}

/// Options for starting a server.
#[derive(Default)]
pub struct Opts {
    pub config_yaml: Option<String>,
    pub dir: Option<TempDir>,
    pub master_key: Option<String>,
    pub no_master_key: bool,
    pub max_body_bytes: Option<usize>,
    pub access_log: Option<bool>,
    /// Files to create in the temp dir before start (relative path, content).
    pub files: Vec<(String, String)>,
    /// The database (default: a SQLite file in the temp dir).
    pub database_url: Option<String>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> TestApp {
        TestApp::try_start(opts).await.expect("server starts")
    }

    pub async fn try_start(opts: Opts) -> anyhow::Result<TestApp> {
        let dir = opts
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        for (name, content) in &opts.files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, content)?;
        }
        let config: Option<PathBuf> = opts.config_yaml.map(|y| {
            let p = dir.path().join("config.yaml");
            std::fs::write(&p, y).expect("write config");
            p
        });
        let db = opts
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("promptd.db").display()));
        let args = ServeArgs {
            db: DbArgs {
                config,
                database_url: Some(db),
            },
            host: Some("127.0.0.1".parse()?),
            port: Some(0),
            master_key: if opts.no_master_key {
                None
            } else {
                Some(opts.master_key.unwrap_or_else(|| MASTER.to_owned()))
            },
            max_body_bytes: opts.max_body_bytes,
            access_log: opts.access_log,
            net: Default::default(),
        };
        let cfg = ServeConfig::resolve(&args)?;
        let store = promptd::open_store(&cfg.database_url, &cfg.store).await?;
        let state = promptd::build_state(&cfg, store).await?;
        let background = promptd::start_background(&cfg, &state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let s = state.clone();
        let handle = tokio::spawn(async move {
            promptd_server::serve(listener, s, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Ok(TestApp {
            base,
            client: client(),
            dir,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
            background,
        })
    }

    /// Stops the server and closes its database, keeping the folder for a restart.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        for t in self.background.drain(..) {
            t.abort();
        }
        drop(self.state);
        // Give the pool's connection time to close before the file is reopened.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.req(Method::GET, path, Some(key))).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::POST, path, Some(key)).json(&body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::PUT, path, Some(key)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::PATCH, path, Some(key)).json(&body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        send(self.req(Method::DELETE, path, Some(key))).await
    }

    /// Creates a prompt as the admin and returns the created spec.
    pub async fn create(&self, id: &str, content: &str, env: Option<&str>) -> Value {
        let (status, body) = self
            .post("/prompts", MASTER, prompt_body(id, content, env))
            .await;
        assert_eq!(status, 200, "create {id}: {body}");
        body
    }

    /// Creates a virtual key and returns its secret.
    pub async fn key(&self, role: &str, prompts: Option<&[&str]>) -> String {
        let mut body = json!({"user_role": role, "user_id": format!("user-{role}")});
        if let Some(p) = prompts {
            body["metadata"] = json!({ "prompts": p });
        }
        let (status, out) = self.post("/key/generate", MASTER, body).await;
        assert_eq!(status, 200, "{out}");
        out["key"].as_str().expect("key").to_owned()
    }
}

pub async fn send(r: RequestBuilder) -> (u16, Value) {
    let resp: Response = r.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Sends all `requests` at once (each writes a version) and returns the versions they got,
/// sorted, after asserting every one succeeded.
pub async fn concurrent_versions(requests: Vec<RequestBuilder>) -> Vec<u64> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(send(r)))
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        let (s, body) = t.await.expect("task");
        assert_eq!(s, 200, "{body}");
        versions.push(body["version"].as_u64().expect("version"));
    }
    versions.sort();
    versions
}

pub fn prompt_body(id: &str, content: &str, env: Option<&str>) -> Value {
    let mut info = json!({"prompt_type": "db"});
    if let Some(e) = env {
        info["environment"] = json!(e);
    }
    json!({
        "prompt_id": id,
        "litellm_params": {"prompt_id": id, "prompt_integration": "dotprompt", "dotprompt_content": content},
        "prompt_info": info,
    })
}

pub const GREETING: &str = "---\nmodel: gpt-4o\ntemperature: 0.7\ninput:\n  schema:\n    name: string\n---\nSystem: You are friendly.\n\nUser: Say hello to {{name}}.";

/// A fresh PostgreSQL database for one test (dropped on `cleanup`), or `None` with a note
/// when `PROMPTD_TEST_POSTGRES_URL` is not set.
pub struct PgDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDb {
    pub async fn create() -> Option<PgDb> {
        let Ok(admin_url) = std::env::var("PROMPTD_TEST_POSTGRES_URL") else {
            // The real stderr, not `eprintln!` (which the test harness captures), so a skip shows.
            let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED (PostgreSQL): set PROMPTD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run\n",
        );
            return None;
        };
        let name = format!("promptd_test_{}", std::process::id()) + &format!("_{}", rand_suffix());
        PgDb::admin_exec(&admin_url, &format!("CREATE DATABASE \"{name}\"")).await;
        let (head, _) = admin_url.rsplit_once('/').expect("URL ends in /DATABASE");
        Some(PgDb {
            url: format!("{head}/{name}"),
            admin_url,
            name,
        })
    }

    /// A fresh database migrated by the real `promptd migrate`, or `None` (skipped).
    pub async fn migrated() -> Option<PgDb> {
        let db = PgDb::create().await?;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"))
            .args(["migrate", "--database-url", &db.url])
            .output()
            .expect("run promptd migrate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(db)
    }

    pub async fn admin_exec(admin_url: &str, sql: &str) {
        let store = promptd_store::SqlStore::connect(admin_url, &Default::default())
            .await
            .expect("admin connection");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(store.pool())
            .await
            .expect(sql);
        store.close().await;
    }

    pub async fn exec(&self, sql: &str) {
        PgDb::admin_exec(&self.url, sql).await;
    }

    /// Runs SQL as the admin on the maintenance database (e.g. to refuse connections).
    pub async fn admin(&self, sql: &str) {
        PgDb::admin_exec(&self.admin_url, sql).await;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn cleanup(self) {
        PgDb::admin_exec(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        )
        .await;
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", N.fetch_add(1, Ordering::Relaxed))
}

/// promptd running as a separate process (the real binary), killed on drop.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    /// What the process logged after it became ready.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `promptd serve` with these extra arguments and waits until it is ready.
    pub fn serve(args: &[&str], envs: &[(&str, &str)]) -> Result<Process, String> {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_promptd"));
        cmd.arg("serve")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args);
        cmd.env("PROMPTD_MASTER_KEY", MASTER)
            .env("PROMPTD_LOG", "promptd=info,promptd_store=info,warn");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen = String::new();
        while std::time::Instant::now() < deadline {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.split("addr=").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        // Keep draining the pipe so the child never blocks on logging.
                        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                        let sink = log.clone();
                        std::thread::spawn(move || {
                            while let Ok(line) = rx.recv() {
                                if let Ok(mut l) = sink.lock() {
                                    l.push(line);
                                }
                            }
                        });
                        return Ok(Process {
                            child,
                            base: format!("http://{addr}"),
                            log,
                        });
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("promptd exited with {status}:\n{seen}"));
                    }
                }
                Err(_) => {
                    let _ = child.wait();
                    return Err(format!("promptd exited:\n{seen}"));
                }
            }
        }
        let _ = child.kill();
        Err(format!("promptd did not become ready:\n{seen}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
