use serde_json::Value;

use crate::support::{Device, PASSWORD, TestServer, email};

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
    let file = a.file("export.json");
    a.ok(&[
        "export",
        "--format",
        "backup",
        "--out",
        file.to_str().unwrap(),
    ]);
    let export = std::fs::read_to_string(&file).unwrap();
    let without_time = |text: &str| {
        let mut doc: Value = serde_json::from_str(text).unwrap();
        doc.as_object_mut().unwrap().remove("exportedAt");
        doc
    };
    assert_eq!(
        without_time(&export),
        without_time(&a.ok(&["export"])),
        "backup is the default, to stdout"
    );

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
fn invalid_records_are_skipped_and_a_bad_file_writes_nothing() {
    let device = Device::offline();
    let file = device.file("mixed.json");
    std::fs::write(
        &file,
        r#"{"format": "legato-export", "version": 1, "logbook": [
            {"id": "ok-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 30},
            {"id": "bad-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 0}]}"#,
    )
    .unwrap();
    // --dry-run: the counts, nothing written.
    let out = device.output(&["import", file.to_str().unwrap(), "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("nothing written")
            && stdout.contains("1 created, 0 updated, 0 unchanged, 1 skipped"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped logbook bad-1 at 2") && stderr.contains("duration"),
        "{stderr}"
    );
    assert_eq!(device.pending(), 0);
    let out = device.ok(&["import", file.to_str().unwrap()]);
    assert!(
        out.contains("1 created, 0 updated, 0 unchanged, 1 skipped"),
        "{out}"
    );
    assert_eq!(device.pending(), 1);

    std::fs::write(
        &file,
        "{\"format\": \"legato-export\", \"version\": 1, \"logbook\": [",
    )
    .unwrap();
    let err = device.fails(&["import", file.to_str().unwrap()]);
    assert!(err.contains("not valid JSON"), "{err}");
    assert_eq!(device.pending(), 1);
    let err = device.fails(&["import", device.file("missing.json").to_str().unwrap()]);
    assert!(err.contains("cannot read"), "{err}");
}

/// Another app's CSV, as practice apps write it: no ids.
const OTHER_APP_CSV: &str = "Date,Start Time,Duration (minutes),Piece,Composer,Instrument,Notes\n\
    2026-11-20,18:30,45,Ballade No. 1,Chopin,Piano,slow\n\
    2026-11-21,07:15,20,Etude Op. 10 No. 1,Chopin,Piano,\n\
    2026-11-22,19:00,abc,Etude Op. 10 No. 1,Chopin,Piano,\n";

fn count(device: &Device, group: &str) -> usize {
    device
        .json(&[group, "list", "--json"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn an_export_imported_on_another_device_syncs_without_duplicates() {
    let server = TestServer::start();
    let address = email("transfer");
    let a = Device::new(&server);
    let b = Device::new(&server);
    a.register(&address);
    b.ok(&[
        "account",
        "login",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);

    // A's data reaches the server; B has not synced yet and imports A's backup.
    seed(&a);
    a.ok(&["sync"]);
    let backup = a.file("backup.json");
    a.ok(&[
        "export",
        "--format",
        "backup",
        "--out",
        backup.to_str().unwrap(),
    ]);
    let out = b.ok(&["import", backup.to_str().unwrap()]);
    assert!(
        out.contains("4 created, 0 updated, 0 unchanged, 0 skipped"),
        "{out}"
    );

    // The same other-app CSV imported on both devices before they sync: the same ids.
    let csv = a.file("other-app.csv");
    std::fs::write(&csv, OTHER_APP_CSV).unwrap();
    for device in [&a, &b] {
        let out = device.output(&["import", csv.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("2 created, 0 updated, 0 unchanged, 1 skipped"),
            "{stdout}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("at 4: column `Duration (minutes)`"),
            "{out:?}"
        );
    }

    for _ in 0..2 {
        a.ok(&["sync"]);
        b.ok(&["sync"]);
    }
    assert_eq!(a.pending(), 0);
    assert_eq!(b.pending(), 0);
    assert_eq!(count(&a, "log"), 4);
    assert_eq!(lists(&b), lists(&a));

    // Importing both files again, anywhere, changes nothing.
    for device in [&a, &b] {
        let out = device.ok(&["import", backup.to_str().unwrap()]);
        assert!(out.contains("0 created, 0 updated"), "{out}");
        let out = device.ok(&["import", csv.to_str().unwrap()]);
        assert!(out.contains("0 created, 0 updated, 2 unchanged"), "{out}");
        assert_eq!(device.pending(), 0);
    }
}
