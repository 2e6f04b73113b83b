//! Catch-up after `subscribe` and live updates (PROTOCOL.md 5.1).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestServer, User, create_goal, update_goal};

const PAGE: usize = 3;

async fn seed(server: &TestServer, user: &User, count: usize) {
    let items = (0..count)
        .map(|i| {
            create_goal(
                &format!("c{i}"),
                &format!("g{i}"),
                &format!("goal {i}"),
                "seed",
            )
        })
        .collect::<Vec<_>>();
    if !items.is_empty() {
        let results = server.batch(&user.token, items).await;
        assert!(
            results
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "applied")
        );
    }
}

#[tokio::test]
async fn catch_up_pages_neither_skip_nor_repeat() {
    let server = TestServer::start_with(|s| s.catchup_page_size = PAGE).await;
    // Zero, one page exactly, one more than a page, several pages exactly, and one more.
    for (n, count) in [0, PAGE, PAGE + 1, 3 * PAGE, 3 * PAGE + 1]
        .into_iter()
        .enumerate()
    {
        let user = server.register(&format!("user{n}@example.com")).await;
        seed(&server, &user, count).await;
        let (_, updates, seq) = server.device(&user.token, "device", 0).await;
        let seqs: Vec<u64> = updates.iter().map(|u| u["seq"].as_u64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=count as u64).collect::<Vec<_>>(),
            "count {count}"
        );
        assert!(
            updates
                .iter()
                .all(|u| u["full"] == true && u["userId"] == user.id.as_str())
        );
        assert_eq!(seq, count as u64);

        // From a cursor in the middle.
        let since = (count / 2) as u64;
        let (_, updates, seq) = server.device(&user.token, "device2", since).await;
        assert_eq!(
            updates.len(),
            count - count / 2,
            "count {count} since {since}"
        );
        assert_eq!(seq, count as u64);
    }
}

#[tokio::test]
async fn catch_up_sends_latest_state_once_per_entity_in_seq_order() {
    let server = TestServer::start_with(|s| s.catchup_page_size = 2).await;
    let ann = server.register("ann@example.com").await;
    seed(&server, &ann, 4).await;
    server
        .batch(
            &ann.token,
            vec![update_goal(
                "u1",
                "g0",
                json!({"title": "goal 0 v2"}),
                1,
                "seed",
            )],
        )
        .await;
    let (_, updates, seq) = server.device(&ann.token, "device", 0).await;
    let ids: Vec<&str> = updates
        .iter()
        .map(|u| u["entityId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g1", "g2", "g3", "g0"]);
    assert_eq!(updates[3]["data"]["title"], "goal 0 v2");
    assert_eq!(updates[3]["version"], 2);
    assert_eq!(seq, 5);

    // Filtering by type.
    let mut ws = server.connect(&ann.token).await;
    ws.hello("device3").await;
    ws.send(json!({"type": "subscribe", "entities": ["logbook"], "since": 0}))
        .await;
    let (updates, seq) = ws.collect_catch_up().await;
    assert!(updates.is_empty());
    assert_eq!(seq, 5, "sync_complete carries the user's latest seq");
}

#[tokio::test]
async fn changes_during_catch_up_are_delivered_exactly_once() {
    let server = TestServer::start_with(|s| s.catchup_page_size = 2).await;
    let ann = server.register("ann@example.com").await;
    let entities = 200;
    seed(&server, &ann, entities).await;

    // A writer keeps updating while the reader catches up in pages of 2.
    let writer = {
        let http = server.http.clone();
        let url = server.url("/api/sync/batch");
        let token = ann.token.clone();
        tokio::spawn(async move {
            for round in 0..20u64 {
                let items: Vec<Value> = (0..10)
                    .map(|i| {
                        let id = format!("g{}", (round * 10 + i) % 200);
                        update_goal(
                            &format!("w{round}-{i}"),
                            &id,
                            json!({"progress": {"$inc": 1}}),
                            0,
                            "writer",
                        )
                    })
                    .collect();
                let response = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"items": items}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let (mut reader, catch_up, complete) = server.device(&ann.token, "reader", 0).await;
    writer.await.unwrap();
    let total_changes = entities as u64 + 200;
    let latest = server.changes(&ann.token, "since=0&limit=1000").await;
    assert_eq!(latest["seq"].as_u64().unwrap(), total_changes);

    // Catch-up: strictly increasing seqs, nothing above sync_complete.
    let mut state: HashMap<String, (u64, i64)> = HashMap::new();
    let mut last = 0;
    for u in &catch_up {
        let seq = u["seq"].as_u64().unwrap();
        assert!(
            seq > last && seq <= complete,
            "catch-up seq {seq} after {last}, complete {complete}"
        );
        last = seq;
        state.insert(
            u["entityId"].as_str().unwrap().to_owned(),
            (
                u["version"].as_u64().unwrap(),
                u["data"]["progress"].as_i64().unwrap_or(0),
            ),
        );
    }
    // Live: every seq after sync_complete exactly once, in order, each on version - 1.
    let mut seen = HashSet::new();
    let mut expected = complete + 1;
    while expected <= total_changes {
        let message = reader.recv().await;
        assert_eq!(message["type"], "update", "{message}");
        let u = &message["data"];
        let seq = u["seq"].as_u64().unwrap();
        assert_eq!(seq, expected, "live updates in seq order without gaps");
        assert!(seen.insert(seq));
        assert_eq!(u["full"], false);
        let id = u["entityId"].as_str().unwrap().to_owned();
        let entry = state.get_mut(&id).expect("entity known from catch-up");
        assert_eq!(
            entry.0 + 1,
            u["version"].as_u64().unwrap(),
            "partial update applies on version - 1"
        );
        *entry = (
            u["version"].as_u64().unwrap(),
            u["data"]["progress"].as_i64().unwrap(),
        );
        expected += 1;
    }
    reader.expect_silence(Duration::from_millis(200)).await;

    // The reader's view equals the server's.
    let all = server.all_changes(&ann.token).await;
    assert_eq!(all.len(), entities);
    for u in all {
        let id = u["entityId"].as_str().unwrap();
        assert_eq!(
            state[id],
            (
                u["version"].as_u64().unwrap(),
                u["data"]["progress"].as_i64().unwrap()
            ),
            "{id}"
        );
    }
}

#[tokio::test]
async fn live_updates_reach_other_devices_of_the_same_user_only() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let bob = server.register("bob@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut laptop_again, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;
    let (mut bobs, _, _) = server.device(&bob.token, "phone", 0).await;
    // Connected and said hello, but never subscribed: no live updates either.
    let mut unsubscribed = server.connect(&ann.token).await;
    unsubscribed.hello("tablet").await;

    let ack = laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    assert_eq!(ack["type"], "ack");
    let update = phone.recv().await;
    assert_eq!(update["type"], "update");
    let data = &update["data"];
    assert_eq!(
        (
            data["changeId"].as_str(),
            data["clientId"].as_str(),
            data["userId"].as_str()
        ),
        (Some("c1"), Some("laptop"), Some(ann.id.as_str()))
    );
    assert_eq!(
        (
            data["version"].as_u64(),
            data["seq"].as_u64(),
            data["deleted"].as_bool(),
            data["full"].as_bool()
        ),
        (Some(1), Some(1), Some(false), Some(false))
    );

    // Batch pushes fan out too, except to connections of the same clientId.
    let results = server
        .batch(
            &ann.token,
            vec![update_goal(
                "c2",
                "g1",
                json!({"notes": "slow"}),
                1,
                "phone",
            )],
        )
        .await;
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(
        laptop.recv().await["data"]["data"],
        json!({"notes": "slow"})
    );
    assert_eq!(
        laptop_again.recv().await["data"]["seq"],
        2,
        "saw the phone's change"
    );

    for ws in [&mut laptop_again, &mut phone, &mut bobs, &mut unsubscribed] {
        ws.expect_silence(Duration::from_millis(150)).await;
    }
    laptop.expect_silence(Duration::from_millis(50)).await;
}
