//! Project tasks. `cargo xtask run` and `cargo xtask test` are the two commands a newcomer
//! needs; both set up whatever is missing first, idempotently and non-interactively.

mod bench;
mod bundle;
mod fuzz;
mod invariants;
mod run;
mod setup;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{CommandFactory as _, Parser, Subcommand};

use bench::BenchName;

/// The app is always built with the UI inside (`custom-protocol`): one build serves the unit
/// tests, clippy and the real-app tests, and the binary never needs Vite's dev server.
const APP_FEATURES: [&str; 2] = ["--features", "legato-app/custom-protocol"];

/// Project tasks of Legato. `run` and `test` set up whatever is missing first
/// (idempotently, without questions).
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what building and testing need (idempotent)
    Setup,
    /// Build the UI and the app, start a local sync server, run the app against it
    Run {
        /// A second device's window too (its own data dir, same account)
        #[arg(long)]
        second_device: bool,
        /// Arguments for the sync server (`legato-server`)
        #[arg(last = true, value_name = "SERVER ARGS")]
        server_args: Vec<String>,
    },
    /// Set up, then fmt, clippy, invariants, svelte-check and every test (Rust, vitest, and
    /// the real app under Xvfb)
    Test {
        #[command(subcommand)]
        only: Option<TestOnly>,
    },
    /// fmt check, clippy -D warnings, invariants, svelte-check
    Lint,
    /// Build the installers in release (Linux: deb and rpm) and check the .deb's metadata
    Bundle,
    /// Regenerate the UI's TypeScript bindings of the IPC contract
    Codegen,
    /// Check the architecture invariants (no tauri below the shell, pure core)
    Invariants,
    /// Run a benchmark (release build)
    Bench {
        /// Which benchmark
        #[arg(value_enum, default_value_t = BenchName::All)]
        name: BenchName,
    },
    /// The seeded simulation with its history checker, release build (SEED=n replays one
    /// seed and prints its findings)
    Sim {
        /// How many seeds [default: 200]
        #[arg(long, value_name = "N")]
        seeds: Option<u64>,
        /// The first seed [default: 0]
        #[arg(long, value_name = "S")]
        from: Option<u64>,
        /// Steps per seed [default: the simulation's]
        #[arg(long, value_name = "K")]
        steps: Option<u64>,
        /// Seeds run at once [default: the simulation's]
        #[arg(long, value_name = "J")]
        jobs: Option<u64>,
    },
    /// The crash loop: SIGKILL on the server and devices mid-sync, release build (the normal
    /// test run does 6 cycles)
    Soak {
        /// How many crash cycles
        #[arg(long, value_name = "N", default_value_t = 100)]
        cycles: u64,
    },
    /// Every cargo-fuzz target in turn on one core (nightly)
    Fuzz {
        /// Seconds per target
        #[arg(
            long,
            value_name = "N",
            default_value_t = 600,
            conflicts_with = "minimize"
        )]
        seconds: u64,
        /// Rewrite the committed corpora (minimized) instead of fuzzing
        #[arg(long)]
        minimize: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TestOnly {
    /// Only the real-app tests (under Xvfb, WebDriver)
    E2e,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_task(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_task(task: Option<Task>) -> Result<()> {
    let Some(task) = task else {
        Cli::command().print_help()?;
        return Ok(());
    };
    let root = project_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    match task {
        Task::Setup => setup::run(),
        Task::Run {
            second_device,
            server_args,
        } => run::run(second_device, &server_args),
        Task::Test {
            only: Some(TestOnly::E2e),
        } => {
            setup::run()?;
            build_ui()?;
            test_e2e()
        }
        Task::Test { only: None } => {
            setup::run()?;
            lint()?;
            test_all()
        }
        Task::Lint => lint(),
        Task::Bundle => bundle::run(),
        Task::Codegen => codegen(),
        Task::Invariants => invariants::check(),
        Task::Bench { name } => bench::bench(name),
        Task::Sim {
            seeds,
            from,
            steps,
            jobs,
        } => {
            let mut args: Vec<String> = [
                "run",
                "--release",
                "--locked",
                "-q",
                "-p",
                "legato-sim",
                "--",
            ]
            .map(String::from)
            .to_vec();
            for (flag, value) in [
                ("--seeds", seeds),
                ("--from", from),
                ("--steps", steps),
                ("--jobs", jobs),
            ] {
                if let Some(value) = value {
                    args.extend([flag.to_owned(), value.to_string()]);
                }
            }
            cmd(
                "cargo",
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            )
        }
        Task::Soak { cycles } => soak(cycles),
        Task::Fuzz { minimize: true, .. } => fuzz::minimize(),
        Task::Fuzz { seconds, .. } => fuzz::run(seconds),
    }
}

/// The workspace root: xtask lives one level below it. Read at run time (`cargo run` sets
/// `CARGO_MANIFEST_DIR` for the process): with a target dir shared between checkouts (CI's
/// persistent one), cargo reuses an xtask binary built in another clone, and its compile-time
/// path would run that clone's code.
fn project_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` at the root).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || project_root().join("target"),
            |dir| project_root().join(dir),
        )
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

/// `cargo <args> --features legato-app/custom-protocol`.
fn cargo_with_app(args: &[&str]) -> Result<()> {
    let mut all = args.to_vec();
    all.extend(APP_FEATURES);
    cmd("cargo", &all)
}

/// Builds the UI into `dist/` (the app embeds it at compile time).
/// Builds the UI, installing its npm packages first if they are missing or stale (so
/// `lint` and the other tasks that skip the full set-up work on a fresh clone too).
pub(crate) fn build_ui() -> Result<()> {
    setup::npm_packages()?;
    cmd("npm", &["run", "--silent", "build"])
}

fn lint() -> Result<()> {
    build_ui()?;
    cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    // Clippy's flags go after `--`, so the features are placed here by hand.
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            APP_FEATURES[0],
            APP_FEATURES[1],
            "--",
            "-D",
            "warnings",
        ],
    )?;
    invariants::check()?;
    cmd("npm", &["run", "--silent", "check"])
}

/// `cargo xtask soak [--cycles N]`: the crash-loop test of the CLI crate
/// (`crash::soak_…`) with `LEGATO_SOAK_CYCLES=N`, in a release build.
fn soak(cycles: u64) -> Result<()> {
    let cycles = cycles.to_string();
    let status = Command::new("cargo")
        .args([
            "test",
            "--release",
            "--locked",
            "-p",
            "legato-cli",
            "--test",
            "it",
            "--",
            "crash::soak_sigkills_server_and_devices_mid_sync_and_loses_nothing",
            "--exact",
            "--nocapture",
        ])
        .env("LEGATO_SOAK_CYCLES", &cycles)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("the soak failed ({status})");
    }
    Ok(())
}

fn test_all() -> Result<()> {
    // Benchmarks are compiled (so they cannot rot) but not run: figures come from `bench`.
    cargo_with_app(&[
        "test",
        "--workspace",
        "--all-targets",
        "--locked",
        "--no-run",
    ])?;
    // The PostgreSQL backend's tests start a throw-away cluster of their own; here a missing
    // PostgreSQL (`cargo xtask setup` installs it) fails them instead of skipping them.
    let mut workspace = vec![
        "REQUIRE_POSTGRES=1",
        "cargo",
        "test",
        "--workspace",
        "--locked",
    ];
    workspace.extend(APP_FEATURES);
    cmd("env", &workspace)?;
    cmd("npm", &["run", "--silent", "test"])?;
    test_e2e()?;
    eprintln!("xtask: all tests passed");
    Ok(())
}

/// The end-to-end test targets of the app (`tests/app_smoke.rs`, `tests/e2e/`).
const E2E_TESTS: [&str; 4] = ["--test", "app_smoke", "--test", "e2e"];

/// The real-app tests: the app under WebDriver against a real `legato-server`, with the
/// `legato` CLI as another device, and the tray, notifications and keyring on a session bus.
///
/// The wrapping, outside in: `xvfb-run` (a display; first, so the bus-activated notification
/// daemon finds it), `dbus-run-session` (a private session bus: dunst is activated on it, the
/// tests start gnome-keyring's Secret Service there, unlocked with a throw-away password),
/// `keyctl session -` (a fresh kernel session keyring for the keyutils cache). One WebDriver
/// session at a time; `REQUIRE_E2E=1` turns a missing prerequisite into a failure.
fn test_e2e() -> Result<()> {
    // The tests run `legato` and `legato-server` from the target dir: build them as `cargo
    // test --workspace` does (same features, so after it nothing is rebuilt).
    cargo_with_app(&["test", "--workspace", "--locked", "--no-run"])?;
    let started = std::time::Instant::now();
    let mut args = vec![
        "-a",
        "-s",
        "-screen 0 1280x800x24",
        "dbus-run-session",
        "--",
        "keyctl",
        "session",
        "-",
        "env",
        "REQUIRE_E2E=1",
        "LEGATO_E2E_PRIVATE_BUS=1",
        "RUST_BACKTRACE=0",
        "cargo",
        "test",
        "--locked",
        "--workspace",
    ];
    args.extend(E2E_TESTS);
    args.extend(APP_FEATURES);
    args.extend(["--", "--ignored", "--test-threads=1"]);
    cmd("xvfb-run", &args)?;
    eprintln!(
        "xtask: real-app tests passed in {:.0} s (screenshots in {})",
        started.elapsed().as_secs_f64(),
        project_root().join("target/e2e-artifacts").display()
    );
    Ok(())
}

/// Regenerates `ui/src/lib/ipc/bindings.ts` from the Rust types (the drift test, in write
/// mode).
fn codegen() -> Result<()> {
    build_ui()?;
    eprintln!("$ LEGATO_UPDATE_BINDINGS=1 cargo test -p legato-app --lib committed_bindings");
    let status = Command::new("cargo")
        .args([
            "test",
            "--locked",
            "-p",
            "legato-app",
            "--lib",
            APP_FEATURES[0],
            APP_FEATURES[1],
            "committed_bindings_match_the_rust_types",
        ])
        .env("LEGATO_UPDATE_BINDINGS", "1")
        .status()
        .context("cannot start cargo")?;
    if !status.success() {
        bail!("generating the bindings failed with {status}");
    }
    eprintln!("xtask: wrote ui/src/lib/ipc/bindings.ts");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Task>, clap::Error> {
        Cli::try_parse_from(line.split_whitespace()).map(|cli| cli.task)
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every `cargo xtask ...` line of the README, the docs and CI (at the start of a line,
    /// after `VAR=value` prefixes, comment cut) still parses: a spelling change fails here.
    #[test]
    fn every_documented_command_parses() {
        let root = project_root();
        let mut files = vec![root.join("README.md"), root.join(".ci/run")];
        for entry in std::fs::read_dir(root.join("docs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
        let mut checked = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines() {
                let line = line.split(" #").next().unwrap();
                let words: Vec<&str> = line
                    .split_whitespace()
                    .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                    .collect();
                if words.len() < 2 || words[..2] != ["cargo", "xtask"] {
                    continue;
                }
                let argv = std::iter::once("cargo xtask").chain(words[2..].iter().copied());
                if let Err(err) = Cli::try_parse_from(argv) {
                    panic!("{}: `{line}` does not parse:\n{err}", file.display());
                }
                checked += 1;
            }
        }
        // README alone documents a dozen.
        assert!(checked >= 12, "only {checked} documented commands found");
    }

    #[test]
    fn arguments_reach_the_tasks() {
        assert!(parse("x").unwrap().is_none());
        assert!(matches!(parse("x bundle").unwrap(), Some(Task::Bundle)));
        assert!(matches!(
            parse("x bench").unwrap(),
            Some(Task::Bench {
                name: BenchName::All
            })
        ));
        assert!(matches!(
            parse("x bench local-write").unwrap(),
            Some(Task::Bench {
                name: BenchName::LocalWrite
            })
        ));
        assert!(parse("x bench nope").is_err());
        match parse("x run --second-device -- --listen 127.0.0.1:9 --database x").unwrap() {
            Some(Task::Run {
                second_device: true,
                server_args,
            }) => assert_eq!(server_args, ["--listen", "127.0.0.1:9", "--database", "x"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("x run").unwrap(),
            Some(Task::Run { second_device: false, server_args }) if server_args.is_empty()
        ));
        assert!(matches!(
            parse("x test e2e").unwrap(),
            Some(Task::Test {
                only: Some(TestOnly::E2e)
            })
        ));
        assert!(parse("x test unit").is_err());
        assert!(matches!(
            parse("x soak").unwrap(),
            Some(Task::Soak { cycles: 100 })
        ));
        assert!(parse("x soak --cycles many").is_err());
        assert!(matches!(
            parse("x fuzz").unwrap(),
            Some(Task::Fuzz {
                seconds: 600,
                minimize: false
            })
        ));
        assert!(matches!(
            parse("x fuzz --minimize").unwrap(),
            Some(Task::Fuzz { minimize: true, .. })
        ));
        assert!(parse("x fuzz --seconds 5 --minimize").is_err());
        assert!(matches!(
            parse("x sim --seeds 10 --jobs 2").unwrap(),
            Some(Task::Sim {
                seeds: Some(10),
                from: None,
                steps: None,
                jobs: Some(2)
            })
        ));
    }
}
