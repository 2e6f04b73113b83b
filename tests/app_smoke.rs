//! The real app, end to end, through WebDriver: the pattern for the app's end-to-end tests.
//!
//! A sync server runs in this process on `127.0.0.1:0`; `tauri-driver` (in its own process
//! group, stopped with SIGTERM to the group so WebKitWebDriver never outlives it) launches
//! the app binary with a fresh `LEGATO_DATA_DIR`, the server's URL, an in-memory token
//! store and a development login. The test adds an entry through the form, sees it listed,
//! sees it synced, and saves a screenshot to `target/e2e-artifacts/`.
//!
//! Needs: a display (run under `xvfb-run`), a D-Bus session (`dbus-run-session`), tauri-driver
//! and WebKitWebDriver (`cargo xtask setup`), the UI built (`npm run build`) and the app built
//! with `--features custom-protocol` (debug builds otherwise load the Vite dev server).
//! `cargo xtask test e2e` does all of that (`cargo test` lists these tests as ignored: they
//! run with `--ignored`). Without a prerequisite a test skips, unless `REQUIRE_E2E=1`: then
//! a missing piece is a failure, so CI can never pass by skipping.
//!
//! One WebDriver session at a time: keep these tests serial (`--test-threads=1`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use thirtyfour::prelude::*;
use tokio_util::sync::CancellationToken;

const APP: &str = env!("CARGO_BIN_EXE_legato-app");
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let dir = root().join("target").join("e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/e2e-artifacts");
    dir
}

fn on_path(program: &str) -> Option<PathBuf> {
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

/// What is missing to run the real app, if anything.
fn missing_prerequisite() -> Option<String> {
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
    if tauri_driver().is_none() {
        return Some("tauri-driver is not installed (`cargo xtask setup`)".into());
    }
    if on_path("WebKitWebDriver").is_none() {
        return Some("WebKitWebDriver is not installed (Debian: webkit2gtk-driver)".into());
    }
    None
}

/// Skips (returns true) when the real app cannot run here, or fails under `REQUIRE_E2E=1`.
fn skip_unless_runnable(test: &str) -> bool {
    let Some(missing) = missing_prerequisite() else {
        return false;
    };
    if std::env::var("REQUIRE_E2E").is_ok_and(|v| v == "1") {
        panic!("{test}: REQUIRE_E2E=1 but {missing}");
    }
    eprintln!("skipping {test}: {missing} (set REQUIRE_E2E=1 to make this a failure)");
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `tauri-driver` in its own process group; dropping it sends SIGTERM to the whole group
/// (never SIGKILL: that would orphan WebKitWebDriver, which keeps the test's output open).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(app_env: &[(&str, String)], log: &Path) -> Driver {
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
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("tauri-driver did not stop after SIGTERM; leaving it");
    }
}

/// A sync server in this process, on a free loopback port, stopped on drop.
struct SyncServer {
    url: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl SyncServer {
    async fn start() -> SyncServer {
        let dir = tempfile::tempdir().expect("server dir");
        let settings = legato_server::settings::Settings::with_database(format!(
            "sqlite://{}",
            dir.path().join("server.db").display()
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            if let Err(err) = legato_server::serve(listener, settings, token).await {
                eprintln!("sync server: {err}");
            }
        });
        SyncServer {
            url,
            stop,
            _dir: dir,
        }
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Polls `check` until it yields a value or [`STEP_TIMEOUT`] passes (WebDriver errors
/// count as "not yet" until then: the page may be re-rendering).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = WebDriverResult<Option<T>>>,
{
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => None,
            Err(err) => Some(err),
        };
        if Instant::now() >= deadline {
            anyhow::bail!("timed out waiting for {what} (last error: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A form control by its label's text (what a screen reader announces).
fn labelled(label: &str) -> By {
    By::XPath(format!("//label[normalize-space(text())='{label}']//input"))
}

async fn add_entry_and_see_it_synced(driver: &WebDriver, piece: &str) -> anyhow::Result<()> {
    // The page is up once the form is there.
    let minutes = eventually("the entry form", || async {
        Ok(driver
            .find_all(labelled("Minutes"))
            .await?
            .into_iter()
            .next())
    })
    .await?;
    minutes.clear().await?;
    minutes.send_keys("25").await?;
    driver
        .find(labelled("Piece"))
        .await?
        .send_keys(piece)
        .await?;
    driver
        .find(labelled("Notes"))
        .await?
        .send_keys("slow practice, hands apart")
        .await?;
    driver
        .find(By::XPath("//button[normalize-space()='Add entry']"))
        .await?
        .click()
        .await?;

    let item = format!("//ul[@aria-label=\"Today's entries\"]/li[contains(., '{piece}')]");
    let listed = eventually("the new entry in today's list", || async {
        Ok(driver
            .find_all(By::XPath(item.clone()))
            .await?
            .into_iter()
            .next())
    })
    .await?;
    let text = listed.text().await?;
    anyhow::ensure!(text.contains("25 min"), "listed entry: {text}");

    // Through the dev login the app syncs it: the entry's badge and the status say so.
    eventually("the entry to be synced", || async {
        let sync = driver
            .find(By::XPath(item.clone()))
            .await?
            .attr("data-sync")
            .await?;
        Ok((sync.as_deref() == Some("synced")).then_some(()))
    })
    .await?;
    eventually("the sync status to say Synced", || async {
        let status = driver.find(By::Css("[role=status]")).await?.text().await?;
        Ok(status.starts_with("Synced").then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn adds_an_entry_through_the_ui_and_sees_it_listed_and_synced() {
    if skip_unless_runnable("app_smoke") {
        return;
    }
    let server = SyncServer::start().await;
    let data = tempfile::tempdir().expect("data dir");
    let artifacts = artifacts();
    let env = [
        ("LEGATO_DATA_DIR", data.path().display().to_string()),
        ("LEGATO_SERVER", server.url.clone()),
        ("LEGATO_KEYRING", "memory".to_owned()),
        (
            "LEGATO_DEV_LOGIN",
            "smoke@legato.test:smoke-password".to_owned(),
        ),
        ("LEGATO_LOG", "info,legato_app=debug".to_owned()),
    ];
    let driver_process = Driver::start(&env, &artifacts.join("app_smoke-driver.log"));

    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": APP }));
    let driver = WebDriver::new(driver_process.url(), caps)
        .await
        .expect("a WebDriver session with the app");

    let outcome = add_entry_and_see_it_synced(&driver, "Etude op. 10 no. 3").await;
    let shot = if outcome.is_ok() {
        "app_smoke.png"
    } else {
        "app_smoke-failure.png"
    };
    let screenshot = driver.screenshot(&artifacts.join(shot)).await;
    let _ = driver.quit().await;
    drop(driver_process);
    drop(server);
    outcome.expect("the smoke scenario");
    screenshot.expect("a screenshot");
    eprintln!("screenshot: {}", artifacts.join(shot).display());
}
