//! Embedded migrations, one directory per backend with the same version numbers.

use sqlx::AnyPool;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::backend::Backend;

// Versions 2 and 4 (PostgreSQL's change notifications) have no SQLite counterpart.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        3,
        "ledger",
        include_str!("../migrations/sqlite/0003_ledger.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../migrations/sqlite/0005_webhooks.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "notify",
        include_str!("../migrations/postgres/0002_notify.sql"),
    ),
    (
        3,
        "ledger",
        include_str!("../migrations/postgres/0003_ledger.sql"),
    ),
    (
        4,
        "notify_versions",
        include_str!("../migrations/postgres/0004_notify_versions.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../migrations/postgres/0005_webhooks.sql"),
    ),
];

pub(crate) fn migrator(backend: Backend) -> Migrator {
    let set = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    Migrator::with_migrations(
        set.iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    (*d).into(),
                    MigrationType::Simple,
                    AssertSqlSafe(*sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// How the database's schema compares with what this binary expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every embedded migration is applied and nothing else.
    UpToDate,
    /// These embedded versions are not applied yet (`promptd migrate` applies them).
    Behind { missing: Vec<i64> },
    /// The database has migrations this binary does not know: it was migrated by a newer promptd.
    Ahead { unknown: Vec<i64> },
}

pub async fn schema_status(
    pool: &AnyPool,
    backend: Backend,
) -> Result<SchemaStatus, sqlx::migrate::MigrateError> {
    let m = migrator(backend);
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table("_sqlx_migrations").await?;
    let applied = conn.list_applied_migrations("_sqlx_migrations").await?;
    let known: Vec<i64> = m.iter().map(|m| m.version).collect();
    let unknown: Vec<i64> = applied
        .iter()
        .map(|a| a.version)
        .filter(|v| !known.contains(v))
        .collect();
    if !unknown.is_empty() {
        return Ok(SchemaStatus::Ahead { unknown });
    }
    let missing: Vec<i64> = known
        .into_iter()
        .filter(|v| !applied.iter().any(|a| a.version == *v))
        .collect();
    Ok(if missing.is_empty() {
        SchemaStatus::UpToDate
    } else {
        SchemaStatus::Behind { missing }
    })
}
