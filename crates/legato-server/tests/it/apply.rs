//! The apply rules of PROTOCOL.md section 3 as seen from clients.

use std::time::Duration;

use legato_protocol::deflate_string;
use serde_json::json;

use crate::support::{TestServer, change, create_goal, now_ms, update_goal};

#[tokio::test]
async fn duplicate_change_ids_are_applied_once_across_transports() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;

    let create = create_goal("c1", "g1", "Scales", "laptop");
    let first = laptop.sync(create.clone()).await;
    assert_eq!(first["status"], "applied");
    let again = laptop.sync(create.clone()).await;
    assert_eq!(again["type"], "ack");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(
        (again["version"].clone(), again["seq"].clone()),
        (first["version"].clone(), first["seq"].clone())
    );
    assert_eq!(again["data"], first["data"]);

    // The same id over HTTP, and twice within one batch.
    let update = update_goal("c2", "g1", json!({"progress": {"$inc": 5}}), 1, "laptop");
    let results = server
        .batch(
            &ann.token,
            vec![create.clone(), update.clone(), update.clone()],
        )
        .await;
    assert_eq!(results[0]["status"], "duplicate");
    assert_eq!(results[0]["seq"], 1);
    assert_eq!(results[1]["status"], "applied");
    assert_eq!(results[1]["data"]["progress"], 5);
    assert_eq!(results[2]["status"], "duplicate");
    assert_eq!(results[2]["seq"], results[1]["seq"]);
    // And back over WebSocket: the $inc is not applied twice.
    let again = laptop.sync(update).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["data"]["progress"], 5);

    // Only the two applied changes reached the phone, once each.
    assert_eq!(phone.recv().await["data"]["seq"], 1);
    let update = phone.recv().await;
    assert_eq!(
        (
            update["data"]["seq"].as_u64(),
            update["data"]["full"].as_bool()
        ),
        (Some(2), Some(false))
    );
    assert_eq!(update["data"]["data"], json!({"progress": 5}));
    phone.expect_silence(Duration::from_millis(200)).await;

    let all = server.all_changes(&ann.token).await;
    assert_eq!(all[0]["data"]["progress"], 5);
    assert_eq!(all[0]["version"], 2);
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 2);
}

#[tokio::test]
async fn stale_base_conflicts_on_overlapping_fields_only() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;

    let create = change(
        "c1",
        "goals",
        "g1",
        "create",
        json!({"title": "Scales", "notes": "", "x-future": [1]}),
        0,
        "laptop",
    );
    assert_eq!(laptop.sync(create).await["version"], 1);
    phone.recv().await;

    // Both devices edit version 1: different fields both apply.
    let a = laptop
        .sync(update_goal(
            "c2",
            "g1",
            json!({"title": "Scales in thirds"}),
            1,
            "laptop",
        ))
        .await;
    assert_eq!(
        (a["status"].as_str(), a["version"].as_u64()),
        (Some("applied"), Some(2))
    );
    let b = phone
        .sync(update_goal(
            "c3",
            "g1",
            json!({"notes": "slowly"}),
            1,
            "phone",
        ))
        .await;
    // The phone may see the laptop's update before its own ack.
    let b = if b["type"] == "update" {
        phone.recv().await
    } else {
        b
    };
    assert_eq!(
        (b["status"].as_str(), b["version"].as_u64()),
        (Some("applied"), Some(3))
    );

    // Same field, stale base, different value: conflict with the full remote state.
    let stale = update_goal(
        "c4",
        "g1",
        json!({"title": "Scales in sixths", "notes": "slowly"}),
        1,
        "phone",
    );
    let conflict = phone.sync(stale).await;
    let conflict = if conflict["type"] == "update" {
        phone.recv().await
    } else {
        conflict
    };
    assert_eq!(conflict["type"], "conflict", "{conflict}");
    let data = &conflict["data"];
    assert_eq!(data["changeId"], "c4");
    assert_eq!(data["fields"], json!(["title"]));
    assert_eq!(
        (data["baseVersion"].as_u64(), data["remoteVersion"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(data["remoteDeleted"], false);
    assert_eq!(
        data["local"],
        json!({"title": "Scales in sixths", "notes": "slowly"})
    );
    assert_eq!(
        data["remote"],
        json!({"title": "Scales in thirds", "notes": "slowly", "x-future": [1]})
    );

    // The conflict answer is final (docs/PROTOCOL-NOTES.md): the same change rebased on the
    // remote version is a conflict again, other data under its id is refused, and the
    // settlement goes under a new id.
    let rebased = update_goal(
        "c4",
        "g1",
        json!({"title": "Scales in sixths", "notes": "slowly"}),
        3,
        "phone",
    );
    assert_eq!(phone.sync(rebased).await["type"], "conflict");
    let reused = update_goal("c4", "g1", json!({"title": "Scales in sixths"}), 3, "phone");
    let refused = phone.sync(reused).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("change_id_reused")),
        "{refused}"
    );
    let settled = update_goal(
        "c4b",
        "g1",
        json!({"title": "Scales in sixths"}),
        3,
        "phone",
    );
    assert_eq!(phone.sync(settled).await["version"], 4);

    // Over HTTP, a conflict is a batch item status.
    let stale = update_goal("c5", "g1", json!({"title": "x"}), 2, "cli");
    let results = server.batch(&ann.token, vec![stale]).await;
    assert_eq!(results[0]["status"], "conflict");
    assert_eq!(results[0]["conflict"]["fields"], json!(["title"]));
    assert_eq!(results[0]["conflict"]["remoteVersion"], 4);
}

#[tokio::test]
async fn delete_then_update_is_a_conflict_never_a_resurrection() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    let deleted = laptop
        .sync(change(
            "c2",
            "goals",
            "g1",
            "delete",
            json!({}),
            1,
            "laptop",
        ))
        .await;
    assert_eq!(
        (deleted["status"].as_str(), deleted["version"].as_u64()),
        (Some("applied"), Some(2))
    );

    let conflict = laptop
        .sync(update_goal(
            "c3",
            "g1",
            json!({"title": "Arpeggios"}),
            1,
            "laptop",
        ))
        .await;
    assert_eq!(conflict["type"], "conflict");
    assert_eq!(conflict["data"]["remoteDeleted"], true);
    assert_eq!(conflict["data"]["remote"]["title"], "Scales");
    assert_eq!(conflict["data"]["fields"], json!(["title"]));
    // Even on the current version.
    let conflict = laptop
        .sync(update_goal(
            "c4",
            "g1",
            json!({"title": "Arpeggios"}),
            2,
            "laptop",
        ))
        .await;
    assert_eq!(conflict["data"]["remoteDeleted"], true);

    let all = server.all_changes(&ann.token).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["deleted"].as_bool(), all[0]["version"].as_u64()),
        (Some(true), Some(2))
    );
    // A fresh device gets the tombstone.
    let (_, catch_up, _) = server.device(&ann.token, "tablet", 0).await;
    assert_eq!(catch_up[0]["deleted"], true);
    assert_eq!(catch_up[0]["full"], true);
}

#[tokio::test]
async fn invalid_changes_name_the_field_and_store_nothing() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;

    // A logbook entry without its required duration.
    let entry = change(
        "c1",
        "logbook",
        "l1",
        "create",
        json!({"timestamp": "2026-11-25T18:30:00.000Z", "type": "practice"}),
        0,
        "laptop",
    );
    let reply = laptop.sync(entry).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("invalid"))
    );
    assert_eq!(reply["changeId"], "c1");
    assert!(
        reply["message"].as_str().unwrap().contains("duration"),
        "{reply}"
    );

    let bad = change(
        "c2",
        "logbook",
        "l1",
        "create",
        json!({"timestamp": "2026-11-25T18:30:00.000Z", "duration": 5000}),
        0,
        "laptop",
    );
    let results = server.batch(&ann.token, vec![bad]).await;
    assert_eq!(results[0]["status"], "error");
    assert_eq!(results[0]["error"]["code"], "invalid");
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duration")
    );

    let changes = server.changes(&ann.token, "since=0").await;
    assert_eq!(changes["changes"], json!([]));
    assert_eq!(changes["seq"], 0);
    laptop.ping().await;
}

#[tokio::test]
async fn values_are_stored_plain_and_compressed_only_for_clients_that_ask() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let mut phone = server.connect(&ann.token).await;
    phone
        .send(json!({"type": "hello", "clientId": "phone", "protocol": 1, "compress": true}))
        .await;
    phone.subscribe(0).await;

    let notes = "Long tones, then scales in thirds. ".repeat(100);
    let create = change(
        "c1",
        "goals",
        "g1",
        "create",
        json!({"title": "Tone", "notes": {"$deflate": deflate_string(&notes)}, "x-unknown": {"nested": true}}),
        0,
        "laptop",
    );
    let ack = laptop.sync(create).await;
    assert_eq!(ack["status"], "applied");
    assert_eq!(
        ack["data"]["notes"],
        notes.as_str(),
        "the ack holds stored (plain) values"
    );

    let update = phone.recv().await;
    let encoded = update["data"]["data"]["notes"]["$deflate"]
        .as_str()
        .expect("compressed for the phone");
    assert_eq!(legato_protocol::inflate_string(encoded).unwrap(), notes);
    assert_eq!(update["data"]["data"]["title"], "Tone");

    let all = server.all_changes(&ann.token).await;
    assert_eq!(all[0]["data"]["notes"], notes.as_str());
    assert_eq!(
        all[0]["data"]["x-unknown"],
        json!({"nested": true}),
        "unknown fields kept"
    );
}

#[tokio::test]
async fn timestamps_from_the_future_are_clamped() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;
    let mut create = create_goal("c1", "g1", "Scales", "laptop");
    create["timestamp"] = json!(now_ms() + 86_400_000);
    laptop.sync(create).await;
    let after = now_ms();
    let update = phone.recv().await;
    assert!(
        update["data"]["timestamp"].as_i64().unwrap() <= after,
        "{update}"
    );
    let all = server.all_changes(&ann.token).await;
    assert!(all[0]["timestamp"].as_i64().unwrap() <= after);
}

#[tokio::test]
async fn an_update_that_changes_nothing_is_acknowledged_without_a_new_version() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;
    laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    phone.recv().await;
    let ack = laptop
        .sync(update_goal(
            "c2",
            "g1",
            json!({"title": "Scales"}),
            1,
            "laptop",
        ))
        .await;
    assert_eq!(
        (
            ack["status"].as_str(),
            ack["version"].as_u64(),
            ack["seq"].as_u64()
        ),
        (Some("applied"), Some(1), Some(1))
    );
    phone.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(
        laptop
            .sync(update_goal(
                "c2",
                "g1",
                json!({"title": "Scales"}),
                1,
                "laptop"
            ))
            .await["status"],
        "duplicate"
    );
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 1);
}

/// Rule 6's ack carries the seq of the entity's last change, which may be another device's:
/// `unchanged: true` tells the client that seq is not its own (it must not step its cursor
/// over it, or it ignores the other device's update of that seq). Every other ack omits the
/// field, so existing frames stay byte-identical.
#[tokio::test]
async fn an_unchanged_ack_says_so_over_both_transports() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;

    let created = laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    assert_eq!(created["status"], "applied");
    assert!(created.get("unchanged").is_none(), "{created}");
    phone.recv().await;
    // The phone's edit takes seq 2.
    let phones = phone
        .sync(update_goal(
            "p1",
            "g1",
            json!({"title": "Thirds"}),
            1,
            "phone",
        ))
        .await;
    assert_eq!(
        (phones["seq"].as_u64(), phones.get("unchanged")),
        (Some(2), None)
    );
    assert_eq!(laptop.recv().await["data"]["seq"], 2);

    // The laptop pushes the value the entity already has: seq 2 is the phone's.
    let same = update_goal("c2", "g1", json!({"title": "Thirds"}), 2, "laptop");
    let ack = laptop.sync(same.clone()).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(
        (
            ack["status"].as_str(),
            ack["version"].as_u64(),
            ack["seq"].as_u64(),
            ack["unchanged"].as_bool()
        ),
        (Some("applied"), Some(2), Some(2), Some(true)),
        "{ack}"
    );
    // Its repeat answers from the record, which remembers it wrote nothing.
    let again = laptop.sync(same.clone()).await;
    assert_eq!(
        (again["status"].as_str(), again["unchanged"].as_bool()),
        (Some("duplicate"), Some(true)),
        "{again}"
    );
    // A repeat of a change that did write has no such flag.
    let created_again = laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    assert_eq!(created_again["status"], "duplicate");
    assert!(created_again.get("unchanged").is_none(), "{created_again}");

    // HTTP batch: the same flag on the same answers, absent on the others.
    let results = server
        .batch(
            &ann.token,
            vec![
                same,
                update_goal("c3", "g1", json!({"title": "Thirds"}), 2, "laptop"),
                update_goal("c4", "g1", json!({"title": "Sixths"}), 2, "laptop"),
                create_goal("c1", "g1", "Scales", "laptop"),
            ],
        )
        .await;
    let seen: Vec<_> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["changeId"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["seq"].as_u64().unwrap(),
                r.get("unchanged").cloned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("c2", "duplicate", 2, Some(json!(true))),
            ("c3", "applied", 2, Some(json!(true))),
            ("c4", "applied", 3, None),
            ("c1", "duplicate", 1, None),
        ]
    );
    phone.recv().await; // c4
    phone.expect_silence(Duration::from_millis(200)).await;
}

/// A device restored from a copy of another device's data may fold a new edit into an
/// unsent change whose id the original already sent. Answering that `duplicate` would drop
/// the edit silently; the server answers `change_id_reused` instead and applies nothing. A
/// true repeat (same content, whatever its clientId, timestamp or encoding) is a duplicate.
#[tokio::test]
async fn a_change_id_reused_for_other_content_is_refused_not_dropped() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let (mut laptop, _, _) = server.device(&ann.token, "laptop", 0).await;
    let (mut phone, _, _) = server.device(&ann.token, "phone", 0).await;
    let notes = "Long tones, then scales in thirds. ".repeat(100);
    laptop
        .sync(create_goal("c1", "g1", "Scales", "laptop"))
        .await;
    let sent = update_goal(
        "c2",
        "g1",
        json!({"title": "Thirds", "notes": notes}),
        1,
        "laptop",
    );
    assert_eq!(laptop.sync(sent.clone()).await["status"], "applied");
    assert_eq!(phone.recv().await["data"]["seq"], 1);
    assert_eq!(phone.recv().await["data"]["seq"], 2);

    // The restored copy: same change id, a folded edit on top, a new client id.
    let folded = update_goal(
        "c2",
        "g1",
        json!({"title": "Sixths", "notes": notes}),
        1,
        "laptop-restored",
    );
    let (mut restored, _, _) = server.device(&ann.token, "laptop-restored", 2).await;
    let answer = restored.sync(folded.clone()).await;
    assert_eq!(
        (
            answer["type"].as_str(),
            answer["code"].as_str(),
            answer["changeId"].as_str()
        ),
        (Some("error"), Some("change_id_reused"), Some("c2")),
        "{answer}"
    );
    // And over HTTP, also for a second use within one batch.
    let results = server
        .batch(
            &ann.token,
            vec![
                folded,
                create_goal("c3", "g2", "Arpeggios", "laptop-restored"),
                create_goal("c3", "g2", "Arpeggios, slowly", "laptop-restored"),
            ],
        )
        .await;
    assert_eq!(
        (
            results[0]["status"].as_str(),
            results[0]["error"]["code"].as_str()
        ),
        (Some("error"), Some("change_id_reused")),
        "{results}"
    );
    assert!(results[0].get("seq").is_none(), "{results}");
    assert_eq!(results[1]["status"], "applied");
    assert_eq!(
        (
            results[2]["status"].as_str(),
            results[2]["error"]["code"].as_str()
        ),
        (Some("error"), Some("change_id_reused")),
        "{results}"
    );

    // Nothing of the refused edits was applied or fanned out.
    for device in [&mut phone, &mut laptop] {
        assert_eq!(device.recv().await["data"]["entityId"], "g2");
        device.expect_silence(Duration::from_millis(200)).await;
    }
    let all = server.all_changes(&ann.token).await;
    let titles: Vec<_> = all.iter().map(|u| u["data"]["title"].clone()).collect();
    assert_eq!(titles, [json!("Thirds"), json!("Arpeggios")]);
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 3);

    // The same content again is a duplicate: from another client id, at another time, with
    // the long string compressed this time.
    let mut resent = update_goal(
        "c2",
        "g1",
        json!({"notes": {"$deflate": deflate_string(&notes)}, "title": "Thirds"}),
        1,
        "laptop-restored",
    );
    resent["timestamp"] = json!(now_ms() + 5);
    let again = restored.sync(resent).await;
    assert_eq!(
        (again["status"].as_str(), again["seq"].as_u64()),
        (Some("duplicate"), Some(2)),
        "{again}"
    );
    assert_eq!(laptop.sync(sent).await["status"], "duplicate");
}
