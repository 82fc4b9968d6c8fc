//! One conformance story for every backend: SQLite always, PostgreSQL when
//! `PROMPTD_TEST_POSTGRES_URL` is set (each test creates and drops its own database).

use std::sync::Arc;

use promptd_core::{Environment, KeyRecord, NewVersion, PromptId, Role, Store, StoreError};
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
    deleting_one_version_keeps_the_numbering_and_deleting_all_resets_it,
    keys_are_stored_listed_and_deleted_by_token,
    a_duplicate_key_alias_is_a_conflict,
    migrating_twice_is_harmless_and_the_schema_is_up_to_date,
    a_derived_append_reads_its_base_in_the_writing_transaction,
    concurrent_derived_appends_each_build_on_the_previous_one,
    a_rejected_derivation_writes_nothing_and_takes_no_number,
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

async fn deleting_one_version_keeps_the_numbering_and_deleting_all_resets_it(s: &SqlStore) {
    let id = PromptId::from_trusted("d");
    let dev = Environment::from_trusted("development");
    for _ in 0..3 {
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap();
    }
    assert_eq!(
        s.delete_versions(&id, Some(&dev), Some(3)).await.unwrap(),
        1
    );
    assert_eq!(
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap()
            .version,
        4
    );
    assert_eq!(
        s.delete_versions(&id, Some(&dev), Some(9)).await.unwrap(),
        0
    );
    assert_eq!(s.delete_versions(&id, None, None).await.unwrap(), 3);
    assert!(s.prompt_versions(&id).await.unwrap().is_empty());
    assert_eq!(
        s.append_version(new_version("d", "development", "x"))
            .await
            .unwrap()
            .version,
        1
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
