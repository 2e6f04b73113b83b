//! One app per data dir (per device): two processes would run two sync engines on one
//! outbox. The first holds a lock on `app.lock`; a second start for the same data dir asks
//! the first to show its window (it may be hidden in the tray) and exits. The request goes
//! over a Unix socket in the data dir (`app.sock`); elsewhere the second start only says
//! that the app is running.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

const LOCK_FILE: &str = "app.lock";
#[cfg(unix)]
const SOCKET_FILE: &str = "app.sock";
#[cfg(unix)]
const SHOW: &[u8] = b"show\n";

/// Held for the life of the process.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    data_dir: PathBuf,
}

/// What starting found.
#[derive(Debug)]
pub enum Start {
    /// This process is the app for the data dir.
    First(InstanceLock),
    /// Another process is; it was asked to show its window (`shown`: it answered).
    Running { shown: bool },
}

/// Takes the data dir's lock, or asks the process holding it to show itself.
pub fn start(data_dir: &Path) -> anyhow::Result<Start> {
    let path = data_dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Start::First(InstanceLock {
            _file: file,
            data_dir: data_dir.to_path_buf(),
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Start::Running {
            shown: ask_to_show(data_dir),
        }),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(unix)]
fn ask_to_show(data_dir: &Path) -> bool {
    use std::io::Write as _;
    std::os::unix::net::UnixStream::connect(data_dir.join(SOCKET_FILE))
        .and_then(|mut stream| stream.write_all(SHOW))
        .is_ok()
}

#[cfg(not(unix))]
fn ask_to_show(_data_dir: &Path) -> bool {
    false
}

impl InstanceLock {
    /// Serves "show" requests of later starts: `show` runs for each. Needs a Tokio runtime.
    #[cfg(unix)]
    pub fn serve_show_requests(&self, show: impl Fn() + Send + 'static) {
        use tokio::io::AsyncReadExt as _;

        let path = self.data_dir.join(SOCKET_FILE);
        // A socket left by a process that died; this process holds the lock, so it is stale.
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener));
        let listener = match listener {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(%err, path = %path.display(), "a second start cannot bring this window back");
                return;
            }
        };
        tauri::async_runtime::spawn(async move {
            // Registered with the runtime that polls it.
            let listener = match tokio::net::UnixListener::from_std(listener) {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(%err, "a second start cannot bring this window back");
                    return;
                }
            };
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let mut request = [0_u8; 16];
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    stream.read(&mut request),
                )
                .await;
                if matches!(read, Ok(Ok(n)) if request[..n] == *SHOW) {
                    tracing::info!("another start for this data dir: showing the window");
                    show();
                }
            }
        });
    }

    #[cfg(not(unix))]
    pub fn serve_show_requests(&self, _show: impl Fn() + Send + 'static) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_start_finds_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let Start::First(first) = start(dir.path()).unwrap() else {
            panic!("the first start takes the lock");
        };
        // Nobody serves the socket yet: the request is not answered.
        assert!(matches!(
            start(dir.path()).unwrap(),
            Start::Running { shown: false }
        ));
        drop(first);
        assert!(matches!(start(dir.path()).unwrap(), Start::First(_)));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_second_start_asks_the_first_to_show_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let Start::First(first) = start(dir.path()).unwrap() else {
            panic!("the first start takes the lock");
        };
        let (shown_tx, mut shown_rx) = tokio::sync::mpsc::unbounded_channel();
        first.serve_show_requests(move || {
            let _ = shown_tx.send(());
        });
        let dir_path = dir.path().to_path_buf();
        let second = tokio::task::spawn_blocking(move || start(&dir_path).unwrap())
            .await
            .unwrap();
        assert!(matches!(second, Start::Running { shown: true }));
        tokio::time::timeout(std::time::Duration::from_secs(5), shown_rx.recv())
            .await
            .expect("the first instance was asked to show")
            .unwrap();
    }
}
