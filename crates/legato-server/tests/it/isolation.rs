//! Two users whose entity ids AND change ids collide never see or touch each other's data.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestServer, change, create_goal, update_goal};

#[tokio::test]
async fn colliding_ids_never_cross_users_on_any_path() {
    let server = TestServer::start().await;
    let ann = server.register("ann@example.com").await;
    let bob = server.register("bob@example.com").await;

    let (mut ann_laptop, _, _) = server.device(&ann.token, "ann-laptop", 0).await;
    let (mut ann_phone, _, _) = server.device(&ann.token, "ann-phone", 0).await;
    let (mut bob_laptop, _, _) = server.device(&bob.token, "bob-laptop", 0).await;

    // Same change id, same entity id: Ann over WebSocket, Bob over HTTP.
    let ack = ann_laptop
        .sync(create_goal("c1", "shared-id", "Ann's goal", "ann-laptop"))
        .await;
    assert_eq!(
        (ack["type"].as_str(), ack["status"].as_str()),
        (Some("ack"), Some("applied"))
    );
    assert_eq!(
        (ack["version"].as_u64(), ack["seq"].as_u64()),
        (Some(1), Some(1))
    );
    let results = server
        .batch(
            &bob.token,
            vec![create_goal("c1", "shared-id", "Bob's goal", "bob-cli")],
        )
        .await;
    assert_eq!(
        results[0]["status"], "applied",
        "Bob's c1 is not Ann's c1: {results}"
    );
    assert_eq!(
        (results[0]["version"].as_u64(), results[0]["seq"].as_u64()),
        (Some(1), Some(1))
    );

    // Ann's phone saw Ann's change only; Bob's laptop saw Bob's only.
    let update = ann_phone.recv().await;
    assert_eq!(update["data"]["data"]["title"], "Ann's goal");
    assert_eq!(update["data"]["userId"], ann.id.as_str());
    let update = bob_laptop.recv().await;
    assert_eq!(update["data"]["data"]["title"], "Bob's goal");
    ann_phone.expect_silence(Duration::from_millis(200)).await;
    bob_laptop.expect_silence(Duration::from_millis(200)).await;

    // Replaying c1 is a duplicate for each user, of their own result (a replay is the same
    // change: the same id with other content is refused as `change_id_reused`).
    let replay = ann_laptop
        .sync(create_goal("c1", "shared-id", "Ann's goal", "ann-laptop"))
        .await;
    assert_eq!(replay["status"], "duplicate");
    assert_eq!(replay["data"]["title"], "Ann's goal");
    let replay = server
        .batch(
            &bob.token,
            vec![create_goal("c1", "shared-id", "Bob's goal", "bob-cli")],
        )
        .await;
    assert_eq!(replay[0]["status"], "duplicate");
    assert_eq!(replay[0]["data"]["title"], "Bob's goal");

    // Bob updates his entity: Ann's is untouched, and Ann's devices hear nothing.
    let results = server
        .batch(
            &bob.token,
            vec![update_goal(
                "c2",
                "shared-id",
                json!({"title": "Bob v2"}),
                1,
                "bob-cli",
            )],
        )
        .await;
    assert_eq!(results[0]["version"], 2);
    ann_phone.expect_silence(Duration::from_millis(200)).await;
    ann_laptop.expect_silence(Duration::from_millis(50)).await;

    // Ann's update on base 1 is not a conflict: her entity is still at version 1.
    let ack = ann_laptop
        .sync(update_goal(
            "c2",
            "shared-id",
            json!({"title": "Ann v2"}),
            1,
            "ann-laptop",
        ))
        .await;
    assert_eq!(
        (ack["status"].as_str(), ack["version"].as_u64()),
        (Some("applied"), Some(2))
    );

    // An id only Bob has does not exist for Ann (update and delete).
    server
        .batch(
            &bob.token,
            vec![create_goal("c3", "bob-only", "secret", "bob-cli")],
        )
        .await;
    let reply = ann_laptop
        .sync(update_goal(
            "c3",
            "bob-only",
            json!({"title": "mine"}),
            1,
            "ann-laptop",
        ))
        .await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("not_found"))
    );
    assert_eq!(reply["changeId"], "c3");
    let results = server
        .batch(
            &ann.token,
            vec![change(
                "c4",
                "goals",
                "bob-only",
                "delete",
                json!({}),
                1,
                "ann-cli",
            )],
        )
        .await;
    assert_eq!(results[0]["error"]["code"], "not_found");

    // The change streams are disjoint.
    let ann_all = server.all_changes(&ann.token).await;
    assert_eq!(ann_all.len(), 1);
    assert_eq!(ann_all[0]["data"]["title"], "Ann v2");
    assert!(ann_all.iter().all(|u| u["userId"] == ann.id.as_str()));
    let bob_all = server.all_changes(&bob.token).await;
    assert_eq!(bob_all.len(), 2);
    assert!(bob_all.iter().all(|u| u["userId"] == bob.id.as_str()));
    assert_eq!(server.changes(&ann.token, "since=0").await["seq"], 2);
    assert_eq!(server.changes(&bob.token, "since=0").await["seq"], 3);

    // A fresh subscription sees only one's own entities.
    let (_, catch_up, seq) = server.device(&ann.token, "ann-tablet", 0).await;
    assert_eq!(catch_up.len(), 1);
    assert_eq!(catch_up[0]["data"]["title"], "Ann v2");
    assert_eq!(seq, 2);
    let (_, catch_up, seq) = server.device(&bob.token, "bob-tablet", 0).await;
    assert_eq!(catch_up.len(), 2);
    assert!(catch_up.iter().all(|u| u["userId"] == bob.id.as_str()));
    assert_eq!(seq, 3);
}
