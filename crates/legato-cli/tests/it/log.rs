use serde_json::{Value, json};

use crate::support::Device;

fn entry(device: &Device, id: &str) -> Value {
    let list = device.json(&["log", "list", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

#[test]
fn add_edit_list_round_trip_with_every_flag() {
    let device = Device::offline();
    let id = device.add(&[
        "--duration",
        "45",
        "--type",
        "lesson",
        "--instrument",
        "Piano",
        "--piece",
        "Ballade No. 1",
        "--composer",
        "Chopin",
        "--piece",
        "Invention 4",
        "--composer",
        "Bach",
        "--technique",
        "scales",
        "--technique",
        "arpeggios",
        "--mood",
        "satisfied",
        "--notes",
        "slow practice, then tempo",
        "--tag",
        "exam",
        "--tag",
        "morning",
        "--tag",
        " Exam ",
        "--at",
        "2026-11-25T19:30:00+01:00",
    ]);
    let e = entry(&device, &id);
    assert_eq!(e["duration"], 45);
    assert_eq!(e["type"], "lesson");
    assert_eq!(e["instrument"], "piano");
    assert_eq!(
        e["pieces"],
        json!([{"title": "Ballade No. 1", "composer": "Chopin"}, {"title": "Invention 4", "composer": "Bach"}])
    );
    assert_eq!(e["techniques"], json!(["scales", "arpeggios"]));
    assert_eq!(e["mood"], "satisfied");
    assert_eq!(e["notes"], "slow practice, then tempo");
    // Repeats differing only in case or spaces are one tag (the app's rule, in core).
    assert_eq!(e["tags"], json!(["exam", "morning"]));
    assert_eq!(e["timestamp"], "2026-11-25T18:30:00.000Z");
    assert!(e["createdAt"].is_string() && e["updatedAt"].is_string());

    // Only the given flags change the entry.
    let out = device.ok(&[
        "log",
        "edit",
        &id,
        "--duration",
        "50",
        "--add-tag",
        "recital",
        "--remove-tag",
        "exam",
    ]);
    assert!(out.contains("updated"), "{out}");
    let edited = entry(&device, &id);
    assert_eq!(edited["duration"], 50);
    assert_eq!(edited["tags"], json!(["morning", "recital"]));
    for field in [
        "type",
        "instrument",
        "pieces",
        "techniques",
        "mood",
        "notes",
        "timestamp",
    ] {
        assert_eq!(edited[field], e[field], "{field} changed");
    }

    // Empty values clear; list flags replace.
    device.ok(&[
        "log", "edit", &id, "--notes", "", "--mood", "", "--tag", "new", "--piece", "",
    ]);
    let cleared = entry(&device, &id);
    assert_eq!(cleared["notes"], Value::Null);
    assert_eq!(cleared["mood"], Value::Null);
    assert_eq!(cleared["tags"], json!(["new"]));
    assert_eq!(cleared["pieces"], json!([]));

    // An edit that changes nothing says so.
    assert!(
        device
            .ok(&["log", "edit", &id, "--duration", "50"])
            .contains("no changes")
    );

    // The human table shows the entry.
    let table = device.ok(&["log", "list"]);
    assert!(
        table.contains(&id) && table.contains("lesson") && table.contains("pending"),
        "{table}"
    );
}

#[test]
fn delete_removes_the_entry_from_lists() {
    let device = Device::offline();
    let keep = device.add(&["--duration", "10"]);
    let gone = device.add(&["--duration", "20"]);
    assert!(device.ok(&["log", "delete", &gone]).contains("deleted"));
    let ids: Vec<Value> = device
        .json(&["log", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(keep)]);
    // Each `legato` run opens the store, which freezes the oldest change of every entity
    // (its id may have reached a server: see `freeze_possibly_sent`), so the delete is a
    // tombstone to send, not a cancelled create.
    let err = device.fails(&["log", "edit", &gone, "--duration", "5"]);
    assert!(
        err.contains(&format!("logbook entry {gone} was deleted")),
        "{err}"
    );
}

#[test]
fn bad_input_is_a_clear_error_never_a_panic() {
    let device = Device::offline();
    let err = device.fails(&["log", "add", "--duration", "30", "--at", "yesterday"]);
    assert!(err.contains("RFC 3339"), "{err}");
    let err = device.fails(&["log", "add", "--duration", "30", "--type", "jam"]);
    assert!(
        err.contains("practice, performance, lesson, rehearsal, technique, status_change"),
        "{err}"
    );
    let err = device.fails(&["log", "add", "--duration", "30", "--mood", "happy"]);
    assert!(
        err.contains("frustrated, neutral, satisfied, excited"),
        "{err}"
    );
    let err = device.fails(&["log", "add", "--duration", "0"]);
    assert!(err.contains("duration"), "{err}");
    let err = device.fails(&["log", "add", "--duration", "abc"]);
    assert!(err.contains("--duration"), "{err}");
    let err = device.fails(&[
        "log",
        "add",
        "--duration",
        "30",
        "--piece",
        "A",
        "--piece",
        "B",
        "--piece",
        "C",
        "--composer",
        "X",
        "--composer",
        "Y",
    ]);
    assert!(err.contains("--composer"), "{err}");
    let err = device.fails(&["log", "edit", "nope", "--duration", "30"]);
    assert!(err.contains("no logbook entry with id nope"), "{err}");
    let err = device.fails(&["log", "delete", "not an id!"]);
    assert!(err.contains("no logbook entry with id not an id!"), "{err}");
    let err = device.fails(&["log", "add", "--duration", "30", "--goal", "bad id!"]);
    assert!(err.contains("goal id"), "{err}");
    // Nothing was saved by the failed commands.
    assert_eq!(device.json(&["log", "list", "--json"]), json!([]));
}
