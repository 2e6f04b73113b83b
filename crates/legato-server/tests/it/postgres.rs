//! The PostgreSQL backend on a throw-away cluster (`pg.rs`): the storage conformance suite,
//! what only this backend must show (the hook after the commit, ordering by the database
//! across two pools, work that outlives its caller, migrations), and a whole server on it.

use std::time::Duration;

use legato_protocol::Operation;
use legato_server::conformance::{change, run_all};
use legato_server::db::{
    ChangeOutcome, Database, DbError, NewToken, NewUser, RECORD_BYTES, UserId,
};
use legato_server::{PostgresDatabase, auth::Token};
use serde_json::json;

use crate::pg::cluster;
use crate::support::{TestServer, create_goal, update_goal};

const NOW: i64 = 1_764_095_400_000;

async fn user(db: &PostgresDatabase, email: &str) -> UserId {
    let id = UserId::generate();
    db.create_user(
        NewUser {
            id: id.clone(),
            email: email.to_owned(),
            password_hash: "$argon2id$placeholder".to_owned(),
            created_at_ms: NOW,
        },
        NewToken {
            hash: Token::generate().hash(),
            user_id: id.clone(),
            device_name: None,
            created_at_ms: NOW,
        },
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn the_conformance_suite_passes_on_postgres() {
    let Some(pg) = cluster("the_conformance_suite_passes_on_postgres") else {
        return;
    };
    run_all(|| {
        let url = pg.database("conformance");
        async move { PostgresDatabase::open(&url).await.unwrap() }
    })
    .await;
}

/// The fan-out hook runs once the data is visible to every other connection: a connection
/// of its own, opened from inside the hook, reads the new seq.
#[tokio::test]
async fn the_commit_hook_runs_after_the_commit() {
    let Some(pg) = cluster("the_commit_hook_runs_after_the_commit") else {
        return;
    };
    let url = pg.database("hook");
    let db = PostgresDatabase::open(&url).await.unwrap();
    let ann = user(&db, "ann@example.com").await;
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let probe = (url.clone(), ann.0.clone());
    db.apply_changes_then(
        &ann,
        vec![change(
            "c1",
            "g1",
            Operation::Create,
            json!({"title": "t"}),
            0,
        )],
        NOW,
        Box::new(move |_| {
            // The hook must not block its caller long; a probe thread for the test only.
            let seq = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let (client, connection) =
                        tokio_postgres::connect(&probe.0, tokio_postgres::NoTls)
                            .await
                            .unwrap();
                    tokio::spawn(connection);
                    let row = client
                        .query_one("SELECT seq FROM users WHERE id = $1", &[&probe.1])
                        .await
                        .unwrap();
                    row.get::<_, i64>(0)
                })
            })
            .join()
            .unwrap();
            seen_tx.send(seq).unwrap();
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        seen_rx.try_recv().unwrap(),
        1,
        "the hook ran before the commit"
    );
}

/// One user's writes through two pools (as two server processes would hold) at once: every
/// seq is given once, in order, each change id is applied exactly once (the other pool's
/// push of it is a duplicate), and the stored bytes count each write once. The user's row
/// lock does it, not this process: the pools share nothing.
#[tokio::test]
async fn one_users_writes_through_two_pools_stay_ordered_and_exactly_once() {
    let Some(pg) = cluster("one_users_writes_through_two_pools_stay_ordered_and_exactly_once")
    else {
        return;
    };
    let url = pg.database("two_pools");
    let (a, b) = (
        PostgresDatabase::open(&url).await.unwrap(),
        PostgresDatabase::open(&url).await.unwrap(),
    );
    let ann = user(&a, "ann@example.com").await;
    let create = |id: String| change(&id, &id, Operation::Create, json!({"title": id}), 0);
    let pushes = |db: PostgresDatabase, own: &'static str| {
        let ann = ann.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for n in 0..30 {
                // Its own change, and one both pools push.
                let batch = vec![create(format!("{own}{n}")), create(format!("both{n}"))];
                let answers = db.apply_changes(&ann, batch.clone(), NOW).await.unwrap();
                outcomes.extend(batch.into_iter().zip(answers));
            }
            outcomes
        })
    };
    let (from_a, from_b) = tokio::join!(pushes(a.clone(), "a"), pushes(b.clone(), "b"));
    let mut applied = std::collections::BTreeMap::new();
    let mut duplicates = 0;
    for (sent, outcome) in from_a.unwrap().into_iter().chain(from_b.unwrap()) {
        match outcome {
            ChangeOutcome::Applied { seq, .. } => {
                assert!(
                    applied.insert(seq, sent.change_id.clone()).is_none(),
                    "seq {seq} given twice"
                );
            }
            ChangeOutcome::Duplicate { .. } => {
                assert!(sent.change_id.starts_with("both"), "{}", sent.change_id);
                duplicates += 1;
            }
            other => panic!("{}: {other:?}", sent.change_id),
        }
    }
    assert_eq!(duplicates, 30, "each shared change id applied once");
    assert_eq!(
        applied.keys().copied().collect::<Vec<_>>(),
        (1..=90).collect::<Vec<u64>>(),
        "seqs 1..=90, each once"
    );
    let page = b.changes_since(&ann, &[], 0, 1000).await.unwrap();
    assert_eq!((page.changes.len(), page.latest_seq), (90, 90));
    // Each entity as stored once: its state, and its record's touched (the same text) and
    // the record's own bytes.
    let expected: u64 = page
        .changes
        .iter()
        .map(|u| 2 * u.data.get().len() as u64 + RECORD_BYTES as u64)
        .sum();
    assert_eq!(a.stored_bytes(&ann).await.unwrap(), expected);
}

/// An apply whose caller stops waiting (a sender whose connection dropped) still commits
/// and still fans out: the work runs on its own task from the first poll on.
#[tokio::test]
async fn an_apply_outlives_its_caller() {
    let Some(pg) = cluster("an_apply_outlives_its_caller") else {
        return;
    };
    let db = PostgresDatabase::open(&pg.database("outlives"))
        .await
        .unwrap();
    let ann = user(&db, "ann@example.com").await;
    let (hook_tx, hook_rx) = tokio::sync::oneshot::channel();
    let apply = db.apply_changes_then(
        &ann,
        vec![change(
            "c1",
            "g1",
            Operation::Create,
            json!({"title": "t"}),
            0,
        )],
        NOW,
        Box::new(move |outcomes| {
            let _ = hook_tx.send(outcomes.len());
        }),
    );
    // Polled once, then dropped.
    assert!(futures_util::FutureExt::now_or_never(apply).is_none());
    let fanned_out = tokio::time::timeout(Duration::from_secs(10), hook_rx)
        .await
        .expect("the hook ran")
        .unwrap();
    assert_eq!(fanned_out, 1);
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 1);
    // Close waits for work in flight and refuses what comes after.
    db.close().await;
    assert!(matches!(db.health().await, Err(DbError::Closed)));
}

/// Migrations: servers starting at once on a fresh database migrate it once between them
/// (an advisory lock), a restart finds nothing to do, and a schema newer than the server's
/// is refused rather than used.
#[tokio::test]
async fn migrations_run_once_and_refuse_a_newer_schema() {
    let Some(pg) = cluster("migrations_run_once_and_refuse_a_newer_schema") else {
        return;
    };
    let url = pg.database("migrations");
    let opens = (0..4).map(|_| PostgresDatabase::open(&url));
    let dbs: Vec<_> = futures_util::future::join_all(opens)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every concurrent open succeeds");
    assert_eq!(dbs[0].schema_version().await.unwrap(), 2);
    let again = PostgresDatabase::open(&url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), 2);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO legato_schema (version) VALUES (99)", &[])
        .await
        .unwrap();
    let newer = PostgresDatabase::open(&url).await;
    assert!(
        matches!(&newer, Err(DbError::Corrupt(message)) if message.contains("version 99")),
        "{newer:?}"
    );
}

/// Migration 2 (SQLite's 8) on a database of schema 1: stored bytes count every record's
/// `RECORD_BYTES` (pruned or not) and the conflict records' field names; conflict records
/// from before it are unpruned and pruned like any other.
#[tokio::test]
async fn migration_2_counts_kept_records_and_prunes_conflict_records() {
    let Some(pg) = cluster("migration_2_counts_kept_records_and_prunes_conflict_records") else {
        return;
    };
    let url = pg.database("migration_2");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(include_str!(
            "../../src/db/postgres_migrations/0001_initial.sql"
        ))
        .await
        .unwrap();
    client
        .batch_execute(
            r#"CREATE TABLE legato_schema (
                   version    integer NOT NULL PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now()
               );
               INSERT INTO legato_schema (version) VALUES (1);
               INSERT INTO users VALUES ('ann', 'ann@example.com', 'x', 1, 0, 13);
               INSERT INTO entities VALUES ('ann', 'goals', 'g1', '{"title":"A"}', 1,
                   '{"title":1}', false, 1, 'c1', 'dev', 10, 11);
               INSERT INTO changes VALUES ('ann', 'c1', 'goals', 'g1', 'create', 1, 1, '',
                   'dev', 10, 'applied', 11, decode(repeat('00', 32), 'hex'), true);
               INSERT INTO conflicted_changes VALUES ('ann', 'c2',
                   decode(repeat('00', 32), 'hex'), '["title"]', 11);"#,
        )
        .await
        .unwrap();
    let db = PostgresDatabase::open(&url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), 2);
    let ann = UserId("ann".into());
    let record = RECORD_BYTES as u64;
    let fields = r#"["title"]"#.len() as u64;
    assert_eq!(
        db.stored_bytes(&ann).await.unwrap(),
        13 + 2 * record + fields
    );
    let step = db.prune_step(12, 10).await.unwrap();
    assert_eq!(
        (
            step.records,
            step.tombstones,
            step.conflicts,
            step.freed_bytes
        ),
        (0, 0, 1, fields)
    );
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), 13 + 2 * record);
}

/// The whole server on PostgreSQL (`database_url = postgres://...`): register, sign in, the
/// device list, a live update from one device to the other over WebSockets, HTTP batches
/// and pages, a restart.
#[tokio::test]
async fn a_server_runs_on_postgres() {
    let Some(pg) = cluster("a_server_runs_on_postgres") else {
        return;
    };
    let url = pg.database("server");
    let server = TestServer::start_with(|s| s.database_url = url.clone()).await;
    let ann = server.register("ann@example.com").await;
    // A NUL in a device name is dropped (PostgreSQL's text cannot hold one).
    let phone = server.login("ann@example.com", "ph\0one").await;
    let (status, devices) = server
        .call(reqwest::Method::GET, "/api/devices", &phone.token, None)
        .await;
    assert_eq!(status, 200, "{devices}");
    assert!(devices.to_string().contains("\"phone\""), "{devices}");
    let (mut laptop_ws, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone_ws, _, _) = server.device(&phone.token, "phone", 0).await;
    let ack = laptop_ws
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let update = phone_ws.recv().await;
    assert_eq!(update["type"], "update", "{update}");
    assert_eq!(update["data"]["data"]["title"], "Scales", "{update}");
    let results = server
        .batch(
            &phone.token,
            vec![
                update_goal("c2", "g1", json!({"title": "Arpeggios"}), 1, "phone"),
                create_goal("c1", "g1", "Scales", "laptop"),
            ],
        )
        .await;
    assert_eq!(results[0]["status"], "applied", "{results}");
    assert_eq!(results[1]["status"], "duplicate", "{results}");
    let all = server.all_changes(&ann.token).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["data"]["title"], "Arpeggios");
    assert_eq!(all[0]["seq"], 2);
    server.stop().await;
    // The data outlives the server.
    let restarted = TestServer::start_with(|s| s.database_url = url.clone()).await;
    let again = restarted.all_changes(&ann.token).await;
    assert_eq!(again[0]["version"], 2);
}
