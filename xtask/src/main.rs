//! Project tasks. `cargo xtask run` and `cargo xtask test` are the two commands a newcomer
//! needs; both set up whatever is missing first, idempotently and non-interactively.

mod fuzz;
mod invariants;
mod run;
mod setup;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup                 install what building and testing need (idempotent)
  run [--second-device] [-- SERVER ARGS]
                        build the UI and the app, start a local sync server, run the app
                        against it (a second device window too with --second-device)
  test                  set up, then fmt, clippy, invariants, svelte-check and every test
                        (Rust, vitest, and the real app under Xvfb)
  test e2e              only the real-app tests (under Xvfb, WebDriver)
  lint                  fmt check, clippy -D warnings, invariants, svelte-check
  codegen               regenerate the UI's TypeScript bindings of the IPC contract
  invariants            check the architecture invariants (no tauri below the shell, pure core)
  bench <name>          run a benchmark: local-write | stats | server | abuse | sync | all
  sim [--seeds N] [--from S] [--steps K] [--jobs J]
                        the seeded simulation with its history checker, release build
                        (default 200 seeds; SEED=n replays one and prints its findings)
  soak [--cycles N]     the crash loop: SIGKILL on the server and devices mid-sync, N cycles
                        (default 100; the normal test run does 6), release build
  fuzz [--seconds N | --minimize]
                        every cargo-fuzz target for N seconds each on one core (default
                        600; nightly); --minimize rewrites the committed corpora
";

/// The app is always built with the UI inside (`custom-protocol`): one build serves the unit
/// tests, clippy and the real-app tests, and the binary never needs Vite's dev server.
const APP_FEATURES: [&str; 2] = ["--features", "legato-app/custom-protocol"];

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
    match (task, rest.first().map(String::as_str)) {
        ("setup", _) => setup::run(),
        ("run", _) => run::run(rest),
        ("test", Some("e2e")) => {
            setup::run()?;
            build_ui()?;
            test_e2e()
        }
        ("test", None) => {
            setup::run()?;
            lint()?;
            test_all()
        }
        ("test", Some(other)) => bail!("unknown test selection `{other}` (try `e2e`)\n{USAGE}"),
        ("lint", _) => lint(),
        ("codegen", _) => codegen(),
        ("invariants", _) => invariants::check(),
        ("bench", _) => bench(rest),
        ("sim", _) => {
            let mut args = vec![
                "run",
                "--release",
                "--locked",
                "-q",
                "-p",
                "legato-sim",
                "--",
            ];
            args.extend(rest.iter().map(String::as_str));
            cmd("cargo", &args)
        }
        ("soak", _) => soak(rest),
        ("fuzz", _) => match rest {
            [] => fuzz::run(600),
            [flag] if flag == "--minimize" => fuzz::minimize(),
            [flag, n] if flag == "--seconds" => fuzz::run(
                n.parse()
                    .with_context(|| format!("--seconds takes a number, got `{n}`"))?,
            ),
            _ => bail!("usage: cargo xtask fuzz [--seconds N | --minimize]"),
        },
        ("" | "help" | "-h" | "--help", _) => {
            print!("{USAGE}");
            Ok(())
        }
        (other, _) => bail!("unknown task `{other}`\n{USAGE}"),
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
fn soak(args: &[String]) -> Result<()> {
    let cycles = match args {
        [] => "100".to_owned(),
        [flag, n] if flag == "--cycles" => {
            n.parse::<u64>()
                .with_context(|| format!("--cycles takes a number, got `{n}`"))?;
            n.clone()
        }
        _ => bail!("usage: cargo xtask soak [--cycles N]"),
    };
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

fn bench(args: &[String]) -> Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    let benches: &[(&str, &str, &str)] = &[
        ("local-write", "legato-store", "local_write"),
        ("stats", "legato-store", "statistics"),
        ("server", "legato-server", "server"),
        ("abuse", "legato-server", "abuse"),
        ("sync", "legato-sync", "sync"),
    ];
    let selected: Vec<_> = benches
        .iter()
        .filter(|(name, ..)| which == "all" || *name == which)
        .collect();
    if selected.is_empty() {
        bail!("unknown benchmark `{which}` (local-write, stats, server, abuse, sync, all)");
    }
    for (_, package, bench) in selected {
        cmd(
            "cargo",
            &["bench", "--locked", "-p", package, "--bench", bench],
        )?;
    }
    Ok(())
}
