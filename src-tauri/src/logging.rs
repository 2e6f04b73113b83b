//! Logging with `tracing`: to stderr, and to a daily rolling file in the data dir
//! (`logs/legato.YYYY-MM-DD.log`, the last 7 kept) written by a background thread. Filter
//! with `LEGATO_LOG` (default `info,legato_app=debug`). Never tokens or passwords.

use std::path::Path;
use std::sync::Mutex;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, fmt};

/// Keeps the file writer's thread alive until [`flush`].
static FILE_WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

pub fn init(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("legato")
        .filename_suffix("log")
        .max_log_files(7)
        .build(dir)?;
    let (file, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("LEGATO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,legato_app=debug"));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr))
        .with(fmt::layer().with_ansi(false).with_writer(file))
        .try_init()?;
    *FILE_WRITER.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    Ok(())
}

/// Writes out what is buffered (at exit: the event loop never returns).
pub fn flush() {
    drop(FILE_WRITER.lock().unwrap_or_else(|e| e.into_inner()).take());
}
