//! `promptd backup`, `promptd restore` and `promptd copy`: a consistent online snapshot of a
//! database into a verified backup file, a backup into an empty database (one transaction), and
//! one database into another (SQLite → PostgreSQL to grow). See docs/operations.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use promptd_store::backup::{read_backup, write_backup};
use promptd_store::{Backend, SqlStore, StoreOptions, redact_url};

use crate::DbArgs;

#[derive(Debug, Args, Clone)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The backup file to write (gzip-compressed JSON lines; replaced only once verified).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct RestoreArgs {
    /// The backup file (from `promptd backup`).
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    /// Replace everything in a target that is not empty (in the same transaction).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CopyArgs {
    /// The database to copy from, e.g. sqlite://promptd.db (read in one consistent snapshot).
    #[arg(long = "from")]
    pub from: String,
    /// The database to copy into, e.g. postgres://promptd@db/promptd (must be empty).
    #[arg(long = "to")]
    pub to: String,
    /// Replace everything in a target that is not empty (in the same transaction).
    #[arg(long)]
    pub force: bool,
}

/// No statement time limit: a snapshot or a restore of 100,000 versions is one long statement
/// sequence, and a restore may wait for locks.
fn options() -> StoreOptions {
    StoreOptions {
        statement_timeout: None,
        max_connections: 2,
        ..StoreOptions::default()
    }
}

/// Opens a database that must already exist (a SQLite file is not created by reading it).
async fn open_existing(url: &str) -> anyhow::Result<SqlStore> {
    if Backend::from_url(url)? == Backend::Sqlite {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or("");
        if !path.is_empty() && !path.contains(":memory:") && !Path::new(path).exists() {
            bail!("{url}: there is no such SQLite file; check the path");
        }
    }
    Ok(SqlStore::connect(url, &options()).await?)
}

/// `promptd backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = crate::database_url(&args.db)?;
    let started = Instant::now();
    let store = open_existing(&url).await?;
    let snap = store
        .snapshot()
        .await
        .with_context(|| format!("cannot take a snapshot of {}", redact_url(&url)))?;
    store.close().await;
    let out = args.out.clone();
    let written = tokio::task::spawn_blocking(move || write_backup(&snap, &out))
        .await
        .context("the backup writer stopped")??;
    println!(
        "backup of {} written to {} and verified: {} ({} bytes, sha256 {}) in {:.1} s",
        redact_url(&url),
        args.out.display(),
        written.counts,
        written.bytes,
        written.sha256,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `promptd restore FILE`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let url = crate::database_url(&args.db)?;
    let started = Instant::now();
    let file = args.file.clone();
    let snap = tokio::task::spawn_blocking(move || read_backup(&file))
        .await
        .context("the backup reader stopped")??;
    let store = SqlStore::connect(&url, &options()).await?;
    let counts = store
        .restore_snapshot(&snap, args.force)
        .await
        .with_context(|| format!("nothing was restored into {}", redact_url(&url)))?;
    store.close().await;
    println!(
        "restored {} into {}: {counts} (backup taken {} from {}) in {:.1} s",
        args.file.display(),
        redact_url(&url),
        promptd_core::time_fmt::format_ms(snap.header.created_at),
        snap.header.source_backend,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `promptd copy --from --to`.
pub async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let from = open_existing(&args.from).await?;
    let snap = from
        .snapshot()
        .await
        .with_context(|| format!("cannot take a snapshot of {}", redact_url(&args.from)))?;
    from.close().await;
    let to = SqlStore::connect(&args.to, &options()).await?;
    let counts = to
        .restore_snapshot(&snap, args.force)
        .await
        .with_context(|| format!("nothing was copied into {}", redact_url(&args.to)))?;
    to.close().await;
    println!(
        "copied {} into {}: {counts} in {:.1} s. Point promptd at the new database (database_url) and restart it.",
        redact_url(&args.from),
        redact_url(&args.to),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
