//! What the server benchmarks share: the real `legato-server` as a child process, its
//! memory from `/proc`, sign-up, and percentiles.

#![allow(dead_code)] // Each benchmark uses its own part.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A `legato-server` child process on a fresh database.
pub struct ServerProcess {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    pub fn start(extra_args: &[&str]) -> Self {
        Self::start_with_env(extra_args, &[])
    }

    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(None, extra_args, env)
    }

    /// On the database at `url` (a PostgreSQL URL), or on a fresh SQLite file (`None`).
    pub fn start_on(url: Option<&str>, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = url.map_or_else(
            || format!("sqlite://{}", dir.path().join("bench.db").display()),
            str::to_owned,
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_legato-server"))
            .args(["--listen", "127.0.0.1:0", "--database", &db])
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .env("LEGATO_IDLE_TIMEOUT_SECS", "600")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning legato-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ServerProcess {
            child,
            addr,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident memory now, in KiB.
    pub fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    /// Starts the process's peak (`VmHWM`) over from its resident memory now.
    pub fn reset_peak(&self) {
        let path = Path::new("/proc")
            .join(self.child.id().to_string())
            .join("clear_refs");
        std::fs::write(path, "5").expect("resetting the peak through /proc/<pid>/clear_refs");
    }

    /// The most resident memory the process has held, in KiB.
    pub fn peak_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    fn status_kb(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(
            Path::new("/proc")
                .join(self.child.id().to_string())
                .join("status"),
        )
        .expect("reading /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in /proc/<pid>/status"))
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..150 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn register(http: &reqwest::Client, server: &ServerProcess, email: &str) -> String {
    let response = http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": email, "password": "benchmark password"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("register body");
    body["token"].as_str().expect("token").to_owned()
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
