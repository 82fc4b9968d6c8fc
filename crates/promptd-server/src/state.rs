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
    Change, Entry, Environment, Index, JsonObject, KeyRecord, NewVersion, PromptId, PromptRecord,
    PromptSource, Store, Version,
};
use promptd_template::{EngineOptions, Prompt};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::wire::{TemplateSource, template_source};

/// One version in memory, with its template.
pub type PromptEntry = Entry<LazyTemplate>;

/// A version's template, compiled on first use: at startup only the records are loaded, so a
/// registry of 100,000 versions starts fast and keeps in memory only the templates it serves.
/// Writes compile eagerly (to validate) and keep the result.
#[derive(Debug, Default)]
pub struct LazyTemplate {
    /// The `.prompt` text when it is not in `litellm_params` (a config `prompt_file`).
    file_text: Option<String>,
    compiled: std::sync::OnceLock<Result<Prompt, String>>,
}

impl LazyTemplate {
    /// A template compiled already.
    pub fn compiled(prompt: Prompt) -> LazyTemplate {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(Ok(prompt));
        LazyTemplate {
            file_text: None,
            compiled: cell,
        }
    }

    /// The compiled template of `record`, compiling it the first time.
    pub fn get(&self, record: &PromptRecord, engine: &EngineOptions) -> &Result<Prompt, String> {
        self.compiled.get_or_init(|| {
            let text = match &self.file_text {
                Some(t) => t.clone(),
                None => match template_source(&record.litellm_params.to_map())? {
                    TemplateSource::Text(t) => t,
                    TemplateSource::File(p) => {
                        return Err(format!(
                            "prompt_file '{p}' is only read from the config file"
                        ));
                    }
                },
            };
            Prompt::parse(&text, engine).map_err(|e| e.to_string())
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
    /// How long a client may take to send a request head (from accept, or from the first byte
    /// of a later request on a keep-alive connection).
    pub header_read_timeout: std::time::Duration,
    /// How long a keep-alive connection may stay idle between requests.
    pub keep_alive_timeout: std::time::Duration,
    /// How long a client may take to send a request body, from its head (then 408).
    pub body_read_timeout: std::time::Duration,
    /// Open connections at most; at the cap the oldest idle one is closed to make room.
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_body_bytes: 1024 * 1024,
            engine: EngineOptions::default(),
            header_read_timeout: std::time::Duration::from_secs(10),
            keep_alive_timeout: std::time::Duration::from_secs(75),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 10_000,
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
    /// Virtual keys by token (SHA-256 hex of the key).
    pub keys: RwLock<HashMap<String, KeyRecord>>,
    /// SHA-256 of the master key; `None` means authentication is off (loopback only).
    pub master_key_hash: Option<[u8; 32]>,
    pub settings: Settings,
    /// Serialises this instance's writes (see the module invariant).
    pub write_lock: tokio::sync::Mutex<()>,
    /// Serialised `/prompts/list` answers for callers who read everything, keyed by the query;
    /// emptied whenever the index changes. At 10,000 prompts this turns a multi-megabyte
    /// serialisation per request into a copy of shared bytes.
    pub list_cache: RwLock<HashMap<ListKey, bytes::Bytes>>,
    /// Serialised `/prompts/{id}/info` answers by (path id, environment). The answer does not
    /// depend on the caller (permission is checked before the cache is consulted); emptied
    /// with `list_cache`. Halves the CPU of an info request.
    pub info_cache: RwLock<HashMap<(String, Option<String>), bytes::Bytes>>,
    /// Bumped by every index change; guards the caches against storing stale answers.
    pub cache_generation: std::sync::atomic::AtomicU64,
    /// The models of `model_list`, for running prompts.
    pub models: promptd_upstream::Models,
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
    ) -> anyhow_like::Result<App> {
        let mut index = Index::new();
        for cp in config_prompts {
            let template = Prompt::parse(&cp.template_text, &settings.engine)
                .map_err(|e| format!("config prompt '{}': {e}", cp.prompt_id))?;
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
                },
                template: LazyTemplate {
                    file_text: Some(cp.template_text),
                    ..LazyTemplate::compiled(template)
                },
            });
        }
        let rows = store.all_versions().await.map_err(|e| e.to_string())?;
        for rec in rows.iter().filter(|r| index.is_config(&r.prompt_id)) {
            tracing::warn!(prompt_id = %rec.prompt_id, version = rec.version, "a config prompt shadows this stored version");
        }
        let by_prompt = entries_by_prompt(&index, rows);
        index.replace_all_stored(by_prompt);
        let keys = store
            .all_keys()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|k| (k.token.clone(), k))
            .collect();
        Ok(App {
            store,
            index: RwLock::new(index),
            keys: RwLock::new(keys),
            master_key_hash: master_key.map(sha256),
            settings,
            write_lock: tokio::sync::Mutex::new(()),
            list_cache: RwLock::new(HashMap::new()),
            info_cache: RwLock::new(HashMap::new()),
            cache_generation: std::sync::atomic::AtomicU64::new(0),
            models: promptd_upstream::Models::default(),
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
    }

    /// The generation to read before computing an answer to cache.
    pub fn cache_generation(&self) -> u64 {
        self.cache_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stores `value` unless the index changed since `generation` was read (then the answer
    /// may be stale and is simply not cached). Empties the map when it reaches `cap`.
    pub fn cache_insert<K: std::hash::Hash + Eq>(
        &self,
        cache: &RwLock<HashMap<K, bytes::Bytes>>,
        generation: u64,
        key: K,
        value: bytes::Bytes,
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
    pub fn find_key(&self, key: &str) -> Option<KeyRecord> {
        let token = token_of(key);
        let keys = self.keys.read();
        let rec = keys.get(&token)?;
        bool::from(rec.token.as_bytes().ct_eq(token.as_bytes())).then(|| rec.clone())
    }

    /// Compiles a template for a write, turning errors into a 400 that says where.
    pub fn compile(&self, text: &str) -> ApiResult<Prompt> {
        Prompt::parse(text, &self.settings.engine)
            .map_err(|e| ApiError::bad_request(format!("Invalid prompt template: {e}")))
    }

    /// Appends a version after its template was validated, then shows it to reads.
    pub async fn append_version(
        &self,
        new: NewVersion,
        template: Prompt,
    ) -> ApiResult<Arc<PromptEntry>> {
        let _w = self.write_lock.lock().await;
        let rec = self.store.append_version(new).await?;
        let entry = Arc::new(Entry {
            record: rec,
            template: LazyTemplate::compiled(template),
        });
        {
            let mut idx = self.index.write();
            let id = entry.record.prompt_id.clone();
            let mut all = idx.stored_entries(&id);
            all.push(entry.clone());
            idx.replace_stored(&id, all);
        }
        self.clear_caches();
        Ok(entry)
    }

    /// Deletes versions in the store, then forgets them in memory.
    pub async fn delete_versions(
        &self,
        id: &PromptId,
        env: Option<&Environment>,
        version: Option<Version>,
    ) -> ApiResult<u64> {
        let _w = self.write_lock.lock().await;
        let n = self.store.delete_versions(id, env, version).await?;
        {
            let mut idx = self.index.write();
            let mut all = idx.stored_entries(id);
            all.retain(|e| {
                !(env.is_none_or(|en| *en == e.record.environment)
                    && version.is_none_or(|v| v == e.record.version))
            });
            idx.replace_stored(id, all);
        }
        self.clear_caches();
        Ok(n)
    }

    /// Re-reads one prompt from the store (used when another instance changed it).
    pub async fn refresh_prompt(&self, id: &PromptId) -> ApiResult<()> {
        let _w = self.write_lock.lock().await;
        let rows = self.store.prompt_versions(id).await?;
        let entries: Vec<Arc<PromptEntry>> = {
            let idx = self.index.read();
            rows.into_iter()
                .map(|rec| reuse_or_new(&idx, rec))
                .collect()
        };
        self.index.write().replace_stored(id, entries);
        self.clear_caches();
        Ok(())
    }

    /// Re-reads every key from the store.
    pub async fn refresh_keys(&self) -> ApiResult<()> {
        let keys = self.store.all_keys().await?;
        *self.keys.write() = keys.into_iter().map(|k| (k.token.clone(), k)).collect();
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

    /// Applies a change announced by the database, logging (not failing) on errors: the
    /// listener keeps going, and the next change or resync repairs the copy.
    pub async fn apply_change(&self, change: Change) {
        let result = match &change {
            Change::Prompt(id) => self.refresh_prompt(id).await,
            Change::Keys => self.refresh_keys().await,
            Change::Resync => self.resync().await,
        };
        if let Err(e) = result {
            tracing::warn!(?change, error = %e, "could not apply a change from the database");
        }
    }

    pub async fn insert_key(&self, key: KeyRecord) -> ApiResult<()> {
        self.store.insert_key(&key).await?;
        self.keys.write().insert(key.token.clone(), key);
        Ok(())
    }

    pub async fn delete_keys(&self, tokens: &[String]) -> ApiResult<Vec<String>> {
        let gone = self.store.delete_keys(tokens).await?;
        let mut keys = self.keys.write();
        for t in &gone {
            keys.remove(t);
        }
        Ok(gone)
    }
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

/// A tiny error alias so `App::new` needs no extra dependency.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}
