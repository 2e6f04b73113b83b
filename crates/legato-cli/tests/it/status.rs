use serde_json::json;

use crate::support::Device;

#[test]
fn status_json_has_every_field_on_a_fresh_device() {
    let device = Device::offline();
    let status = device.json(&["status", "--json"]);
    for field in [
        "server",
        "account",
        "loggedIn",
        "connection",
        "pending",
        "oldestPendingAgeMs",
        "deadLetters",
        "conflicts",
        "cursor",
        "clientId",
        "health",
        "lastSync",
        "lastError",
    ] {
        assert!(status.get(field).is_some(), "{field} missing from {status}");
    }
    assert_eq!(status["connection"], "offline");
    assert_eq!(status["loggedIn"], false);
    assert_eq!(status["pending"], 0);
    assert_eq!(status["cursor"], 0);

    device.add(&["--duration", "15"]);
    let status = device.json(&["status", "--json"]);
    assert_eq!(status["pending"], 1);
    assert!(status["oldestPendingAgeMs"].is_u64());
    assert!(device.ok(&["status"]).contains("pending      1"));
}

#[test]
fn dead_letters_and_conflicts_lists_are_empty_on_a_fresh_device() {
    let device = Device::offline();
    assert_eq!(device.json(&["dead-letters", "list", "--json"]), json!([]));
    assert!(
        device
            .ok(&["dead-letters", "list"])
            .contains("no dead letters")
    );
    assert_eq!(device.json(&["conflicts", "list", "--json"]), json!([]));
    let err = device.fails(&["dead-letters", "retry", "nope"]);
    assert!(err.contains("nope"), "{err}");
    let err = device.fails(&["conflicts", "resolve", "7", "--take", "merge"]);
    assert!(err.contains("no conflict with id 7"), "{err}");
    let err = device.fails(&["conflicts", "resolve", "7", "--take", "mine"]);
    assert!(err.contains("local, remote, merge"), "{err}");
}
