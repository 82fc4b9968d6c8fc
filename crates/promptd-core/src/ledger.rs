//! The ledger: why each version exists (its origin, message, author and content hash) and the
//! events that record every change to a prompt, in commit order.
//!
//! **Invariant:** every change to a prompt's versions (append, trash, restore, purge) is written
//! in the same transaction as its events, so the ledger never shows a change that did not happen
//! nor misses one that did. Event sequence numbers are allocated in commit order (see the store),
//! so a reader that has seen event N has seen every event before it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::ids::{Environment, PromptId, Version};

/// What happened: the kind of a ledger event, and the origin of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The first version of a prompt in an environment, written by a client.
    Create,
    /// A further version written whole (POST or PUT).
    Update,
    /// A version built from the latest by merging fields (PATCH).
    Patch,
    /// A copy of another environment's version.
    Promote,
    /// A copy of an earlier version of the same environment.
    Rollback,
    /// Versions moved to the trash (every form of DELETE).
    Delete,
    /// Versions brought back from the trash with their original numbers.
    Restore,
    /// Versions destroyed for good (purge, or the trash's retention).
    Purge,
    /// A version copied from another system (`promptd import`).
    Import,
    /// A version that came from a config file.
    Config,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Create,
        Kind::Update,
        Kind::Patch,
        Kind::Promote,
        Kind::Rollback,
        Kind::Delete,
        Kind::Restore,
        Kind::Purge,
        Kind::Import,
        Kind::Config,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Patch => "patch",
            Kind::Promote => "promote",
            Kind::Rollback => "rollback",
            Kind::Delete => "delete",
            Kind::Restore => "restore",
            Kind::Purge => "purge",
            Kind::Import => "import",
            Kind::Config => "config",
        }
    }

    /// The kind named `s` (as stored); unknown text (written by a newer promptd) reads as
    /// `update`, the most general origin.
    pub fn parse(s: &str) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or(Kind::Update)
    }

    /// Whether this kind of event creates a version.
    pub fn creates_version(self) -> bool {
        matches!(
            self,
            Kind::Create
                | Kind::Update
                | Kind::Patch
                | Kind::Promote
                | Kind::Rollback
                | Kind::Import
                | Kind::Config
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a version exists, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// How it was made (`create`, `update`, `patch`, `promote`, `rollback`, `import`, `config`).
    pub origin: Kind,
    /// Where it was copied from: `staging.v3` for a promote, `v2` for a rollback.
    pub source: Option<String>,
    /// The author's commit message, if any.
    pub message: Option<String>,
    /// Who wrote it, as shown to people: a key's alias (or its abbreviation) or `master key`.
    pub actor: Option<String>,
}

impl Default for Provenance {
    fn default() -> Self {
        Provenance {
            origin: Kind::Create,
            source: None,
            message: None,
            actor: None,
        }
    }
}

impl Provenance {
    pub fn new(origin: Kind) -> Provenance {
        Provenance {
            origin,
            ..Provenance::default()
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Provenance {
        self.source = Some(source.into());
        self
    }

    pub fn with_message(mut self, message: Option<String>) -> Provenance {
        self.message = message;
        self
    }

    pub fn with_actor(mut self, actor: Option<String>) -> Provenance {
        self.actor = actor;
        self
    }
}

/// The SHA-256 (lower-case hex) of a version's content: its `litellm_params` (template, model,
/// parameters and integration fields) as compact JSON in stored key order. The environment and
/// `prompt_info` are not content, so a promoted copy has the same hash as its source.
pub fn content_sha256(litellm_params: &str) -> String {
    hex(&Sha256::digest(litellm_params.as_bytes()))
}

/// The same hash for a parsed object.
pub fn content_sha256_of(litellm_params: &Map<String, Value>) -> String {
    content_sha256(&serde_json::to_string(litellm_params).unwrap_or_else(|_| "{}".to_owned()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The strong entity tag of one version: `"<environment>.v<N>.<first 16 hex of its hash>"`.
/// It names the version (readable in logs and `If-Match` headers) and changes if a number is
/// ever given to other content (after a purge).
pub fn etag(environment: &Environment, version: Version, content_sha256: &str) -> String {
    let short = content_sha256.get(..16).unwrap_or(content_sha256);
    format!("\"{environment}.v{version}.{short}\"")
}

/// The environment an entity tag names (`None` when it is not one of promptd's tags).
pub fn etag_environment(tag: &str) -> Option<Environment> {
    let inner = tag.trim().strip_prefix("W/").unwrap_or(tag.trim());
    let inner = inner.strip_prefix('"')?.strip_suffix('"')?;
    let (rest, _hash) = inner.rsplit_once('.')?;
    let (env, version) = rest.rsplit_once(".v")?;
    version.parse::<Version>().ok()?;
    Environment::parse(env).ok()
}

/// Whether an `If-Match` header accepts the current entity tag (`None` = the environment has
/// no version). Strong comparison (RFC 9110): weak tags never match; `*` matches any version.
pub fn if_match_allows(header: &str, current: Option<&str>) -> bool {
    let header = header.trim();
    if header == "*" {
        return current.is_some();
    }
    header
        .split(',')
        .map(str::trim)
        .any(|t| !t.starts_with("W/") && Some(t) == current)
}

/// A compare-and-swap that failed: the environment moved on since the client read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The prompt changed since you read it: {environment} is now at {}, not the version your If-Match names. Read it again (its ETag is in this answer), check the change, and retry with the new ETag.",
    current.as_deref().unwrap_or("no version")
)]
pub struct PreconditionFailed {
    pub environment: Environment,
    /// The environment's current entity tag (`None` when it has no version).
    pub current: Option<String>,
}

impl PreconditionFailed {
    /// Compare-and-swap: `Ok` when `if_match` (absent = no condition) accepts `current`, the
    /// environment's latest entity tag; otherwise the failure naming it.
    pub fn check(
        if_match: Option<&str>,
        environment: &Environment,
        current: Option<String>,
    ) -> Result<(), PreconditionFailed> {
        match if_match {
            Some(h) if !if_match_allows(h, current.as_deref()) => Err(PreconditionFailed {
                environment: environment.clone(),
                current,
            }),
            _ => Ok(()),
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the ledger: increasing in commit order, the same on every instance.
    pub seq: i64,
    pub prompt_id: PromptId,
    pub environment: Option<Environment>,
    pub version: Option<Version>,
    pub kind: Kind,
    /// Where a promoted or rolled-back version came from (`staging.v3`, `v2`).
    pub source: Option<String>,
    pub message: Option<String>,
    pub actor: Option<String>,
    pub content_sha256: Option<String>,
    /// Unix milliseconds.
    pub at: i64,
}

/// An event about to be written (the store gives it its number and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub prompt_id: PromptId,
    pub environment: Option<Environment>,
    pub version: Option<Version>,
    pub kind: Kind,
    pub source: Option<String>,
    pub message: Option<String>,
    pub actor: Option<String>,
    pub content_sha256: Option<String>,
}

/// Which events to read, newest first or oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this prompt's events; every prompt when `None`.
    pub prompt_id: Option<PromptId>,
    /// Only events with a sequence number below this (newest-first paging).
    pub before: Option<i64>,
    /// Only events with a sequence number above this (oldest-first export and resumption).
    pub after: Option<i64>,
    /// `true` = newest first.
    pub newest_first: bool,
    pub limit: u32,
}

/// Who may act on versions, and the person-readable name of the master key.
pub const MASTER_KEY_ACTOR: &str = "master key";
/// The actor of purges done by the trash's retention.
pub const RETENTION_ACTOR: &str = "trash retention";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_stored_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), k);
        }
        assert_eq!(Kind::parse("something-new"), Kind::Update);
    }

    #[test]
    fn an_etag_names_its_environment_and_version_and_reads_back() {
        let env = Environment::parse("staging").unwrap();
        let tag = etag(&env, 7, &content_sha256("{}"));
        assert!(tag.starts_with("\"staging.v7."), "{tag}");
        assert_eq!(tag.len(), "\"staging.v7.\"".len() + 16);
        assert_eq!(etag_environment(&tag), Some(env.clone()));
        assert_eq!(etag_environment(&format!("W/{tag}")), Some(env));
        assert_eq!(etag_environment("\"nonsense\""), None);
        assert_eq!(etag_environment("*"), None);
    }

    #[test]
    fn if_match_compares_strong_tags_and_star_means_any_version() {
        let cur = "\"production.v2.0123456789abcdef\"";
        assert!(if_match_allows(cur, Some(cur)));
        assert!(if_match_allows(&format!("\"x\", {cur}"), Some(cur)));
        assert!(!if_match_allows(&format!("W/{cur}"), Some(cur)));
        assert!(!if_match_allows(
            "\"production.v1.0123456789abcdef\"",
            Some(cur)
        ));
        assert!(if_match_allows("*", Some(cur)));
        assert!(!if_match_allows("*", None));
        assert!(!if_match_allows(cur, None));
    }

    #[test]
    fn the_content_hash_ignores_nothing_but_is_stable_for_equal_text() {
        let a = content_sha256(r#"{"prompt_id":"a","model":"x"}"#);
        assert_eq!(a, content_sha256(r#"{"prompt_id":"a","model":"x"}"#));
        assert_ne!(a, content_sha256(r#"{"prompt_id":"a","model":"y"}"#));
        assert_eq!(a.len(), 64);
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"prompt_id":"a","model":"x"}"#).unwrap();
        assert_eq!(content_sha256_of(&m), a);
    }
}
