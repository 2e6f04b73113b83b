//! Architectural invariants from ARCHITECTURE.md, checked mechanically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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

/// Where the workspace's Rust sources live (for the source checks).
const SOURCE_DIRS: &[&str] = &["crates", "src-tauri", "tests", "xtask/src"];

/// The shared test kit: the one home of the test helpers, never a normal dependency.
const TESTKIT: &str = "legato-testkit";
const TESTKIT_DIR: &str = "crates/legato-testkit";

/// Test helpers defined once, in the test kit (each pattern is the helper's definition).
const TESTKIT_ONLY: &[&str] = &["fn fields(value"];

pub fn check() -> Result<()> {
    for package in NO_TAURI.iter().chain(&["legato-app"]) {
        let deps = dependencies(package, "normal,build", false)?;
        if let Some(bad) = deps
            .iter()
            .find(|d| d.starts_with("tauri") || d.starts_with("wry"))
            .filter(|_| *package != "legato-app")
        {
            bail!("{package} depends on `{bad}`: only the desktop shell may depend on tauri");
        }
        if deps.contains(TESTKIT) {
            bail!("{package} depends on `{TESTKIT}` outside its dev-dependencies");
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
    test_helpers_live_in_the_testkit()?;
    eprintln!(
        "xtask: invariants hold (no tauri below the shell; core is pure; \
         test helpers only in {TESTKIT}, a dev-dependency)"
    );
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
    let sources = rust_sources("crates/legato-core/src")?;
    if let Some((path, pattern)) = first_use(&sources, CORE_FORBIDDEN_SOURCE)? {
        bail!(
            "{} uses `{pattern}`: legato-core does no IO",
            path.display()
        );
    }
    Ok(())
}

fn test_helpers_live_in_the_testkit() -> Result<()> {
    let mut sources = Vec::new();
    for dir in SOURCE_DIRS {
        sources.extend(rust_sources(dir)?.into_iter().filter(|path| {
            !path.starts_with(TESTKIT_DIR) && !path.starts_with("xtask/src/invariants.rs")
        }));
    }
    if let Some((path, pattern)) = first_use(&sources, TESTKIT_ONLY)? {
        bail!(
            "{} defines `{pattern}...`: use the one in {TESTKIT}",
            path.display()
        );
    }
    Ok(())
}

/// The first of `sources` whose text contains one of `patterns`, with that pattern.
fn first_use<'a>(
    sources: &'a [PathBuf],
    patterns: &[&'static str],
) -> Result<Option<(&'a Path, &'static str)>> {
    for path in sources {
        let text = std::fs::read_to_string(path)?;
        if let Some(pattern) = patterns.iter().find(|p| text.contains(**p)) {
            return Ok(Some((path, pattern)));
        }
    }
    Ok(None)
}

/// The `.rs` files under `dir`, recursively (build output skipped).
fn rust_sources(dir: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).with_context(|| format!("{}", path.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    Ok(found)
}
