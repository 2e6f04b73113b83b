//! `cargo xtask run`: the desktop app against a local sync server, ready to sync at once.
//!
//! 1. set-up, then build the UI and the app (with the UI inside) and the server;
//! 2. start `legato-server` on a free loopback port, its database in `target/dev-server/`;
//! 3. run the app with its own data dir (`target/dev-devices/device-1`), pointed at that
//!    server (`LEGATO_SERVER`) and signed in to a development account (`LEGATO_DEV_LOGIN`);
//!    with `--second-device`, a second app with `target/dev-devices/device-2` beside it;
//! 4. when every app has quit, stop the server.
//!
//! Set `LEGATO_DATA_DIR` or `LEGATO_DEV_LOGIN` to override (an empty `LEGATO_DEV_LOGIN`
//! starts signed out). Arguments after `--` go to the server.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{APP_FEATURES, build_ui, cmd, project_root, setup, target_dir};

const DEV_LOGIN: &str = "dev@legato.test:legato-dev-password";

pub fn run(second_device: bool, server_args: &[String]) -> Result<()> {
    setup::run()?;
    build_ui()?;
    let mut build = vec![
        "build",
        "--locked",
        "-p",
        "legato-server",
        "-p",
        "legato-app",
    ];
    build.extend(APP_FEATURES);
    cmd("cargo", &build)?;
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        bail!(
            "no display: the app needs a desktop session (headless: `xvfb-run -a cargo xtask run`)"
        );
    }

    let bin = |name: &str| {
        target_dir()
            .join("debug")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    };
    let server = DevServer::start(&bin("legato-server"), server_args)?;
    let devices = project_root().join("target").join("dev-devices");
    let first_dir = std::env::var_os("LEGATO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| devices.join("device-1"));
    let mut apps = vec![spawn_app(&bin("legato-app"), &first_dir, &server.url)?];
    if second_device {
        let second_dir = if std::env::var_os("LEGATO_DATA_DIR").is_some() {
            PathBuf::from(format!("{}-2", first_dir.display()))
        } else {
            devices.join("device-2")
        };
        apps.push(spawn_app(&bin("legato-app"), &second_dir, &server.url)?);
    }
    eprintln!(
        "xtask: {} running against {}; quit the app{} (tray menu: Quit) to stop the server",
        if second_device {
            "two devices are"
        } else {
            "the app is"
        },
        server.url,
        if second_device { "s" } else { "" },
    );
    for mut app in apps {
        let status = app.wait().context("waiting for the app")?;
        if !status.success() {
            eprintln!("xtask: the app exited with {status}");
        }
    }
    drop(server);
    Ok(())
}

fn spawn_app(binary: &Path, data_dir: &Path, server: &str) -> Result<Child> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut command = Command::new(binary);
    command
        .env("LEGATO_DATA_DIR", data_dir)
        .env("LEGATO_SERVER", server);
    if std::env::var_os("LEGATO_DEV_LOGIN").is_none() {
        command.env("LEGATO_DEV_LOGIN", DEV_LOGIN);
    }
    eprintln!(
        "xtask: starting the app with LEGATO_DATA_DIR={}",
        data_dir.display()
    );
    command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// The sync server, stopped (SIGTERM, then a kill) when dropped.
struct DevServer {
    child: Child,
    url: String,
}

impl DevServer {
    fn start(binary: &Path, extra: &[String]) -> Result<DevServer> {
        let data_dir = project_root().join("target").join("dev-server");
        std::fs::create_dir_all(&data_dir)?;
        let database = format!("sqlite://{}", data_dir.join("legato.db").display());
        let mut args: Vec<String> = Vec::new();
        if !extra.iter().any(|a| a == "--listen") {
            args.extend(["--listen".into(), "127.0.0.1:0".into()]);
        }
        if !extra.iter().any(|a| a == "--database") {
            args.extend(["--database".into(), database]);
        }
        args.extend(extra.iter().cloned());
        eprintln!("$ {} {}", binary.display(), args.join(" "));
        let mut child = Command::new(binary)
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        // The server prints `listening on http://ADDR` once bound.
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                    eprintln!("{line}");
                }
                Some(Err(err)) => return Err(err).context("reading the server's output"),
                None => {
                    let status = child.wait()?;
                    bail!("the sync server exited ({status}) before listening");
                }
            }
        };
        // Keep forwarding whatever else it prints.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("{l}")));
        eprintln!(
            "xtask: sync server on {url} (data in {})",
            data_dir.display()
        );
        Ok(DevServer { child, url })
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        if cfg!(unix) {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    eprintln!("xtask: sync server stopped");
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
