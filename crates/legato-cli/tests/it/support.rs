//! Fixtures: a real server on a background runtime, and devices that run the real binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use legato_server::Settings;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";

/// A `legato-server` on 127.0.0.1:0 over a temp database; stopped when dropped.
pub struct TestServer {
    pub url: String,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A server whose settings `configure` changes first.
    pub fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::with_database(format!(
            "sqlite://{}",
            dir.path().join("server.db").display()
        ));
        configure(&mut settings);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                legato_server::serve(listener, settings, token)
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().expect("the server did not start");
        TestServer {
            url: format!("http://{addr}"),
            shutdown,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A server URL nothing listens on (a port bound and released at once).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// One device: a data directory the `legato` binary runs against.
pub struct Device {
    dir: TempDir,
    server: String,
}

impl Device {
    pub fn new(server: &TestServer) -> Self {
        Self::with_server(server.url.clone())
    }

    /// A device whose server is unreachable: for everything that works offline.
    pub fn offline() -> Self {
        Self::with_server(closed_port_url())
    }

    /// A device of the server at `url` (which need not exist).
    pub fn with_server(server: String) -> Self {
        Device {
            dir: tempfile::tempdir().unwrap(),
            server,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A copy of this device's data directory, on the same server: a backup restored on
    /// another machine.
    pub fn restored_copy(&self) -> Self {
        let copy = Device::with_server(self.server.clone());
        for file in files(self.path()) {
            let target = copy.path().join(file.strip_prefix(self.path()).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&file, &target).unwrap();
        }
        copy
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with this device's data directory, server and a file token store.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_legato"));
        command
            .args(args)
            .env("LEGATO_DATA_DIR", self.dir.path())
            .env("LEGATO_SERVER", &self.server)
            .env("LEGATO_KEYRING", "file")
            .env_remove("LEGATO_PASSWORD")
            .env_remove("LEGATO_EMAIL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("cannot run legato")
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.output(args);
        assert!(
            output.status.success(),
            "`legato {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command that must fail (non-zero, no panic); its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.output(args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !output.status.success(),
            "`legato {}` should have failed; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
    }

    /// `log add ...`: the new id.
    pub fn add(&self, args: &[&str]) -> String {
        self.ok(&[&["log", "add"], args].concat()).trim().to_owned()
    }

    pub fn register(&self, email: &str) {
        self.ok(&[
            "account",
            "register",
            "--email",
            email,
            "--password",
            PASSWORD,
        ]);
    }

    /// `account login` to an account [`Device::register`] made.
    pub fn login(&self, email: &str) {
        self.ok(&["account", "login", "--email", email, "--password", PASSWORD]);
    }

    pub fn pending(&self) -> u64 {
        self.json(&["status", "--json"])["pending"]
            .as_u64()
            .unwrap()
    }
}

/// Every regular file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A unique email per test.
pub fn email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}
