//! Idempotent, non-interactive set-up of everything building and testing need.
//!
//! Each step checks first and installs only what is missing, so a second run is quick and a
//! fresh machine (Rust and Node present) gets the rest.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Debian packages the current build and tests need. Building the bundled SQLite needs a C
/// compiler, the TLS of the sync client needs OpenSSL headers; later layers (the Tauri app, its UI tests) add theirs here.
const DEBIAN_PACKAGES: &[&str] = &["build-essential", "pkg-config", "libssl-dev"];

pub fn run() -> Result<()> {
    rust_components()?;
    debian_packages(DEBIAN_PACKAGES)?;
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
