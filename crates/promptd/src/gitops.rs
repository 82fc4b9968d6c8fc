//! Prompts as code: `promptd push DIR`, `promptd pull DIR` and `promptd diff DIR` against a
//! running server, through `POST /prompts/batch` (all or nothing) and `GET /prompts/list`.
//!
//! The folder layout (docs/gitops.md): `DIR/<environment>/<prompt_id>.prompt` holds the
//! template (`dotprompt_content`) exactly, byte for byte; an optional
//! `DIR/<environment>/<prompt_id>.json` holds the prompt's other `litellm_params` (only those
//! that differ from their defaults; secrets as the server shows them, redacted, which the server
//! keeps). With `--environment ENV` the layout is flat: `DIR/<prompt_id>.prompt`, all in ENV.
//! Files and folders whose names start with `.` (such as `.git`) and other file types are ignored.
//! `pull` then `push --dry-run` reports nothing: the files hold exactly what is stored.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::remote::{Remote, RemoteArgs};

/// What the plan covers (shared by `push` and `diff DIR`).
#[derive(Debug, Args, Clone, Default)]
pub struct PlanOptions {
    /// Every file is in this environment (flat layout DIR/<id>.prompt) instead of
    /// DIR/<environment>/<id>.prompt.
    #[arg(long)]
    pub environment: Option<String>,
    /// Also remove (move to the trash) prompts of the folder's environments that have no file.
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PushArgs {
    /// The folder of .prompt files (DIR/<environment>/<id>.prompt).
    pub dir: PathBuf,
    /// Show the plan and change nothing; exit 2 when there are changes, 0 when in sync, 1 on error.
    #[arg(long)]
    pub dry_run: bool,
    /// The message recorded with every version (and removal) this push makes.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    #[command(flatten)]
    pub plan: PlanOptions,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    /// The folder to write (created if missing; existing files of pulled prompts are replaced).
    pub dir: PathBuf,
    /// Only this environment, written flat (DIR/<id>.prompt).
    #[arg(long)]
    pub environment: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `litellm_params` fields and the defaults `pull` leaves out of the `.json` file.
const DEFAULTS: &[(&str, Value)] = &[
    ("prompt_id", Value::Null),
    ("api_base", Value::Null),
    ("api_key", Value::Null),
    ("provider_specific_query_params", Value::Null),
    ("ignore_prompt_manager_model", Value::Bool(false)),
    ("ignore_prompt_manager_optional_params", Value::Bool(false)),
];

/// One prompt read from the folder.
#[derive(Debug)]
struct Local {
    prompt_id: String,
    environment: String,
    litellm_params: Map<String, Value>,
}

/// The environments a folder covers and the prompts in it.
#[derive(Debug)]
struct Folder {
    environments: Vec<String>,
    prompts: Vec<Local>,
}

fn visible(entry: &std::fs::DirEntry) -> bool {
    !entry.file_name().to_string_lossy().starts_with('.')
}

/// A prompt's `.prompt` text and `.json` fields, as found.
type Files = (Option<String>, Option<Map<String, Value>>);

fn read_env_dir(dir: &Path, env: &str, out: &mut Vec<Local>) -> anyhow::Result<()> {
    let mut by_id: BTreeMap<String, Files> = BTreeMap::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let path = entry.path();
        if !visible(&entry) || !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let (stem, kind) = match name.rsplit_once('.') {
            Some((stem, "prompt")) => (stem.to_owned(), "prompt"),
            Some((stem, "json")) => (stem.to_owned(), "json"),
            _ => continue,
        };
        promptd_core::PromptId::parse_new(&stem).map_err(|e| {
            anyhow::anyhow!(
                "{}: the file name must be a prompt id ({e}); rename the file",
                path.display()
            )
        })?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (is it UTF-8 text?)", path.display()))?;
        let slot = by_id.entry(stem).or_default();
        if kind == "prompt" {
            slot.0 = Some(text);
        } else {
            let v: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not JSON: it must be an object of litellm_params fields",
                    path.display()
                )
            })?;
            let Value::Object(m) = v else {
                bail!(
                    "{} must hold a JSON object of litellm_params fields",
                    path.display()
                );
            };
            slot.1 = Some(m);
        }
    }
    for (id, (template, extra)) in by_id {
        let mut params = extra.unwrap_or_default();
        if !params.contains_key("prompt_integration") {
            params.insert("prompt_integration".into(), "dotprompt".into());
        }
        if let Some(t) = template {
            params.insert("dotprompt_content".into(), t.into());
        }
        out.push(Local {
            prompt_id: id,
            environment: env.to_owned(),
            litellm_params: params,
        });
    }
    Ok(())
}

fn check_env(env: &str, what: &str) -> anyhow::Result<()> {
    promptd_core::Environment::parse(env)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn read_folder(dir: &Path, opts: &PlanOptions) -> anyhow::Result<Folder> {
    if !dir.is_dir() {
        bail!(
            "{} is not a folder; pass the folder that holds <environment>/<id>.prompt files",
            dir.display()
        );
    }
    let mut prompts = Vec::new();
    let environments = match &opts.environment {
        Some(env) => {
            check_env(env, "--environment")?;
            read_env_dir(dir, env, &mut prompts)?;
            vec![env.clone()]
        }
        None => {
            let mut envs = Vec::new();
            let entries = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read folder {}", dir.display()))?;
            for entry in entries {
                let entry = entry?;
                if !visible(&entry) || !entry.path().is_dir() {
                    continue;
                }
                let env = entry.file_name().to_string_lossy().into_owned();
                check_env(&env, &format!("folder {}", entry.path().display()))?;
                envs.push(env);
            }
            envs.sort();
            for env in &envs {
                read_env_dir(&dir.join(env), env, &mut prompts)?;
            }
            if envs.is_empty() {
                bail!(
                    "{} has no environment folders: put prompts in {0}/<environment>/<id>.prompt, or pass --environment ENV for a flat folder",
                    dir.display()
                );
            }
            envs
        }
    };
    Ok(Folder {
        environments,
        prompts,
    })
}

fn batch_body(folder: &Folder, opts: &PlanOptions, message: Option<&str>, dry_run: bool) -> Value {
    let items: Vec<Value> = folder
        .prompts
        .iter()
        .map(|p| {
            json!({"prompt_id": p.prompt_id, "environment": p.environment,
                   "litellm_params": p.litellm_params,
                   "prompt_info": {"prompt_type": "db", "environment": p.environment}})
        })
        .collect();
    json!({"items": items, "prune": opts.prune, "prune_environments": folder.environments,
           "message": message, "dry_run": dry_run})
}

/// Sends a batch; a refusal becomes an error listing every refused item.
async fn send(remote: &Remote, body: &Value, folder: &Folder) -> anyhow::Result<Value> {
    let (status, answer) = remote.post("/prompts/batch", body).await?;
    if status.is_success() {
        return Ok(answer);
    }
    if let Some(errors) = answer["errors"].as_array() {
        let mut msg = answer["detail"].as_str().unwrap_or("").to_owned();
        for e in errors {
            let place = match e["index"]
                .as_u64()
                .and_then(|i| folder.prompts.get(i as usize))
            {
                Some(p) => format!("{}/{}", p.environment, p.prompt_id),
                None => e["prompt_id"].as_str().unwrap_or("").to_owned(),
            };
            let _ = write!(
                msg,
                "\n  {place}: {} ({})",
                e["detail"].as_str().unwrap_or(""),
                e["status"]
            );
        }
        bail!("{msg}");
    }
    remote.check(status, answer)
}

/// Diff lines shown per changed prompt.
const DIFF_LINES: usize = 12;

/// The plan as a person reads it, and whether it changes anything.
fn plan_text(answer: &Value) -> (String, bool) {
    let mut out = String::new();
    let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for it in items {
        let place = format!(
            "{}/{}",
            it["environment"].as_str().unwrap_or(""),
            it["prompt_id"].as_str().unwrap_or("")
        );
        match it["action"].as_str().unwrap_or("") {
            "create" => {
                let _ = writeln!(out, "+ {place}  (new)");
            }
            "update" => {
                let _ = writeln!(out, "~ {place}  (changes v{})", it["version"]);
                if let Some(d) = it["diff"].as_str() {
                    let lines: Vec<&str> = d.lines().collect();
                    for l in lines.iter().take(DIFF_LINES) {
                        let _ = writeln!(out, "    {l}");
                    }
                    if lines.len() > DIFF_LINES {
                        let _ = writeln!(out, "    … {} more lines", lines.len() - DIFF_LINES);
                    }
                }
            }
            "delete" => {
                let _ = writeln!(
                    out,
                    "- {place}  (removed: v{} goes to the trash)",
                    it["version"]
                );
            }
            _ => {}
        }
    }
    let s = &answer["summary"];
    let changed = answer["changed"] == Value::Bool(true);
    if changed {
        let _ = writeln!(
            out,
            "\nPlan: {} to create, {} to change, {} to remove, {} unchanged.",
            s["create"], s["update"], s["delete"], s["unchanged"]
        );
    } else {
        let _ = writeln!(out, "No changes: {} prompt(s) in sync.", s["unchanged"]);
    }
    (out, changed)
}

/// `promptd diff DIR`: the plan of `promptd push DIR`.
pub async fn diff_dir(dir: &Path, opts: &PlanOptions, remote: &RemoteArgs) -> anyhow::Result<()> {
    let folder = read_folder(dir, opts)?;
    let remote = Remote::new(remote)?;
    let answer = send(&remote, &batch_body(&folder, opts, None, true), &folder).await?;
    print!("{}", plan_text(&answer).0);
    Ok(())
}

/// `promptd push DIR`: the exit code (0 in sync or applied, 2 = a dry run found changes).
pub async fn push(args: PushArgs) -> anyhow::Result<u8> {
    let folder = read_folder(&args.dir, &args.plan)?;
    let remote = Remote::new(&args.remote)?;
    let message = args.message.as_deref();
    let plan = send(
        &remote,
        &batch_body(&folder, &args.plan, message, true),
        &folder,
    )
    .await?;
    let (text, changed) = plan_text(&plan);
    print!("{text}");
    if args.dry_run {
        return Ok(if changed { 2 } else { 0 });
    }
    if !changed {
        return Ok(0);
    }
    // Apply exactly what was planned: a prompt changed by someone else since the plan is refused.
    let mut body = batch_body(&folder, &args.plan, message, false);
    if let (Some(items), Some(planned)) = (body["items"].as_array_mut(), plan["items"].as_array()) {
        for p in planned {
            if p["action"] == "update"
                && let (Some(i), Some(tag)) = (p["index"].as_u64(), p["etag"].as_str())
                && let Some(item) = items.get_mut(i as usize)
            {
                item["if_match"] = tag.into();
            }
        }
    }
    let done = send(&remote, &body, &folder).await.context(
        "nothing was written; if a prompt changed since the plan, run `promptd push` again to see the new plan",
    )?;
    let s = &done["summary"];
    println!(
        "\nApplied: {} created, {} changed, {} removed, {} unchanged.",
        s["create"], s["update"], s["delete"], s["unchanged"]
    );
    for it in done["items"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if matches!(it["action"].as_str(), Some("create" | "update")) {
            println!(
                "  {}/{} v{}",
                it["environment"].as_str().unwrap_or(""),
                it["prompt_id"].as_str().unwrap_or(""),
                it["version"]
            );
        }
    }
    Ok(0)
}

/// What `pull` writes for one prompt: the template and the other non-default fields.
fn split_params(params: &Map<String, Value>) -> (Option<String>, Map<String, Value>) {
    let mut extra = Map::new();
    let mut template = None;
    for (k, v) in params {
        if k == "dotprompt_content"
            && let Value::String(s) = v
        {
            template = Some(s.clone());
            continue;
        }
        if k == "prompt_integration" && v == "dotprompt" {
            continue;
        }
        if DEFAULTS.iter().any(|(name, d)| name == k && d == v)
            || (k == "dotprompt_content" && v.is_null())
        {
            continue;
        }
        extra.insert(k.clone(), v.clone());
    }
    (template, extra)
}

/// `promptd pull DIR`: writes the latest version of every prompt the key can read.
pub async fn pull(args: PullArgs) -> anyhow::Result<()> {
    if let Some(env) = &args.environment {
        check_env(env, "--environment")?;
    }
    let remote = Remote::new(&args.remote)?;
    let mut query = Vec::new();
    if let Some(env) = &args.environment {
        query.push(("environment", env.clone()));
    }
    let list = remote.get("/prompts/list", &query).await?;
    let mut written = 0usize;
    let mut skipped = 0usize;
    for spec in list["prompts"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if spec["prompt_info"]["prompt_type"] == "config" {
            skipped += 1;
            continue;
        }
        let id = spec["prompt_id"].as_str().unwrap_or("");
        let env = spec["environment"].as_str().unwrap_or("");
        if promptd_core::PromptId::parse_new(id).is_err() || check_env(env, "environment").is_err()
        {
            bail!(
                "the server answered a prompt id or environment that is not a file name: {id}/{env}"
            );
        }
        let dir = match &args.environment {
            Some(_) => args.dir.clone(),
            None => args.dir.join(env),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let params = spec["litellm_params"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let (template, extra) = split_params(&params);
        let prompt_file = dir.join(format!("{id}.prompt"));
        let json_file = dir.join(format!("{id}.json"));
        match template {
            Some(t) => std::fs::write(&prompt_file, t)
                .with_context(|| format!("cannot write {}", prompt_file.display()))?,
            None => remove_if_there(&prompt_file)?,
        }
        if extra.is_empty() {
            remove_if_there(&json_file)?;
        } else {
            let mut text = serde_json::to_string_pretty(&Value::Object(extra))?;
            text.push('\n');
            std::fs::write(&json_file, text)
                .with_context(|| format!("cannot write {}", json_file.display()))?;
        }
        written += 1;
    }
    println!(
        "Pulled {written} prompt(s) into {}{}",
        args.dir.display(),
        if skipped > 0 {
            format!(" ({skipped} config-file prompt(s) skipped: they live in the config)")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_keeps_only_non_default_fields_next_to_the_template() {
        let params: Map<String, Value> = serde_json::from_value(json!({
            "prompt_id": null, "prompt_integration": "dotprompt", "api_base": null,
            "api_key": "**redacted**", "provider_specific_query_params": null,
            "ignore_prompt_manager_model": true, "ignore_prompt_manager_optional_params": false,
            "dotprompt_content": "Hi", "extra": 1}))
        .unwrap();
        let (t, extra) = split_params(&params);
        assert_eq!(t.as_deref(), Some("Hi"));
        assert_eq!(
            Value::Object(extra),
            json!({"api_key": "**redacted**", "ignore_prompt_manager_model": true, "extra": 1})
        );
    }
}
