use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Device, PASSWORD, TestServer, email};

fn find(list: &Value, id: &str) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// Two devices of one account on `server`.
fn pair(server: &TestServer) -> (Device, Device) {
    let address = email("pair");
    let a = Device::new(server);
    let b = Device::new(server);
    a.register(&address);
    b.ok(&[
        "account",
        "login",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);
    (a, b)
}

#[test]
fn an_entry_added_on_one_device_reaches_the_other() {
    let server = TestServer::start();
    let (a, b) = pair(&server);
    let id = a.add(&["--duration", "40", "--piece", "Etude", "--notes", "from A"]);
    let piece = a.ok(&["repertoire", "add", "Etude"]).trim().to_owned();
    let out = a.ok(&["sync"]);
    assert!(out.contains("pushed 2"), "{out}");
    assert_eq!(a.pending(), 0);

    let out = b.ok(&["sync"]);
    assert!(out.contains("received 2"), "{out}");
    let logs = b.json(&["log", "list", "--json"]);
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(
        find(&logs, &id),
        find(&a.json(&["log", "list", "--json"]), &id)
    );
    assert_eq!(
        find(&b.json(&["repertoire", "list", "--json"]), &piece)["title"],
        "Etude"
    );

    // And back: an edit on B reaches A.
    b.ok(&["log", "edit", &id, "--notes", "edited on B"]);
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    assert_eq!(
        find(&a.json(&["log", "list", "--json"]), &id)["notes"],
        "edited on B"
    );

    let status = a.json(&["status", "--json"]);
    assert_eq!(status["connection"], "online");
    assert_eq!(status["pending"], 0);
    assert_eq!(status["health"], "healthy");
    assert!(
        status["lastSync"].is_i64() && status["cursor"].as_u64().unwrap() >= 3,
        "{status}"
    );
    assert_eq!(status["lastError"], Value::Null);
    // Syncing again is a no-op that still succeeds.
    assert!(a.ok(&["sync"]).contains("pushed 0, received 0"));
}

#[test]
fn a_manual_conflict_is_listed_and_resolved_by_merging() {
    let server = TestServer::start();
    let (a, b) = pair(&server);
    let id = a.add(&["--duration", "30", "--notes", "start", "--tag", "x"]);
    a.ok(&["sync"]);
    b.ok(&["sync"]);

    a.ok(&["log", "edit", &id, "--notes", "from A", "--tag", "a"]);
    a.ok(&["sync"]);
    b.ok(&["log", "edit", &id, "--notes", "from B", "--duration", "45"]);
    let out = b.ok(&["sync", "--strategy", "manual"]);
    assert!(out.contains("1 waiting for you"), "{out}");

    let conflicts = b.json(&["conflicts", "list", "--json"]);
    let conflict = &conflicts.as_array().unwrap()[0];
    assert_eq!(conflict["entityType"], "logbook");
    assert_eq!(conflict["entityId"], id.as_str());
    assert!(
        conflict["fields"]
            .as_array()
            .unwrap()
            .contains(&Value::from("notes")),
        "{conflict}"
    );
    assert_eq!(conflict["remote"]["notes"], "from A");
    assert!(b.ok(&["conflicts", "list"]).contains(&id));
    assert_eq!(b.json(&["status", "--json"])["conflicts"], 1);

    let conflict_id = conflict["id"].to_string();
    let out = b.ok(&["conflicts", "resolve", &conflict_id, "--take", "merge"]);
    assert!(out.contains("queued change"), "{out}");
    assert_eq!(
        b.json(&["conflicts", "list", "--json"]),
        Value::Array(Vec::new())
    );
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    for device in [&a, &b] {
        let entry = find(&device.json(&["log", "list", "--json"]), &id);
        assert_eq!(entry["notes"], "from B\n\n---\n\nfrom A");
        assert_eq!(entry["duration"], 45);
        assert_eq!(entry["tags"], serde_json::json!(["a"]));
    }
    let status = b.json(&["status", "--json"]);
    assert_eq!(
        (status["pending"].as_u64(), status["conflicts"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn sync_fails_clearly_when_signed_out_or_offline() {
    let server = TestServer::start();
    let device = Device::new(&server);
    let err = device.fails(&["sync"]);
    assert!(err.contains("not logged in"), "{err}");

    device.register(&email("offline"));
    device.add(&["--duration", "5"]);
    // A token the server does not know is refused: log in again.
    let token = std::fs::read_to_string(device.file("token")).unwrap();
    std::fs::write(device.file("token"), "not-a-valid-token").unwrap();
    let err = device.fails(&["sync", "--timeout", "5"]);
    assert!(err.contains("account login"), "{err}");
    std::fs::write(device.file("token"), token).unwrap();

    drop(server);
    let err = device.fails(&["sync", "--timeout", "5"]);
    assert!(err.contains("cannot reach the server"), "{err}");
    let status = device.json(&["status", "--json"]);
    assert_eq!(status["connection"], "offline");
    assert_eq!(status["pending"], 1);
    assert!(
        status["lastError"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{status}"
    );
}

#[test]
fn sync_watch_prints_changes_as_they_arrive_and_stops_on_sigterm() {
    let server = TestServer::start();
    let (a, b) = pair(&server);
    let mut watcher = b
        .command(&["sync", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let wait_for = |wanted: &dyn Fn(&str) -> bool| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("no such line from `sync --watch`");
        if wanted(&line) {
            return line;
        }
    };
    wait_for(&|l| l.starts_with("status synced"));

    let id = a.add(&["--duration", "25"]);
    a.ok(&["sync"]);
    let line = wait_for(&|l| l.contains(&id));
    assert_eq!(line, format!("logbook {id} 1"));
    assert!(b.ok(&["log", "list"]).contains(&id));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &watcher.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = watcher.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// A server whose storage quota is used up answers `quota_exceeded`: the entry stays on the
/// device and queued (never dead-lettered), and the status says why.
#[test]
fn an_account_over_its_quota_keeps_its_entries_queued() {
    let server = crate::support::TestServer::start_with(|s| s.user_quota_bytes = Some(10_000));
    let device = crate::support::Device::new(&server);
    device.register(&crate::support::email("quota"));
    let long = "slow practice, hands separately. ".repeat(450);
    let big = device.add(&["--duration", "30", "--notes", &long]);
    let _ = device.output(&["sync"]);
    let status = device.json(&["status", "--json"]);
    assert_eq!(status["pending"], 1, "{status}");
    assert_eq!(status["deadLetters"], 0, "{status}");
    let refusal = status["pendingRefusal"].as_str().unwrap_or_default();
    assert!(refusal.starts_with("quota_exceeded"), "{status}");
    assert!(device.ok(&["status"]).contains("waiting: quota_exceeded"));
    let list = device.ok(&["log", "list"]);
    assert!(list.contains(&big), "{list}");
}
