//! The three loss reproductions of issue 10, through the `legato` binary: devices of one
//! account, each its own data directory, against a real server. Each failed before its fix.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Device, TestServer, email};

/// `n` devices signed in to one new account on `server`.
fn devices(server: &TestServer, n: usize) -> Vec<Device> {
    let address = email("zero-loss");
    let devices: Vec<Device> = (0..n).map(|_| Device::new(server)).collect();
    devices[0].register(&address);
    for device in &devices[1..] {
        device.login(&address);
    }
    devices
}

fn goal_progress(device: &Device, id: &str) -> Value {
    let goals = device.json(&["goal", "list", "--json"]);
    goals
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .map(|g| g["progress"].clone())
        .unwrap_or_else(|| panic!("goal {id} not in {goals}"))
}

fn entry_ids(device: &Device) -> Vec<String> {
    let mut ids: Vec<String> = device
        .json(&["log", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn concurrent_increments_on_two_devices_add_up() {
    let server = TestServer::start();
    let [a, b] = <[Device; 2]>::try_from(devices(&server, 2)).ok().unwrap();
    let goal = a.ok(&["goal", "add", "Practice", "--type", "practice_time"]);
    let goal = goal.trim();
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    // Offline (no sync between), each adds progress.
    a.ok(&["goal", "edit", goal, "--add-progress", "10"]);
    b.ok(&["goal", "edit", goal, "--add-progress", "5"]);
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    assert_eq!(goal_progress(&a, goal), 15);
    assert_eq!(goal_progress(&b, goal), 15);
}

#[test]
fn keep_mine_keeps_my_delete_against_an_edit() {
    let server = TestServer::start();
    let [a, b] = <[Device; 2]>::try_from(devices(&server, 2)).ok().unwrap();
    let id = a.add(&["--duration", "30", "--notes", "first"]);
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    b.ok(&["log", "edit", &id, "--notes", "edited on B"]);
    a.ok(&["log", "delete", &id]);
    b.ok(&["sync"]);
    a.ok(&["sync", "--strategy", "local"]);
    b.ok(&["sync"]);
    assert!(entry_ids(&a).is_empty(), "A: {:?}", entry_ids(&a));
    assert!(entry_ids(&b).is_empty(), "B: {:?}", entry_ids(&b));
}

#[test]
fn a_restored_copy_and_its_original_get_every_entry() {
    let server = TestServer::start();
    let [a, c] = <[Device; 2]>::try_from(devices(&server, 2)).ok().unwrap();
    let first = a.add(&["--duration", "20"]);
    a.ok(&["sync"]);
    let a2 = a.restored_copy();

    let mut watcher = a
        .command(&["sync", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    let wait_for = |wanted: &str| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("`sync --watch` never printed {wanted}"));
        if line.contains(wanted) {
            return;
        }
    };
    wait_for("status synced");

    let from_copy = a2.add(&["--duration", "25"]);
    a2.ok(&["sync"]);
    let from_c = c.add(&["--duration", "35"]);
    c.ok(&["sync"]);
    wait_for(&from_c);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &watcher.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(watcher.wait().unwrap().success());

    for device in [&a, &a2, &c] {
        device.ok(&["sync"]);
    }
    let mut all = vec![first, from_copy, from_c];
    all.sort();
    for (name, device) in [("A", &a), ("A2", &a2), ("C", &c)] {
        assert_eq!(entry_ids(device), all, "{name}");
    }
}
