//! The end-to-end harness: a real `legato-server` process, the real app (through
//! `tauri-driver`, or started directly for the tray and keyring tests), the `legato` CLI as
//! another device, accessible-name lookups (docs/ui-contract.md), screenshots, and the
//! session-bus helpers (tray menu over dbusmenu, `dunstctl`, the Secret Service).
//!
//! Used by `tests/e2e/main.rs` and `tests/app_smoke.rs` (`#[path]` module).
//!
//! Binaries: the app is `CARGO_BIN_EXE_legato-app`; `legato` and `legato-server` belong to
//! other packages, so they are found next to the test's own directory
//! (`<target>/debug/{legato,legato-server}`, or `LEGATO_E2E_BIN_DIR`). `cargo xtask test` and
//! `cargo xtask test e2e` build them first (`cargo build -p legato-cli -p legato-server`).
//!
//! Prerequisites missing: the test skips, unless `REQUIRE_E2E=1` (CI, xtask): then it fails.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use thirtyfour::prelude::*;

pub const APP: &str = env!("CARGO_BIN_EXE_legato-app");
pub const PASSWORD: &str = "e2e-password-123";
/// How long one UI step may take (a sync round trip included).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(25);

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/e2e-artifacts/<test>/`, emptied at the start of the test.
pub fn artifacts(test: &str) -> PathBuf {
    let dir = root().join("target").join("e2e-artifacts").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create target/e2e-artifacts/<test>");
    dir
}

pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

fn tauri_driver() -> Option<PathBuf> {
    on_path("tauri-driver").or_else(|| {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        Some(cargo_home.join("bin").join("tauri-driver")).filter(|p| p.is_file())
    })
}

/// A binary of another package of the workspace: `LEGATO_E2E_BIN_DIR`, else the profile
/// directory this test binary was built into (`<target>/debug/deps/..`).
pub fn workspace_bin(name: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("LEGATO_E2E_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .to_path_buf(),
    };
    Some(dir.join(name)).filter(|p| p.is_file())
}

/// What a test needs from its surroundings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The app under WebDriver (display, tauri-driver, WebKitWebDriver, the built UI).
    WebDriver,
    /// The app started directly on a private session bus (tray, notifications, keyring).
    SessionBus,
}

fn missing_prerequisite(needs: &[Needs]) -> Option<String> {
    if !cfg!(feature = "custom-protocol") {
        return Some(
            "the app is not built with `--features custom-protocol` (it would load the Vite dev server)"
                .into(),
        );
    }
    if !root().join("dist").join("index.html").is_file() {
        return Some("dist/index.html is missing: run `npm run build` first".into());
    }
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Some("no display: run under `xvfb-run -a`".into());
    }
    for bin in ["legato", "legato-server"] {
        if workspace_bin(bin).is_none() {
            return Some(format!(
                "the `{bin}` binary is not built next to this test: run `cargo build -p legato-cli -p legato-server` (or set LEGATO_E2E_BIN_DIR)"
            ));
        }
    }
    if needs.contains(&Needs::WebDriver) {
        if tauri_driver().is_none() {
            return Some("tauri-driver is not installed (`cargo xtask setup`)".into());
        }
        if on_path("WebKitWebDriver").is_none() {
            return Some("WebKitWebDriver is not installed (Debian: webkit2gtk-driver)".into());
        }
    }
    if needs.contains(&Needs::SessionBus) {
        // Never on a desktop's own bus: these tests write to the keyring and read the
        // notification history.
        if std::env::var("LEGATO_E2E_PRIVATE_BUS").ok().as_deref() != Some("1") {
            return Some(
                "not on a private session bus: run under `dbus-run-session -- keyctl session -` with LEGATO_E2E_PRIVATE_BUS=1 (cargo xtask test e2e does)".into(),
            );
        }
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            return Some("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS)".into());
        }
        for tool in ["busctl", "dunstctl", "gnome-keyring-daemon"] {
            if on_path(tool).is_none() {
                return Some(format!("`{tool}` is not installed (`cargo xtask setup`)"));
            }
        }
    }
    None
}

/// Skips (returns true) when the test cannot run here, or fails under `REQUIRE_E2E=1`.
pub fn skip_unless_runnable(test: &str, needs: &[Needs]) -> bool {
    let Some(missing) = missing_prerequisite(needs) else {
        return false;
    };
    if std::env::var("REQUIRE_E2E").is_ok_and(|v| v == "1") {
        panic!("{test}: REQUIRE_E2E=1 but {missing}");
    }
    eprintln!("skipping {test}: {missing} (set REQUIRE_E2E=1 to make this a failure)");
    true
}

/// One real-app test at a time in this process (one WebDriver session at a time).
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Stage {
    /// [`Stage::new`] for a test that drives the app; `None` when it cannot run here (see
    /// [`skip_unless_runnable`]).
    pub async fn start(test: &str) -> Option<Stage> {
        if skip_unless_runnable(test, &[Needs::WebDriver]) {
            return None;
        }
        Some(Stage::new(test).await)
    }

    /// The app signed in to the stage's account on a fresh data dir (returned too: it must
    /// live as long as the app).
    pub async fn launch(&self) -> (App, tempfile::TempDir) {
        let data = tempfile::tempdir().unwrap();
        let env = AppEnv::new(data.path(), &self.server, &self.account);
        (App::launch(env, &self.art).await, data)
    }

    /// [`Stage::start`], then [`Stage::launch`]: the usual scenario.
    pub async fn with_app(test: &str) -> Option<(Stage, App, tempfile::TempDir)> {
        let stage = Stage::start(test).await?;
        let (app, data) = stage.launch().await;
        Some((stage, app, data))
    }
}

/// A unique account email per test.
/// The common start of a scenario: one WebDriver session at a time, the artifacts dir, a
/// real server, and a CLI device signed up to a fresh account (the app's other device).
/// The lock is the last field and, when destructuring, goes first in the pattern: fields
/// drop in order, bindings last-first, so either way it is released last.
pub struct Stage {
    pub art: PathBuf,
    pub server: Server,
    pub account: String,
    pub cli: CliDevice,
    pub _one: tokio::sync::MutexGuard<'static, ()>,
}

impl Stage {
    pub async fn new(test: &str) -> Stage {
        let one = exclusive().await;
        let art = artifacts(test);
        let server = Server::start(&art.join("server.log"));
        let account = email(test);
        let cli = CliDevice::new(&server);
        cli.register(&account);
        Stage {
            art,
            server,
            account,
            cli,
            _one: one,
        }
    }
}

pub fn email(test: &str) -> String {
    format!("{test}-{}@legato.test", uuid::Uuid::new_v4().simple())
}

/// Sends SIGTERM to `pid` (or, negative, a process group) and waits up to `grace` for
/// `child` to end.
fn terminate(child: &mut Child, target: &str, grace: Duration) -> bool {
    let _ = Command::new("kill").args(["-TERM", "--", target]).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

// ---------------------------------------------------------------------------------------
// The sync server

/// The real `legato-server` binary on a loopback port, its database in a temp dir. It can
/// be stopped and started again on the same port and database.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Server {
    /// Starts on a free port (`--listen 127.0.0.1:0`); `log` receives its stderr.
    pub fn start(log: &Path) -> Server {
        let dir = tempfile::tempdir().expect("server dir");
        let mut server = Server {
            child: None,
            port: 0,
            url: String::new(),
            dir,
            log: log.to_path_buf(),
        };
        server.spawn("127.0.0.1:0");
        server
    }

    fn spawn(&mut self, listen: &str) {
        let binary = workspace_bin("legato-server").expect("legato-server binary");
        let database = format!("sqlite://{}", self.dir.path().join("server.db").display());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let mut child = Command::new(binary)
            .args(["--listen", listen, "--database", &database])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start legato-server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => {
                    let status = child.wait();
                    panic!(
                        "legato-server exited before listening ({status:?}); see {}",
                        self.log.display()
                    );
                }
            }
        };
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the server's URL");
        self.url = url;
        self.child = Some(child);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops it (SIGTERM, then SIGKILL after 15 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            if !terminate(&mut child, &pid, Duration::from_secs(15)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts it again on the same port and database.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let listen = format!("127.0.0.1:{}", self.port);
        // The port may be in TIME_WAIT for a moment; the server's listener reuses it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(&listen) {
                Ok(probe) => {
                    drop(probe);
                    break;
                }
                Err(err) if Instant::now() < deadline => {
                    eprintln!("waiting for {listen}: {err}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => panic!("port {listen} stays busy: {err}"),
            }
        }
        self.spawn(&listen);
    }

    /// A gauge or counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let body = reqwest::get(format!("{}/metrics", self.url))
            .await?
            .text()
            .await?;
        body.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                (key == name || key.starts_with(&format!("{name}{{")))
                    .then(|| value.parse().ok())
                    .flatten()
            })
            .with_context(|| format!("no metric {name}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// The CLI as another device

/// A device run by the `legato` binary: its own data dir, a file token store.
pub struct CliDevice {
    dir: tempfile::TempDir,
    server: String,
}

impl CliDevice {
    pub fn new(server: &Server) -> CliDevice {
        CliDevice {
            dir: tempfile::tempdir().expect("cli dir"),
            server: server.url.clone(),
        }
    }

    /// A CLI working on an existing data dir (e.g. to prepare the app's device).
    pub fn command_in(dir: &Path, server: &str, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_bin("legato").expect("legato binary"));
        command
            .args(args)
            .env("LEGATO_DATA_DIR", dir)
            .env("LEGATO_SERVER", server)
            .env("LEGATO_KEYRING", "file")
            .env_remove("LEGATO_PASSWORD")
            .env_remove("LEGATO_EMAIL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn output(&self, args: &[&str]) -> Output {
        Self::command_in(self.dir.path(), &self.server, args)
            .output()
            .expect("cannot run legato")
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(self.output(args), args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
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

    pub fn login(&self, email: &str) {
        self.ok(&["account", "login", "--email", email, "--password", PASSWORD]);
    }

    /// `log add ...`: the new id.
    pub fn add(&self, args: &[&str]) -> String {
        self.ok(&[&["log", "add"], args].concat()).trim().to_owned()
    }

    pub fn sync(&self) -> String {
        self.ok(&["sync", "--timeout", "20"])
    }

    /// The entry `id` as `log list --json` shows it.
    pub fn entry(&self, id: &str) -> Option<Value> {
        let list = self.json(&["log", "list", "--json"]);
        list.as_array()?
            .iter()
            .find(|e| e["id"].as_str() == Some(id))
            .cloned()
    }

    pub fn entries(&self) -> Vec<Value> {
        self.json(&["log", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn run_ok(output: Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "`legato {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

// ---------------------------------------------------------------------------------------
// The app's environment

/// How the app is started: data dir, server, token store, account.
#[derive(Debug, Clone)]
pub struct AppEnv {
    pub data_dir: PathBuf,
    pub server: String,
    /// `memory` (default in tests) or `os`.
    pub keyring: &'static str,
    /// `email:password` for `LEGATO_DEV_LOGIN` (None: start signed out / from the keyring).
    pub login: Option<String>,
    /// Extra variables (e.g. a bus address).
    pub extra: Vec<(String, String)>,
}

impl AppEnv {
    pub fn new(data_dir: &Path, server: &Server, email: &str) -> AppEnv {
        AppEnv {
            data_dir: data_dir.to_path_buf(),
            server: server.url.clone(),
            keyring: "memory",
            login: Some(format!("{email}:{PASSWORD}")),
            extra: Vec::new(),
        }
    }

    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "LEGATO_DATA_DIR".to_owned(),
                self.data_dir.display().to_string(),
            ),
            ("LEGATO_SERVER".to_owned(), self.server.clone()),
            ("LEGATO_KEYRING".to_owned(), self.keyring.to_owned()),
            (
                "LEGATO_DEV_LOGIN".to_owned(),
                self.login.clone().unwrap_or_default(),
            ),
            (
                "LEGATO_LOG".to_owned(),
                "info,legato_app=debug,legato_sync=debug".to_owned(),
            ),
        ];
        vars.extend(self.extra.iter().cloned());
        vars
    }

    /// Today's log file of the app (in its data dir).
    pub fn log_text(&self) -> String {
        let dir = self.data_dir.join("logs");
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    pub fn settings_json(&self) -> Value {
        std::fs::read_to_string(self.data_dir.join("settings.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null)
    }
}

// ---------------------------------------------------------------------------------------
// The app under WebDriver

/// `tauri-driver` in its own process group; dropping it sends SIGTERM to the whole group
/// (never SIGKILL: that would orphan WebKitWebDriver, which keeps the test's output open).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(app_env: &[(String, String)], log: &Path) -> Driver {
        let port = free_port();
        let native_port = free_port();
        let log = std::fs::File::create(log).expect("driver log file");
        let mut command = Command::new(tauri_driver().expect("tauri-driver"));
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        // WebKitWebDriver starts the app with the driver's environment.
        for (name, value) in app_env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start tauri-driver");
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The app process started under this driver (same process group).
    fn app_pid(&self) -> Option<u32> {
        let group = self.child.id();
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // Fields after the command name: state ppid pgrp ...
                let after = stat.rsplit_once(')')?.1;
                let pgrp: u32 = after.split_whitespace().nth(2)?.parse().ok()?;
                (pgrp == group && comm.trim() == "legato-app").then_some(pid)
            })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        if !terminate(&mut self.child, &group, Duration::from_secs(10)) {
            eprintln!("tauri-driver did not stop after SIGTERM; leaving it");
        }
    }
}

/// Finds elements by ARIA role and accessible name (a small, deliberate subset of the
/// accessible-name computation: aria-labelledby, aria-label, <label>, <legend>, content).
/// Arguments: role (or `field`: any form control), name, mode (exact | prefix | contains),
/// scope element or null. Only rendered elements count.
const FIND_BY_ROLE: &str = r#"
const [role, name, mode, scope] = arguments;
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
function roleOf(el) {
  const explicit = el.getAttribute('role');
  if (explicit) return explicit.split(' ')[0];
  const t = el.tagName.toLowerCase();
  if (t === 'button' || t === 'summary') return 'button';
  if (t === 'a') return el.hasAttribute('href') ? 'link' : '';
  if (t === 'select') return (el.multiple || el.size > 1) ? 'listbox' : 'combobox';
  if (t === 'textarea') return 'textbox';
  if (t === 'input') {
    const ty = (el.getAttribute('type') || 'text').toLowerCase();
    if (['button', 'submit', 'reset', 'image'].includes(ty)) return 'button';
    if (ty === 'checkbox') return 'checkbox';
    if (ty === 'radio') return 'radio';
    if (ty === 'search') return 'searchbox';
    if (ty === 'number') return 'spinbutton';
    if (ty === 'range') return 'slider';
    if (ty === 'hidden') return '';
    if (['date', 'time', 'datetime-local', 'month', 'week'].includes(ty)) return 'date';
    return 'textbox';
  }
  const map = { nav: 'navigation', aside: 'complementary', form: 'form', dialog: 'dialog',
    ul: 'list', ol: 'list', li: 'listitem', progress: 'progressbar', fieldset: 'group',
    table: 'table', tr: 'row', td: 'cell', th: 'columnheader', output: 'status', main: 'main',
    h1: 'heading', h2: 'heading', h3: 'heading', h4: 'heading', h5: 'heading', h6: 'heading',
    option: 'option', label: '' };
  if (t === 'section') return (el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby')) ? 'region' : '';
  return map[t] || '';
}
function labelText(label) {
  const copy = label.cloneNode(true);
  copy.querySelectorAll('input, select, textarea, [aria-hidden="true"]').forEach((n) => n.remove());
  return copy.textContent;
}
function nameOf(el) {
  const by = el.getAttribute('aria-labelledby');
  if (by) return norm(by.split(/\s+/).map((id) => { const e = document.getElementById(id); return e ? e.textContent : ''; }).join(' '));
  const label = el.getAttribute('aria-label');
  if (label && label.trim()) return norm(label);
  if (el.labels && el.labels.length) return norm(Array.from(el.labels).map(labelText).join(' '));
  const t = el.tagName.toLowerCase();
  if (t === 'fieldset') { const legend = el.querySelector('legend'); return legend ? norm(legend.textContent) : ''; }
  if (t === 'input' && ['button', 'submit', 'reset'].includes(el.type)) return norm(el.value);
  const r = roleOf(el);
  if (['button', 'link', 'radio', 'checkbox', 'tab', 'option', 'heading', 'listitem', 'menuitem', 'status', 'alert', 'cell', 'columnheader'].includes(r)) return norm(el.textContent);
  return norm(el.getAttribute('title'));
}
const fields = ['textbox', 'searchbox', 'combobox', 'listbox', 'spinbutton', 'date', 'checkbox', 'slider'];
const wanted = norm(name);
const rendered = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[aria-hidden="true"], [hidden], [inert]');
const all = Array.from((scope || document).querySelectorAll('*'));
const matches = (n) => mode === 'exact' ? n === wanted : mode === 'prefix' ? n.startsWith(wanted) : n.includes(wanted);
return all.filter((el) => {
  const r = roleOf(el);
  if (role === 'field' ? !fields.includes(r) : r !== role) return false;
  return rendered(el) && (wanted === '' || matches(nameOf(el)));
});
"#;

/// Sets a form control's value the way a user's input would (input and change events).
const SET_VALUE: &str = r#"
const [el, value] = arguments;
if (el.tagName === 'SELECT') {
  const option = Array.from(el.options).find((o) => o.textContent.trim() === value || o.value === value);
  if (!option) throw new Error('no option ' + value + ' in ' + Array.from(el.options).map((o) => o.textContent.trim()).join('|'));
  el.value = option.value;
} else if (el.type === 'checkbox') {
  if (el.checked !== (value === 'true')) { el.click(); return; }
  return;
} else {
  const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, value);
}
el.dispatchEvent(new Event('input', { bubbles: true }));
el.dispatchEvent(new Event('change', { bubbles: true }));
"#;

/// How a name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    Prefix,
    Contains,
}

impl Match {
    fn as_str(self) -> &'static str {
        match self {
            Match::Exact => "exact",
            Match::Prefix => "prefix",
            Match::Contains => "contains",
        }
    }
}

/// The real app in a WebDriver session, plus where its screenshots go.
pub struct App {
    pub driver: WebDriver,
    process: Option<Driver>,
    pub env: AppEnv,
    pub artifacts: PathBuf,
    shots: usize,
}

impl App {
    /// Starts `tauri-driver` and a session with the app (window up, page loaded).
    pub async fn launch(env: AppEnv, artifacts: &Path) -> App {
        let process = Driver::start(&env.vars(), &artifacts.join("driver.log"));
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("wry"));
        caps.insert("tauri:options".into(), json!({ "application": APP }));
        let driver = WebDriver::new(process.url(), caps)
            .await
            .expect("a WebDriver session with the app");
        App {
            driver,
            process: Some(process),
            env,
            artifacts: artifacts.to_path_buf(),
            shots: 0,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Driver::app_pid)
    }

    /// Saves a screenshot as `<artifacts>/<NN>-<step>.png`.
    pub async fn shot(&mut self, step: &str) -> anyhow::Result<PathBuf> {
        self.shots += 1;
        let path = self.artifacts.join(format!("{:02}-{step}.png", self.shots));
        self.driver.screenshot(&path).await?;
        Ok(path)
    }

    /// Ends the test: on failure a screenshot and the page's HTML go to the artifacts; the
    /// session and the driver are stopped; the failure is raised.
    pub async fn finish(mut self, outcome: anyhow::Result<()>) {
        if outcome.is_err() {
            let _ = self.shot("failure").await;
            if let Ok(html) = self.driver.source().await {
                let _ = std::fs::write(self.artifacts.join("failure.html"), html);
            }
        }
        let _ = self.driver.clone().quit().await;
        drop(self.process.take());
        let _ = std::fs::write(self.artifacts.join("app.log"), self.env.log_text());
        if let Err(err) = outcome {
            panic!(
                "{err:#}\n(artifacts: {}; the app's log is app.log there)",
                self.artifacts.display()
            );
        }
    }

    /// Elements with `role` and `name` (now, no waiting).
    pub async fn all(
        &self,
        role: &str,
        name: &str,
        mode: Match,
        scope: Option<&WebElement>,
    ) -> WebDriverResult<Vec<WebElement>> {
        let scope = match scope {
            Some(el) => el.to_json()?,
            None => Value::Null,
        };
        self.driver
            .execute(
                FIND_BY_ROLE,
                vec![json!(role), json!(name), json!(mode.as_str()), scope],
            )
            .await?
            .elements()
    }

    /// Waits for an element with that role and name (inside `scope` if given); the first.
    pub async fn find_in(
        &self,
        scope: Option<&WebElement>,
        role: &str,
        name: &str,
        mode: Match,
    ) -> anyhow::Result<WebElement> {
        let what = format!("{role} named {name:?} ({mode:?})");
        eventually(&what, || async {
            Ok(self.all(role, name, mode, scope).await?.into_iter().next())
        })
        .await
    }

    pub async fn find(&self, role: &str, name: &str) -> anyhow::Result<WebElement> {
        self.find_in(None, role, name, Match::Exact).await
    }

    pub async fn present(&self, role: &str, name: &str, mode: Match) -> bool {
        self.all(role, name, mode, None)
            .await
            .is_ok_and(|found| !found.is_empty())
    }

    /// Waits until no element has that role and name.
    pub async fn gone(&self, role: &str, name: &str, mode: Match) -> anyhow::Result<()> {
        eventually(&format!("no {role} named {name:?}"), || async {
            Ok(self
                .all(role, name, mode, None)
                .await?
                .is_empty()
                .then_some(()))
        })
        .await
    }

    pub async fn click(&self, role: &str, name: &str) -> anyhow::Result<()> {
        let element = self.find(role, name).await?;
        element.scroll_into_view().await?;
        element.click().await?;
        Ok(())
    }

    pub async fn button(&self, name: &str) -> anyhow::Result<()> {
        self.click("button", name).await
    }

    pub async fn button_in(&self, scope: &WebElement, name: &str) -> anyhow::Result<()> {
        let element = self
            .find_in(Some(scope), "button", name, Match::Exact)
            .await?;
        element.scroll_into_view().await?;
        element.click().await?;
        Ok(())
    }

    /// Sets a form control (textbox, select by option text, date, checkbox "true"/"false")
    /// found by its label, inside `scope` if given.
    pub async fn fill_in(
        &self,
        scope: Option<&WebElement>,
        label: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let element = self.find_in(scope, "field", label, Match::Exact).await?;
        let tag = element.tag_name().await?.to_lowercase();
        let kind = element.attr("type").await?.unwrap_or_default();
        element.scroll_into_view().await?;
        if (tag == "input"
            && matches!(
                kind.as_str(),
                "" | "text" | "search" | "email" | "url" | "password"
            ))
            || tag == "textarea"
        {
            // Typed, like a user; cleared first through the value setter (input event).
            self.driver
                .execute(SET_VALUE, vec![element.to_json()?, json!("")])
                .await?;
            if !value.is_empty() {
                element.send_keys(value).await?;
            }
        } else {
            self.driver
                .execute(SET_VALUE, vec![element.to_json()?, json!(value)])
                .await?;
        }
        Ok(())
    }

    pub async fn fill(&self, label: &str, value: &str) -> anyhow::Result<()> {
        self.fill_in(None, label, value).await
    }

    /// In the entry form: the title (and composer) of a new piece: in the empty piece row
    /// if the form has one, else in a row added with `Add piece`.
    pub async fn add_piece(
        &self,
        form: &WebElement,
        title: &str,
        composer: Option<&str>,
    ) -> anyhow::Result<()> {
        let titles = self
            .all("field", "Piece title", Match::Exact, Some(form))
            .await?;
        let mut empty = None;
        for (i, field) in titles.iter().enumerate() {
            if field.prop("value").await?.unwrap_or_default().is_empty() {
                empty = Some(i);
                break;
            }
        }
        let row = match empty {
            Some(row) => row,
            None => {
                self.button_in(form, "Add piece").await?;
                eventually("a new piece row in the form", || async {
                    let now = self
                        .all("field", "Piece title", Match::Exact, Some(form))
                        .await?;
                    Ok((now.len() > titles.len()).then_some(titles.len()))
                })
                .await?
            }
        };
        let titles = self
            .all("field", "Piece title", Match::Exact, Some(form))
            .await?;
        titles
            .get(row)
            .context("the piece's title field")?
            .send_keys(title)
            .await?;
        if let Some(composer) = composer {
            let composers = self
                .all("field", "Composer", Match::Exact, Some(form))
                .await?;
            composers
                .get(row)
                .context("the piece's composer field")?
                .send_keys(composer)
                .await?;
        }
        Ok(())
    }

    /// A control's current value (`value` property).
    pub async fn value_of(
        &self,
        scope: Option<&WebElement>,
        label: &str,
    ) -> anyhow::Result<String> {
        let element = self.find_in(scope, "field", label, Match::Exact).await?;
        Ok(element.prop("value").await?.unwrap_or_default())
    }

    /// The sync status bar's text.
    pub async fn status_text(&self) -> anyhow::Result<String> {
        Ok(self.find("status", "Sync status").await?.text().await?)
    }

    /// Waits until the status bar's text satisfies `check`; returns it.
    pub async fn wait_status(
        &self,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let last = std::cell::RefCell::new(String::new());
        let last = &last;
        let check = &check;
        let result = eventually(&format!("the status bar: {what}"), || async move {
            let element = self
                .all("status", "Sync status", Match::Exact, None)
                .await?;
            let Some(element) = element.into_iter().next() else {
                return Ok(None);
            };
            let text = element.text().await?;
            last.replace(text.clone());
            Ok(check(&text).then_some(text))
        })
        .await;
        result.with_context(|| format!("last status text: {:?}", last.borrow()))
    }

    /// The logbook's entry button whose text contains `text`, if listed now.
    pub async fn entry_now(&self, text: &str) -> WebDriverResult<Option<WebElement>> {
        let xpath = format!(
            "//ul[starts-with(@aria-label, 'Entries on ')]/li//button[contains(normalize-space(.), {})]",
            xpath_literal(text)
        );
        Ok(self
            .driver
            .find_all(By::XPath(xpath))
            .await?
            .into_iter()
            .next())
    }

    /// Waits for the logbook's entry button whose text contains `text`.
    pub async fn entry(&self, text: &str) -> anyhow::Result<WebElement> {
        eventually(&format!("the entry {text:?} in the logbook"), || {
            self.entry_now(text)
        })
        .await
    }

    /// Waits until no listed entry contains `text`.
    pub async fn no_entry(&self, text: &str) -> anyhow::Result<()> {
        eventually(&format!("no entry {text:?} in the logbook"), || async {
            Ok(self.entry_now(text).await?.is_none().then_some(()))
        })
        .await
    }

    /// Picks `theme` (`Light`, `Dark`, `System`) in Settings, which must be open, and waits
    /// until the page applied it.
    pub async fn apply_theme(&self, theme: &str) -> anyhow::Result<()> {
        self.fill("Theme", theme).await?;
        eventually("the theme applied", || async {
            let applied = self
                .driver
                .execute(
                    "return document.documentElement.dataset.theme ?? null",
                    vec![],
                )
                .await?;
            Ok((applied.json().as_str() == Some(&theme.to_lowercase())).then_some(()))
        })
        .await
    }

    /// Switches to `theme` through Settings, then goes back to the screen `back_to`.
    pub async fn set_theme(&self, theme: &str, back_to: &str) -> anyhow::Result<()> {
        self.open("Settings").await?;
        self.apply_theme(theme).await?;
        self.open(back_to).await
    }

    /// Goes to a main screen through the `Main` navigation.
    pub async fn open(&self, screen: &str) -> anyhow::Result<()> {
        let nav = self.find("navigation", "Main").await?;
        let button = self
            .find_in(Some(&nav), "button", screen, Match::Prefix)
            .await?;
        button.click().await?;
        Ok(())
    }

    /// Clicks the app's tray menu item `label` over D-Bus (needs the private session bus).
    pub async fn tray_click(&self, label: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("the app's process under tauri-driver")?;
        let (bus_name, _) = tray_item(pid).await?;
        click_tray_item(&bus_name, label)
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> WebDriverResult<String> {
        self.driver.find(By::Tag("body")).await?.text().await
    }
}

/// The `N pending` part of the status bar's text.
pub fn pending(status: &str) -> Option<u64> {
    status
        .split('·')
        .map(str::trim)
        .find_map(|part| part.strip_suffix(" pending")?.trim().parse().ok())
}

/// Synced, nothing waiting to be sent.
pub fn synced_idle(status: &str) -> bool {
    status.starts_with("Synced") && pending(status).unwrap_or(0) == 0
}

/// An XPath string literal for any text.
pub fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Polls `check` until it yields a value or [`STEP_TIMEOUT`] passes (WebDriver errors count
/// as "not yet" until then: the page may be re-rendering).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = WebDriverResult<Option<T>>>,
{
    eventually_for(STEP_TIMEOUT, what, check).await
}

pub async fn eventually_for<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = WebDriverResult<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            Err(err) => Some(err),
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls a plain check (no WebDriver) until it is true.
pub async fn until(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The app started directly (no WebDriver), for the session-bus tests

/// The app binary as its own process group; SIGTERM to the group on drop.
pub struct DirectApp {
    child: Child,
    pub env: AppEnv,
}

impl DirectApp {
    pub fn start(env: AppEnv, artifacts: &Path, name: &str) -> DirectApp {
        let log =
            std::fs::File::create(artifacts.join(format!("{name}.stderr.log"))).expect("app log");
        let mut command = Command::new(APP);
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        for (name, value) in env.vars() {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the app");
        DirectApp { child, env }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for DirectApp {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let group = format!("-{}", self.child.id());
            if !terminate(&mut self.child, &group, Duration::from_secs(10)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The session bus: tray (StatusNotifierItem + dbusmenu), notifications, keyring

pub const TRAY_PATH: &str = "/org/ayatana/NotificationItem/tray_icon_tray_app_legato";

fn busctl(args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new("busctl")
        .args(["--user", "--json=short", "--timeout=3"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run busctl")?;
    if !output.status.success() {
        bail!(
            "busctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text)?)
}

/// The unique bus names a process holds.
pub fn bus_names_of(pid: u32) -> Vec<String> {
    let Ok(list) = busctl(&["list", "--unique"]) else {
        return Vec::new();
    };
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["pid"].as_u64() == Some(u64::from(pid)))
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect()
}

/// The app's tray as exported on the bus: (bus name, StatusNotifierItem properties).
pub async fn tray_item(pid: u32) -> anyhow::Result<(String, Value)> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        for name in bus_names_of(pid) {
            if let Ok(props) = busctl(&[
                "call",
                "--",
                &name,
                TRAY_PATH,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                "s",
                "org.kde.StatusNotifierItem",
            ]) {
                return Ok((name, props["data"][0].clone()));
            }
        }
        if Instant::now() >= deadline {
            bail!("no StatusNotifierItem at {TRAY_PATH} for pid {pid}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The tray menu's items: (dbusmenu id, label) in order (separators have label "").
pub fn tray_menu(bus_name: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let layout = busctl(&[
        "call",
        "--",
        bus_name,
        &format!("{TRAY_PATH}/Menu"),
        "com.canonical.dbusmenu",
        "GetLayout",
        "iias",
        "0",
        "-1",
        "0",
    ])?;
    // u(ia{sv}av): [revision, [id, props, children]]; each child is {type, data: [id, props, []]}.
    let children = layout["data"][1][2]
        .as_array()
        .context("no menu children")?;
    Ok(children
        .iter()
        .map(|child| {
            let data = &child["data"];
            (
                data[0].as_i64().unwrap_or(-1),
                data[1]["label"]["data"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect())
}

/// Clicks the tray menu item labelled `label` (as a tray host does: dbusmenu `Event`).
pub fn click_tray_item(bus_name: &str, label: &str) -> anyhow::Result<()> {
    let menu = tray_menu(bus_name)?;
    let (id, _) = menu
        .iter()
        .find(|(_, l)| l == label)
        .with_context(|| format!("no tray item {label:?} in {menu:?}"))?;
    busctl(&[
        "call",
        "--",
        bus_name,
        &format!("{TRAY_PATH}/Menu"),
        "com.canonical.dbusmenu",
        "Event",
        "isvu",
        &id.to_string(),
        "clicked",
        "s",
        "",
        "0",
    ])?;
    Ok(())
}

/// A desktop notification as dunst recorded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    pub id: i64,
    pub app: String,
    pub summary: String,
    pub body: String,
}

/// Every notification dunst has shown, oldest first (displayed ones are closed first so
/// that they move to its history).
pub fn notifications() -> Vec<Notification> {
    let _ = Command::new("dunstctl")
        .arg("close-all")
        .stdin(Stdio::null())
        .output();
    let Ok(output) = Command::new("dunstctl")
        .arg("history")
        .stdin(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let Ok(history) = serde_json::from_slice::<Value>(&output.stdout) else {
        return Vec::new();
    };
    let field = |n: &Value, key: &str| n[key]["data"].as_str().unwrap_or("").to_owned();
    let mut all: Vec<Notification> = history["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group.as_array().cloned().unwrap_or_default())
        .map(|n| Notification {
            id: n["id"]["data"].as_i64().unwrap_or(0),
            app: field(&n, "appname"),
            summary: field(&n, "summary"),
            body: field(&n, "body"),
        })
        .collect();
    all.sort_by_key(|n| n.id);
    all
}

/// The newest notification's id (0: none yet): later ones have greater ids.
pub fn last_notification_id() -> i64 {
    notifications().last().map_or(0, |n| n.id)
}

/// Whether a well-known name has an owner on the session bus (no activation).
fn name_owned(name: &str) -> bool {
    busctl(&["list", "--acquired"]).is_ok_and(|list| {
        list.as_array()
            .into_iter()
            .flatten()
            .any(|n| n["name"].as_str() == Some(name) && n["pid"].is_u64())
    })
}

/// Makes sure a Secret Service answers on this (private) bus: starts gnome-keyring's
/// secrets component unlocked with a throw-away password and data dir, once per process.
pub fn ensure_secret_service() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        if name_owned("org.freedesktop.secrets") {
            return;
        }
        let home = tempfile::Builder::new()
            .prefix("legato-e2e-keyring-")
            .tempdir()
            .expect("keyring home")
            .keep();
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets"])
            .env("XDG_DATA_HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("stdin");
            // A non-empty password: an empty one leaves the login keyring locked.
            stdin.write_all(b"e2e-keyring-password").expect("password");
        }
        // The launcher returns once the daemon is up (the daemon lives on the bus).
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !name_owned("org.freedesktop.secrets") {
            assert!(
                Instant::now() < deadline,
                "the Secret Service did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

/// The secrets the Secret Service holds for service `legato`: (attributes, secret). Found
/// with `SearchItems` over the bus and read with the keyring crate's Secret Service
/// credential (so never from the keyutils cache).
pub fn secret_service_tokens()
-> anyhow::Result<Vec<(std::collections::HashMap<String, String>, String)>> {
    let found = busctl(&[
        "call",
        "--",
        "org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service",
        "SearchItems",
        "a{ss}",
        "1",
        "service",
        "legato",
    ])?;
    let mut tokens = Vec::new();
    for list in [&found["data"][0], &found["data"][1]] {
        for path in list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let attributes = busctl(&[
                "get-property",
                "--",
                "org.freedesktop.secrets",
                path,
                "org.freedesktop.Secret.Item",
                "Attributes",
            ])?;
            let attributes: std::collections::HashMap<String, String> =
                serde_json::from_value(attributes["data"].clone())?;
            let user = attributes.get("username").cloned().unwrap_or_default();
            let target = attributes.get("target").cloned();
            let credential = keyring::secret_service::SsCredential::new_with_target(
                target.as_deref(),
                "legato",
                &user,
            )?;
            let secret = keyring::credential::CredentialApi::get_password(&credential)?;
            tokens.push((attributes, secret));
        }
    }
    Ok(tokens)
}

/// Whether `needle` occurs in any file under `dir` (bytes, recursively).
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        {
            hits.push(path);
        }
    }
    hits
}
