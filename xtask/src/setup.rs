//! Idempotent, non-interactive set-up of everything building and testing need.
//!
//! Each step checks first and installs only what is missing, so a second run is quick and a
//! fresh machine (Rust and Node present) gets the rest:
//! - rustfmt and clippy (rustup);
//! - Debian packages: the C toolchain and OpenSSL headers, the Tauri build libraries
//!   (WebKitGTK, GTK, libsoup, appindicator, librsvg, xdo), and what the real-app and browser
//!   tests run with (Xvfb, WebKitWebDriver, D-Bus, a notification daemon, a keyring,
//!   ImageMagick for screenshots, Chromium for browser tests of the bare UI, PostgreSQL for
//!   the server's PostgreSQL backend);
//! - the UI's npm packages (`npm ci` from `package-lock.json`);
//! - `tauri-driver` (the WebDriver bridge of the real-app tests).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Building: a C compiler for the bundled SQLite, OpenSSL headers for TLS, and the libraries
/// the Tauri app links against (see ../shared/TAURI-LINUX.md).
const BUILD_PACKAGES: &[&str] = &[
    "build-essential",
    // dpkg-shlibdeps: `cargo xtask bundle` checks the .deb's dependencies with it.
    "dpkg-dev",
    "pkg-config",
    "file",
    "libssl-dev",
    "libxdo-dev",
    "libwebkit2gtk-4.1-dev",
    "libjavascriptcoregtk-4.1-dev",
    "libsoup-3.0-dev",
    "libgtk-3-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
];

/// Testing the real app headless: a virtual display, WebKit's WebDriver, a session bus with
/// a notification daemon (`dunstctl` reads its history) and a keyring (gnome-keyring's
/// Secret Service, the kernel keyring's `keyctl`), `busctl` (systemd) to drive the tray's
/// menu over D-Bus, screenshots, fonts; Chromium for the bare UI; PostgreSQL's server
/// binaries for the server's PostgreSQL backend, whose tests run a throw-away cluster of their
/// own (`initdb` into a temp dir), never the service the package also installs.
const TEST_PACKAGES: &[&str] = &[
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "dbus",
    "dunst",
    "gnome-keyring",
    "keyutils",
    "systemd",
    "imagemagick",
    "x11-utils",
    "fonts-dejavu-core",
    "chromium",
    "postgresql-15",
];

/// The tauri-driver the real-app tests are written against (2.x of the CLI).
const TAURI_DRIVER_VERSION: &str = "2.1.0";

pub fn run() -> Result<()> {
    rust_components()?;
    let packages: Vec<&str> = BUILD_PACKAGES
        .iter()
        .chain(TEST_PACKAGES)
        .copied()
        .collect();
    debian_packages(&packages)?;
    npm_packages()?;
    tauri_driver()?;
    Ok(())
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// rustfmt and clippy are needed by the lint step.
fn rust_components() -> Result<()> {
    for (component, probe) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
        if succeeds("cargo", &[probe, "--version"]) {
            continue;
        }
        if !succeeds("rustup", &["--version"]) {
            bail!("`cargo {probe}` is missing and rustup is not installed to add {component}");
        }
        cmd("rustup", &["component", "add", component])?;
    }
    Ok(())
}

/// Installs the Debian packages that are not installed yet (one `apt-get update`, one
/// `apt-get install`). Off Debian it only reports what it could not check.
fn debian_packages(packages: &[&str]) -> Result<()> {
    if !succeeds("dpkg-query", &["--version"]) {
        eprintln!("xtask: not a Debian-based system; make sure these are installed: {packages:?}");
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?
        .stdout
        .starts_with(b"0\n");
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    apt(is_root, &["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(is_root, &install)
}

/// Runs apt-get without questions, through `sudo -n` when not root.
fn apt(is_root: bool, args: &[&str]) -> Result<()> {
    let mut command = if is_root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    eprintln!("$ apt-get {}", args.join(" "));
    let status = command.status().context("cannot start apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

fn package_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// `npm ci` when `node_modules/` is missing or older than `package-lock.json` (npm records
/// what it installed in `node_modules/.package-lock.json`).
pub(crate) fn npm_packages() -> Result<()> {
    if !succeeds("npm", &["--version"]) {
        bail!("npm is missing: install Node.js 20 or newer (the UI is built with Vite)");
    }
    let lock = Path::new("package-lock.json");
    let installed = Path::new("node_modules/.package-lock.json");
    let modified = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
    let fresh = match (modified(lock), modified(installed)) {
        (Some(lock), Some(installed)) => installed >= lock,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    cmd("npm", &["ci", "--no-audit", "--no-fund"])
}

/// `tauri-driver` for the real-app tests (Linux and Windows; macOS has no WebDriver for
/// its web view).
fn tauri_driver() -> Result<()> {
    if !cfg!(any(target_os = "linux", target_os = "windows")) {
        return Ok(());
    }
    let listed = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .context("cannot run `cargo install --list`")?;
    let wanted = format!("tauri-driver v{TAURI_DRIVER_VERSION}:");
    if String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|line| line.trim() == wanted)
    {
        return Ok(());
    }
    cmd(
        "cargo",
        &[
            "install",
            "--locked",
            "tauri-driver",
            "--version",
            TAURI_DRIVER_VERSION,
        ],
    )
}
