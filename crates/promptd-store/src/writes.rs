//! Every transaction that changes prompt versions, each with its ledger events: appends (many
//! per transaction: group commit), trash, restore, purge, import.
//!
//! **Invariant:** events are inserted by the transaction that makes the change they describe,
//! and their numbers are taken last (`NEXT_SEQ` locks the ledger counter until the commit), so
//! event numbers increase in commit order on every instance sharing the database. The same
//! transaction queues each event's webhook messages in the outbox (`outbox::fill`).

use promptd_core::time_fmt::now_ms;
use promptd_core::{
    Act, Append, BatchOp, BatchOutcome, BoxError, Check, Environment, Kind, NewEvent, NewVersion,
    PreconditionFailed, PromptId, PromptRecord, PromptSource, Selection, StoreError, Version,
    content_sha256,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};

use crate::queries as q;
use crate::sql::{map_err, prompt_row};

/// Events inserted per statement (10 parameters each; both backends accept thousands).
const EVENTS_PER_INSERT: usize = 200;

/// Versions inserted per statement (14 parameters each).
const VERSIONS_PER_INSERT: usize = 200;

/// The appends of a batch for one (prompt, environment), with their positions in the batch.
type Group = ((PromptId, Environment), Vec<(usize, Append)>);

/// Runs every append of `batch` in one transaction (see `Store::append_batch`).
///
/// Appends are grouped by (prompt, environment). Per group, in a constant number of statements
/// whatever its size: the counter row is locked and read, the latest live version is read,
/// each append is derived in order from the one before it (in memory: the base of the second
/// PUT is the first), the counter is set past the accepted ones and they are inserted in one
/// statement. A rejected append takes no number, so numbers stay consecutive.
pub(crate) async fn append_batch(
    tx: &mut AnyConnection,
    batch: Vec<Append>,
) -> Result<Vec<Result<PromptRecord, StoreError>>, StoreError> {
    let n = batch.len();
    let mut results: Vec<Option<Result<PromptRecord, StoreError>>> = (0..n).map(|_| None).collect();
    // Groups by (prompt, environment); each keeps its appends' positions in the batch.
    let mut groups: Vec<Group> = Vec::new();
    for (i, item) in batch.into_iter().enumerate() {
        let key = (item.prompt_id.clone(), item.environment.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, items)) => items.push((i, item)),
            None => groups.push((key, vec![(i, item)])),
        }
    }
    // Lock numberings in one global order (by prompt, then environment): two instances
    // committing batches that touch the same environments then queue instead of deadlocking.
    groups
        .sort_by(|(a, _), (b, _)| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    let now = now_ms();
    let mut events = Vec::with_capacity(n);
    for ((prompt_id, environment), items) in groups {
        let accepted = append_group(tx, &prompt_id, &environment, items, now, &mut results).await?;
        for (_, rec) in &accepted {
            events.push(version_event(rec, rec.provenance.origin));
        }
        for (pos, rec) in accepted {
            results[pos] = Some(Ok(rec));
        }
    }
    insert_events(tx, &events, now).await?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::internal("an append got no result", None))))
        .collect())
}

/// One (prompt, environment) group of a batch; rejected appends get their error in `results`,
/// accepted ones are inserted and returned with their positions.
async fn append_group(
    tx: &mut AnyConnection,
    prompt_id: &PromptId,
    environment: &Environment,
    items: Vec<(usize, Append)>,
    now: i64,
    results: &mut [Option<Result<PromptRecord, StoreError>>],
) -> Result<Vec<(usize, PromptRecord)>, StoreError> {
    // Lock the numbering (PostgreSQL: the counter row; SQLite: the database) before reading
    // anything, so every base read below includes every write committed before this one.
    let mut last = lock_numbering(tx, prompt_id, environment).await?;
    let needs_latest = items
        .iter()
        .any(|(_, a)| a.base == Some(None) || a.if_match.is_some());
    let mut latest: Option<PromptRecord> = if needs_latest {
        latest_in_env(tx, prompt_id, environment).await?
    } else {
        None
    };
    let mut accepted: Vec<(usize, PromptRecord)> = Vec::new();
    for (pos, item) in items {
        let base = match item.base {
            None => None,
            Some(None) => latest.clone(),
            Some(Some(v)) => match accepted.iter().find(|(_, r)| r.version == v) {
                Some((_, r)) => Some(r.clone()),
                None => one_version(tx, prompt_id, environment, v).await?,
            },
        };
        let new = match (item.derive)(base.as_ref()) {
            Ok(new) => new,
            Err(e) => {
                results[pos] = Some(Err(StoreError::Rejected(e)));
                continue;
            }
        };
        // The precondition is checked after the request itself was found valid (a malformed
        // write is refused as such, whatever its If-Match), still before anything is written.
        let current = latest.as_ref().map(PromptRecord::etag);
        if let Err(e) = PreconditionFailed::check(item.if_match.as_deref(), environment, current) {
            results[pos] = Some(Err(StoreError::Rejected(Box::new(e))));
            continue;
        }
        same_target(prompt_id, environment, &new)?;
        last += 1;
        let params = json_text(&new.litellm_params);
        let rec = new_record(new, last, &params, now);
        latest = Some(rec.clone());
        accepted.push((pos, rec));
    }
    if accepted.is_empty() {
        return Ok(accepted);
    }
    set_numbering(tx, prompt_id, environment, last).await?;
    for chunk in accepted.chunks(VERSIONS_PER_INSERT) {
        insert_versions(tx, chunk.iter().map(|(_, r)| r), now).await?;
    }
    Ok(accepted)
}

/// Inserts versions in one statement.
async fn insert_versions<'a>(
    tx: &mut AnyConnection,
    recs: impl ExactSizeIterator<Item = &'a PromptRecord>,
    now: i64,
) -> Result<(), StoreError> {
    let count = recs.len();
    let mut sql = format!(
        "INSERT INTO prompt_versions ({}) VALUES ",
        q::version_cols!()
    );
    for i in 0..count {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 1..=14 {
            if c > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i * 14 + c));
        }
        sql.push(')');
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for r in recs {
        let p = &r.provenance;
        query = query
            .bind(r.id.clone())
            .bind(r.prompt_id.as_str().to_owned())
            .bind(i64::from(r.version))
            .bind(r.environment.as_str().to_owned())
            .bind(r.created_by.clone())
            .bind(r.litellm_params.as_str().to_owned())
            .bind(r.prompt_info.as_str().to_owned())
            .bind(now)
            .bind(now)
            .bind(p.origin.as_str())
            .bind(p.source.clone())
            .bind(p.message.clone())
            .bind(p.actor.clone())
            .bind(r.content_sha256.clone());
    }
    query.execute(&mut *tx).await.map_err(map_err)?;
    Ok(())
}

/// The event that records `rec` being created (or trashed, restored, purged: `kind`).
fn version_event(rec: &PromptRecord, kind: Kind) -> NewEvent {
    let p = &rec.provenance;
    NewEvent {
        prompt_id: rec.prompt_id.clone(),
        environment: Some(rec.environment.clone()),
        version: Some(rec.version),
        kind,
        source: p.source.clone(),
        message: p.message.clone(),
        actor: p.actor.clone(),
        content_sha256: Some(rec.content_sha256.clone()),
    }
}

/// The event of an operation on an existing version, by `act`.
fn act_event(rec: &PromptRecord, kind: Kind, act: &Act) -> NewEvent {
    NewEvent {
        source: None,
        message: act.message.clone(),
        actor: act.actor.clone(),
        ..version_event(rec, kind)
    }
}

/// Takes ledger numbers for `events` (locking the ledger counter until the commit) and inserts
/// them. Call it last in the transaction.
pub(crate) async fn insert_events(
    tx: &mut AnyConnection,
    events: &[NewEvent],
    now: i64,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(q::NEXT_SEQ)
        .bind(n)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let first = last - n + 1;
    for (chunk_no, chunk) in events.chunks(EVENTS_PER_INSERT).enumerate() {
        let mut sql = format!("INSERT INTO prompt_events ({}) VALUES ", q::EVENT_COLS);
        for i in 0..chunk.len() {
            let b = i * 10;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10
            ));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (i, e) in chunk.iter().enumerate() {
            let seq = first + i64::try_from(chunk_no * EVENTS_PER_INSERT + i).unwrap_or(0);
            query = query
                .bind(seq)
                .bind(e.prompt_id.as_str().to_owned())
                .bind(e.environment.as_ref().map(|x| x.as_str().to_owned()))
                .bind(e.version.map(i64::from))
                .bind(e.kind.as_str())
                .bind(e.source.clone())
                .bind(e.message.clone())
                .bind(e.actor.clone())
                .bind(e.content_sha256.clone())
                .bind(now);
        }
        query.execute(&mut *tx).await.map_err(map_err)?;
    }
    crate::outbox::fill(tx, first, last, now).await
}

/// `base` plus the selection's environment and version conditions, with their binds starting
/// at parameter `next`.
fn with_selection(base: &str, sel: &Selection, next: usize) -> String {
    let mut sql = base.to_owned();
    if sel.environment.is_some() {
        sql.push_str(&format!(" AND environment = ${next}"));
        if sel.version.is_some() {
            sql.push_str(&format!(" AND version = ${}", next + 1));
        }
    }
    sql
}

fn bind_selection<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    sel: &Selection,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    if let Some(env) = &sel.environment {
        query = query.bind(env.as_str().to_owned());
        if let Some(v) = sel.version {
            query = query.bind(i64::from(v));
        }
    }
    query
}

/// Locks the numbering of the environments `sel` touches, then runs `check` on the prompt's
/// live versions.
async fn lock_and_check(
    tx: &mut AnyConnection,
    sel: &Selection,
    check: Option<Check>,
) -> Result<(), StoreError> {
    match &sel.environment {
        Some(env) => sqlx::query(q::LOCK_COUNTER)
            .bind(sel.prompt_id.as_str())
            .bind(env.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
        None => sqlx::query(q::LOCK_COUNTERS)
            .bind(sel.prompt_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
    };
    if let Some(check) = check {
        let live: Vec<PromptRecord> = sqlx::query(q::SELECT_PROMPT)
            .bind(sel.prompt_id.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(prompt_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)?;
        check(&live).map_err(StoreError::Rejected)?;
    }
    Ok(())
}

fn sorted(mut recs: Vec<PromptRecord>) -> Vec<PromptRecord> {
    recs.sort_by(|a, b| {
        (a.environment.as_str(), a.version).cmp(&(b.environment.as_str(), b.version))
    });
    recs
}

/// Moves live versions to the trash (see `Store::trash_versions`).
pub(crate) async fn trash(
    tx: &mut AnyConnection,
    sel: &Selection,
    act: &Act,
    check: Option<Check>,
) -> Result<Vec<PromptRecord>, StoreError> {
    lock_and_check(tx, sel, check).await?;
    let now = now_ms();
    let sql = format!(
        "{} RETURNING {}",
        with_selection(q::TRASH, sel, 4),
        q::version_cols!()
    );
    let query = sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(act.actor.clone())
        .bind(sel.prompt_id.as_str().to_owned());
    let rows = bind_selection(query, sel)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let recs = sorted(records(&rows)?);
    let events: Vec<NewEvent> = recs
        .iter()
        .map(|r| act_event(r, Kind::Delete, act))
        .collect();
    insert_events(tx, &events, now).await?;
    Ok(recs)
}

/// Brings trashed versions back (see `Store::restore_versions`).
pub(crate) async fn restore(
    tx: &mut AnyConnection,
    sel: &Selection,
    act: &Act,
    check: Option<Check>,
) -> Result<Vec<PromptRecord>, StoreError> {
    lock_and_check(tx, sel, check).await?;
    let sql = format!(
        "{} RETURNING {}",
        with_selection(q::RESTORE, sel, 2),
        q::version_cols!()
    );
    let query = sqlx::query(AssertSqlSafe(sql)).bind(sel.prompt_id.as_str().to_owned());
    let rows = bind_selection(query, sel)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let recs = sorted(records(&rows)?);
    let events: Vec<NewEvent> = recs
        .iter()
        .map(|r| act_event(r, Kind::Restore, act))
        .collect();
    insert_events(tx, &events, now_ms()).await?;
    Ok(recs)
}

/// Destroys versions, live and trashed (see `Store::purge_versions`).
pub(crate) async fn purge(
    tx: &mut AnyConnection,
    sel: &Selection,
    act: &Act,
) -> Result<Vec<(Environment, Version)>, StoreError> {
    lock_and_check(tx, sel, None).await?;
    let sql = format!(
        "{} RETURNING {}",
        with_selection(q::PURGE, sel, 2),
        q::version_cols!()
    );
    let query = sqlx::query(AssertSqlSafe(sql)).bind(sel.prompt_id.as_str().to_owned());
    let rows = bind_selection(query, sel)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let recs = sorted(records(&rows)?);
    sqlx::query(q::DELETE_EMPTY_COUNTERS)
        .bind(sel.prompt_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let events: Vec<NewEvent> = recs
        .iter()
        .map(|r| act_event(r, Kind::Purge, act))
        .collect();
    insert_events(tx, &events, now_ms()).await?;
    Ok(recs
        .into_iter()
        .map(|r| (r.environment, r.version))
        .collect())
}

/// Destroys trashed versions deleted before `cutoff_ms`.
pub(crate) async fn purge_trashed_before(
    tx: &mut AnyConnection,
    cutoff_ms: i64,
    actor: &str,
) -> Result<Vec<PromptId>, StoreError> {
    let rows = sqlx::query(q::PURGE_TRASHED_BEFORE)
        .bind(cutoff_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let version: i64 = row.try_get("version").map_err(map_err)?;
        let hash: Option<String> = row.try_get("content_sha256").map_err(map_err)?;
        let params: String = row.try_get("litellm_params").map_err(map_err)?;
        events.push(NewEvent {
            prompt_id: PromptId::from_trusted(
                row.try_get::<String, _>("prompt_id").map_err(map_err)?,
            ),
            environment: Some(Environment::from_trusted(
                row.try_get::<String, _>("environment").map_err(map_err)?,
            )),
            version: u32::try_from(version).ok(),
            kind: Kind::Purge,
            source: None,
            message: Some("deleted longer ago than trash_retention_days".to_owned()),
            actor: Some(actor.to_owned()),
            content_sha256: Some(hash.unwrap_or_else(|| content_sha256(&params))),
        });
    }
    events.sort_by(|a, b| {
        (a.prompt_id.as_str(), a.environment.as_ref(), a.version).cmp(&(
            b.prompt_id.as_str(),
            b.environment.as_ref(),
            b.version,
        ))
    });
    if !events.is_empty() {
        sqlx::query(q::DELETE_ALL_EMPTY_COUNTERS)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    insert_events(tx, &events, now_ms()).await?;
    let mut prompts: Vec<PromptId> = events.into_iter().map(|e| e.prompt_id).collect();
    prompts.dedup();
    Ok(prompts)
}

/// Imports one version with its event; `false` when it exists already.
pub(crate) async fn import(tx: &mut AnyConnection, rec: &PromptRecord) -> Result<bool, StoreError> {
    let hash = content_sha256(rec.litellm_params.as_str());
    let p = &rec.provenance;
    let done = sqlx::query(q::IMPORT_VERSION)
        .bind(&rec.id)
        .bind(rec.prompt_id.as_str())
        .bind(i64::from(rec.version))
        .bind(rec.environment.as_str())
        .bind(rec.created_by.clone())
        .bind(rec.litellm_params.as_str())
        .bind(rec.prompt_info.as_str())
        .bind(rec.created_at.unwrap_or_else(now_ms))
        .bind(rec.updated_at.or(rec.created_at).unwrap_or_else(now_ms))
        .bind(Kind::Import.as_str())
        .bind(p.source.clone())
        .bind(p.message.clone())
        .bind(p.actor.clone())
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(q::RAISE_COUNTER)
        .bind(rec.prompt_id.as_str())
        .bind(rec.environment.as_str())
        .bind(i64::from(rec.version))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let rec = PromptRecord {
        content_sha256: hash,
        ..rec.clone()
    };
    insert_events(tx, &[version_event(&rec, Kind::Import)], now_ms()).await?;
    Ok(true)
}

/// Locks the numbering of (prompt, environment) until the commit and reads its last number
/// (see `queries::LOCK_NUMBERING`).
async fn lock_numbering(
    tx: &mut AnyConnection,
    prompt_id: &PromptId,
    environment: &Environment,
) -> Result<i64, StoreError> {
    sqlx::query_scalar(q::LOCK_NUMBERING)
        .bind(prompt_id.as_str())
        .bind(environment.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)
}

/// Records `last` as the last number handed out (the numbering is locked by this transaction).
async fn set_numbering(
    tx: &mut AnyConnection,
    prompt_id: &PromptId,
    environment: &Environment,
    last: i64,
) -> Result<(), StoreError> {
    sqlx::query(q::SET_NUMBERING)
        .bind(prompt_id.as_str())
        .bind(environment.as_str())
        .bind(last)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// One live version (`None` when absent or trashed).
pub(crate) async fn one_version(
    conn: &mut AnyConnection,
    prompt_id: &PromptId,
    environment: &Environment,
    version: Version,
) -> Result<Option<PromptRecord>, StoreError> {
    sqlx::query(q::SELECT_ONE_VERSION)
        .bind(prompt_id.as_str())
        .bind(environment.as_str())
        .bind(i64::from(version))
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(prompt_row)
        .transpose()
        .map_err(map_err)
}

/// A derived version must be for the prompt and environment whose numbering was taken.
fn same_target(
    prompt_id: &PromptId,
    environment: &Environment,
    new: &NewVersion,
) -> Result<(), StoreError> {
    if new.prompt_id == *prompt_id && new.environment == *environment {
        return Ok(());
    }
    Err(StoreError::internal(
        format!(
            "a derived version for {prompt_id}/{environment} was built for {}/{}",
            new.prompt_id, new.environment
        ),
        None,
    ))
}

/// The record of `new` as version `version`, whose `litellm_params` serialise to `params`.
fn new_record(new: NewVersion, version: i64, params: &str, now: i64) -> PromptRecord {
    PromptRecord {
        id: uuid::Uuid::new_v4().to_string(),
        prompt_id: new.prompt_id,
        version: u32::try_from(version).unwrap_or(u32::MAX),
        environment: new.environment,
        created_by: new.created_by,
        content_sha256: content_sha256(params),
        litellm_params: promptd_core::JsonObject::from_stored(params),
        prompt_info: promptd_core::JsonObject::from_stored(&json_text(&new.prompt_info)),
        created_at: Some(now),
        updated_at: Some(now),
        source: PromptSource::Db,
        provenance: new.provenance,
    }
}

fn records(rows: &[AnyRow]) -> Result<Vec<PromptRecord>, StoreError> {
    rows.iter()
        .map(prompt_row)
        .collect::<Result<_, _>>()
        .map_err(map_err)
}

fn json_text(m: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".to_owned())
}

/// Runs every operation of an atomic batch in the caller's transaction (see
/// `Store::apply_batch`). `Ok(Err(refusals))` means the caller must roll back: every operation
/// was tried, and these were refused. Events are inserted in the order of `ops`.
pub(crate) async fn apply_batch(
    tx: &mut AnyConnection,
    ops: Vec<BatchOp>,
) -> Result<Result<Vec<BatchOutcome>, Vec<(usize, BoxError)>>, StoreError> {
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut refused: Vec<(usize, BoxError)> = Vec::new();
    let mut events = Vec::with_capacity(ops.len());
    let now = now_ms();
    for (index, op) in ops.into_iter().enumerate() {
        match op {
            BatchOp::Append {
                append,
                skip_unchanged,
            } => match batch_append(tx, append, skip_unchanged, now).await? {
                Ok(outcome) => {
                    if let BatchOutcome::Created(rec) = &outcome {
                        events.push(version_event(rec, rec.provenance.origin));
                    }
                    outcomes.push(outcome);
                }
                Err(e) => refused.push((index, e)),
            },
            BatchOp::Trash {
                prompt_id,
                environment,
                if_match,
                act,
            } => {
                // Keep the ledger in the order of the batch: appends before this trash first.
                insert_events(tx, &events, now).await?;
                events.clear();
                sqlx::query(q::LOCK_COUNTER)
                    .bind(prompt_id.as_str())
                    .bind(environment.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if if_match.is_some() {
                    let current = latest_in_env(tx, &prompt_id, &environment)
                        .await?
                        .map(|r| r.etag());
                    if let Err(e) =
                        PreconditionFailed::check(if_match.as_deref(), &environment, current)
                    {
                        refused.push((index, Box::new(e)));
                        continue;
                    }
                }
                let sel = Selection {
                    prompt_id,
                    environment: Some(environment),
                    version: None,
                };
                outcomes.push(BatchOutcome::Trashed(trash(tx, &sel, &act, None).await?));
            }
        }
    }
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    insert_events(tx, &events, now).await?;
    Ok(Ok(outcomes))
}

async fn latest_in_env(
    tx: &mut AnyConnection,
    prompt_id: &PromptId,
    environment: &Environment,
) -> Result<Option<PromptRecord>, StoreError> {
    sqlx::query(q::SELECT_LATEST_IN_ENV)
        .bind(prompt_id.as_str())
        .bind(environment.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(prompt_row)
        .transpose()
        .map_err(map_err)
}

/// One append of an atomic batch: `Ok(Err(_))` is a refusal (it took no number).
async fn batch_append(
    tx: &mut AnyConnection,
    item: Append,
    skip_unchanged: bool,
    now: i64,
) -> Result<Result<BatchOutcome, BoxError>, StoreError> {
    let (prompt_id, environment) = (&item.prompt_id, &item.environment);
    let last = lock_numbering(tx, prompt_id, environment).await?;
    let latest = latest_in_env(tx, prompt_id, environment).await?;
    let base = match item.base {
        None => None,
        Some(None) => latest.clone(),
        Some(Some(v)) => one_version(tx, prompt_id, environment, v).await?,
    };
    let new = match (item.derive)(base.as_ref()) {
        Ok(new) => new,
        Err(e) => return Ok(Err(e)),
    };
    let current = latest.as_ref().map(PromptRecord::etag);
    if let Err(e) = PreconditionFailed::check(item.if_match.as_deref(), environment, current) {
        return Ok(Err(Box::new(e)));
    }
    same_target(prompt_id, environment, &new)?;
    let params = json_text(&new.litellm_params);
    let hash = content_sha256(&params);
    if skip_unchanged && let Some(latest) = latest.filter(|l| l.content_sha256 == hash) {
        return Ok(Ok(BatchOutcome::Unchanged(latest)));
    }
    set_numbering(tx, prompt_id, environment, last + 1).await?;
    let rec = new_record(new, last + 1, &params, now);
    insert_versions(tx, std::iter::once(&rec), now).await?;
    Ok(Ok(BatchOutcome::Created(rec)))
}
