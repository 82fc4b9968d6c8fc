//! Every SQL statement promptd runs, in the portable subset both backends accept
//! (`$N` placeholders, TEXT/BIGINT, `ON CONFLICT`, `RETURNING`).

/// Locks the numbering of (prompt, environment) and reads the last number handed out (creating
/// the counter at the highest stored version when there is none). On PostgreSQL the row stays
/// locked until the commit, so concurrent writers of the environment queue here.
pub const LOCK_NUMBERING: &str = "INSERT INTO prompt_counters (prompt_id, environment, last_version) \
     VALUES ($1, $2, COALESCE((SELECT MAX(version) FROM prompt_versions WHERE prompt_id = $1 AND environment = $2), 0)) \
     ON CONFLICT (prompt_id, environment) DO UPDATE SET last_version = prompt_counters.last_version \
     RETURNING last_version";

/// Sets the last number handed out (after the batch's appends of the environment).
pub const SET_NUMBERING: &str =
    "UPDATE prompt_counters SET last_version = $3 WHERE prompt_id = $1 AND environment = $2";

/// The columns of a version, in the order `prompt_row` reads them.
macro_rules! version_cols {
    () => {
        "id, prompt_id, version, environment, created_by, litellm_params, prompt_info, created_at, updated_at, \
         origin, origin_source, message, actor, content_sha256"
    };
}
pub(crate) use version_cols;

pub const SELECT_PROMPT: &str = concat!(
    "SELECT ",
    version_cols!(),
    " FROM prompt_versions WHERE prompt_id = $1 AND deleted_at IS NULL ORDER BY environment, version"
);

pub const SELECT_LATEST_IN_ENV: &str = concat!(
    "SELECT ",
    version_cols!(),
    " FROM prompt_versions WHERE prompt_id = $1 AND environment = $2 AND deleted_at IS NULL ORDER BY version DESC LIMIT 1"
);

pub const SELECT_ONE_VERSION: &str = concat!(
    "SELECT ",
    version_cols!(),
    " FROM prompt_versions WHERE prompt_id = $1 AND environment = $2 AND version = $3 AND deleted_at IS NULL"
);

pub const SELECT_ALL: &str = concat!(
    "SELECT ",
    version_cols!(),
    " FROM prompt_versions WHERE deleted_at IS NULL ORDER BY prompt_id, environment, version"
);

/// Locks the numbering of every environment of a prompt (`$2` = one environment), so a trash,
/// restore or purge and its check see no concurrent append.
pub const LOCK_COUNTERS: &str =
    "UPDATE prompt_counters SET last_version = last_version WHERE prompt_id = $1";
pub const LOCK_COUNTER: &str = "UPDATE prompt_counters SET last_version = last_version \
     WHERE prompt_id = $1 AND environment = $2";

/// Trash: `$1` deleted_at, `$2` deleted_by, `$3` prompt, then the selection's environment and
/// version (appended by the caller).
pub const TRASH: &str = "UPDATE prompt_versions SET deleted_at = $1, deleted_by = $2 \
     WHERE deleted_at IS NULL AND prompt_id = $3";
pub const RESTORE: &str = "UPDATE prompt_versions SET deleted_at = NULL, deleted_by = NULL \
     WHERE deleted_at IS NOT NULL AND prompt_id = $1";
pub const PURGE: &str = "DELETE FROM prompt_versions WHERE prompt_id = $1";
pub const PURGE_TRASHED_BEFORE: &str = "DELETE FROM prompt_versions \
     WHERE deleted_at IS NOT NULL AND deleted_at < $1 \
     RETURNING prompt_id, environment, version, content_sha256, litellm_params";

pub const SELECT_TRASH: &str = concat!(
    "SELECT ",
    version_cols!(),
    ", deleted_at, deleted_by FROM prompt_versions WHERE deleted_at IS NOT NULL"
);

/// Forget the numbering of environments that no longer have any version, live or trashed, so a
/// purged prompt created again starts at 1 as in LiteLLM.
pub const DELETE_EMPTY_COUNTERS: &str = "DELETE FROM prompt_counters WHERE prompt_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM prompt_versions v WHERE v.prompt_id = prompt_counters.prompt_id AND v.environment = prompt_counters.environment)";
pub const DELETE_ALL_EMPTY_COUNTERS: &str = "DELETE FROM prompt_counters WHERE NOT EXISTS \
     (SELECT 1 FROM prompt_versions v WHERE v.prompt_id = prompt_counters.prompt_id AND v.environment = prompt_counters.environment)";

/// Takes `$1` ledger numbers; run last in a transaction, so numbers follow commit order (the
/// row stays locked until the commit).
pub const NEXT_SEQ: &str =
    "UPDATE ledger_counter SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq";
pub const EVENT_COLS: &str = "seq, prompt_id, environment, version, kind, source, message, actor, content_sha256, created_at";

pub const INSERT_KEY: &str = "INSERT INTO api_keys \
     (token, key_name, key_alias, user_id, user_role, metadata, expires_at, created_at, created_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub const SELECT_KEYS: &str = "SELECT token, key_name, key_alias, user_id, user_role, metadata, expires_at, created_at, created_by \
     FROM api_keys ORDER BY created_at, token";
pub const DELETE_KEY: &str = "DELETE FROM api_keys WHERE token = $1 RETURNING token";

pub const PING: &str = "SELECT 1";

/// Import keeps the source's numbers; an existing row (same id or same version) is left alone.
pub const IMPORT_VERSION: &str = concat!(
    "INSERT INTO prompt_versions (",
    version_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING"
);
/// After an import the counter must be at least the highest imported version.
pub const RAISE_COUNTER: &str = "INSERT INTO prompt_counters (prompt_id, environment, last_version) VALUES ($1, $2, $3) \
     ON CONFLICT (prompt_id, environment) DO UPDATE SET last_version = \
     CASE WHEN prompt_counters.last_version < excluded.last_version THEN excluded.last_version ELSE prompt_counters.last_version END";

/// Backups read every row of every table promptd owns, in a stable order.
pub const BACKUP_VERSIONS: &str = concat!(
    "SELECT ",
    version_cols!(),
    ", deleted_at, deleted_by FROM prompt_versions ORDER BY prompt_id, environment, version"
);
pub const BACKUP_EVENTS: &str = concat!(
    "SELECT seq, prompt_id, environment, version, kind, source, message, actor, content_sha256, created_at ",
    "FROM prompt_events ORDER BY seq"
);
pub const BACKUP_COUNTERS: &str = "SELECT prompt_id, environment, last_version FROM prompt_counters \
     ORDER BY prompt_id, environment";
pub const BACKUP_LEDGER: &str = "SELECT last_seq FROM ledger_counter WHERE id = 1";
pub const BACKUP_KEYS: &str = SELECT_KEYS;
/// PostgreSQL: the whole backup reads one snapshot (must be the transaction's first statement).
pub const PG_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// What a restore target holds (it must be empty unless forced).
pub const COUNT_CONTENT: &str = "SELECT (SELECT COUNT(*) FROM prompt_versions) + \
     (SELECT COUNT(*) FROM prompt_events) + (SELECT COUNT(*) FROM api_keys) + \
     (SELECT COUNT(*) FROM prompt_counters)";
/// `restore --force` empties the target first, in the restoring transaction.
pub const EMPTY_ALL: [&str; 4] = [
    "DELETE FROM prompt_versions",
    "DELETE FROM prompt_events",
    "DELETE FROM prompt_counters",
    "DELETE FROM api_keys",
];
pub const SET_LEDGER: &str = "UPDATE ledger_counter SET last_seq = $1 WHERE id = 1";
pub const RESTORE_VERSION_COLS: &str = concat!(version_cols!(), ", deleted_at, deleted_by");
pub const RESTORE_EVENT_COLS: &str = EVENT_COLS;
pub const RESTORE_COUNTER_COLS: &str = "prompt_id, environment, last_version";
pub const RESTORE_KEY_COLS: &str =
    "token, key_name, key_alias, user_id, user_role, metadata, expires_at, created_at, created_by";
/// SQLite: a page cache large enough for a whole restore transaction (this connection only).
pub const SQLITE_BIG_CACHE: &str = "PRAGMA cache_size = -262144";
