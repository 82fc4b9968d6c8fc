//! The test harness: `TestApp` starts promptd in-process on 127.0.0.1:0 with its own SQLite
//! file, and offers typed actors (admin, viewer, internal user).

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
    /// Files to create in the temp dir before start (relative path, content).
    pub files: Vec<(String, String)>,
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
        let db = format!("sqlite://{}", dir.path().join("promptd.db").display());
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
        };
        let cfg = ServeConfig::resolve(&args)?;
        let store = promptd::open_store(&cfg.database_url, &Default::default()).await?;
        let state = promptd::build_state(&cfg, store).await?;
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
