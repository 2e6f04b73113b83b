//! Project tasks. `cargo xtask run` and `cargo xtask test` are the two commands a newcomer
//! needs; both set up whatever is missing first, idempotently and non-interactively.

mod invariants;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup                 install what building and testing need (idempotent)
  run [-- SERVER ARGS]  build and start the sync server on 127.0.0.1:8080
  test                  set up, then fmt, clippy, invariants and every test
  lint                  fmt check, clippy -D warnings, invariants only
  invariants            check the architecture invariants (no tauri below the shell, pure core)
  bench <name>          run a benchmark: local-write | server | all
";

fn main() -> ExitCode {
    match run_task(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_task(args: Vec<String>) -> Result<()> {
    let root = project_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    let (task, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "setup" => setup::run(),
        "run" => run_app(rest),
        "test" => {
            setup::run()?;
            lint()?;
            test_all()
        }
        "lint" => lint(),
        "invariants" => invariants::check(),
        "bench" => bench(rest),
        "" | "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n{USAGE}"),
    }
}

/// The workspace root: xtask lives one level below it.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Runs a command, echoing it, and fails with its exit status.
pub(crate) fn cmd(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot start `{program}`"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

fn lint() -> Result<()> {
    cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    invariants::check()
}

fn test_all() -> Result<()> {
    // Benchmarks are compiled (so they cannot rot) but not run: figures come from `bench`.
    cmd(
        "cargo",
        &[
            "test",
            "--workspace",
            "--all-targets",
            "--locked",
            "--no-run",
        ],
    )?;
    cmd("cargo", &["test", "--workspace", "--locked"])?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

fn run_app(server_args: &[String]) -> Result<()> {
    setup::run()?;
    cmd("cargo", &["build", "--locked", "-p", "legato-server"])?;
    let data_dir = project_root().join("target").join("dev-server");
    std::fs::create_dir_all(&data_dir)?;
    let db = format!("sqlite://{}", data_dir.join("legato.db").display());
    let mut args = vec!["run", "--locked", "-q", "-p", "legato-server", "--"];
    if !server_args.iter().any(|a| a == "--listen") {
        args.extend(["--listen", "127.0.0.1:8080"]);
    }
    if !server_args.iter().any(|a| a == "--database") {
        args.extend(["--database", &db]);
    }
    args.extend(server_args.iter().map(String::as_str));
    eprintln!(
        "xtask: starting the sync server (data in {}); Ctrl-C stops it",
        data_dir.display()
    );
    cmd("cargo", &args)
}

fn bench(args: &[String]) -> Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    let benches: &[(&str, &str, &str)] = &[
        ("local-write", "legato-store", "local_write"),
        ("server", "legato-server", "server"),
    ];
    let selected: Vec<_> = benches
        .iter()
        .filter(|(name, ..)| which == "all" || *name == which)
        .collect();
    if selected.is_empty() {
        bail!("unknown benchmark `{which}` (local-write, server, all)");
    }
    for (_, package, bench) in selected {
        cmd(
            "cargo",
            &["bench", "--locked", "-p", package, "--bench", bench],
        )?;
    }
    Ok(())
}
