//! Stored records: one immutable prompt version, and one API key.

use serde_json::{Map, Value};

use crate::ids::{Environment, PromptId, Version};

/// Where a prompt came from. Config prompts are read-only and never stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptSource {
    Db,
    Config,
}

/// One version of one prompt in one environment, exactly as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    /// Row id (a UUID), as in LiteLLM's table.
    pub id: String,
    pub prompt_id: PromptId,
    pub version: Version,
    pub environment: Environment,
    pub created_by: Option<String>,
    /// LiteLLM's `litellm_params`, normalised (declared fields first), secrets included.
    pub litellm_params: Map<String, Value>,
    /// LiteLLM's `prompt_info` (`prompt_type`, `environment`, and client extras).
    pub prompt_info: Map<String, Value>,
    /// Unix milliseconds; `None` for config prompts.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub source: PromptSource,
}

/// What a write asks the store to append; the store allocates the version.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub prompt_id: PromptId,
    pub environment: Environment,
    pub created_by: Option<String>,
    pub litellm_params: Map<String, Value>,
    pub prompt_info: Map<String, Value>,
}

/// A virtual API key. Only the SHA-256 of the secret is ever stored.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    /// Lower-case hex SHA-256 of the whole key (LiteLLM calls this the `token`).
    pub token: String,
    /// A recognisable abbreviation such as `sk-...AbCd`, safe to show.
    pub key_name: String,
    pub key_alias: Option<String>,
    pub user_id: Option<String>,
    pub user_role: crate::principal::Role,
    /// Free-form metadata; `metadata.prompts` is the prompt allow-list.
    pub metadata: Map<String, Value>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<String>,
}
