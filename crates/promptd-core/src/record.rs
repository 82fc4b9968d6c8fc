//! Stored records: one immutable prompt version, and one API key.

use serde_json::{Map, Value};

use crate::ids::{Environment, PromptId, Version};
use crate::ledger::Provenance;

/// Where a prompt came from. Config prompts are read-only and never stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptSource {
    Db,
    Config,
}

/// A JSON object kept as its compact text and parsed when read. A registry holds every version
/// in memory; as text a version costs a few hundred bytes instead of the kilobytes of a parsed
/// map, and reads that need the object (not cached answers) parse it in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonObject(Box<str>);

impl JsonObject {
    pub fn from_map(m: &Map<String, Value>) -> JsonObject {
        JsonObject(
            serde_json::to_string(m)
                .unwrap_or_else(|_| "{}".to_owned())
                .into_boxed_str(),
        )
    }

    /// Text as stored: a JSON object, or a JSON string holding one (LiteLLM wrote both);
    /// anything else is an empty object.
    pub fn from_stored(text: &str) -> JsonObject {
        // An object is kept as is without parsing it (startup reads every version); a text
        // that is not valid JSON reads back as an empty object.
        if text.trim_start().starts_with('{') {
            return JsonObject(text.into());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::String(inner)) => JsonObject::from_stored(&inner),
            _ => JsonObject("{}".into()),
        }
    }

    /// The object (empty if the stored text was not a JSON object).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    pub litellm_params: JsonObject,
    /// LiteLLM's `prompt_info` (`prompt_type`, `environment`, and client extras).
    pub prompt_info: JsonObject,
    /// Unix milliseconds; `None` for config prompts.
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub source: PromptSource,
    /// Why this version exists (origin, source, message, author as shown to people).
    pub provenance: Provenance,
    /// SHA-256 (hex) of `litellm_params` as stored: see [`crate::ledger::content_sha256`].
    pub content_sha256: String,
}

impl PromptRecord {
    /// The strong entity tag of this version (see [`crate::ledger::etag`]).
    pub fn etag(&self) -> String {
        crate::ledger::etag(&self.environment, self.version, &self.content_sha256)
    }
}

/// A version in the trash: deleted, not destroyed. Reads do not see it; restore brings it back
/// with its number, and its number is not given to another version meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct TrashedVersion {
    pub record: PromptRecord,
    /// Unix milliseconds.
    pub deleted_at: i64,
    pub deleted_by: Option<String>,
}

/// What a write asks the store to append; the store allocates the version.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub prompt_id: PromptId,
    pub environment: Environment,
    pub created_by: Option<String>,
    pub litellm_params: Map<String, Value>,
    pub prompt_info: Map<String, Value>,
    /// Origin, source, message and actor, recorded with the version and in its event.
    pub provenance: Provenance,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_json_objects_and_json_strings_holding_objects_read_back_as_objects() {
        assert_eq!(JsonObject::from_stored(r#"{"a":1}"#).to_map()["a"], 1);
        assert_eq!(JsonObject::from_stored(r#""{\"a\":2}""#).to_map()["a"], 2);
        assert!(JsonObject::from_stored("[1]").to_map().is_empty());
        assert!(JsonObject::from_stored("{broken").to_map().is_empty());
        let m: Map<String, Value> = serde_json::from_str(r#"{"z":1,"a":2}"#).unwrap();
        assert_eq!(
            JsonObject::from_map(&m).as_str(),
            r#"{"z":1,"a":2}"#,
            "key order is kept"
        );
    }
}
