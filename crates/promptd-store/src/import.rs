//! Reading LiteLLM's `"LiteLLM_PromptTable"` (any of its historical layouts) for
//! `promptd import litellm`. Validation and writing happen in the caller.

use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Row};

/// One row as LiteLLM stored it. JSON columns are returned as text (`jsonb::text`); LiteLLM
/// also wrote JSON *strings* holding JSON, which the caller unwraps.
#[derive(Debug, Clone)]
pub struct LiteLlmRow {
    pub id: String,
    pub prompt_id: String,
    pub version: i64,
    pub environment: String,
    pub created_by: Option<String>,
    pub litellm_params: Option<String>,
    pub prompt_info: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

const TABLE: &str = "LiteLLM_PromptTable";

/// Why LiteLLM's table could not be read; each names what to check.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read the table layout")]
    Layout(#[source] sqlx::Error),
    #[error("there is no table \"{TABLE}\" in that database; point --from at LiteLLM's database")]
    NoTable,
    #[error("cannot read \"{TABLE}\"")]
    Read(#[source] sqlx::Error),
    #[error("cannot decode a row of \"{TABLE}\"")]
    Decode(#[source] sqlx::Error),
}

/// Reads every row, oldest layout included (no `version`, `environment` or `created_by`
/// columns: version 1, `development`, no author).
pub async fn read_litellm_prompts(url: &str) -> Result<Vec<LiteLlmRow>, ImportError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(|source| ImportError::Connect {
            url: crate::redact_url(url),
            source,
        })?;
    let cols: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1",
    )
    .bind(TABLE)
    .fetch_all(&pool)
    .await
    .map_err(ImportError::Layout)?;
    if cols.is_empty() {
        return Err(ImportError::NoTable);
    }
    let has = |c: &str| cols.iter().any(|x| x == c);
    let version = if has("version") {
        "version::bigint"
    } else {
        "1::bigint"
    };
    let environment = if has("environment") {
        "COALESCE(environment, 'development')"
    } else {
        "'development'"
    };
    let created_by = if has("created_by") {
        "created_by"
    } else {
        "NULL::text"
    };
    let ms = |c: &str| {
        if has(c) {
            format!("(EXTRACT(EPOCH FROM {c}) * 1000)::bigint")
        } else {
            "NULL::bigint".to_owned()
        }
    };
    let sql = format!(
        "SELECT id::text AS id, prompt_id, {version} AS version, {environment} AS environment, {created_by} AS created_by, \
         litellm_params::text AS litellm_params, {info} AS prompt_info, {created} AS created_at, {updated} AS updated_at \
         FROM \"{TABLE}\" ORDER BY prompt_id, {version}",
        info = if has("prompt_info") {
            "prompt_info::text"
        } else {
            "NULL::text"
        },
        created = ms("created_at"),
        updated = ms("updated_at"),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await
        .map_err(ImportError::Read)?;
    let out = rows
        .iter()
        .map(|r| {
            Ok(LiteLlmRow {
                id: r.try_get("id")?,
                prompt_id: r.try_get("prompt_id")?,
                version: r.try_get("version")?,
                environment: r.try_get("environment")?,
                created_by: r.try_get("created_by")?,
                litellm_params: r.try_get("litellm_params")?,
                prompt_info: r.try_get("prompt_info")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(ImportError::Decode)?;
    pool.close().await;
    Ok(out)
}
