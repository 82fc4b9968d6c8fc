//! One conformance story for every backend: SQLite always, PostgreSQL when
//! `PROMPTD_TEST_POSTGRES_URL` is set (each test creates and drops its own database).

use std::sync::Arc;

use promptd_core::{
    Act, Append, BatchError, BatchOp, BatchOutcome, Environment, EventQuery, KeyRecord, Kind,
    NewVersion, PromptId, Provenance, Role, Selection, Store, StoreError,
};
use promptd_store::{SqlStore, StoreOptions};
use serde_json::{Map, json};

/// A store on a fresh database, and what to clean up afterwards.
struct Fresh {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
    drop_db: Option<(String, String)>,
}

impl Fresh {
    async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.drop_db {
            let admin = SqlStore::connect(&admin_url, &StoreOptions::default())
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(admin.pool())
            .await
            .unwrap();
            admin.close().await;
        }
    }
}

async fn sqlite() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Fresh {
        store,
        _dir: Some(dir),
        drop_db: None,
    }
}

/// A fresh PostgreSQL database, or `None` (with a note) when no server is configured.
async fn postgres() -> Option<Fresh> {
    let Ok(admin_url) = std::env::var("PROMPTD_TEST_POSTGRES_URL") else {
        // The real stderr, not `eprintln!` (which the test harness captures), so a skip shows.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED (PostgreSQL): set PROMPTD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run\n",
        );
        return None;
    };
    let name = format!("promptd_test_{}", uuid::Uuid::new_v4().simple());
    let admin = SqlStore::connect(&admin_url, &StoreOptions::default())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(admin.pool())
        .await
        .unwrap();
    admin.close().await;
    let url = match admin_url.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{name}"),
        None => panic!("PROMPTD_TEST_POSTGRES_URL must end in /DATABASE"),
    };
    let store = SqlStore::connect(
        &url,
        &StoreOptions {
            max_connections: 16,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    Some(Fresh {
        store,
        _dir: None,
        drop_db: Some((admin_url, name)),
    })
}

fn new_version(id: &str, env: &str, content: &str) -> NewVersion {
    let params: Map<String, serde_json::Value> = serde_json::from_value(
        json!({"prompt_integration": "dotprompt", "dotprompt_content": content}),
    )
    .unwrap();
    let info: Map<String, serde_json::Value> =
        serde_json::from_value(json!({"prompt_type": "db", "environment": env})).unwrap();
    NewVersion {
        prompt_id: PromptId::from_trusted(id),
        environment: Environment::from_trusted(env),
        created_by: Some("tester".into()),
        litellm_params: params,
        prompt_info: info,
        provenance: Provenance::new(Kind::Update)
            .with_actor(Some("tester".into()))
            .with_message(Some(format!("set {content}"))),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test] async fn $name() { let f = super::sqlite().await; super::$name(&f.store).await; f.cleanup().await; })*
        }
        mod postgres_backend {
            $(#[tokio::test] async fn $name() { if let Some(f) = super::postgres().await { super::$name(&f.store).await; f.cleanup().await; } })*
        }
    };
}

conformance!(
    versions_are_numbered_per_prompt_and_environment,
    records_round_trip_with_their_json_and_authors,
    concurrent_appends_get_consecutive_versions,
    deleting_moves_to_the_trash_keeps_numbers_taken_and_purging_resets_them,
    every_event_records_its_version_hash_actor_and_message,
    a_batch_commits_every_append_with_its_own_number_and_event_and_skips_a_rejected_one,
    if_match_on_an_append_refuses_when_the_environment_moved_on,
    derived_appends_in_one_batch_each_build_on_the_one_before,
    a_check_sees_the_live_versions_and_a_refusal_trashes_nothing,
    the_trash_retention_purges_only_versions_deleted_before_the_cutoff,
    event_numbers_follow_commit_order_under_concurrent_writers,
    an_imported_version_keeps_its_number_and_records_an_import_event,
    keys_are_stored_listed_and_deleted_by_token,
    a_duplicate_key_alias_is_a_conflict,
    migrating_twice_is_harmless_and_the_schema_is_up_to_date,
    a_derived_append_reads_its_base_in_the_writing_transaction,
    concurrent_derived_appends_each_build_on_the_previous_one,
    a_rejected_derivation_writes_nothing_and_takes_no_number,
    an_atomic_batch_with_bad_items_among_1000_writes_nothing_and_names_every_bad_one,
    an_atomic_batch_skips_unchanged_content_and_trashes_with_events_in_batch_order,
    an_atomic_batch_checks_if_match_per_item_inside_the_transaction,
    a_snapshot_holds_every_row_and_restores_identically_into_an_empty_database,
);

async fn versions_are_numbered_per_prompt_and_environment(s: &SqlStore) {
    assert_eq!(
        s.append_version(new_version("a", "development", "1"))
            .await
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        s.append_version(new_version("a", "development", "2"))
            .await
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        s.append_version(new_version("a", "production", "p"))
            .await
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        s.append_version(new_version("b", "development", "b"))
            .await
            .unwrap()
            .version,
        1
    );
    let all = s.all_versions().await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        s.prompt_versions(&PromptId::from_trusted("a"))
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn records_round_trip_with_their_json_and_authors(s: &SqlStore) {
    let written = s
        .append_version(new_version("a", "staging", "hello {{x}}"))
        .await
        .unwrap();
    let read = s
        .prompt_versions(&PromptId::from_trusted("a"))
        .await
        .unwrap();
    assert_eq!(read, vec![written.clone()]);
    assert_eq!(read[0].created_by.as_deref(), Some("tester"));
    let params = read[0].litellm_params.to_map();
    assert_eq!(params["dotprompt_content"], "hello {{x}}");
    let keys: Vec<&String> = params.keys().collect();
    assert_eq!(
        keys,
        ["prompt_integration", "dotprompt_content"],
        "JSON key order survives"
    );
}

async fn concurrent_appends_get_consecutive_versions(s: &SqlStore) {
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..32 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            st.append_version(new_version("busy", "development", &i.to_string()))
                .await
        }));
    }
    let mut versions: Vec<u32> = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().unwrap().version);
    }
    versions.sort();
    assert_eq!(versions, (1..=32).collect::<Vec<u32>>());
}

fn sel(id: &str, env: Option<&str>, version: Option<u32>) -> Selection {
    Selection {
        prompt_id: PromptId::from_trusted(id),
        environment: env.map(Environment::from_trusted),
        version,
    }
}

fn act(message: &str) -> Act {
    Act {
        actor: Some("tester".into()),
        message: Some(message.into()),
    }
}

async fn kinds_of(s: &SqlStore, id: &str) -> Vec<(Kind, Option<u32>)> {
    s.events(&EventQuery {
        prompt_id: Some(PromptId::from_trusted(id)),
        before: None,
        after: None,
        newest_first: false,
        limit: 1000,
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| (e.kind, e.version))
    .collect()
}

async fn deleting_moves_to_the_trash_keeps_numbers_taken_and_purging_resets_them(s: &SqlStore) {
    let id = PromptId::from_trusted("d");
    for _ in 0..3 {
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap();
    }
    let gone = s
        .trash_versions(&sel("d", Some("development"), Some(3)), &act("bye"), None)
        .await
        .unwrap();
    assert_eq!(gone.iter().map(|r| r.version).collect::<Vec<_>>(), [3]);
    assert_eq!(
        s.prompt_versions(&id).await.unwrap().len(),
        2,
        "reads skip the trash"
    );
    assert_eq!(
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap()
            .version,
        4,
        "a trashed number is not reused"
    );
    let nothing = s
        .trash_versions(&sel("d", Some("development"), Some(9)), &act(""), None)
        .await
        .unwrap();
    assert!(nothing.is_empty());
    assert_eq!(
        s.trash_versions(&sel("d", None, None), &act("all"), None)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(s.prompt_versions(&id).await.unwrap().is_empty());
    let trash = s.trash(Some(&id)).await.unwrap();
    assert_eq!(trash.len(), 4);
    assert!(
        trash
            .iter()
            .all(|t| t.deleted_by.as_deref() == Some("tester"))
    );
    assert_eq!(
        s.append_version(new_version("d", "development", "y"))
            .await
            .unwrap()
            .version,
        5,
        "numbers continue while versions sit in the trash"
    );
    // Restore one version, then the rest: original numbers come back.
    let back = s
        .restore_versions(&sel("d", Some("development"), Some(3)), &act("oops"), None)
        .await
        .unwrap();
    assert_eq!(back.iter().map(|r| r.version).collect::<Vec<_>>(), [3]);
    let back = s
        .restore_versions(&sel("d", None, None), &act("all back"), None)
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|r| r.version).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    assert_eq!(
        s.prompt_versions(&id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(s.trash(Some(&id)).await.unwrap().is_empty());
    // Purge destroys everything (live and trashed) and forgets the numbering.
    s.trash_versions(&sel("d", Some("development"), Some(5)), &act(""), None)
        .await
        .unwrap();
    let purged = s
        .purge_versions(&sel("d", None, None), &act("gone"))
        .await
        .unwrap();
    assert_eq!(purged.len(), 5);
    assert!(s.trash(Some(&id)).await.unwrap().is_empty());
    assert_eq!(
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap()
            .version,
        1
    );
    let kinds: Vec<Kind> = kinds_of(s, "d").await.into_iter().map(|k| k.0).collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            Update, Update, Update, Delete, Update, Delete, Delete, Delete, Update, Restore,
            Restore, Restore, Restore, Delete, Purge, Purge, Purge, Purge, Purge, Update
        ]
    );
}

async fn every_event_records_its_version_hash_actor_and_message(s: &SqlStore) {
    let rec = s
        .append_version(new_version("e", "staging", "hello"))
        .await
        .unwrap();
    assert_eq!(
        rec.content_sha256,
        promptd_core::content_sha256(rec.litellm_params.as_str())
    );
    assert_eq!(rec.provenance.message.as_deref(), Some("set hello"));
    let read = &s.prompt_versions(&rec.prompt_id).await.unwrap()[0];
    assert_eq!(read, &rec, "provenance and hash round-trip");
    let events = s
        .events(&EventQuery {
            prompt_id: Some(rec.prompt_id.clone()),
            before: None,
            after: None,
            newest_first: true,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.kind, Kind::Update);
    assert_eq!(
        e.environment.as_ref().map(Environment::as_str),
        Some("staging")
    );
    assert_eq!(e.version, Some(1));
    assert_eq!(e.actor.as_deref(), Some("tester"));
    assert_eq!(e.message.as_deref(), Some("set hello"));
    assert_eq!(
        e.content_sha256.as_deref(),
        Some(rec.content_sha256.as_str())
    );
}

async fn a_batch_commits_every_append_with_its_own_number_and_event_and_skips_a_rejected_one(
    s: &SqlStore,
) {
    let mut batch = Vec::new();
    for i in 0..10 {
        if i == 4 {
            batch.push(Append {
                prompt_id: PromptId::from_trusted("g"),
                environment: Environment::from_trusted("development"),
                base: Some(None),
                if_match: None,
                derive: Box::new(|_| Err("refused".into())),
            });
        } else {
            batch.push(Append::plain(new_version(
                "g",
                "development",
                &i.to_string(),
            )));
        }
    }
    batch.push(Append::plain(new_version(
        "h",
        "production",
        "other prompt",
    )));
    let results = s.append_batch(batch).await;
    assert_eq!(results.len(), 11);
    assert!(matches!(results[4], Err(StoreError::Rejected(_))));
    let versions: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| r.prompt_id.as_str() == "g")
        .map(|r| r.version)
        .collect();
    assert_eq!(
        versions,
        (1..=9).collect::<Vec<u32>>(),
        "no gap where the rejected one was"
    );
    assert_eq!(kinds_of(s, "g").await.len(), 9);
    assert_eq!(kinds_of(s, "h").await, [(Kind::Update, Some(1))]);
}

async fn derived_appends_in_one_batch_each_build_on_the_one_before(s: &SqlStore) {
    s.append_version(new_version("chain", "development", "base"))
        .await
        .unwrap();
    let derived = |suffix: &'static str, base: Option<u32>| Append {
        prompt_id: PromptId::from_trusted("chain"),
        environment: Environment::from_trusted("development"),
        base: Some(base),
        if_match: None,
        derive: append_to_base("chain", suffix.to_owned()),
    };
    let results = s
        .append_batch(vec![
            derived("+a", None),
            derived("+b", None),
            derived("+pinned2", Some(2)),
            derived("+c", None),
        ])
        .await;
    let got: Vec<(u32, String)> = results
        .into_iter()
        .map(|r| r.unwrap())
        .map(|r| (r.version, content(&r)))
        .collect();
    assert_eq!(
        got,
        [
            (2, "base+a".to_owned()),
            (3, "base+a+b".to_owned()),
            (4, "base+a+pinned2".to_owned()),
            (5, "base+a+pinned2+c".to_owned()),
        ]
    );
    // What was committed is what the batch answered.
    let stored: Vec<String> = s
        .prompt_versions(&PromptId::from_trusted("chain"))
        .await
        .unwrap()
        .iter()
        .map(content)
        .collect();
    assert_eq!(stored.last().map(String::as_str), Some("base+a+pinned2+c"));
}

async fn if_match_on_an_append_refuses_when_the_environment_moved_on(s: &SqlStore) {
    let v1 = s
        .append_version(new_version("m", "production", "one"))
        .await
        .unwrap();
    let tag1 = v1.etag();
    let with_tag = |tag: String, content: &'static str| Append {
        if_match: Some(tag),
        ..Append::plain(new_version("m", "production", content))
    };
    let ok = s.append_batch(vec![with_tag(tag1.clone(), "two")]).await;
    let v2 = ok.into_iter().next().unwrap().unwrap();
    assert_eq!(v2.version, 2);
    let stale = s.append_batch(vec![with_tag(tag1, "three")]).await;
    match stale.into_iter().next().unwrap() {
        Err(StoreError::Rejected(e)) => {
            let p = e.downcast::<promptd_core::PreconditionFailed>().unwrap();
            assert_eq!(p.current, Some(v2.etag()));
        }
        other => panic!("expected a failed precondition, got {other:?}"),
    }
    assert_eq!(
        s.append_version(new_version("m", "production", "four"))
            .await
            .unwrap()
            .version,
        3,
        "the refused write took no number"
    );
}

async fn a_check_sees_the_live_versions_and_a_refusal_trashes_nothing(s: &SqlStore) {
    s.append_version(new_version("c", "development", "x"))
        .await
        .unwrap();
    let refused = s
        .trash_versions(
            &sel("c", None, None),
            &act(""),
            Some(Box::new(|live| {
                assert_eq!(live.len(), 1);
                Err("no".into())
            })),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Rejected(_))));
    assert_eq!(
        s.prompt_versions(&PromptId::from_trusted("c"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        kinds_of(s, "c").await.len(),
        1,
        "no event for a refused change"
    );
}

async fn the_trash_retention_purges_only_versions_deleted_before_the_cutoff(s: &SqlStore) {
    for id in ["old", "new"] {
        s.append_version(new_version(id, "development", "x"))
            .await
            .unwrap();
    }
    s.trash_versions(&sel("old", None, None), &act(""), None)
        .await
        .unwrap();
    let cutoff = promptd_core::time_fmt::now_ms() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.trash_versions(&sel("new", None, None), &act(""), None)
        .await
        .unwrap();
    let touched = s.purge_trashed_before(cutoff).await.unwrap();
    assert_eq!(touched, [PromptId::from_trusted("old")]);
    assert_eq!(s.trash(None).await.unwrap().len(), 1);
    let last = kinds_of(s, "old").await;
    assert_eq!(last.last(), Some(&(Kind::Purge, Some(1))));
}

async fn event_numbers_follow_commit_order_under_concurrent_writers(s: &SqlStore) {
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..32 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            st.append_version(new_version(&format!("p{}", i % 4), "development", "x"))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let events = s
        .events(&EventQuery {
            prompt_id: None,
            before: None,
            after: None,
            newest_first: false,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=32).collect::<Vec<i64>>(),
        "one event per write, numbered without gaps"
    );
    // Paging from a cursor returns exactly the rest.
    let rest = s
        .events(&EventQuery {
            prompt_id: None,
            before: None,
            after: Some(20),
            newest_first: false,
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 12);
}

async fn an_imported_version_keeps_its_number_and_records_an_import_event(s: &SqlStore) {
    let mut rec = s
        .append_version(new_version("src", "development", "x"))
        .await
        .unwrap();
    rec.prompt_id = PromptId::from_trusted("imp");
    rec.id = "row-imp".into();
    rec.version = 7;
    assert!(s.import_version(&rec).await.unwrap());
    assert!(
        !s.import_version(&rec).await.unwrap(),
        "second import is a no-op"
    );
    assert_eq!(kinds_of(s, "imp").await, [(Kind::Import, Some(7))]);
    assert_eq!(
        s.append_version(new_version("imp", "development", "y"))
            .await
            .unwrap()
            .version,
        8
    );
}

fn key(token: &str, alias: Option<&str>) -> KeyRecord {
    KeyRecord {
        token: token.into(),
        key_name: "sk-...abcd".into(),
        key_alias: alias.map(Into::into),
        user_id: Some("u".into()),
        user_role: Role::InternalUser,
        metadata: serde_json::from_value(json!({"prompts": ["a"]})).unwrap(),
        expires_at: None,
        created_at: 1,
        created_by: None,
    }
}

async fn keys_are_stored_listed_and_deleted_by_token(s: &SqlStore) {
    s.insert_key(&key("t1", Some("one"))).await.unwrap();
    s.insert_key(&key("t2", None)).await.unwrap();
    s.insert_key(&key("t3", None)).await.unwrap();
    assert_eq!(s.all_keys().await.unwrap().len(), 3);
    assert_eq!(s.all_keys().await.unwrap()[0], key("t1", Some("one")));
    let gone = s.delete_keys(&["t1".into(), "nope".into()]).await.unwrap();
    assert_eq!(gone, vec!["t1".to_string()]);
    assert_eq!(s.all_keys().await.unwrap().len(), 2);
}

async fn a_duplicate_key_alias_is_a_conflict(s: &SqlStore) {
    s.insert_key(&key("t1", Some("same"))).await.unwrap();
    match s.insert_key(&key("t2", Some("same"))).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("same"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn migrating_twice_is_harmless_and_the_schema_is_up_to_date(s: &SqlStore) {
    s.migrate().await.unwrap();
    assert_eq!(
        s.schema_status().await.unwrap(),
        promptd_store::SchemaStatus::UpToDate
    );
    s.ping().await.unwrap();
}

/// A derivation that appends `suffix` to the base's content (or starts from "base").
fn append_to_base(id: &'static str, suffix: String) -> promptd_core::Derive {
    Box::new(move |base| {
        let prev = base
            .map(|b| {
                b.litellm_params.to_map()["dotprompt_content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_else(|| "base".to_owned());
        Ok(new_version(id, "development", &format!("{prev}{suffix}")))
    })
}

fn content(r: &promptd_core::PromptRecord) -> String {
    r.litellm_params.to_map()["dotprompt_content"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_derived_append_reads_its_base_in_the_writing_transaction(s: &SqlStore) {
    let id = PromptId::from_trusted("r");
    let dev = Environment::from_trusted("development");
    let first = s
        .append_derived(&id, &dev, None, append_to_base("r", "+1".into()))
        .await
        .unwrap();
    assert_eq!((first.version, content(&first)), (1, "base+1".to_owned()));
    s.append_derived(&id, &dev, None, append_to_base("r", "+2".into()))
        .await
        .unwrap();
    // A pinned base: version 1, not the latest.
    let pinned = s
        .append_derived(&id, &dev, Some(1), append_to_base("r", "+3".into()))
        .await
        .unwrap();
    assert_eq!(
        (pinned.version, content(&pinned)),
        (3, "base+1+3".to_owned())
    );
    // A base that does not exist is given as None.
    let missing = s
        .append_derived(
            &id,
            &dev,
            Some(99),
            Box::new(|base| {
                assert!(base.is_none());
                Ok(new_version("r", "development", "fresh"))
            }),
        )
        .await
        .unwrap();
    assert_eq!(missing.version, 4);
}

async fn concurrent_derived_appends_each_build_on_the_previous_one(s: &SqlStore) {
    let store = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            st.append_derived(
                &PromptId::from_trusted("chain"),
                &Environment::from_trusted("development"),
                None,
                append_to_base("chain", format!("|{i}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let all = s
        .prompt_versions(&PromptId::from_trusted("chain"))
        .await
        .unwrap();
    let latest = all.iter().max_by_key(|r| r.version).unwrap();
    assert_eq!(latest.version, 16);
    // Every one of the 16 changes is in the latest version: none was built on a stale base.
    let text = content(latest);
    for i in 0..16 {
        assert!(
            text.contains(&format!("|{i}|")) || text.ends_with(&format!("|{i}")),
            "{i} lost: {text}"
        );
    }
}

async fn a_rejected_derivation_writes_nothing_and_takes_no_number(s: &SqlStore) {
    let id = PromptId::from_trusted("x");
    let dev = Environment::from_trusted("development");
    s.append_version(new_version("x", "development", "one"))
        .await
        .unwrap();
    let err = s
        .append_derived(&id, &dev, None, Box::new(|_| Err("no thanks".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected(e) if e.to_string() == "no thanks"),
        "{err:?}"
    );
    assert_eq!(s.prompt_versions(&id).await.unwrap().len(), 1);
    let next = s
        .append_version(new_version("x", "development", "two"))
        .await
        .unwrap();
    assert_eq!(next.version, 2);
}

fn batch_append(id: &str, env: &str, content: &str) -> BatchOp {
    BatchOp::Append {
        append: Append {
            base: Some(None),
            ..Append::plain(new_version(id, env, content))
        },
        skip_unchanged: true,
    }
}

async fn an_atomic_batch_with_bad_items_among_1000_writes_nothing_and_names_every_bad_one(
    s: &SqlStore,
) {
    s.append_version(new_version("p0", "development", "before"))
        .await
        .unwrap();
    let events_before = s.events(&all_events()).await.unwrap().len();
    let mut ops: Vec<BatchOp> = (0..1000)
        .map(|i| batch_append(&format!("p{i}"), "development", &format!("c{i}")))
        .collect();
    for bad in [500, 777] {
        ops[bad] = BatchOp::Append {
            append: Append {
                base: Some(None),
                derive: Box::new(move |_| Err(format!("item {bad} is bad").into())),
                ..Append::plain(new_version("bad", "development", "x"))
            },
            skip_unchanged: true,
        };
    }
    match s.apply_batch(ops).await {
        Err(BatchError::Refused(refused)) => {
            let named: Vec<(usize, String)> =
                refused.iter().map(|(i, e)| (*i, e.to_string())).collect();
            assert_eq!(
                named,
                [
                    (500, "item 500 is bad".to_owned()),
                    (777, "item 777 is bad".to_owned())
                ]
            );
        }
        other => panic!("expected the batch to be refused, got {other:?}"),
    }
    let all = s.all_versions().await.unwrap();
    assert_eq!(all.len(), 1, "only the version written before the batch");
    assert_eq!(s.events(&all_events()).await.unwrap().len(), events_before);
    let next = s
        .append_version(new_version("p1", "development", "after"))
        .await
        .unwrap();
    assert_eq!(next.version, 1, "the refused batch took no number");
}

fn all_events() -> EventQuery {
    EventQuery {
        prompt_id: None,
        before: None,
        after: None,
        newest_first: false,
        limit: 100_000,
    }
}

async fn an_atomic_batch_skips_unchanged_content_and_trashes_with_events_in_batch_order(
    s: &SqlStore,
) {
    let a1 = s
        .append_version(new_version("a", "staging", "same"))
        .await
        .unwrap();
    s.append_version(new_version("gone", "staging", "old"))
        .await
        .unwrap();
    let before = s.events(&all_events()).await.unwrap().len();
    let out = s
        .apply_batch(vec![
            batch_append("a", "staging", "same"),
            batch_append("b", "staging", "new"),
            BatchOp::Trash {
                prompt_id: PromptId::from_trusted("gone"),
                environment: Environment::from_trusted("staging"),
                if_match: None,
                act: Act {
                    actor: Some("ci".into()),
                    message: Some("pruned".into()),
                },
            },
            batch_append("a", "production", "same"),
        ])
        .await
        .unwrap();
    assert_eq!(out[0], BatchOutcome::Unchanged(a1.clone()));
    let BatchOutcome::Created(b) = &out[1] else {
        panic!("b must be created: {out:?}")
    };
    assert_eq!(b.version, 1);
    let BatchOutcome::Trashed(gone) = &out[2] else {
        panic!("gone must be trashed: {out:?}")
    };
    assert_eq!(gone.len(), 1);
    assert!(
        matches!(&out[3], BatchOutcome::Created(r) if r.version == 1 && r.content_sha256 == a1.content_sha256)
    );
    let events = s.events(&all_events()).await.unwrap();
    let new: Vec<(String, Kind)> = events[before..]
        .iter()
        .map(|e| (e.prompt_id.to_string(), e.kind))
        .collect();
    assert_eq!(
        new,
        [
            ("b".to_owned(), Kind::Update),
            ("gone".to_owned(), Kind::Delete),
            ("a".to_owned(), Kind::Update)
        ],
        "one event per change, in the order of the batch"
    );
    assert_eq!(events.last().unwrap().message.as_deref(), Some("set same"));
    assert_eq!(s.trash(None).await.unwrap().len(), 1);
    let next = s
        .append_version(new_version("a", "staging", "changed"))
        .await
        .unwrap();
    assert_eq!(next.version, 2, "an unchanged item took no number");
}

async fn an_atomic_batch_checks_if_match_per_item_inside_the_transaction(s: &SqlStore) {
    let v1 = s
        .append_version(new_version("m", "production", "one"))
        .await
        .unwrap();
    let stale = "\"production.v9.0000000000000000\"".to_owned();
    let with_tag = |tag: String, content: &str| BatchOp::Append {
        append: Append {
            if_match: Some(tag),
            base: Some(None),
            ..Append::plain(new_version("m", "production", content))
        },
        skip_unchanged: true,
    };
    let trash_with = |tag: String| BatchOp::Trash {
        prompt_id: PromptId::from_trusted("m"),
        environment: Environment::from_trusted("production"),
        if_match: Some(tag),
        act: Act::default(),
    };
    match s
        .apply_batch(vec![with_tag(v1.etag(), "two"), trash_with(stale.clone())])
        .await
    {
        Err(BatchError::Refused(r)) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].0, 1);
            let p = r[0]
                .1
                .downcast_ref::<promptd_core::PreconditionFailed>()
                .unwrap();
            // Inside the transaction the first item already wrote v2.
            assert!(
                p.current
                    .as_deref()
                    .unwrap()
                    .starts_with("\"production.v2."),
                "{p:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(s.all_versions().await.unwrap(), vec![v1.clone()]);
    let out = s
        .apply_batch(vec![with_tag(v1.etag(), "two")])
        .await
        .unwrap();
    assert!(matches!(&out[0], BatchOutcome::Created(r) if r.version == 2));
}

async fn a_snapshot_holds_every_row_and_restores_identically_into_an_empty_database(s: &SqlStore) {
    fill_for_backup(s).await;
    let snap = s.snapshot().await.unwrap();
    assert_eq!(snap.versions.len(), 4, "live and trashed versions");
    assert!(snap.versions.iter().any(|v| v.deleted_at.is_some()));
    assert_eq!(snap.keys.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.jsonl.gz");
    let written = promptd_store::backup::write_backup(&snap, &file).unwrap();
    assert_eq!(written.counts, snap.counts());
    let back = promptd_store::backup::read_backup(&file).unwrap();
    assert_eq!(back, snap);
    let target = sqlite().await;
    target.store.restore_snapshot(&back, false).await.unwrap();
    assert_same_answers(s, &target.store).await;
    let again = target
        .store
        .restore_snapshot(&back, false)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("--force"), "{again}");
    target.store.restore_snapshot(&back, true).await.unwrap();
    assert_same_answers(s, &target.store).await;
    assert_same_numbering_next(s, &target.store).await;
    target.cleanup().await;
}

/// A bit of everything: versions in two environments, a trashed one, a purged number, a key.
async fn fill_for_backup(s: &SqlStore) {
    for (id, env, c) in [
        ("a", "development", "1"),
        ("a", "development", "2"),
        ("a", "production", "p"),
        ("b", "staging", "b"),
        ("c", "staging", "c"),
    ] {
        s.append_version(new_version(id, env, c)).await.unwrap();
    }
    let sel = |id: &str, env: &str| Selection {
        prompt_id: PromptId::from_trusted(id),
        environment: Some(Environment::from_trusted(env)),
        version: None,
    };
    s.trash_versions(&sel("b", "staging"), &Act::default(), None)
        .await
        .unwrap();
    s.purge_versions(&sel("c", "staging"), &Act::default())
        .await
        .unwrap();
    s.insert_key(&KeyRecord {
        token: "ab".repeat(32),
        key_name: "sk-...abcd".into(),
        key_alias: Some("ci".into()),
        user_id: None,
        user_role: Role::ProxyAdmin,
        metadata: Map::new(),
        expires_at: None,
        created_at: 1,
        created_by: None,
    })
    .await
    .unwrap();
}

/// Every read promptd answers from a store is the same on both.
async fn assert_same_answers(a: &SqlStore, b: &SqlStore) {
    assert_eq!(
        a.all_versions().await.unwrap(),
        b.all_versions().await.unwrap()
    );
    assert_eq!(a.trash(None).await.unwrap(), b.trash(None).await.unwrap());
    assert_eq!(
        a.events(&all_events()).await.unwrap(),
        b.events(&all_events()).await.unwrap()
    );
    assert_eq!(a.all_keys().await.unwrap(), b.all_keys().await.unwrap());
    let mut sa = a.snapshot().await.unwrap();
    let mut sb = b.snapshot().await.unwrap();
    sa.header = sb.header.clone();
    sb.header.source_backend = sa.header.source_backend.clone();
    assert_eq!(sa, sb, "every row, counter and the ledger counter");
}

/// The next writes continue the same numbering on both (changes both).
async fn assert_same_numbering_next(a: &SqlStore, b: &SqlStore) {
    let na = a
        .append_version(new_version("a", "development", "3"))
        .await
        .unwrap();
    let nb = b
        .append_version(new_version("a", "development", "3"))
        .await
        .unwrap();
    assert_eq!(na.version, nb.version);
    let la = a.events(&all_events()).await.unwrap();
    let lb = b.events(&all_events()).await.unwrap();
    assert_eq!(la.last().unwrap().seq, lb.last().unwrap().seq);
}

#[tokio::test]
async fn a_postgresql_snapshot_restores_into_sqlite_and_a_sqlite_one_into_postgresql() {
    let Some(pg) = postgres().await else { return };
    let lite = sqlite().await;
    fill_for_backup(&lite.store).await;
    let snap = lite.store.snapshot().await.unwrap();
    pg.store.restore_snapshot(&snap, false).await.unwrap();
    assert_same_answers(&lite.store, &pg.store).await;
    let back = pg.store.snapshot().await.unwrap();
    let lite2 = sqlite().await;
    lite2.store.restore_snapshot(&back, false).await.unwrap();
    assert_same_answers(&pg.store, &lite2.store).await;
    assert_same_numbering_next(&pg.store, &lite2.store).await;
    lite2.cleanup().await;
    lite.cleanup().await;
    pg.cleanup().await;
}

#[tokio::test]
async fn a_damaged_or_cut_off_backup_is_refused_before_anything_is_written() {
    let lite = sqlite().await;
    fill_for_backup(&lite.store).await;
    let snap = lite.store.snapshot().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.gz");
    promptd_store::backup::write_backup(&snap, &file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = promptd_store::backup::read_backup(&cut).unwrap_err();
    assert!(e.to_string().contains("take a new backup"), "{e}");
    // A line changed inside a well-formed file: the checksum catches it.
    let text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let altered = text.replacen("\"last_seq\":", "\"last_seq\":1", 1);
    assert_ne!(altered, text);
    let alt = dir.path().join("alt.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, altered.as_bytes()).unwrap();
    std::fs::write(&alt, enc.finish().unwrap()).unwrap();
    let e = promptd_store::backup::read_backup(&alt).unwrap_err();
    assert!(e.to_string().contains("checksum does not match"), "{e}");
    lite.cleanup().await;
}
