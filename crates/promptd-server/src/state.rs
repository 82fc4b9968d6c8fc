//! The application state shared by every request, and the write paths that keep the
//! in-memory index consistent with the store.
//!
//! **Architecture invariant:** a write reaches the index only after the store committed it,
//! and all writes of one instance are serialised by `write_lock`, so the index never shows a
//! row that is not in the database nor misses one this instance acknowledged.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use promptd_core::{
    Change, Entry, Environment, Index, JsonObject, KeyAdmin, KeyRecord, Kind, NewVersion,
    Principal, PromptId, PromptRecord, PromptSource, Provenance, Reach, Store, Version, Writer,
};
use promptd_template::{Definition, DefinitionError, Dialect, EngineOptions, Prompt};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};

/// One version in memory, with its template.
pub type PromptEntry = Entry<LazyTemplate>;

/// A version's template, compiled on first use: at startup only the records are loaded, so a
/// registry of 100,000 versions starts fast and keeps in memory only the templates it serves.
/// Writes compile eagerly (to validate) and keep the result.
#[derive(Debug, Default)]
pub struct LazyTemplate {
    /// The `.prompt` text when it is not in `litellm_params` (a config `prompt_file`).
    file_text: Option<String>,
    compiled: std::sync::OnceLock<Result<Prompt, DefinitionError>>,
    /// The template composed with its includes, and what each name resolved to then (name,
    /// row id): reused while the names resolve to the same rows (see `includes`).
    composed: parking_lot::Mutex<Option<ComposedTemplate>>,
}

/// A composed template and the (name, row id) pairs it was composed with.
type ComposedTemplate = (Vec<(String, String)>, Prompt);

impl LazyTemplate {
    /// A template compiled already.
    pub fn compiled(prompt: Prompt) -> LazyTemplate {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(Ok(prompt));
        LazyTemplate {
            file_text: None,
            compiled: cell,
            composed: parking_lot::Mutex::new(None),
        }
    }

    /// The composed template kept for exactly these resolutions, if any.
    pub fn composed_for(&self, key: &[(String, String)]) -> Option<Prompt> {
        match &*self.composed.lock() {
            Some((k, p)) if k.as_slice() == key => Some(p.clone()),
            _ => None,
        }
    }

    /// Keeps the template composed for `key` (replacing an older composition).
    pub fn keep_composed(&self, key: Vec<(String, String)>, prompt: Prompt) {
        *self.composed.lock() = Some((key, prompt));
    }

    /// The includes of `record`'s template if its text mentions `needle` at all (templates that
    /// do not are not compiled for this question).
    pub fn includes_naming(
        &self,
        record: &PromptRecord,
        engine: &EngineOptions,
        needle: &str,
    ) -> Vec<String> {
        let mentions = match (self.compiled.get(), &self.file_text) {
            (Some(_), _) => true,
            (None, Some(text)) => text.contains(needle),
            (None, None) => record.litellm_params.as_str().contains(needle),
        };
        if !mentions {
            return Vec::new();
        }
        match self.get(record, engine) {
            Ok(p) => p.includes().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// The compiled template of `record`, compiling it the first time.
    pub fn get(
        &self,
        record: &PromptRecord,
        engine: &EngineOptions,
    ) -> &Result<Prompt, DefinitionError> {
        self.compiled.get_or_init(|| match &self.file_text {
            Some(text) => Definition::compile_text(&record.litellm_params.to_map(), text, engine),
            None => Definition::compile_inline(&record.litellm_params.to_map(), engine),
        })
    }
}

/// Server settings that do not come from the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Template limits and escaping.
    pub engine: EngineOptions,
    /// Serve `/metrics` without a key (`promptd_settings.metrics_public`).
    pub metrics_public: bool,
    /// Log one line per request (`promptd_settings.access_log`).
    pub access_log: bool,
    /// Environments that change only through promote or rollback
    /// (`promptd_settings.protected_environments`).
    pub protected_environments: Vec<Environment>,
    /// How long a client's write may take in all, waiting for the instance's earlier writes
    /// included (`database_acquire_timeout_ms + database_statement_timeout_ms`); then 503.
    pub write_timeout: std::time::Duration,
    /// How long a client may take to send a request head (from accept, or from the first byte
    /// of a later request on a keep-alive connection).
    pub header_read_timeout: std::time::Duration,
    /// How long a keep-alive connection may stay idle between requests.
    pub keep_alive_timeout: std::time::Duration,
    /// How long a client may take to send a request body, from its head (then 408).
    pub body_read_timeout: std::time::Duration,
    /// Open connections at most; at the cap the oldest idle one is closed to make room.
    pub max_connections: usize,
    /// Days a deleted version stays in the trash before it is purged; 0 = kept forever.
    pub trash_retention_days: u32,
    /// Mark the UI's session cookie `Secure` on every answer (`promptd_settings.ui_secure_cookies`);
    /// it is also marked when a request says `X-Forwarded-Proto: https`.
    pub ui_secure_cookies: bool,
    /// How long UI sessions live (idle and absolute).
    pub ui_sessions: promptd_ui::SessionLimits,
    /// Largest accepted body of `POST /prompts/batch`, in bytes (a whole folder of prompts).
    pub max_batch_body_bytes: usize,
    /// Ledger events kept in memory for watch streams (`watch_buffer_events`); a watcher whose
    /// cursor is older than these is told to resync.
    pub watch_buffer_events: usize,
    /// Quiet time after which a watch stream sends a heartbeat comment (`watch_heartbeat_ms`).
    pub watch_heartbeat: std::time::Duration,
    /// Webhook delivery (`webhooks_*` settings).
    pub webhooks: promptd_events::DeliveryOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body_bytes: 1024 * 1024,
            engine: EngineOptions::default(),
            metrics_public: false,
            access_log: false,
            protected_environments: Vec::new(),
            write_timeout: std::time::Duration::from_secs(10),
            header_read_timeout: std::time::Duration::from_secs(10),
            keep_alive_timeout: std::time::Duration::from_secs(75),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 10_000,
            trash_retention_days: 30,
            ui_secure_cookies: false,
            ui_sessions: promptd_ui::SessionLimits::default(),
            max_batch_body_bytes: 64 * 1024 * 1024,
            watch_buffer_events: 10_000,
            watch_heartbeat: std::time::Duration::from_secs(15),
            webhooks: promptd_events::DeliveryOptions::default(),
        }
    }
}

/// A prompt from the config file, ready to register.
#[derive(Debug, Clone)]
pub struct ConfigPrompt {
    pub prompt_id: PromptId,
    pub litellm_params: serde_json::Map<String, serde_json::Value>,
    pub prompt_info: serde_json::Map<String, serde_json::Value>,
    /// The `.prompt` text, already read from `prompt_file` if that is where it lives.
    pub template_text: String,
}

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

pub struct App {
    /// Durable storage; the source of truth.
    pub store: Arc<dyn Store>,
    /// Every prompt version, served to reads without touching the store.
    pub index: RwLock<Index<LazyTemplate>>,
    /// Virtual keys by token (SHA-256 hex of the key), with their reach parsed once.
    /// Shared entries: a request takes a reference, not a copy of the key's metadata.
    pub keys: RwLock<HashMap<String, Arc<KeyEntry>>>,
    /// SHA-256 of the master key; `None` means authentication is off (loopback only).
    pub master_key_hash: Option<[u8; 32]>,
    pub settings: Settings,
    /// Serialises this instance's writes (see the module invariant).
    pub write_lock: tokio::sync::Mutex<()>,
    /// Writes waiting for the write lock; whoever takes it commits them all (group commit).
    write_queue: parking_lot::Mutex<Vec<QueuedWrite>>,
    write_tickets: std::sync::atomic::AtomicU64,
    /// Serialised `/prompts/list` answers for callers who read everything, keyed by the query;
    /// emptied whenever the index changes. At 10,000 prompts this turns a multi-megabyte
    /// serialisation per request into a copy of shared bytes.
    pub list_cache: RwLock<HashMap<ListKey, Tagged>>,
    /// Serialised `/prompts/{id}/info` answers by (path id, environment). The answer does not
    /// depend on the caller (permission is checked before the cache is consulted); emptied
    /// with `list_cache`. Halves the CPU of an info request.
    pub info_cache: RwLock<HashMap<(String, Option<String>), Tagged>>,
    /// Bumped by every index change; guards the caches against storing stale answers.
    pub cache_generation: std::sync::atomic::AtomicU64,
    /// The models of `model_list`, for running prompts.
    pub models: promptd_upstream::Models,
    /// The web UI's sign-in sessions (in memory: per instance).
    pub ui_sessions: promptd_ui::Sessions,
    /// The newest ledger events, for watch streams (followed by a background task).
    pub feed: Arc<promptd_events::Feed>,
    /// Webhook endpoints and their outbox, and this instance's delivery worker (absent only
    /// when the state was built without [`App::with_webhooks`]).
    pub webhooks: Option<Webhooks>,
}

/// Where webhooks are kept and who delivers them.
#[derive(Clone)]
pub struct Webhooks {
    pub store: Arc<dyn promptd_core::WebhookStore>,
    pub deliverer: Arc<promptd_events::Deliverer>,
}

/// A serialised answer with its entity tag.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub body: bytes::Bytes,
    pub etag: axum::http::HeaderValue,
}

/// What a cached list answer depends on (besides the index itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub environment: Option<String>,
    pub page: Option<usize>,
    pub page_size: Option<usize>,
}

/// Cached list answers kept at most (distinct queries are few in practice).
pub const LIST_CACHE_ENTRIES: usize = 256;
/// Cached info answers kept at most (the cache is emptied when full).
pub const INFO_CACHE_ENTRIES: usize = 16_384;

/// SHA-256 of a key as raw bytes.
pub fn sha256(data: &str) -> [u8; 32] {
    Sha256::digest(data.as_bytes()).into()
}

/// SHA-256 of a key as lower-case hex: LiteLLM's `token`.
pub fn token_of(key: &str) -> String {
    sha256(key).iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// Builds the state: loads every stored version and key into memory and registers the
    /// config prompts (which must all compile).
    pub async fn new(
        store: Arc<dyn Store>,
        master_key: Option<&str>,
        settings: Settings,
        config_prompts: Vec<ConfigPrompt>,
    ) -> Result<App, StartupError> {
        let mut index = Index::new();
        for cp in config_prompts {
            // The config loader checked the dialect already.
            let dialect = Dialect::of_params(&cp.litellm_params).unwrap_or_default();
            let template = Prompt::parse_dialect(&cp.template_text, dialect, &settings.engine)
                .map_err(|source| StartupError::ConfigPrompt {
                    prompt_id: cp.prompt_id.to_string(),
                    source,
                })?;
            index.insert_config(Entry {
                record: PromptRecord {
                    id: format!("config:{}", cp.prompt_id),
                    prompt_id: cp.prompt_id,
                    version: 1,
                    environment: Environment::development(),
                    created_by: None,
                    litellm_params: JsonObject::from_map(&cp.litellm_params),
                    prompt_info: JsonObject::from_map(&cp.prompt_info),
                    created_at: None,
                    updated_at: None,
                    source: PromptSource::Config,
                    provenance: Provenance::new(Kind::Config),
                    content_sha256: promptd_core::content_sha256_of(&cp.litellm_params),
                },
                template: LazyTemplate {
                    file_text: Some(cp.template_text),
                    ..LazyTemplate::compiled(template)
                },
            });
        }
        let rows = store.all_versions().await?;
        for rec in rows.iter().filter(|r| index.is_config(&r.prompt_id)) {
            tracing::warn!(prompt_id = %rec.prompt_id, version = rec.version, "a config prompt shadows this stored version");
        }
        let by_prompt = entries_by_prompt(&index, rows);
        index.replace_all_stored(by_prompt);
        let keys = key_map(store.all_keys().await?);
        let feed = promptd_events::Feed::load(store.as_ref(), settings.watch_buffer_events).await?;
        Ok(App {
            store,
            index: RwLock::new(index),
            keys: RwLock::new(keys),
            master_key_hash: master_key.map(sha256),
            write_lock: tokio::sync::Mutex::new(()),
            write_queue: parking_lot::Mutex::new(Vec::new()),
            write_tickets: std::sync::atomic::AtomicU64::new(0),
            list_cache: RwLock::new(HashMap::new()),
            info_cache: RwLock::new(HashMap::new()),
            cache_generation: std::sync::atomic::AtomicU64::new(0),
            models: promptd_upstream::Models::default(),
            ui_sessions: promptd_ui::Sessions::new(settings.ui_sessions),
            settings,
            feed: Arc::new(feed),
            webhooks: None,
        })
    }

    /// Forgets every cached answer; called right *after* every change of the index. The
    /// generation moves first, so an answer computed from the old index cannot be stored after
    /// the clear (see [`App::cache_insert`]).
    pub fn clear_caches(&self) {
        self.cache_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.list_cache.write().clear();
        self.info_cache.write().clear();
        // Watchers and webhook deliveries follow the index: new events are in the store now.
        self.feed.wake();
        if let Some(w) = &self.webhooks {
            w.deliverer.wake();
        }
    }

    /// The generation to read before computing an answer to cache.
    pub fn cache_generation(&self) -> u64 {
        self.cache_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stores `value` unless the index changed since `generation` was read (then the answer
    /// may be stale and is simply not cached). Empties the map when it reaches `cap`.
    pub fn cache_insert<K: std::hash::Hash + Eq, V>(
        &self,
        cache: &RwLock<HashMap<K, V>>,
        generation: u64,
        key: K,
        value: V,
        cap: usize,
    ) {
        let mut map = cache.write();
        if self.cache_generation() != generation {
            return;
        }
        if map.len() >= cap {
            map.clear();
        }
        map.insert(key, value);
    }

    /// Sets where webhooks are kept; builds this instance's delivery worker (started by the
    /// caller with [`promptd_events::Deliverer::run`]).
    pub fn with_webhooks(
        mut self,
        store: Arc<dyn promptd_core::WebhookStore>,
    ) -> Result<App, StartupError> {
        let deliverer =
            promptd_events::Deliverer::new(store.clone(), self.settings.webhooks.clone())
                .map_err(StartupError::Webhooks)?;
        self.webhooks = Some(Webhooks {
            store,
            deliverer: Arc::new(deliverer),
        });
        Ok(self)
    }

    /// Sets the models prompts run against.
    pub fn with_models(mut self, models: promptd_upstream::Models) -> App {
        self.models = models;
        self
    }

    /// Whether `key` is the master key (constant time).
    pub fn is_master_key(&self, key: &str) -> bool {
        match &self.master_key_hash {
            Some(h) => bool::from(sha256(key).ct_eq(h)),
            None => false,
        }
    }

    /// The virtual key whose secret is `key`, if any (lookup by hash, then a constant-time
    /// comparison of the hashes).
    pub fn find_key(&self, key: &str) -> Option<Arc<KeyEntry>> {
        let token = token_of(key);
        let keys = self.keys.read();
        let entry = keys.get(&token)?;
        bool::from(entry.record.token.as_bytes().ct_eq(token.as_bytes())).then(|| entry.clone())
    }

    /// Compiles a template in `dialect`, turning errors into a 400 that says where.
    pub fn compile(&self, text: &str, dialect: Dialect) -> ApiResult<Prompt> {
        Prompt::parse_dialect(text, dialect, &self.settings.engine)
            .map_err(|e| ApiError::bad_request(format!("Invalid prompt template: {e}")))
    }

    /// A read-modify-write: `derive` receives the base version read inside the writing
    /// transaction (`base_version`, or the latest of `env` when `None`), after this
    /// environment's next number was taken, and returns the new version's content with its
    /// compiled template. A concurrent writer (on this instance or another) therefore either
    /// committed before the base was read or waits until this write commits: no acknowledged
    /// change is ever built upon a stale base and silently reverted. An error from `derive` comes
    /// back unchanged and nothing is written. Only a [`Writer`] granted (prompt, `env`) may call
    /// it; the version is written by the writer's author, with `meta` in its ledger event.
    ///
    /// Writes queued behind this instance's write lock are committed together (group commit):
    /// whoever takes the lock commits every queued write in one transaction, each with its own
    /// number and event, and each caller is answered only after that commit.
    pub async fn append_derived(
        &self,
        writer: &Writer,
        env: &Environment,
        base_version: Option<Version>,
        meta: WriteMeta,
        derive: impl FnOnce(Option<&PromptRecord>) -> ApiResult<(NewContent, Prompt)> + Send + 'static,
    ) -> ApiResult<Arc<PromptEntry>> {
        let prompt_id = writer.prompt().clone();
        if !writer.may_write(&prompt_id, Some(env)) {
            return Err(ApiError::internal(format!(
                "a writer for {prompt_id} was not granted environment {env}"
            )));
        }
        let deadline = tokio::time::Instant::now() + self.settings.write_timeout;
        let compiled: Arc<parking_lot::Mutex<Option<Prompt>>> = Arc::default();
        let slot = compiled.clone();
        let (id, environment, author) = (
            prompt_id.clone(),
            env.clone(),
            writer.author().map(str::to_owned),
        );
        let actor = writer.actor().to_owned();
        let WriteMeta {
            origin,
            source,
            message,
            if_match,
        } = meta;
        let append = promptd_core::Append {
            prompt_id: prompt_id.clone(),
            environment: env.clone(),
            base: Some(base_version),
            if_match,
            derive: Box::new(move |base| {
                let (content, template) = derive(base)
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
                *slot.lock() = Some(template);
                // A whole write into an environment without a live version creates it.
                let origin = match origin {
                    Kind::Update if base.is_none() => Kind::Create,
                    other => other,
                };
                Ok(NewVersion {
                    prompt_id: id,
                    environment,
                    created_by: author,
                    litellm_params: content.litellm_params,
                    prompt_info: content.prompt_info,
                    provenance: Provenance {
                        origin,
                        source,
                        message,
                        actor: Some(actor),
                    },
                })
            }),
        };
        self.group_commit(append, compiled, deadline).await
    }

    /// Queues `append` and commits it with every other queued write (see
    /// [`App::append_derived`]).
    async fn group_commit(
        &self,
        append: promptd_core::Append,
        template: Arc<parking_lot::Mutex<Option<Prompt>>>,
        deadline: tokio::time::Instant,
    ) -> ApiResult<Arc<PromptEntry>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ticket = self
            .write_tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.write_queue.lock().push(QueuedWrite {
            ticket,
            append,
            template,
            reply,
        });
        let guard = match self.lock_writes(deadline).await {
            Ok(g) => g,
            Err(e) => {
                // Still queued: withdraw it, nothing was written. Otherwise a leader took it
                // and answers it (within its own deadline).
                let withdrawn = {
                    let mut q = self.write_queue.lock();
                    q.iter()
                        .position(|w| w.ticket == ticket)
                        .map(|i| q.remove(i))
                };
                if withdrawn.is_some() {
                    return Err(e);
                }
                return answer.await.unwrap_or_else(|_| Err(e));
            }
        };
        // Lead a batch only if this write is still queued: when an earlier leader took it, its
        // answer is ready, and leading a batch of later arrivals now would commit them in small
        // batches one after the other instead of letting them gather behind the next leader.
        let batch = {
            let mut q = self.write_queue.lock();
            if q.iter().any(|w| w.ticket == ticket) {
                std::mem::take(&mut *q)
            } else {
                Vec::new()
            }
        };
        if !batch.is_empty() {
            self.commit_batch(batch, deadline).await;
        }
        drop(guard);
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::internal(
                "the write was dropped before it was committed",
            ))
        })
    }

    /// Commits queued writes in one transaction, shows them in the index, answers each caller.
    /// Runs under the write lock.
    async fn commit_batch(&self, batch: Vec<QueuedWrite>, deadline: tokio::time::Instant) {
        let n = batch.len();
        tracing::trace!(writes = n, "group commit");
        let mut appends = Vec::with_capacity(n);
        let mut waiting = Vec::with_capacity(n);
        for w in batch {
            appends.push(w.append);
            waiting.push((w.template, w.reply));
        }
        let results =
            match tokio::time::timeout_at(deadline, self.store.append_batch(appends)).await {
                Ok(r) => r,
                Err(_) => (0..n)
                    .map(|_| {
                        Err(promptd_core::StoreError::unavailable(
                            "the database did not confirm the write within the write deadline",
                            None,
                        ))
                    })
                    .collect(),
            };
        let mut answers = Vec::with_capacity(n);
        let mut shown: Vec<Arc<PromptEntry>> = Vec::new();
        for (result, (template, reply)) in results.into_iter().zip(waiting) {
            let answer = result.map_err(ApiError::from).map(|rec| {
                let template = match template.lock().take() {
                    Some(t) => LazyTemplate::compiled(t),
                    None => LazyTemplate::default(),
                };
                let entry = Arc::new(Entry {
                    record: rec,
                    template,
                });
                shown.push(entry.clone());
                entry
            });
            answers.push((reply, answer));
        }
        if !shown.is_empty() {
            self.show_appended(shown);
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }

    /// Takes the instance's write lock, waiting at most until `deadline`: during a database
    /// stall, writes queued behind a stalled one answer 503 in time instead of waiting in line.
    async fn lock_writes(
        &self,
        deadline: tokio::time::Instant,
    ) -> ApiResult<tokio::sync::MutexGuard<'_, ()>> {
        tokio::time::timeout_at(deadline, self.write_lock.lock())
            .await
            .map_err(|_| {
                ApiError::Unavailable(promptd_core::StoreError::unavailable(
                    format!(
                        "earlier writes of this instance did not finish within {} ms",
                        self.settings.write_timeout.as_millis()
                    ),
                    None,
                ))
            })
    }

    /// Puts committed versions into the index and empties the answer caches.
    fn show_appended(&self, entries: Vec<Arc<PromptEntry>>) {
        self.index.write().insert_stored(entries);
        self.clear_caches();
    }

    /// Applies an atomic batch (`POST /prompts/batch`) under the instance's write lock: one
    /// store transaction, all or nothing; then the index shows what was committed (created
    /// versions with their compiled `templates`, by operation index; trashed prompts re-read).
    /// `Ok(Err(refusals))`: nothing was written, these operations (by index) were refused.
    pub async fn apply_batch(
        &self,
        ops: Vec<promptd_core::BatchOp>,
        mut templates: Vec<Option<Prompt>>,
    ) -> ApiResult<Result<Vec<promptd_core::BatchOutcome>, Vec<(usize, promptd_core::BoxError)>>>
    {
        use promptd_core::{BatchError, BatchOutcome};
        let deadline = tokio::time::Instant::now() + self.settings.write_timeout;
        let _w = self.lock_writes(deadline).await?;
        let outcomes = match self.store.apply_batch(ops).await {
            Ok(o) => o,
            Err(BatchError::Refused(refused)) => return Ok(Err(refused)),
            Err(BatchError::Store(e)) => return Err(e.into()),
        };
        let mut shown = Vec::new();
        let mut trashed: Vec<PromptId> = Vec::new();
        for (i, o) in outcomes.iter().enumerate() {
            match o {
                BatchOutcome::Created(rec) => {
                    let template = match templates.get_mut(i).and_then(Option::take) {
                        Some(t) => LazyTemplate::compiled(t),
                        None => LazyTemplate::default(),
                    };
                    shown.push(Arc::new(Entry {
                        record: rec.clone(),
                        template,
                    }));
                }
                BatchOutcome::Trashed(recs) => {
                    trashed.extend(recs.iter().map(|r| r.prompt_id.clone()));
                }
                BatchOutcome::Unchanged(_) => {}
            }
        }
        if !shown.is_empty() {
            self.show_appended(shown);
        }
        trashed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        trashed.dedup();
        for id in trashed {
            // Committed already: a failed re-read is healed by the next change or resync.
            match self.store.prompt_versions(&id).await {
                Ok(rows) => self.replace_prompt(&id, rows),
                Err(e) => {
                    tracing::warn!(prompt_id = %id, error = %e, "could not re-read a pruned prompt")
                }
            }
        }
        Ok(Ok(outcomes))
    }

    /// Runs a ledger-recorded change of existing versions (trash, restore, purge) under the
    /// write lock and the write deadline, then re-reads the prompt into the index.
    pub async fn change_versions<T>(
        &self,
        writer: &Writer,
        env: Option<&Environment>,
        op: impl std::future::Future<Output = Result<T, promptd_core::StoreError>>,
    ) -> ApiResult<T> {
        let id = writer.prompt();
        if !writer.may_write(id, env) {
            return Err(ApiError::internal(format!(
                "a writer for {id} was not granted the environment it changes"
            )));
        }
        let deadline = tokio::time::Instant::now() + self.settings.write_timeout;
        let _w = self.lock_writes(deadline).await?;
        let out = within_deadline(deadline, op).await?;
        let rows = within_deadline(deadline, self.store.prompt_versions(id)).await?;
        self.replace_prompt(id, rows);
        Ok(out)
    }

    /// Replaces one prompt's versions in the index with `rows` (keeping compiled templates).
    fn replace_prompt(&self, id: &PromptId, rows: Vec<PromptRecord>) {
        let entries: Vec<Arc<PromptEntry>> = {
            let idx = self.index.read();
            rows.into_iter()
                .map(|rec| reuse_or_new(&idx, rec))
                .collect()
        };
        self.index.write().replace_stored(id, entries);
        self.clear_caches();
    }

    /// Re-reads one prompt from the store (used when another instance changed it).
    pub async fn refresh_prompt(&self, id: &PromptId) -> ApiResult<()> {
        let _w = self.write_lock.lock().await;
        let rows = self.store.prompt_versions(id).await?;
        self.replace_prompt(id, rows);
        Ok(())
    }

    /// Adds one version another writer committed: nothing when the index has it already (this
    /// instance's own write), else that one row is read, not the whole prompt. A version that
    /// is gone again (trashed meanwhile) re-reads the prompt.
    pub async fn add_version(
        &self,
        id: &PromptId,
        env: &Environment,
        version: Version,
    ) -> ApiResult<()> {
        if self.index.read().has_version(id, env, version) {
            return Ok(());
        }
        let _w = self.write_lock.lock().await;
        if self.index.read().has_version(id, env, version) {
            return Ok(());
        }
        match self.store.version(id, env, version).await? {
            Some(rec) if !self.index.read().is_config(id) => {
                self.index
                    .write()
                    .insert_stored(vec![Arc::new(lazy_record(rec))]);
                self.clear_caches();
                Ok(())
            }
            _ => {
                let rows = self.store.prompt_versions(id).await?;
                self.replace_prompt(id, rows);
                Ok(())
            }
        }
    }

    /// Re-reads every key from the store.
    pub async fn refresh_keys(&self) -> ApiResult<()> {
        let keys = self.store.all_keys().await?;
        *self.keys.write() = key_map(keys);
        Ok(())
    }

    /// Re-reads everything (after changes may have been missed).
    pub async fn resync(&self) -> ApiResult<()> {
        let _w = self.write_lock.lock().await;
        let rows = self.store.all_versions().await?;
        let by_prompt = entries_by_prompt(&self.index.read(), rows);
        self.index.write().replace_all_stored(by_prompt);
        self.clear_caches();
        drop(_w);
        self.refresh_keys().await
    }

    /// Applies a change announced by the database (re-reads what it names).
    pub async fn apply_change(&self, change: &Change) -> ApiResult<()> {
        match change {
            Change::Prompt(id) => self.refresh_prompt(id).await,
            Change::Version {
                prompt_id,
                environment,
                version,
            } => self.add_version(prompt_id, environment, *version).await,
            Change::Keys => self.refresh_keys().await,
            Change::Resync => self.resync().await,
        }
    }

    /// Stores a new key (its reach already parsed), if it lies within the reach of the admin
    /// creating it.
    pub async fn insert_key(&self, admin: &KeyAdmin<'_>, entry: KeyEntry) -> ApiResult<()> {
        admin.may_manage("create", entry.record.user_role, &entry.reach)?;
        self.store.insert_key(&entry.record).await?;
        self.keys
            .write()
            .insert(entry.record.token.clone(), Arc::new(entry));
        Ok(())
    }

    /// Deletes keys by token; nothing is deleted unless every existing one lies within the
    /// admin's reach. Returns the tokens that existed.
    pub async fn delete_keys(
        &self,
        admin: &KeyAdmin<'_>,
        tokens: &[String],
    ) -> ApiResult<Vec<String>> {
        {
            let known = self.keys.read();
            for k in tokens.iter().filter_map(|t| known.get(t)) {
                admin.may_manage("delete", k.record.user_role, &k.reach)?;
            }
        }
        let gone = self.store.delete_keys(tokens).await?;
        let mut keys = self.keys.write();
        for t in &gone {
            keys.remove(t);
        }
        Ok(gone)
    }
}

/// Runs a store operation until `deadline`, then answers 503 (the database did not confirm it).
async fn within_deadline<T>(
    deadline: tokio::time::Instant,
    op: impl std::future::Future<Output = Result<T, promptd_core::StoreError>>,
) -> ApiResult<T> {
    match tokio::time::timeout_at(deadline, op).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::Unavailable(
            promptd_core::StoreError::unavailable(
                "the database did not confirm the write within the write deadline",
                None,
            ),
        )),
    }
}

/// A write waiting in the group-commit queue.
struct QueuedWrite {
    ticket: u64,
    append: promptd_core::Append,
    /// Where `derive` leaves the compiled template, for the index.
    template: Arc<parking_lot::Mutex<Option<Prompt>>>,
    reply: tokio::sync::oneshot::Sender<ApiResult<Arc<PromptEntry>>>,
}

/// What a version-creating write records about itself in the ledger, and its precondition.
#[derive(Debug, Clone)]
pub struct WriteMeta {
    /// `update` becomes `create` when the environment has no live version.
    pub origin: Kind,
    /// Where a copy came from (`staging.v3`, `v2`).
    pub source: Option<String>,
    pub message: Option<String>,
    /// The request's `If-Match` header, checked in the writing transaction.
    pub if_match: Option<String>,
}

impl WriteMeta {
    pub fn new(origin: Kind) -> WriteMeta {
        WriteMeta {
            origin,
            source: None,
            message: None,
            if_match: None,
        }
    }
}

/// What a write puts into a new version (the prompt, environment and author come from the
/// [`Writer`]).
#[derive(Debug, Clone)]
pub struct NewContent {
    pub litellm_params: serde_json::Map<String, serde_json::Value>,
    pub prompt_info: serde_json::Map<String, serde_json::Value>,
}

/// A virtual key in memory: its record and its reach, parsed once when loaded.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub record: KeyRecord,
    pub reach: Reach,
}

impl KeyEntry {
    /// Parses the key's reach. A stored key whose metadata cannot be read (written by another
    /// tool) reaches nothing rather than everything: failing closed.
    pub fn new(record: KeyRecord) -> KeyEntry {
        let reach = Reach::from_metadata(&record.metadata).unwrap_or_else(|e| {
            tracing::warn!(key = %record.key_name, error = %e, "a stored key has unreadable metadata; it reaches no prompt and no environment");
            Reach {
                prompts: Some(Vec::new()),
                environments: Some(Vec::new()),
            }
        });
        KeyEntry { record, reach }
    }

    /// The principal a request made with this key acts as.
    pub fn principal(&self) -> Principal {
        Principal::of_key(
            self.record.user_role,
            self.reach.clone(),
            self.record.user_id.clone(),
            self.record.token.clone(),
            self.record
                .key_alias
                .clone()
                .unwrap_or_else(|| self.record.key_name.clone()),
        )
    }
}

fn key_map(keys: Vec<KeyRecord>) -> HashMap<String, Arc<KeyEntry>> {
    keys.into_iter()
        .map(|k| (k.token.clone(), Arc::new(KeyEntry::new(k))))
        .collect()
}

/// Builds an index entry from a stored record; its template compiles on first use.
pub fn lazy_record(rec: PromptRecord) -> PromptEntry {
    Entry {
        record: rec,
        template: LazyTemplate::default(),
    }
}

/// The entry already in `idx` for this exact record (keeping its compiled template), or a new one.
fn reuse_or_new(idx: &Index<LazyTemplate>, rec: PromptRecord) -> Arc<PromptEntry> {
    match idx.find_stored(&rec.prompt_id, &rec.id) {
        Some(e) if e.record == rec => e,
        _ => Arc::new(lazy_record(rec)),
    }
}

/// Stored rows grouped into index entries per prompt, reusing unchanged entries of `idx`.
fn entries_by_prompt(
    idx: &Index<LazyTemplate>,
    rows: Vec<PromptRecord>,
) -> Vec<(PromptId, Vec<Arc<PromptEntry>>)> {
    let mut by_prompt: HashMap<PromptId, Vec<Arc<PromptEntry>>> = HashMap::new();
    for rec in rows {
        let id = rec.prompt_id.clone();
        by_prompt
            .entry(id)
            .or_default()
            .push(reuse_or_new(idx, rec));
    }
    by_prompt.into_iter().collect()
}

/// Why the state could not be built at startup.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("config prompt '{prompt_id}': {source}")]
    ConfigPrompt {
        prompt_id: String,
        source: promptd_template::TemplateError,
    },
    #[error("cannot load the stored prompts and keys: {0}")]
    Store(#[from] promptd_core::StoreError),
    #[error("{0}")]
    Webhooks(String),
}
