use serde_json::Value;

use crate::support::Device;

fn lists(device: &Device) -> [Value; 3] {
    ["log", "repertoire", "goal"].map(|group| device.json(&[group, "list", "--json"]))
}

fn seed(device: &Device) {
    device.add(&[
        "--duration",
        "30",
        "--piece",
        "Etude",
        "--composer",
        "Chopin",
        "--notes",
        "a \"quoted\", comma",
        "--tag",
        "x",
    ]);
    device.add(&[
        "--duration",
        "15",
        "--type",
        "technique",
        "--technique",
        "scales",
    ]);
    device.ok(&["repertoire", "add", "Etude", "--status", "learning"]);
    device.ok(&[
        "goal",
        "add",
        "Daily",
        "--target-minutes",
        "20",
        "--period",
        "day",
    ]);
}

#[test]
fn json_export_import_round_trip_is_idempotent_and_updates_by_id() {
    let a = Device::offline();
    seed(&a);
    let export = a.ok(&["export", "--format", "json"]);
    let file = a.file("export.json");
    std::fs::write(&file, &export).unwrap();

    let b = Device::offline();
    let out = b.ok(&["import", file.to_str().unwrap()]);
    assert!(out.contains("4 created, 0 updated, 0 unchanged"), "{out}");
    assert_eq!(lists(&b), lists(&a));
    assert_eq!(b.pending(), 4);

    // Again: nothing queued, nothing duplicated.
    let out = b.ok(&["import", file.to_str().unwrap()]);
    assert!(out.contains("0 created, 0 updated, 4 unchanged"), "{out}");
    assert_eq!(b.pending(), 4);
    assert_eq!(lists(&b), lists(&a));
    // Into the device it came from: nothing changes either.
    assert!(
        a.ok(&["import", file.to_str().unwrap()])
            .contains("4 unchanged")
    );

    // An edited record updates the existing entity.
    let mut doc: Value = serde_json::from_str(&export).unwrap();
    doc["logbook"][0]["notes"] = Value::from("changed in the file");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = a.ok(&["import", file.to_str().unwrap()]);
    assert!(out.contains("1 updated, 3 unchanged"), "{out}");
    let id = doc["logbook"][0]["id"].as_str().unwrap();
    let list = a.json(&["log", "list", "--json"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    assert_eq!(entry["notes"], "changed in the file");
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A bare `list --json` array imports too.
    let c = Device::offline();
    let logs = a.ok(&["log", "list", "--json"]);
    let file = c.file("logs.json");
    std::fs::write(&file, logs).unwrap();
    assert!(
        c.ok(&["import", file.to_str().unwrap(), "--type", "logbook"])
            .contains("2 created")
    );
}

#[test]
fn csv_export_import_round_trip() {
    let a = Device::offline();
    seed(&a);
    let b = Device::offline();
    for kind in ["logbook", "repertoire", "goals"] {
        let csv = a.ok(&["export", "--format", "csv", "--type", kind]);
        assert!(csv.starts_with("id,"), "{csv}");
        let file = a.file(&format!("{kind}.csv"));
        std::fs::write(&file, csv).unwrap();
        b.ok(&["import", file.to_str().unwrap(), "--type", kind]);
        let again = b.ok(&["import", file.to_str().unwrap(), "--type", kind]);
        assert!(again.contains("0 created, 0 updated"), "{again}");
    }
    assert_eq!(lists(&b), lists(&a));
}

#[test]
fn a_bad_file_writes_nothing() {
    let device = Device::offline();
    let file = device.file("bad.json");
    std::fs::write(
        &file,
        r#"{"format": "legato-export", "version": 1, "logbook": [
            {"id": "ok-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 30},
            {"id": "bad-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 0}]}"#,
    )
    .unwrap();
    let err = device.fails(&["import", file.to_str().unwrap()]);
    assert!(
        err.contains("logbook record 2") && err.contains("duration"),
        "{err}"
    );
    assert_eq!(device.pending(), 0);
    let err = device.fails(&["import", device.file("missing.json").to_str().unwrap()]);
    assert!(err.contains("cannot read"), "{err}");
}
