//! Subcommands that talk to a running promptd over HTTP (`promptd history`, `promptd diff`):
//! the server's URL and key come from flags or `PROMPTD_URL` / `PROMPTD_KEY`, and the answers
//! are printed for a person reading a terminal.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

/// Where the server is and which key to use.
#[derive(Debug, Args, Clone)]
pub struct RemoteArgs {
    /// The server's base URL.
    #[arg(long, env = "PROMPTD_URL", default_value = "http://127.0.0.1:4000")]
    pub url: String,
    /// A key allowed to read the prompt (the master key or a virtual key).
    #[arg(long, env = "PROMPTD_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// The prompt id.
    pub prompt_id: String,
    /// Events to show, newest first (all of them with --all).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Every event, paging through the whole history.
    #[arg(long)]
    pub all: bool,
    /// Print the events as JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `promptd diff DIR` (the plan of `promptd push DIR`) or `promptd diff ID FROM TO` (two
/// versions of one prompt).
#[derive(Debug, Args, Clone)]
#[command(
    after_help = "Examples:\n  promptd diff prompts/                     what `promptd push prompts/` would change\n  promptd diff greeting production staging  the template and settings between two versions"
)]
pub struct DiffArgs {
    /// Either DIR (a folder of .prompt files: print the push plan), or ID FROM TO (a prompt and
    /// two environments or versions, e.g. `greeting production staging.v3`).
    #[arg(required = true, num_args = 1..=3, value_names = ["DIR | ID", "FROM", "TO"])]
    pub args: Vec<String>,
    #[command(flatten)]
    pub plan: crate::gitops::PlanOptions,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// A client of one server.
pub(crate) struct Remote {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Remote {
    pub(crate) fn new(args: &RemoteArgs) -> anyhow::Result<Remote> {
        promptd_upstream::install_crypto_provider();
        let base = args.url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base).with_context(|| {
            format!("--url / PROMPTD_URL '{base}' is not a URL such as http://127.0.0.1:4000")
        })?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Remote {
            base,
            key: args.key.clone(),
            http,
        })
    }

    /// GETs `path` (with `query`) and returns the JSON answer, or an error that says what the
    /// server answered.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .with_context(|| format!("'{path}' does not make a URL with {}", self.base))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut req = self.http.get(url);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach promptd at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.context("the answer was cut off")?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        self.check(status, body)
    }

    /// POSTs a JSON body (with a long timeout: a batch may hold thousands of prompts) and
    /// returns the status and the JSON answer, whatever the status.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(std::time::Duration::from_secs(600))
            .json(body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach promptd at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.context("the answer was cut off")?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// The answer's body, or an error that says what the server answered.
    pub(crate) fn check(&self, status: reqwest::StatusCode, body: Value) -> anyhow::Result<Value> {
        if !status.is_success() {
            let detail = match &body {
                Value::Object(m) => m
                    .get("detail")
                    .or_else(|| m.get("error").and_then(|e| e.get("message")))
                    .map(|d| match d {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| body.to_string()),
                other => other.to_string(),
            };
            let hint = if status.as_u16() == 401 {
                " (pass --key or set PROMPTD_KEY)"
            } else {
                ""
            };
            bail!("{} answered {status}: {detail}{hint}", self.base);
        }
        Ok(body)
    }
}

/// A prompt id as the server accepts it (so it can go into a URL path as it is).
fn checked_id(id: &str) -> anyhow::Result<()> {
    promptd_core::PromptRef::parse(id)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("'{id}' is not a prompt id: {e}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// One event as a line of the history table.
fn event_line(e: &Value) -> String {
    let when = text(&e["created_at"]).replace('T', " ");
    let when = when
        .split('.')
        .next()
        .unwrap_or(&when)
        .trim_end_matches('Z');
    let place = match (e["environment"].as_str(), e["version"].as_u64()) {
        (Some(env), Some(v)) => format!("{env} v{v}"),
        (Some(env), None) => env.to_owned(),
        _ => String::new(),
    };
    let mut line = format!(
        "{when}  {:<8}  {place:<18}  {:<16}",
        text(&e["kind"]),
        text(&e["actor"])
    );
    if let Some(src) = e["source"].as_str() {
        let _ = write!(line, "  from {src}");
    }
    if let Some(hash) = e["content_sha256"].as_str() {
        let _ = write!(line, "  {}", &hash[..hash.len().min(12)]);
    }
    if let Some(m) = e["message"].as_str().filter(|m| !m.is_empty()) {
        let first = m.lines().next().unwrap_or_default();
        let _ = write!(line, "  \"{first}\"");
    }
    line
}

/// `promptd history ID`: the prompt's events, newest first.
pub async fn history(args: HistoryArgs) -> anyhow::Result<()> {
    checked_id(&args.prompt_id)?;
    let remote = Remote::new(&args.remote)?;
    let path = format!("/prompts/{}/history", args.prompt_id);
    let mut cursor: Option<String> = None;
    let mut shown = 0u32;
    let mut out = String::new();
    if !args.json {
        let _ = writeln!(
            out,
            "{:<19}  {:<8}  {:<18}  {:<16}  details",
            "time (UTC)", "event", "version", "by"
        );
    }
    loop {
        let page_size = if args.all {
            1000
        } else {
            (args.limit - shown).clamp(1, 1000)
        };
        let mut query = vec![("limit", page_size.to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page = remote.get(&path, &query).await?;
        for e in page["events"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if args.json {
                let _ = writeln!(out, "{e}");
            } else {
                let _ = writeln!(out, "{}", event_line(e));
            }
            shown += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) if args.all || shown < args.limit => cursor = Some(c.to_owned()),
            Some(_) => {
                if !args.json {
                    let _ = writeln!(
                        out,
                        "… older events: --limit {} or --all",
                        args.limit.saturating_mul(2)
                    );
                }
                break;
            }
            None => break,
        }
    }
    print!("{out}");
    Ok(())
}

/// `promptd diff DIR` (the push plan) or `promptd diff ID FROM TO`: what changes from one
/// version or environment to another.
pub async fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let (id, from, to) = match args.args.as_slice() {
        [dir] => {
            return crate::gitops::diff_dir(std::path::Path::new(dir), &args.plan, &args.remote)
                .await;
        }
        [id, from, to] => (id, from, to),
        _ => bail!(
            "promptd diff takes DIR (a folder of .prompt files) or ID FROM TO (a prompt and two versions), not {} arguments",
            args.args.len()
        ),
    };
    checked_id(id)?;
    let remote = Remote::new(&args.remote)?;
    let d = remote
        .get(
            &format!("/prompts/{id}/diff"),
            &[("from", from.clone()), ("to", to.clone())],
        )
        .await?;
    print!("{}", diff_text(&d));
    Ok(())
}

/// The diff answer as a person reads it: a header, the template's unified diff, then the model,
/// parameters and variables that changed.
pub fn diff_text(d: &Value) -> String {
    let mut out = format!(
        "prompt {}: {} → {}\n",
        text(&d["prompt_id"]),
        text(&d["from"]),
        text(&d["to"])
    );
    if d["identical"] == Value::Bool(true) {
        out.push_str("identical\n");
        return out;
    }
    let template = text(&d["template"]);
    if !template.is_empty() {
        out.push('\n');
        out.push_str(template);
        if !template.ends_with('\n') {
            out.push('\n');
        }
    }
    let mut details = Vec::new();
    if d["model"]["changed"] == Value::Bool(true) {
        details.push(format!(
            "model: {} → {}",
            d["model"]["from"].as_str().unwrap_or("(none)"),
            d["model"]["to"].as_str().unwrap_or("(none)")
        ));
    }
    let params = &d["parameters"];
    for (name, v) in params["added"].as_object().into_iter().flatten() {
        details.push(format!("+ parameter {name}: {v}"));
    }
    for (name, v) in params["removed"].as_object().into_iter().flatten() {
        details.push(format!("- parameter {name}: {v}"));
    }
    for (name, v) in params["changed"].as_object().into_iter().flatten() {
        details.push(format!("~ parameter {name}: {} → {}", v["from"], v["to"]));
    }
    for name in d["variables"]["added"].as_array().into_iter().flatten() {
        details.push(format!("+ variable {}", text(name)));
    }
    for name in d["variables"]["removed"].as_array().into_iter().flatten() {
        details.push(format!("- variable {}", text(name)));
    }
    if !details.is_empty() {
        out.push('\n');
        for l in details {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}
