//! Test fixture: a throw-away PostgreSQL cluster, started once per test binary (also
//! included by the server benchmark), never the system service.
//!
//! `initdb` into a temp dir (as the `postgres` user when run as root: PostgreSQL refuses
//! root), `pg_ctl start` on a free loopback port with its socket in that dir and
//! `fsync=off` (tests only; [`durable_cluster`] keeps the defaults for benchmarks), one
//! fresh database per [`Cluster::database`]. A watcher
//! process stops the cluster and removes the dir once this process has exited, however it
//! ends (statics are never dropped). The binaries come from `LEGATO_PG_BIN` or the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql-15`, installed by `cargo xtask setup`).
//!
//! PostgreSQL missing: the tests that need it skip, unless `REQUIRE_POSTGRES=1` (CI, `cargo
//! xtask test`): then they fail. Installed but failing to start: they always fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running cluster; `url(db)` names one of its databases.
pub struct Cluster {
    port: u16,
    bin: PathBuf,
    created: AtomicUsize,
}

/// Settings of the tests' cluster: no fsync (spares the shared disk; nothing here needs to
/// survive a power loss).
const TEST_OPTIONS: &str = "-c fsync=off";

/// A cluster of its own with PostgreSQL's default settings (fsync on), for benchmarks;
/// `None` when PostgreSQL is not installed.
#[allow(dead_code)] // The server benchmark's (which includes this file).
pub fn durable_cluster() -> Option<Cluster> {
    match start("") {
        Ok(cluster) => Some(cluster),
        Err(missing) => {
            eprintln!("no PostgreSQL: {missing}");
            None
        }
    }
}

/// The binary's cluster, started on first use; `None` when PostgreSQL is not installed and
/// `REQUIRE_POSTGRES` is not `1` (the caller skips, saying why).
pub fn cluster(test: &str) -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(TEST_OPTIONS)) {
        Ok(cluster) => Some(cluster),
        Err(missing) => {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("{test}: REQUIRE_POSTGRES=1 but {missing}");
            }
            eprintln!("skipping {test}: {missing} (set REQUIRE_POSTGRES=1 to make this a failure)");
            None
        }
    }
}

impl Cluster {
    /// `postgres://` URL of database `name` (which may not exist yet).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://legato@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn database(&self, prefix: &str) -> String {
        let n = self.created.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}_{n}");
        let status = self
            .as_owner(&self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "legato",
            ])
            .args(["-E", "UTF8", "-T", "template0", &name])
            .stdout(Stdio::null())
            .status()
            .expect("run createdb");
        assert!(status.success(), "createdb {name}: {status}");
        self.url(&name)
    }

    fn as_owner(&self, program: &Path) -> Command {
        as_postgres(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` as the `postgres` user when this process is root (initdb and postgres refuse
/// to run as root), else as this user.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LEGATO_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn start(options: &str) -> Result<Cluster, String> {
    let Some(bin) = binaries() else {
        return Err(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; `cargo xtask \
             setup` installs postgresql-15)"
                .to_owned(),
        );
    };
    if is_root()
        && !Command::new("id")
            .arg("postgres")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Err("there is no `postgres` user to run PostgreSQL as".to_owned());
    }
    // A dir the cluster's owner owns (mktemp as that user).
    let made = as_postgres(Path::new("mktemp"))
        .args(["-d", "-t", "legato-pg-XXXXXX"])
        .output()
        .expect("run mktemp");
    assert!(made.status.success(), "mktemp: {made:?}");
    let dir = PathBuf::from(String::from_utf8(made.stdout).unwrap().trim());
    let data = dir.join("data");
    let initdb = as_postgres(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "legato", "-E", "UTF8", "--locale=C"])
        .stdout(Stdio::null())
        .output()
        .expect("run initdb");
    assert!(
        initdb.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&initdb.stderr)
    );
    watch(&bin, &dir);
    // A port free a moment ago may be taken by the time the server binds: try a few.
    for _ in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 {options}",
            dir.display()
        );
        let status = as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("pg.log"))
            .args(["-o", &options, "-w", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl");
        if status.success() {
            return Ok(Cluster {
                port,
                bin,
                created: AtomicUsize::new(0),
            });
        }
    }
    let log = std::fs::read_to_string(dir.join("pg.log")).unwrap_or_default();
    panic!("PostgreSQL did not start in {}:\n{log}", dir.display());
}

/// Starts a detached watcher that stops the cluster (`pg_ctl stop -m immediate`) and
/// removes its dir once this process is gone. Never waited for: it must outlive us.
#[allow(clippy::zombie_processes)]
fn watch(bin: &Path, dir: &Path) {
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; \
         '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
    );
    as_postgres(Path::new("setsid"))
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cluster's watcher");
}
