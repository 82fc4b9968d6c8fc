//! Backups: a consistent snapshot of everything promptd stores (every version, live and in the
//! trash, every ledger event, the version and ledger counters, and the keys' hashes), written as
//! a versioned, gzip-compressed JSON-lines file, and restored into an empty database of either
//! backend in ONE transaction.
//!
//! The file (see docs/operations.md): the first line is the header
//! `{"t":"header","format":"promptd-backup","format_version":1,"schema_version":3,…}`, then one
//! line per row (`"t"`: `version`, `event`, `counter`, `ledger`, `key`; the columns as stored),
//! and last `{"t":"end","counts":{…},"sha256":"…"}`: how many rows of each kind precede it and
//! the SHA-256 of every line before it (each with its `\n`), uncompressed. A backup is verified
//! after it is written (read back, counted, hashed) and again before a restore writes anything.
//!
//! **Invariants:** a snapshot is read in one transaction (PostgreSQL: repeatable read, read
//! only; SQLite: one read transaction on the WAL, which sees one commit point), so it holds
//! every write committed before it started and nothing half-done. A restore is one transaction:
//! killed at any point, the target is left as it was (empty), never half-restored.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use promptd_core::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::backend::Backend;
use crate::migrate::SchemaStatus;
use crate::queries as q;
use crate::sql::{SqlStore, map_err};

/// The name in every backup's header.
pub const FORMAT: &str = "promptd-backup";
/// The newest backup format this binary reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;
/// The database schema (migration number) whose tables a backup of this format holds.
pub const SCHEMA_VERSION: i64 = 3;

/// The first line of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub schema_version: i64,
    /// The promptd that wrote it.
    pub promptd_version: String,
    /// `sqlite` or `postgres`.
    pub source_backend: String,
    /// When the snapshot was taken (Unix milliseconds).
    pub created_at: i64,
}

/// One row of `prompt_versions`, as stored (trash columns included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRow {
    pub id: String,
    pub prompt_id: String,
    pub version: i64,
    pub environment: String,
    pub created_by: Option<String>,
    pub litellm_params: String,
    pub prompt_info: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub origin: String,
    pub origin_source: Option<String>,
    pub message: Option<String>,
    pub actor: Option<String>,
    pub content_sha256: Option<String>,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
}

/// One row of `prompt_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub seq: i64,
    pub prompt_id: String,
    pub environment: Option<String>,
    pub version: Option<i64>,
    pub kind: String,
    pub source: Option<String>,
    pub message: Option<String>,
    pub actor: Option<String>,
    pub content_sha256: Option<String>,
    pub created_at: i64,
}

/// One row of `prompt_counters` (numbers stay taken even when their versions were purged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterRow {
    pub prompt_id: String,
    pub environment: String,
    pub last_version: i64,
}

/// One row of `api_keys`: the key's SHA-256 (`token`), never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub user_id: Option<String>,
    pub user_role: String,
    pub metadata: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<String>,
}

/// How many rows of each kind a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub versions: u64,
    pub events: u64,
    pub counters: u64,
    pub keys: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} versions, {} events, {} counters, {} keys",
            self.versions, self.events, self.counters, self.keys
        )
    }
}

/// Everything promptd stores, read at one point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub header: Header,
    pub versions: Vec<VersionRow>,
    pub events: Vec<EventRow>,
    pub counters: Vec<CounterRow>,
    /// The ledger counter: the last event number handed out.
    pub last_seq: i64,
    pub keys: Vec<KeyRow>,
}

impl Snapshot {
    pub fn counts(&self) -> Counts {
        Counts {
            versions: self.versions.len() as u64,
            events: self.events.len() as u64,
            counters: self.counters.len() as u64,
            keys: self.keys.len() as u64,
        }
    }
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Line {
    Header(Header),
    Version(VersionRow),
    Event(EventRow),
    Counter(CounterRow),
    Ledger { last_seq: i64 },
    Key(KeyRow),
    End { counts: Counts, sha256: String },
}

/// Why a backup, restore or copy failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a usable promptd backup: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "the target database is not empty (it holds {rows} rows of prompts, events, counters or keys). Restore into an empty database, or pass --force to replace everything in it"
    )]
    NotEmpty { rows: i64 },
    #[error("{0}")]
    Schema(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn version_row(r: &AnyRow) -> Result<VersionRow, sqlx::Error> {
    Ok(VersionRow {
        id: r.try_get("id")?,
        prompt_id: r.try_get("prompt_id")?,
        version: r.try_get("version")?,
        environment: r.try_get("environment")?,
        created_by: r.try_get("created_by")?,
        litellm_params: r.try_get("litellm_params")?,
        prompt_info: r.try_get("prompt_info")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        origin: r.try_get("origin")?,
        origin_source: r.try_get("origin_source")?,
        message: r.try_get("message")?,
        actor: r.try_get("actor")?,
        content_sha256: r.try_get("content_sha256")?,
        deleted_at: r.try_get("deleted_at")?,
        deleted_by: r.try_get("deleted_by")?,
    })
}

fn event_row(r: &AnyRow) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        seq: r.try_get("seq")?,
        prompt_id: r.try_get("prompt_id")?,
        environment: r.try_get("environment")?,
        version: r.try_get("version")?,
        kind: r.try_get("kind")?,
        source: r.try_get("source")?,
        message: r.try_get("message")?,
        actor: r.try_get("actor")?,
        content_sha256: r.try_get("content_sha256")?,
        created_at: r.try_get("created_at")?,
    })
}

fn counter_row(r: &AnyRow) -> Result<CounterRow, sqlx::Error> {
    Ok(CounterRow {
        prompt_id: r.try_get("prompt_id")?,
        environment: r.try_get("environment")?,
        last_version: r.try_get("last_version")?,
    })
}

fn key_row(r: &AnyRow) -> Result<KeyRow, sqlx::Error> {
    Ok(KeyRow {
        token: r.try_get("token")?,
        key_name: r.try_get("key_name")?,
        key_alias: r.try_get("key_alias")?,
        user_id: r.try_get("user_id")?,
        user_role: r.try_get("user_role")?,
        metadata: r.try_get("metadata")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

async fn read_all<T>(
    tx: &mut AnyConnection,
    sql: &'static str,
    convert: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut rows = sqlx::query(sql).fetch(&mut *tx);
    while let Some(row) = rows.try_next().await.map_err(map_err)? {
        out.push(convert(&row).map_err(map_err)?);
    }
    Ok(out)
}

/// Refuses a database whose schema is not the one a backup of this format holds.
async fn require_current_schema(store: &SqlStore) -> Result<(), BackupError> {
    match store.schema_status().await? {
        SchemaStatus::UpToDate => Ok(()),
        SchemaStatus::Behind { missing } => Err(BackupError::Schema(format!(
            "the database is not migrated (missing migrations {missing:?}); run `promptd migrate --database-url …` first"
        ))),
        SchemaStatus::Ahead { unknown } => Err(BackupError::Schema(format!(
            "the database was migrated by a newer promptd (unknown migrations {unknown:?}); use that promptd's backup"
        ))),
    }
}

impl SqlStore {
    /// Reads everything in one consistent snapshot while other instances keep writing.
    pub async fn snapshot(&self) -> Result<Snapshot, BackupError> {
        require_current_schema(self).await?;
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        if self.backend() == Backend::Postgres {
            sqlx::query(q::PG_SNAPSHOT)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let created_at = promptd_core::time_fmt::now_ms();
        let versions = read_all(&mut tx, q::BACKUP_VERSIONS, version_row).await?;
        let events = read_all(&mut tx, q::BACKUP_EVENTS, event_row).await?;
        let counters = read_all(&mut tx, q::BACKUP_COUNTERS, counter_row).await?;
        let last_seq: i64 = sqlx::query_scalar(q::BACKUP_LEDGER)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .unwrap_or(0);
        let keys = read_all(&mut tx, q::BACKUP_KEYS, key_row).await?;
        tx.rollback().await.map_err(map_err)?;
        Ok(Snapshot {
            header: Header {
                format: FORMAT.to_owned(),
                format_version: FORMAT_VERSION,
                schema_version: SCHEMA_VERSION,
                promptd_version: env!("CARGO_PKG_VERSION").to_owned(),
                source_backend: backend_name(self.backend()).to_owned(),
                created_at,
            },
            versions,
            events,
            counters,
            last_seq,
            keys,
        })
    }

    /// Writes `snap` into this database in ONE transaction (migrating it first). The database
    /// must be empty unless `force`, which deletes everything in it in the same transaction.
    pub async fn restore_snapshot(
        &self,
        snap: &Snapshot,
        force: bool,
    ) -> Result<Counts, BackupError> {
        if let SchemaStatus::Ahead { unknown } = self.schema_status().await? {
            return Err(BackupError::Schema(format!(
                "the target database was migrated by a newer promptd (unknown migrations {unknown:?}); restore with that promptd"
            )));
        }
        self.migrate().await?;
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let rows: i64 = sqlx::query_scalar(q::COUNT_CONTENT)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if rows > 0 {
            if !force {
                return Err(BackupError::NotEmpty { rows });
            }
            for sql in q::EMPTY_ALL {
                sqlx::query(sql).execute(&mut *tx).await.map_err(map_err)?;
            }
        }
        let backend = self.backend();
        if backend == Backend::Sqlite {
            // Keep the transaction's pages in memory (256 MiB at most) instead of spilling them
            // to the WAL again and again while the indexes grow.
            sqlx::query(q::SQLITE_BIG_CACHE)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        insert_rows(
            &mut tx,
            backend,
            "prompt_versions",
            q::RESTORE_VERSION_COLS,
            &snap.versions,
        )
        .await?;
        insert_rows(
            &mut tx,
            backend,
            "prompt_events",
            q::RESTORE_EVENT_COLS,
            &snap.events,
        )
        .await?;
        insert_rows(
            &mut tx,
            backend,
            "prompt_counters",
            q::RESTORE_COUNTER_COLS,
            &snap.counters,
        )
        .await?;
        insert_rows(
            &mut tx,
            backend,
            "api_keys",
            q::RESTORE_KEY_COLS,
            &snap.keys,
        )
        .await?;
        sqlx::query(q::SET_LEDGER)
            .bind(snap.last_seq)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(snap.counts())
    }
}

/// Rows per INSERT statement. Each statement carries its rows as ONE JSON parameter that the
/// database unpacks (`json_populate_recordset` on PostgreSQL, `json_each` on SQLite): thousands of
/// bound parameters per statement are slow in the driver, one row per statement is slow on the
/// network.
const ROWS_PER_INSERT: usize = 2000;

/// Inserts `rows` (serialised with the column names as keys) into `table`.
async fn insert_rows<T: Serialize>(
    tx: &mut AnyConnection,
    backend: Backend,
    table: &str,
    cols: &str,
    rows: &[T],
) -> Result<(), StoreError> {
    let sql = match backend {
        Backend::Postgres => format!(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, $1::json)"
        ),
        Backend::Sqlite => {
            let extracts: Vec<String> = cols
                .split(',')
                .map(|c| format!("json_extract(value, '$.{}')", c.trim()))
                .collect();
            format!(
                "INSERT INTO {table} ({cols}) SELECT {} FROM json_each($1)",
                extracts.join(", ")
            )
        }
    };
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let json = serde_json::to_string(chunk).map_err(|e| {
            StoreError::internal("cannot encode rows to restore", Some(Box::new(e)))
        })?;
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// What a written backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub counts: Counts,
    pub sha256: String,
    /// Compressed size in bytes.
    pub bytes: u64,
}

/// Writes `snap` to `path` (through `path` + `.partial`, renamed only once the file was read
/// back and its counts and checksum verified, so `path` is always a complete backup).
pub fn write_backup(snap: &Snapshot, path: &Path) -> Result<Written, BackupError> {
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let file = std::fs::File::create(&partial).map_err(io("cannot create", &partial))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut w = HashingWriter {
        inner: gz,
        hash: Sha256::new(),
    };
    let write_err = io("cannot write", &partial);
    let result = (|| -> std::io::Result<String> {
        w.line(&Line::Header(snap.header.clone()))?;
        for r in &snap.versions {
            w.line(&Line::Version(r.clone()))?;
        }
        for r in &snap.events {
            w.line(&Line::Event(r.clone()))?;
        }
        for r in &snap.counters {
            w.line(&Line::Counter(r.clone()))?;
        }
        w.line(&Line::Ledger {
            last_seq: snap.last_seq,
        })?;
        for r in &snap.keys {
            w.line(&Line::Key(r.clone()))?;
        }
        let sha256 = hex(&w.hash.clone().finalize());
        let end = serde_json::to_vec(&Line::End {
            counts: snap.counts(),
            sha256: sha256.clone(),
        })?;
        w.inner.write_all(&end)?;
        w.inner.write_all(b"\n")?;
        let file = w.inner.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(sha256)
    })();
    let sha256 = result.map_err(write_err)?;
    let check = read_backup(&partial)?;
    if check.counts() != snap.counts() {
        return Err(BackupError::Invalid {
            path: partial,
            reason: "reading the file back gave other counts than were written (disk trouble?)"
                .into(),
        });
    }
    std::fs::rename(&partial, path).map_err(io("cannot rename the verified backup to", path))?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(Written {
        counts: snap.counts(),
        sha256,
        bytes,
    })
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn line(&mut self, l: &Line) -> std::io::Result<()> {
        let mut buf = serde_json::to_vec(l)?;
        buf.push(b'\n');
        self.hash.update(&buf);
        self.inner.write_all(&buf)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and verifies a backup: the header's format and version, every line, the counts and the
/// checksum in its end line. Nothing is returned from a file that does not verify.
pub fn read_backup(path: &Path) -> Result<Snapshot, BackupError> {
    let invalid = |reason: String| BackupError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(io("cannot open", path))?;
    let mut reader = BufReader::with_capacity(
        1 << 20,
        flate2::read::MultiGzDecoder::new(BufReader::new(file)),
    );
    let mut hash = Sha256::new();
    let mut buf = Vec::new();
    let mut header: Option<Header> = None;
    let mut snap_parts = (Vec::new(), Vec::new(), Vec::new(), None, Vec::new());
    let mut end: Option<(Counts, String)> = None;
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            invalid(format!(
                "it cannot be decompressed after line {line_no} ({e}); it was cut off or damaged: take a new backup"
            ))
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if end.is_some() {
            return Err(invalid(format!(
                "line {line_no} follows the end line; the file was altered"
            )));
        }
        let line: Line = serde_json::from_slice(&buf)
            .map_err(|e| invalid(format!("line {line_no} is not a backup line: {e}")))?;
        if line_no == 1 {
            let Line::Header(h) = line else {
                return Err(invalid("the first line is not a header".into()));
            };
            if h.format != FORMAT {
                return Err(invalid(format!(
                    "its format is '{}', not '{FORMAT}'",
                    h.format
                )));
            }
            if h.format_version > FORMAT_VERSION {
                return Err(invalid(format!(
                    "it has format version {}, newer than this promptd reads ({FORMAT_VERSION}); restore it with the promptd that wrote it ({})",
                    h.format_version, h.promptd_version
                )));
            }
            header = Some(h);
            hash.update(&buf);
            continue;
        }
        match line {
            Line::End { counts, sha256 } => end = Some((counts, sha256)),
            other => {
                hash.update(&buf);
                match other {
                    Line::Version(r) => snap_parts.0.push(r),
                    Line::Event(r) => snap_parts.1.push(r),
                    Line::Counter(r) => snap_parts.2.push(r),
                    Line::Ledger { last_seq } => snap_parts.3 = Some(last_seq),
                    Line::Key(r) => snap_parts.4.push(r),
                    Line::Header(_) => {
                        return Err(invalid(format!("line {line_no} is a second header")));
                    }
                    Line::End { .. } => {}
                }
            }
        }
    }
    let header = header.ok_or_else(|| invalid("it is empty".into()))?;
    let (counts, sha256) = end.ok_or_else(|| {
        invalid("it has no end line: it was cut off while being written; take a new backup".into())
    })?;
    let (versions, events, counters, last_seq, keys) = snap_parts;
    let snap = Snapshot {
        header,
        versions,
        events,
        counters,
        last_seq: last_seq.ok_or_else(|| invalid("it has no ledger line".into()))?,
        keys,
    };
    if snap.counts() != counts {
        return Err(invalid(format!(
            "its end line promises {counts} but it holds {}",
            snap.counts()
        )));
    }
    let actual = hex(&hash.finalize());
    if actual != sha256 {
        return Err(invalid(format!(
            "its checksum does not match (end line {sha256}, content {actual}): the file was altered or damaged"
        )));
    }
    Ok(snap)
}
