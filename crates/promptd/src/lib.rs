//! The `promptd` binary's library half: command-line interface, configuration layering and
//! the composition root that wires store, state and server together.

pub mod backup;
pub mod config;
pub mod gitops;
pub mod import;
pub mod remote;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use promptd_server::{App, AppState, Settings};
use promptd_store::listen::Flow;
use promptd_store::{Backend, SchemaStatus, SqlStore, StoreOptions};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(
    name = "promptd",
    version,
    about = "A fast, self-hosted prompt registry compatible with LiteLLM's /prompts API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Apply the embedded database migrations and exit.
    Migrate(DbArgs),
    /// Render a .prompt file to chat messages (no server, no model call).
    Render(RenderArgs),
    /// Copy prompts from another system into promptd's database.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show a prompt's history (every change, newest first) from a running server.
    History(remote::HistoryArgs),
    /// Show the plan of `push DIR` (one argument), or what changes between two versions or
    /// environments of a prompt (ID FROM TO), on a running server.
    Diff(remote::DiffArgs),
    /// Apply a folder of .prompt files (DIR/<environment>/<id>.prompt) to a running server, all
    /// or nothing; --dry-run exits 2 when there are changes.
    Push(gitops::PushArgs),
    /// Write the latest version of every prompt on a running server into a folder.
    Pull(gitops::PullArgs),
    /// Write a consistent snapshot of the database (while promptd runs) into a backup file.
    Backup(backup::BackupArgs),
    /// Restore a backup file into an empty database (one transaction).
    Restore(backup::RestoreArgs),
    /// Copy everything from one database into another (e.g. SQLite to PostgreSQL).
    Copy(backup::CopyArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Copy every row of LiteLLM's "LiteLLM_PromptTable" (idempotent: rows already here are skipped).
    Litellm(ImportArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    /// LiteLLM's PostgreSQL database, e.g. postgres://llmproxy:pass@db:5432/litellm
    #[arg(long = "from")]
    pub from: String,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// LiteLLM-style config.yaml (general_settings, prompts, model_list, promptd_settings).
    #[arg(long, env = "PROMPTD_CONFIG")]
    pub config: Option<PathBuf>,
    /// sqlite://FILE (default sqlite://promptd.db) or postgres://USER@HOST/DB.
    #[arg(long, env = "PROMPTD_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, env = "PROMPTD_HOST")]
    pub host: Option<IpAddr>,
    /// Port to listen on (default 4000).
    #[arg(long, env = "PROMPTD_PORT")]
    pub port: Option<u16>,
    /// The master key (proxy_admin). Overrides general_settings.master_key.
    #[arg(long, env = "PROMPTD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Largest accepted request body in bytes (default 1048576).
    #[arg(long, env = "PROMPTD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Log one line per request: method, path, status, time (default off).
    #[arg(long, env = "PROMPTD_ACCESS_LOG", num_args = 0..=1, default_missing_value = "true")]
    pub access_log: Option<bool>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Connection limits (each also in `promptd_settings`).
#[derive(Debug, Args, Clone, Default)]
pub struct NetArgs {
    /// Open connections at most (default 10000, lower if the file-descriptor limit is low).
    #[arg(long, env = "PROMPTD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Milliseconds a client may take to send a request head (default 10000).
    #[arg(long, env = "PROMPTD_HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Milliseconds a keep-alive connection may stay idle between requests (default 75000).
    #[arg(long, env = "PROMPTD_KEEP_ALIVE_TIMEOUT_MS")]
    pub keep_alive_timeout_ms: Option<u64>,
    /// Milliseconds a client may take to send a request body (default 30000).
    #[arg(long, env = "PROMPTD_BODY_READ_TIMEOUT_MS")]
    pub body_read_timeout_ms: Option<u64>,
}

#[derive(Debug, Args, Clone)]
pub struct RenderArgs {
    /// The .prompt file.
    pub file: PathBuf,
    /// Variables as a JSON object, e.g. '{"name": "Ada"}'.
    #[arg(long, default_value = "{}")]
    pub vars: String,
    /// The template dialect: litellm (Jinja, the default) or genkit (Google Dotprompt).
    #[arg(long, default_value = "litellm")]
    pub dialect: String,
}

/// Everything `serve` needs, after layering defaults, file, environment and flags.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub database_url: String,
    pub master_key: Option<String>,
    pub settings: Settings,
    pub store: StoreOptions,
    pub file: config::FileConfig,
    /// `max_connections` was set (otherwise it may be lowered to fit the descriptor limit).
    pub max_connections_set: bool,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://promptd.db";

fn setting_u64(file: &config::FileConfig, key: &str) -> anyhow::Result<Option<u64>> {
    match file.settings.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .with_context(|| format!("promptd_settings.{key} must be a non-negative integer")),
    }
}

impl ServeConfig {
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
        let file = match &args.db.config {
            Some(p) => config::load(p)?,
            None => config::FileConfig::default(),
        };
        let host = match (args.host, file.settings.get("host").and_then(Value::as_str)) {
            (Some(h), _) => h,
            (None, Some(h)) => h
                .parse()
                .with_context(|| format!("promptd_settings.host '{h}' is not an IP address"))?,
            (None, None) => IpAddr::from([127, 0, 0, 1]),
        };
        let port = match (args.port, setting_u64(&file, "port")?) {
            (Some(p), _) => p,
            (None, Some(p)) => {
                u16::try_from(p).context("promptd_settings.port must be below 65536")?
            }
            (None, None) => 4000,
        };
        let master_key = args
            .master_key
            .clone()
            .or_else(|| file.master_key.clone())
            .filter(|k| !k.is_empty());
        if master_key.is_none() && !host.is_loopback() {
            bail!(
                "no master key is set, and promptd is asked to listen on {host}, which is not a loopback address. \
                 Set PROMPTD_MASTER_KEY (or general_settings.master_key) so the API is not open to the network."
            );
        }
        let mut settings = Settings::default();
        if let Some(n) = args
            .max_body_bytes
            .map(|n| n as u64)
            .or(setting_u64(&file, "max_body_bytes")?)
        {
            settings.max_body_bytes = usize::try_from(n).context("max_body_bytes is too large")?;
        }
        if let Some(n) = setting_u64(&file, "max_batch_body_bytes")? {
            settings.max_batch_body_bytes =
                usize::try_from(n).context("max_batch_body_bytes is too large")?;
        }
        if let Some(v) = file.settings.get("escape_html") {
            settings.engine.escape_html = v
                .as_bool()
                .context("promptd_settings.escape_html must be true or false")?;
        }
        match (args.access_log, file.settings.get("access_log")) {
            (Some(on), _) => settings.access_log = on,
            (None, Some(v)) => {
                settings.access_log = v
                    .as_bool()
                    .context("promptd_settings.access_log must be true or false")?;
            }
            (None, None) => {}
        }
        if let Some(v) = file.settings.get("protected_environments") {
            let list = v.as_array().context(
                "promptd_settings.protected_environments must be a list of environments, e.g. [production]",
            )?;
            for e in list {
                let name = e.as_str().context(
                    "promptd_settings.protected_environments must be a list of environment names",
                )?;
                settings.protected_environments.push(
                    promptd_core::Environment::parse(name).with_context(|| {
                        format!("promptd_settings.protected_environments: '{name}'")
                    })?,
                );
            }
        }
        if let Some(n) = setting_u64(&file, "trash_retention_days")? {
            settings.trash_retention_days = u32::try_from(n).context(
                "promptd_settings.trash_retention_days is too large (0 keeps the trash forever)",
            )?;
        }
        if let Some(v) = file.settings.get("ui_secure_cookies") {
            settings.ui_secure_cookies = v
                .as_bool()
                .context("promptd_settings.ui_secure_cookies must be true or false")?;
        }
        if let Some(n) = setting_u64(&file, "ui_session_idle_minutes")? {
            if n == 0 {
                bail!("promptd_settings.ui_session_idle_minutes must be at least 1");
            }
            settings.ui_sessions.idle = std::time::Duration::from_secs(n.saturating_mul(60));
        }
        if let Some(n) = setting_u64(&file, "ui_session_max_hours")? {
            if n == 0 {
                bail!("promptd_settings.ui_session_max_hours must be at least 1");
            }
            settings.ui_sessions.absolute = std::time::Duration::from_secs(n.saturating_mul(3600));
        }
        if let Some(v) = file.settings.get("metrics_public") {
            settings.metrics_public = v
                .as_bool()
                .context("promptd_settings.metrics_public must be true or false")?;
        }
        if let Some(n) = setting_u64(&file, "template_fuel")? {
            settings.engine.limits.fuel = n;
        }
        if let Some(n) = setting_u64(&file, "template_max_output_bytes")? {
            settings.engine.limits.max_output_bytes =
                usize::try_from(n).context("template_max_output_bytes is too large")?;
        }
        let millis =
            |flag: Option<u64>, key: &str| -> anyhow::Result<Option<std::time::Duration>> {
                Ok(match flag.or(setting_u64(&file, key)?) {
                    Some(0) => bail!("{key} must be at least 1 (milliseconds)"),
                    Some(n) => Some(std::time::Duration::from_millis(n)),
                    None => None,
                })
            };
        if let Some(d) = millis(args.net.header_read_timeout_ms, "header_read_timeout_ms")? {
            settings.header_read_timeout = d;
        }
        if let Some(d) = millis(args.net.keep_alive_timeout_ms, "keep_alive_timeout_ms")? {
            settings.keep_alive_timeout = d;
        }
        if let Some(d) = millis(args.net.body_read_timeout_ms, "body_read_timeout_ms")? {
            settings.body_read_timeout = d;
        }
        let max_connections = match args.net.max_connections.map(|n| n as u64) {
            Some(n) => Some(n),
            None => setting_u64(&file, "max_connections")?,
        };
        if let Some(n) = max_connections {
            if n == 0 {
                bail!("max_connections must be at least 1");
            }
            settings.max_connections =
                usize::try_from(n).context("max_connections is too large")?;
        }
        if let Some(n) = setting_u64(&file, "watch_buffer_events")? {
            if n == 0 {
                bail!("watch_buffer_events must be at least 1");
            }
            settings.watch_buffer_events =
                usize::try_from(n).context("watch_buffer_events is too large")?;
        }
        if let Some(d) = millis(None, "watch_heartbeat_ms")? {
            settings.watch_heartbeat = d;
        }
        if let Some(v) = file.settings.get("webhooks_allow_private") {
            settings.webhooks.allow_private = v
                .as_bool()
                .context("promptd_settings.webhooks_allow_private must be true or false")?;
        }
        let seconds = |key: &str| -> anyhow::Result<Option<std::time::Duration>> {
            Ok(match setting_u64(&file, key)? {
                Some(0) => bail!("{key} must be at least 1 (seconds)"),
                Some(n) => Some(std::time::Duration::from_secs(n)),
                None => None,
            })
        };
        if let Some(d) = seconds("webhooks_retry_for_s")? {
            settings.webhooks.retry_for = d;
        }
        if let Some(d) = seconds("webhooks_disable_after_s")? {
            settings.webhooks.disable_after = d;
        }
        if let Some(d) = millis(None, "webhooks_first_retry_ms")? {
            settings.webhooks.first_retry = d;
        }
        if let Some(d) = millis(None, "webhooks_timeout_ms")? {
            settings.webhooks.timeout = d;
        }
        if let Some(d) = millis(None, "webhooks_poll_ms")? {
            settings.webhooks.poll = d;
        }
        if let Some(n) = setting_u64(&file, "template_max_bytes")? {
            settings.engine.limits.max_bytes =
                usize::try_from(n).context("template_max_bytes is too large")?;
        }
        let mut store = StoreOptions::default();
        if let Some(n) = setting_u64(&file, "database_max_connections")? {
            store.max_connections = u32::try_from(n)
                .context("database_max_connections is too large")?
                .max(1);
        }
        if let Some(n) = setting_u64(&file, "database_acquire_timeout_ms")? {
            store.acquire_timeout = std::time::Duration::from_millis(n.max(1));
        }
        if let Some(d) = millis(None, "database_statement_timeout_ms")? {
            store.statement_timeout = Some(d);
        }
        if let Some(d) = millis(None, "database_connect_timeout_ms")? {
            store.connect_timeout = d;
        }
        if let Some(d) = millis(None, "database_keepalive_ms")? {
            store.keepalive_interval = d;
        }
        if let Some(d) = millis(None, "database_load_timeout_ms")? {
            store.load_timeout = d;
        }
        let database_url = args
            .db
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        Ok(ServeConfig {
            addr: SocketAddr::new(host, port),
            database_url,
            master_key,
            settings,
            store,
            file,
            max_connections_set: max_connections.is_some(),
        })
    }
}

/// Opens the store and makes sure its schema is what this binary expects. SQLite is migrated
/// automatically (it is embedded and single-user); PostgreSQL must be migrated explicitly.
pub async fn open_store(url: &str, opts: &StoreOptions) -> anyhow::Result<SqlStore> {
    let store = SqlStore::connect(url, opts).await?;
    match store.schema_status().await? {
        SchemaStatus::UpToDate => {}
        SchemaStatus::Behind { missing } if store.backend() == Backend::Sqlite => {
            tracing::info!(?missing, "applying SQLite migrations");
            store.migrate().await?;
        }
        SchemaStatus::Behind { missing } => bail!(
            "the database schema is not migrated (missing migrations {missing:?}). Run `promptd migrate --database-url <url>` first."
        ),
        SchemaStatus::Ahead { unknown } => bail!(
            "the database was migrated by a newer promptd (unknown migrations {unknown:?}); run that version, or restore a backup"
        ),
    }
    Ok(store)
}

/// Builds the application state from a resolved configuration.
pub async fn build_state(cfg: &ServeConfig, store: SqlStore) -> anyhow::Result<AppState> {
    // One TLS crypto provider (ring) for the whole process, before any HTTP client exists.
    promptd_upstream::install_crypto_provider();
    let models = promptd_upstream::Models::from_entries(&cfg.file.model_list)?;
    // Every store operation answers within a known time, even on a stalled network.
    let store = promptd_store::Bounded::new(store, &cfg.store);
    // A client's write, queueing behind others included, answers within the same bound.
    let mut settings = cfg.settings.clone();
    settings.write_timeout = store.op_limit();
    let store = Arc::new(store);
    let app = App::new(
        store.clone(),
        cfg.master_key.as_deref(),
        settings,
        cfg.file.prompts.clone(),
    )
    .await?
    .with_models(models)
    .with_webhooks(store)?;
    Ok(AppState(Arc::new(app)))
}

/// How often the ledger feed looks for new events when nothing woke it (a safety net: local
/// writes and, on PostgreSQL, notifications from other instances wake it at once).
const FEED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the background work a running server needs: the ledger feed of watch streams, the
/// webhook delivery worker, the trash's retention, and on PostgreSQL the listener that keeps
/// this instance's memory in step with writes made by other instances.
pub fn start_background(cfg: &ServeConfig, state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(
        state.feed.clone().follow(state.store.clone(), FEED_POLL),
    ));
    if let Some(w) = &state.webhooks {
        tasks.push(tokio::spawn(w.deliverer.clone().run()));
    }
    if state.settings.trash_retention_days > 0 {
        tasks.push(tokio::spawn(empty_trash(state.clone())));
    }
    if Backend::from_url(&cfg.database_url).ok() != Some(Backend::Postgres) {
        return tasks;
    }
    let state = state.clone();
    tasks.push(tokio::spawn(promptd_store::listen::listen_changes(
        cfg.database_url.clone(),
        promptd_store::listen::ListenOptions::from_store(&cfg.store),
        move |change| {
            let state = state.clone();
            async move {
                match state.apply_change(&change).await {
                    Ok(()) => Flow::Continue,
                    Err(e) => {
                        // Reconnecting resynchronises everything, so the change is not lost.
                        tracing::warn!(?change, error = %e, "could not apply a change from the database; will reconnect and resynchronise");
                        Flow::Resync
                    }
                }
            }
        },
    )));
    tasks
}

/// How often the trash is checked for versions past `trash_retention_days`.
const TRASH_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Purges trashed versions deleted more than `trash_retention_days` ago: at startup, then every
/// hour. Several instances may do it at once: each version is purged (and recorded) once.
async fn empty_trash(state: AppState) {
    let days = i64::from(state.settings.trash_retention_days);
    loop {
        let cutoff = promptd_core::time_fmt::now_ms() - days * 86_400_000;
        match state.store.purge_trashed_before(cutoff).await {
            Ok(prompts) if !prompts.is_empty() => {
                tracing::info!(
                    prompts = prompts.len(),
                    days,
                    "purged versions kept in the trash longer than trash_retention_days"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %promptd_core::error_chain(&e), "could not empty the trash; will try again in an hour");
            }
        }
        tokio::time::sleep(TRASH_SWEEP_INTERVAL).await;
    }
}

/// Raises the file-descriptor limit and fits the connection cap to it; logs both.
pub fn fit_connections_to_fd_limit(cfg: &mut ServeConfig) {
    let Some(fd) = promptd_server::serve::raise_fd_limit() else {
        tracing::info!(
            max_connections = cfg.settings.max_connections,
            "file-descriptor limit unknown on this OS"
        );
        return;
    };
    let budget = fd.connection_budget();
    if !cfg.max_connections_set {
        cfg.settings.max_connections = cfg.settings.max_connections.min(budget);
    } else if cfg.settings.max_connections > budget {
        tracing::warn!(
            max_connections = cfg.settings.max_connections,
            fd_limit = fd.now,
            "max_connections is above what the file-descriptor limit affords (about {budget}); raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower max_connections, or accepts will fail with 'Too many open files'"
        );
    }
    tracing::info!(
        fd_soft_limit_before = fd.before,
        fd_soft_limit = fd.now,
        fd_hard_limit = fd
            .hard
            .map(|h| h.to_string())
            .unwrap_or_else(|| "unlimited".into()),
        max_connections = cfg.settings.max_connections,
        "file descriptors"
    );
}

/// `promptd serve`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = ServeConfig::resolve(&args)?;
    fit_connections_to_fd_limit(&mut cfg);
    let store = open_store(&cfg.database_url, &cfg.store).await?;
    let state = build_state(&cfg, store).await?;
    let _background = start_background(&cfg, &state);
    if cfg.master_key.is_none() {
        tracing::warn!(
            "no master key is set: authentication is OFF (allowed because promptd listens on loopback only). Set PROMPTD_MASTER_KEY to turn it on."
        );
    }
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.addr))?;
    let prompts = state.index.read().len();
    tracing::info!(addr = %listener.local_addr()?, prompts, db = %promptd_store::redact_url(&cfg.database_url), "promptd is ready");
    promptd_server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// The database a command names: `--database-url`, else the config's, else the default.
pub fn database_url(args: &DbArgs) -> anyhow::Result<String> {
    let file = match &args.config {
        Some(p) => config::load(p)?,
        None => config::FileConfig::default(),
    };
    Ok(args
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()))
}

/// `promptd migrate`.
pub async fn migrate(args: DbArgs) -> anyhow::Result<()> {
    let url = database_url(&args)?;
    // No statement limit: a migration may wait for locks held by running instances.
    let opts = StoreOptions {
        statement_timeout: None,
        ..StoreOptions::default()
    };
    let store = SqlStore::connect(&url, &opts).await?;
    if let SchemaStatus::Ahead { unknown } = store.schema_status().await? {
        bail!("the database was migrated by a newer promptd (unknown migrations {unknown:?})");
    }
    store.migrate().await?;
    println!("database {} is up to date", promptd_store::redact_url(&url));
    Ok(())
}

/// `promptd import litellm --from URL`.
pub async fn import_litellm(args: ImportArgs) -> anyhow::Result<()> {
    let file = match &args.db.config {
        Some(p) => config::load(p)?,
        None => config::FileConfig::default(),
    };
    let url = args
        .db
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let store = open_store(&url, &StoreOptions::default()).await?;
    let report = import::import_litellm(&args.from, &store).await?;
    print!("{report}");
    Ok(())
}

/// `promptd render FILE --vars JSON`.
pub fn render(args: RenderArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let vars: serde_json::Map<String, Value> =
        serde_json::from_str(&args.vars).context("--vars must be a JSON object")?;
    let dialect = promptd_template::Dialect::parse(Some(&Value::String(args.dialect.clone())))
        .map_err(|e| anyhow::anyhow!("--dialect: {e}"))?;
    let prompt = promptd_template::Prompt::parse_dialect(&text, dialect, &Default::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let messages = prompt.render(&vars).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = serde_json::json!({"model": prompt.model(), "messages": messages, "optional_params": prompt.optional_params()});
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
