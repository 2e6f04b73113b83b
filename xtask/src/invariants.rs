//! Architectural invariants from ARCHITECTURE.md, checked mechanically.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Crates that must build without any GUI toolkit: they run in the server, the CLI and tests.
/// Only the desktop shell (`legato-app`, the root package) depends on tauri.
const NO_TAURI: &[&str] = &[
    "legato-protocol",
    "legato-core",
    "legato-store",
    "legato-sync",
    "legato-server",
    "legato-cli",
];

/// legato-core is pure: these are the only crates it may depend on (no tokio, no database,
/// no HTTP). A new dependency there is a design decision, so it must be added here too.
const CORE_ALLOWED: &[&str] = &[
    "legato-protocol",
    "serde",
    "serde_json",
    "thiserror",
    "chrono",
];

/// Source patterns that would mean IO inside the pure core.
const CORE_FORBIDDEN_SOURCE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::io::stdin",
    "SystemTime::now",
    "Utc::now",
    "Local::now",
    "println!",
];

pub fn check() -> Result<()> {
    for package in NO_TAURI {
        let deps = dependencies(package, "normal,build", false)?;
        if let Some(bad) = deps
            .iter()
            .find(|d| d.starts_with("tauri") || d.starts_with("wry"))
        {
            bail!("{package} depends on `{bad}`: only the desktop shell may depend on tauri");
        }
    }
    let direct = dependencies("legato-core", "normal", true)?;
    let unexpected: Vec<_> = direct
        .iter()
        .filter(|d| *d != "legato-core" && !CORE_ALLOWED.contains(&d.as_str()))
        .collect();
    if !unexpected.is_empty() {
        bail!("legato-core must stay pure; unexpected dependencies: {unexpected:?}");
    }
    core_sources_do_no_io()?;
    eprintln!("xtask: invariants hold (no tauri below the shell; core is pure)");
    Ok(())
}

/// Package names in the dependency tree of `package` (`direct`: depth 1 only).
fn dependencies(package: &str, edges: &str, direct: bool) -> Result<BTreeSet<String>> {
    let mut args = vec![
        "tree", "--locked", "-p", package, "-e", edges, "--prefix", "none", "--format", "{p}",
    ];
    if direct {
        args.extend(["--depth", "1"]);
    }
    let output = Command::new("cargo")
        .args(&args)
        .output()
        .context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

fn core_sources_do_no_io() -> Result<()> {
    let dir = std::path::Path::new("crates/legato-core/src");
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).with_context(|| format!("{}", path.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for pattern in CORE_FORBIDDEN_SOURCE {
                if text.contains(pattern) {
                    bail!(
                        "{} uses `{pattern}`: legato-core does no IO",
                        path.display()
                    );
                }
            }
        }
    }
    Ok(())
}
