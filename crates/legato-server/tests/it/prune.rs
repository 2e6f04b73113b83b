//! Pruning the change log and tombstones (docs/server-choices.md, "Pruning"), over the real
//! endpoints: a pruned change id is still a `duplicate` and never applied again, a device
//! away past the pruning catches up to the same state, the quota gets back exactly what was
//! pruned, and one big account's pruning leaves other users' writes going.

use std::time::{Duration, Instant};

use legato_server::Database as _;
use legato_server::db::{RECORD_BYTES, UserId};
use legato_server::prune::{PRUNE_STEP_ROWS, prune_before};
use serde_json::{Value, json};

use crate::support::{TestServer, change, create_goal, metric, now_ms, update_goal};

/// Everything recorded until now (and a millisecond more) is older than this cutoff.
fn everything() -> i64 {
    now_ms() + 1
}

/// A change record kept whole after its answer: a duplicate of it before pruning answers
/// exactly what it recorded; after pruning it is still a `duplicate` (never applied again:
/// the increment counts once), standing on the entity as it is now with `unchanged`, over
/// HTTP and WebSocket alike; other content under its id is still refused.
#[tokio::test]
async fn a_pruned_change_sent_again_is_a_duplicate_and_never_applied_twice() {
    let (server, db) = TestServer::start_with_database(|_| {}).await;
    let ann = server.register("ann@example.com").await;
    let create = change(
        "c1",
        "goals",
        "g1",
        "create",
        json!({"title": "Scales", "progress": 0}),
        0,
        "dev-a",
    );
    let inc = update_goal("c2", "g1", json!({"progress": {"$inc": 5}}), 1, "dev-a");
    let rename = update_goal("c3", "g1", json!({"title": "Scales, slowly"}), 2, "dev-b");
    let results = server
        .batch(&ann.token, vec![create.clone(), inc.clone(), rename])
        .await;
    assert_eq!(results[1]["status"], "applied");
    assert_eq!(results[1]["data"], json!({"progress": 5}));
    // Before pruning: the recorded answer.
    let again = server.batch(&ann.token, vec![inc.clone()]).await;
    assert_eq!(
        (&again[0]["status"], &again[0]["version"], &again[0]["seq"]),
        (&json!("duplicate"), &json!(2), &json!(2))
    );
    assert_eq!(again[0]["data"], json!({"progress": 5}));
    assert_eq!(again[0].get("unchanged"), None);

    let report = prune_before(&db, everything(), PRUNE_STEP_ROWS)
        .await
        .unwrap();
    assert_eq!(report.records, 3);

    // After: still a duplicate, never applied again, standing on the entity as it is now.
    let again = server.batch(&ann.token, vec![inc.clone(), create]).await;
    for result in again.as_array().unwrap() {
        assert_eq!(result["status"], "duplicate", "{result}");
        assert_eq!((&result["version"], &result["seq"]), (&json!(3), &json!(3)));
        assert_eq!(result["unchanged"], true, "{result}");
    }
    assert_eq!(again[0]["data"], json!({"progress": 5}));
    assert_eq!(
        again[1]["data"],
        json!({"title": "Scales, slowly", "progress": 5})
    );
    let mut ws = server.connect(&ann.token).await;
    ws.hello("dev-a").await;
    let ack = ws.sync(inc.clone()).await;
    assert_eq!(
        (
            &ack["type"],
            &ack["status"],
            &ack["version"],
            &ack["unchanged"]
        ),
        (&json!("ack"), &json!("duplicate"), &json!(3), &json!(true)),
        "{ack}"
    );
    let mut reused = inc.clone();
    reused["data"] = json!({"progress": {"$inc": 7}});
    let refused = ws.sync(reused).await;
    assert_eq!(
        (&refused["type"], &refused["code"]),
        (&json!("error"), &json!("change_id_reused")),
        "{refused}"
    );

    let all = server.all_changes(&ann.token).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["data"]["progress"], 5, "the increment counted once");
    assert_eq!((&all[0]["version"], &all[0]["seq"]), (&json!(3), &json!(3)));
    let changes = server.changes(&ann.token, "since=0").await;
    assert_eq!(changes["seq"], 3, "no seq was taken by the repeats");
}

/// What a catch-up from `since` brings, as comparable tuples.
async fn catch_up(server: &TestServer, token: &str, since: u64) -> (Vec<Value>, u64) {
    let (_ws, updates, seq) = server.device(token, "dev-away", since).await;
    let updates = updates
        .into_iter()
        .map(|u| {
            json!([
                u["entityType"],
                u["entityId"],
                u["version"],
                u["seq"],
                u["deleted"],
                u["data"],
                u["changeId"]
            ])
        })
        .collect();
    (updates, seq)
}

/// A device away while its account changed, deleted and was pruned catches up from its old
/// cursor (and a new device from 0) to exactly what it would have got before the pruning:
/// the same entities, versions, seqs and states, tombstones included.
#[tokio::test]
async fn a_device_away_past_the_pruning_catches_up_to_the_same_state() {
    let (server, db) = TestServer::start_with_database(|_| {}).await;
    let ann = server.register("ann@example.com").await;
    let mut items = Vec::new();
    for n in 0..6 {
        items.push(create_goal(
            &format!("c{n}"),
            &format!("g{n}"),
            "Scales",
            "dev-a",
        ));
    }
    server.batch(&ann.token, items).await;
    // The away device saw everything up to here.
    let cursor = server.changes(&ann.token, "since=0").await["seq"]
        .as_u64()
        .unwrap();
    let mut later = vec![
        update_goal("u1", "g1", json!({"title": "Arpeggios"}), 1, "dev-a"),
        change("d2", "goals", "g2", "delete", json!({}), 1, "dev-a"),
        update_goal("u3", "g3", json!({"progress": {"$inc": 3}}), 1, "dev-a"),
        change("d3", "goals", "g3", "delete", json!({}), 2, "dev-a"),
        change("d4", "goals", "g4", "delete", json!({}), 1, "dev-a"),
        create_goal("c9", "g9", "Late", "dev-a"),
    ];
    later.push(change("d9", "goals", "g9", "delete", json!({}), 1, "dev-a"));
    for result in server.batch(&ann.token, later).await.as_array().unwrap() {
        assert_eq!(result["status"], "applied", "{result}");
    }
    let before_away = catch_up(&server, &ann.token, cursor).await;
    let before_new = catch_up(&server, &ann.token, 0).await;
    assert_eq!(
        before_away.0.iter().filter(|u| u[4] == true).count(),
        4,
        "four tombstones to bring"
    );

    let report = prune_before(&db, everything(), PRUNE_STEP_ROWS)
        .await
        .unwrap();
    assert_eq!((report.records, report.tombstones), (13, 4));

    assert_eq!(catch_up(&server, &ann.token, cursor).await, before_away);
    assert_eq!(catch_up(&server, &ann.token, 0).await, before_new);
    let page: Vec<Value> = server.all_changes(&ann.token).await;
    assert_eq!(page.len(), 7);
    assert!(
        page.iter()
            .filter(|u| u["deleted"] == true)
            .all(|u| u["data"] == json!({}))
    );
}

/// Pruning gives back exactly the bytes it drops: the change records' `touched` and the
/// tombstones' last states (but the `{}` a tombstone still counts, and the `RECORD_BYTES`
/// each record still counts). The numbers are worked
/// out here from what was sent (one-key states, texts under the compression threshold, so
/// the stored JSON is exactly the text below). A write the quota refused goes afterwards.
#[tokio::test]
async fn pruning_gives_the_quota_back_exactly() {
    let (server, db) = TestServer::start_with_database(|_| {}).await;
    let ann = server.register("ann@example.com").await;
    let user = UserId(ann.id.clone());
    let text = |c: char| c.to_string().repeat(900);
    let (a, b) = (text('a'), text('b'));
    let results = server
        .batch(
            &ann.token,
            vec![
                create_goal("c1", "g1", &a[..150], "dev-a"),
                update_goal("u1", "g1", json!({"title": &b[..150]}), 1, "dev-a"),
                create_goal("c2", "g2", &a[..190], "dev-a"),
                change("d2", "goals", "g2", "delete", json!({}), 1, "dev-a"),
            ],
        )
        .await;
    for result in results.as_array().unwrap() {
        assert_eq!(result["status"], "applied", "{result}");
    }
    let state = |title: &str| format!(r#"{{"title":"{title}"}}"#).len() as u64;
    let live = state(&b[..150]);
    let tombstone = state(&a[..190]);
    let records = state(&a[..150]) + state(&b[..150]) + state(&a[..190]) + 2;
    // Each record is counted `RECORD_BYTES` besides its payload, and keeps them.
    let kept = 4 * RECORD_BYTES as u64;
    let before = db.stored_bytes(&user).await.unwrap();
    assert_eq!(before, live + tombstone + records + kept);

    // A quota the account is over for a create of 921 bytes (stored twice: as the state
    // and as its record, with the record's own bytes) until pruning frees what it frees:
    // then it fits exactly.
    let big_state = format!(r#"{{"title":"t","zz":"{a}"}}"#).len() as u64;
    db.set_user_quota(Some(live + 2 + kept + 2 * big_state + RECORD_BYTES as u64));
    let big = change(
        "c3",
        "goals",
        "g3",
        "create",
        json!({"title": "t", "zz": a}),
        0,
        "dev-a",
    );
    let refused = server.batch(&ann.token, vec![big.clone()]).await;
    assert_eq!(refused[0]["error"]["code"], "quota_exceeded", "{refused}");

    let report = prune_before(&db, everything(), PRUNE_STEP_ROWS)
        .await
        .unwrap();
    let freed = records + (tombstone - 2);
    assert_eq!(report.freed_bytes, freed);
    let after = db.stored_bytes(&user).await.unwrap();
    assert_eq!(after, before - freed);
    assert_eq!(after, live + 2 + kept);

    let accepted = server.batch(&ann.token, vec![big]).await;
    assert_eq!(accepted[0]["status"], "applied", "{accepted}");
}

/// The pruning task prunes on its own, per the settings (here: everything, every 50 ms),
/// and counts what it did in the metrics.
#[tokio::test]
async fn the_pruning_task_runs_on_its_own() {
    let (server, db) = TestServer::start_with_database(|s| {
        s.prune_after = Some(Duration::ZERO);
        s.prune_interval = Duration::from_millis(50);
    })
    .await;
    let ann = server.register("ann@example.com").await;
    server
        .batch(
            &ann.token,
            vec![
                create_goal("c1", "g1", "Scales", "dev-a"),
                change("d1", "goals", "g1", "delete", json!({}), 1, "dev-a"),
            ],
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = server.metrics().await;
        if metric(&text, "legato_pruned_records_total") >= 2.0
            && metric(&text, "legato_pruned_tombstones_total") >= 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "not pruned within 10 s:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = db.stored_bytes(&UserId(ann.id.clone())).await.unwrap();
    assert_eq!(
        stored,
        2 + 2 * RECORD_BYTES as u64,
        "a pruned tombstone's `{{}}` and the two records are all that is left"
    );
    server.stop().await;
}

/// Pruning a big account goes in steps of at most `PRUNE_STEP_ROWS` rows, each its own
/// transaction, so another user's writes go on between them: they wait for one step, never
/// for the whole account. Bounds asserted: the steps, that the other user's writes
/// completed while the pruning ran, and that the slowest of them waited less than a
/// quarter of the whole pruning.
#[tokio::test]
async fn pruning_one_big_account_does_not_stall_another_users_writes() {
    let (server, db) = TestServer::start_with_database(|s| s.rate_limit = 0.0).await;
    let big = server.register("big@example.com").await;
    let bob = server.register("bob@example.com").await;
    let big_user = UserId(big.id.clone());
    const RECORDS: usize = 20 * PRUNE_STEP_ROWS;
    for chunk in 0..RECORDS / 500 {
        let changes = (0..500)
            .map(|n| {
                let id = format!("g{chunk}-{n}");
                serde_json::from_value::<legato_protocol::Change>(create_goal(
                    &format!("c{id}"),
                    &id,
                    "Scales",
                    "dev-big",
                ))
                .unwrap()
            })
            .collect();
        db.apply_changes(&big_user, changes, now_ms())
            .await
            .unwrap();
    }
    let cutoff = everything();
    let mut ws = server.connect(&bob.token).await;
    ws.hello("dev-bob").await;
    ws.sync(create_goal("b0", "b0", "Bob's", "dev-bob")).await;

    let started = Instant::now();
    let pruning = {
        let db = db.clone();
        tokio::spawn(async move {
            let report = prune_before(&db, cutoff, PRUNE_STEP_ROWS).await.unwrap();
            (report, started.elapsed())
        })
    };
    // Every write started while the pruning ran, and how many finished before it did.
    let mut latencies = Vec::new();
    let mut meanwhile = 0;
    let mut n = 0;
    while !pruning.is_finished() {
        n += 1;
        let sent = Instant::now();
        let ack = ws
            .sync(update_goal(
                &format!("b{n}"),
                "b0",
                json!({"progress": n}),
                n,
                "dev-bob",
            ))
            .await;
        assert_eq!(ack["status"], "applied", "{ack}");
        latencies.push(sent.elapsed());
        if !pruning.is_finished() {
            meanwhile += 1;
        }
    }
    let (report, whole) = pruning.await.unwrap();
    assert_eq!(report.records, RECORDS as u64);
    assert!(
        report.steps > (RECORDS / PRUNE_STEP_ROWS) as u64,
        "in steps of at most {PRUNE_STEP_ROWS}: {report:?}"
    );
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    eprintln!(
        "pruned {} records in {} steps, {whole:?}; {} writes of another user meanwhile, the slowest {slowest:?}",
        report.records, report.steps, meanwhile
    );
    assert!(
        meanwhile >= 3,
        "only {meanwhile} writes went through while {whole:?} of pruning ran"
    );
    assert!(
        slowest < whole / 4,
        "a write waited {slowest:?} while the whole pruning took {whole:?}"
    );
}
