//! Crash recovery end to end, with real processes killed by SIGKILL: the server in the middle
//! of a device's upload (restarted on the same database and port), and a device in the middle
//! of its own upload. Afterwards every entry exists exactly once on every device and nothing
//! is left pending or dead-lettered.
//!
//! The server runs in a child process: `CARGO_BIN_EXE_legato-server` exists only for the
//! server crate's own tests, so this test binary re-executes itself to run the ignored test
//! [`server_process`], which serves the real `legato-server` library on the database and
//! address it is given and prints `listening on http://ADDR` like the binary does.
//!
//! The kill moments are random from a seed: `LEGATO_CRASH_SEED` (printed on every run) replays one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{Device, PASSWORD, email};

/// Set on the child test process: the database URL to serve.
const CHILD_DATABASE: &str = "LEGATO_CRASH_SERVER_DATABASE";
/// Set on the child test process: the address to bind (port 0: any free port).
const CHILD_LISTEN: &str = "LEGATO_CRASH_SERVER_LISTEN";

/// Entries device A creates offline before each crash.
const ENTRIES: usize = 600;

/// Not a test of its own: the server process the crash tests start and kill. Without the
/// environment variables above it returns at once.
#[test]
#[ignore = "the server child process of the crash tests; runs only when they start it"]
fn server_process() {
    let (Ok(database), Ok(listen)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_LISTEN))
    else {
        return;
    };
    let settings = legato_server::Settings::with_database(database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = legato_server::Server::open(settings).await.unwrap();
        // The same port right after a kill: retry briefly should the bind still fail.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(listen.as_str()).await {
                Ok(listener) => break listener,
                Err(err) if Instant::now() < deadline => {
                    eprintln!("bind {listen}: {err}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot bind {listen}: {err}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}").unwrap();
        stdout.flush().unwrap();
        drop(stdout);
        // Runs until SIGKILL.
        server
            .serve(listener, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    });
}

/// A server in a child process over a database file that outlives it.
struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    database: String,
    _dir: TempDir,
}

impl ServerProcess {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}", dir.path().join("server.db").display());
        let (child, addr) = spawn_server(&database, "127.0.0.1:0");
        ServerProcess {
            child: Some(child),
            addr,
            database,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown, no draining, no closing of the store.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// A new process on the same database and the same port.
    fn restart(&mut self) {
        self.kill();
        let (child, addr) = spawn_server(&self.database, &self.addr.to_string());
        assert_eq!(addr, self.addr);
        self.child = Some(child);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_server(database: &str, listen: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::server_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_DATABASE, database)
        .env(CHILD_LISTEN, listen)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start the server process");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    break addr.trim().parse().unwrap();
                }
            }
            other => {
                let _ = child.kill();
                panic!("the server process ended before listening: {other:?}");
            }
        }
    };
    // Nothing else is printed until the process dies; keep the pipe drained anyway.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// A small deterministic generator (splitmix64) for the kill moments.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Self {
        let seed = std::env::var("LEGATO_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x1e6a_70c0_ffee);
        eprintln!("{test}: LEGATO_CRASH_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A device's commands against the server process at `url` (`support::Device` only knows
/// the in-process `support::TestServer`; the variable set last wins).
struct Remote<'a> {
    device: &'a Device,
    url: String,
}

impl Remote<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.device.command(args);
        command.env("LEGATO_SERVER", &self.url);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("cannot run legato")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.output(args);
        assert!(
            output.status.success(),
            "`legato {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
    }

    /// `legato sync` until it succeeds (each attempt bounded); the successful run's summary.
    fn sync_until_ok(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.output(&["sync", "--timeout", "10"]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            if output.status.success() {
                return String::from_utf8(output.stdout).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "`legato sync` kept failing: {stderr}"
            );
            eprintln!("sync failed, retrying: {}", stderr.trim());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts `legato sync` in the background.
    fn spawn_sync(&self) -> Child {
        self.command(&["sync", "--timeout", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

/// Waits until `sync` has uploaded a random part (10% to 90%) of the `before` changes
/// pending (A's outbox read straight from its store) or has exited: the kill that follows
/// lands in the middle of the upload, whatever the machine's speed.
fn wait_for_upload(store: &legato_store::Store, sync: &mut Child, before: u64, rng: &mut Rng) {
    let target = before - before * (10 + rng.next() % 81) / 100;
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.pending_count().unwrap() > target && sync.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the upload did not progress");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Two devices of one new account on the server at `url`.
fn pair(url: &str) -> (Device, Device) {
    let address = email("crash");
    let (a, b) = (Device::offline(), Device::offline());
    let remote = |device| Remote {
        device,
        url: url.to_owned(),
    };
    remote(&a).ok(&[
        "account",
        "register",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);
    remote(&b).ok(&[
        "account",
        "login",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);
    (a, b)
}

/// Creates `count` logbook entries on `device` offline (one `log add`, then an import of
/// copies with fresh ids); their ids.
fn create_entries(device: &Device, count: usize) -> BTreeSet<String> {
    let first = device.add(&["--duration", "30", "--piece", "Etude", "--tag", "crash"]);
    let list: Value = device.json(&["log", "list", "--json"]);
    let template = list.as_array().unwrap()[0].clone();
    assert_eq!(template["id"], first.as_str());
    let mut ids = BTreeSet::from([first]);
    let records: Vec<Value> = (1..count)
        .map(|i| {
            let id = uuid::Uuid::now_v7().to_string();
            let mut record = template.clone();
            record["id"] = Value::from(id.as_str());
            record["duration"] = Value::from(1 + i % 120);
            record["notes"] = Value::from(format!("entry {i} of {count}"));
            ids.insert(id);
            record
        })
        .collect();
    let file = device.file("entries.json");
    std::fs::write(&file, Value::Array(records).to_string()).unwrap();
    let out = device.ok(&["import", file.to_str().unwrap(), "--type", "logbook"]);
    assert!(out.contains(&format!("{} created", count - 1)), "{out}");
    assert_eq!(ids.len(), count);
    ids
}

/// The logbook ids on `device` with how often each appears.
fn logbook_counts(device: &Device) -> BTreeMap<String, usize> {
    let list = device.json(&["log", "list", "--json"]);
    let mut counts = BTreeMap::new();
    for entry in list.as_array().unwrap() {
        *counts
            .entry(entry["id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// Every id of `expected` exactly once on `device`, and nothing else.
fn assert_exactly_once(device: &Device, expected: &BTreeSet<String>, name: &str) {
    let counts = logbook_counts(device);
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "duplicates on {name}: {duplicates:?}"
    );
    let ids: BTreeSet<String> = counts.into_keys().collect();
    let missing: Vec<_> = expected.difference(&ids).collect();
    let extra: Vec<_> = ids.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: {} missing (e.g. {:?}), {} unexpected (e.g. {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
}

fn assert_settled(remote: &Remote<'_>) {
    let status = remote.json(&["status", "--json"]);
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["deadLetters"], 0, "{status}");
    assert_eq!(status["conflicts"], 0, "{status}");
}

#[test]
fn a_server_killed_mid_upload_and_restarted_loses_and_duplicates_nothing() {
    let mut rng = Rng::from_env("server crash");
    let mut server = ServerProcess::start();
    let url = server.url();
    let (a, b) = pair(&url);
    let (ra, rb) = (
        Remote {
            device: &a,
            url: url.clone(),
        },
        Remote {
            device: &b,
            url: url.clone(),
        },
    );
    let mut expected = BTreeSet::new();
    // A's store read directly: polling it through `legato status` is too slow.
    let store = legato_store::Store::open(a.file("legato.db")).unwrap();

    // Two rounds: each kills the server while A uploads a fresh set of entries.
    for round in 0..2 {
        expected.extend(create_entries(&a, ENTRIES));
        let before = a.pending();
        let mut sync = ra.spawn_sync();
        wait_for_upload(&store, &mut sync, before, &mut rng);
        server.kill();
        let at_kill = store.pending_count().unwrap();
        server.restart();
        assert!(
            0 < at_kill && at_kill < before,
            "not mid-upload: {at_kill} of {before}"
        );
        let first = sync.wait().unwrap();
        eprintln!(
            "round {round}: killed the server with {at_kill} of {before} changes pending; \
             the interrupted sync exited {first:?}"
        );
        let out = ra.sync_until_ok();
        assert!(out.contains("pending 0"), "{out}");
        assert_eq!(a.pending(), 0);
    }

    let out = rb.sync_until_ok();
    assert!(out.contains("dead letters 0"), "{out}");
    assert_exactly_once(&b, &expected, "B");
    assert_exactly_once(&a, &expected, "A");
    assert_settled(&ra);
    assert_settled(&rb);
    // Nothing left to exchange in either direction.
    assert!(ra.ok(&["sync"]).contains("pushed 0, received 0"));
}

#[test]
fn a_device_killed_mid_upload_finishes_on_the_next_sync_without_duplicates() {
    let mut rng = Rng::from_env("device crash");
    let server = ServerProcess::start();
    let url = server.url();
    let (a, b) = pair(&url);
    let (ra, rb) = (
        Remote {
            device: &a,
            url: url.clone(),
        },
        Remote {
            device: &b,
            url: url.clone(),
        },
    );
    let mut expected = BTreeSet::new();
    // A's store read directly: polling it through `legato status` is too slow.
    let store = legato_store::Store::open(a.file("legato.db")).unwrap();

    for round in 0..2 {
        expected.extend(create_entries(&a, ENTRIES));
        let before = a.pending();
        let mut sync = ra.spawn_sync();
        wait_for_upload(&store, &mut sync, before, &mut rng);
        // SIGKILL: the engine gets no chance to flush or record anything.
        let _ = sync.kill();
        let exit = sync.wait().unwrap();
        let at_kill = store.pending_count().unwrap();
        eprintln!(
            "round {round}: killed `legato sync` ({exit:?}) with {at_kill} of {before} changes \
             pending"
        );
        assert!(
            0 < at_kill && at_kill < before,
            "not mid-upload: {at_kill} of {before}"
        );
        // The store survived the kill mid-write.
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let out = ra.sync_until_ok();
        assert!(out.contains("pending 0"), "{out}");
    }

    let out = rb.sync_until_ok();
    assert!(out.contains("dead letters 0"), "{out}");
    assert_exactly_once(&b, &expected, "B");
    assert_exactly_once(&a, &expected, "A");
    assert_settled(&ra);
    assert_settled(&rb);
    assert!(ra.ok(&["sync"]).contains("pushed 0, received 0"));
    drop(server);
}

/// Cycles of the soak: `LEGATO_SOAK_CYCLES`, else a few for the normal test run (`cargo
/// xtask soak` runs 100 or more).
fn soak_cycles() -> u64 {
    std::env::var("LEGATO_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

/// The crash loop: every cycle both devices add entries and goal progress offline, sync at
/// once, and then SIGKILL lands at a random moment of the sync on the server, on either
/// device, or on all of them. At the end: every entry exactly once everywhere, the goal's
/// progress the exact sum of every increment, nothing pending, and every database passes
/// `PRAGMA integrity_check`.
#[test]
fn soak_sigkills_server_and_devices_mid_sync_and_loses_nothing() {
    let cycles = soak_cycles();
    let mut rng = Rng::from_env("soak");
    let mut server = ServerProcess::start();
    let url = server.url();
    let (a, b) = pair(&url);
    let remotes = [
        Remote {
            device: &a,
            url: url.clone(),
        },
        Remote {
            device: &b,
            url: url.clone(),
        },
    ];
    let goal = remotes[0].ok(&["goal", "add", "Soak", "--type", "practice_time"]);
    let goal = goal.trim().to_owned();
    remotes[0].sync_until_ok();
    remotes[1].sync_until_ok();
    let mut expected = BTreeSet::new();
    let mut progress = 0;
    // Kills of the server, of A's sync and of B's sync; and how many syncs were still running
    // when their kill landed (the rest had finished first).
    let mut kills = [0u32; 3];
    let mut mid_sync = 0u32;
    for cycle in 0..cycles {
        for remote in &remotes {
            let count = 2 + usize::try_from(rng.next() % 40).unwrap();
            expected.extend(create_entries(remote.device, count));
            let by = 1 + rng.next() % 9;
            remote.ok(&["goal", "edit", &goal, "--add-progress", &by.to_string()]);
            progress += by;
        }
        let mut syncs: Vec<Child> = remotes.iter().map(Remote::spawn_sync).collect();
        std::thread::sleep(Duration::from_millis(rng.next() % 250));
        // What dies: 0 the server, 1 device A's sync, 2 device B's sync, 3 all of them.
        let victim = rng.next() % 4;
        if victim == 0 || victim == 3 {
            server.kill();
            kills[0] += 1;
        }
        for (n, sync) in syncs.iter_mut().enumerate() {
            if victim == 1 + n as u64 || victim == 3 {
                if sync.try_wait().unwrap().is_none() {
                    mid_sync += 1;
                }
                let _ = sync.kill();
                kills[1 + n] += 1;
            }
        }
        if victim == 0 || victim == 3 {
            server.restart();
        }
        for mut sync in syncs {
            sync.wait().unwrap();
        }
        for remote in &remotes {
            let store = legato_store::Store::open(remote.device.file("legato.db")).unwrap();
            assert_eq!(store.integrity_check().unwrap(), "ok", "cycle {cycle}");
        }
    }
    eprintln!(
        "soak: {cycles} cycles, server killed {} times, A's sync {}, B's sync {} \
         ({mid_sync} of those syncs still running)",
        kills[0], kills[1], kills[2]
    );
    for _ in 0..2 {
        for remote in &remotes {
            remote.sync_until_ok();
        }
    }
    assert_exactly_once(&a, &expected, "A");
    assert_exactly_once(&b, &expected, "B");
    for remote in &remotes {
        let goals = remote.json(&["goal", "list", "--json"]);
        let found = goals
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == goal.as_str())
            .map(|g| g["progress"].clone());
        assert_eq!(found, Some(Value::from(progress)), "every increment once");
        assert_settled(remote);
    }
    server.kill();
    let path = server.database.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "the server's database");
}
