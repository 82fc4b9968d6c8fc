//! Every SQL statement promptd runs, in the portable subset both backends accept
//! (`$N` placeholders, TEXT/BIGINT, `ON CONFLICT`, `RETURNING`).

pub const NEXT_VERSION: &str = "INSERT INTO prompt_counters (prompt_id, environment, last_version) \
     VALUES ($1, $2, COALESCE((SELECT MAX(version) FROM prompt_versions WHERE prompt_id = $1 AND environment = $2), 0) + 1) \
     ON CONFLICT (prompt_id, environment) DO UPDATE SET last_version = prompt_counters.last_version + 1 \
     RETURNING last_version";

pub const INSERT_VERSION: &str = "INSERT INTO prompt_versions \
     (id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub const SELECT_PROMPT: &str = "SELECT id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at \
     FROM prompt_versions WHERE prompt_id = $1 ORDER BY environment, version";

pub const SELECT_LATEST_IN_ENV: &str = "SELECT id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at \
     FROM prompt_versions WHERE prompt_id = $1 AND environment = $2 ORDER BY version DESC LIMIT 1";

pub const SELECT_ONE_VERSION: &str = "SELECT id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at \
     FROM prompt_versions WHERE prompt_id = $1 AND environment = $2 AND version = $3";

pub const SELECT_ALL: &str = "SELECT id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at \
     FROM prompt_versions ORDER BY prompt_id, environment, version";

pub const DELETE_ONE: &str =
    "DELETE FROM prompt_versions WHERE prompt_id = $1 AND environment = $2 AND version = $3";
pub const DELETE_ENV: &str =
    "DELETE FROM prompt_versions WHERE prompt_id = $1 AND environment = $2";
pub const DELETE_ALL: &str = "DELETE FROM prompt_versions WHERE prompt_id = $1";
/// Forget the numbering of environments that no longer have any version, so a prompt that is
/// deleted and created again starts at 1 as in LiteLLM.
pub const DELETE_EMPTY_COUNTERS: &str = "DELETE FROM prompt_counters WHERE prompt_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM prompt_versions v WHERE v.prompt_id = prompt_counters.prompt_id AND v.environment = prompt_counters.environment)";

pub const INSERT_KEY: &str = "INSERT INTO api_keys \
     (token, key_name, key_alias, user_id, user_role, metadata, expires_at, created_at, created_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub const SELECT_KEYS: &str = "SELECT token, key_name, key_alias, user_id, user_role, metadata, expires_at, created_at, created_by \
     FROM api_keys ORDER BY created_at, token";
pub const DELETE_KEY: &str = "DELETE FROM api_keys WHERE token = $1 RETURNING token";

pub const PING: &str = "SELECT 1";

/// Import keeps the source's numbers; an existing row (same id or same version) is left alone.
pub const IMPORT_VERSION: &str = "INSERT INTO prompt_versions \
     (id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
/// After an import the counter must be at least the highest imported version.
pub const RAISE_COUNTER: &str = "INSERT INTO prompt_counters (prompt_id, environment, last_version) VALUES ($1, $2, $3) \
     ON CONFLICT (prompt_id, environment) DO UPDATE SET last_version = \
     CASE WHEN prompt_counters.last_version < excluded.last_version THEN excluded.last_version ELSE prompt_counters.last_version END";
