//! The data directory (one directory = one device) and its small config file.
//!
//! `config.toml` holds the server URL and the account (user id, email, server). Never the
//! token: that lives in the OS keyring or in the private `token` file (see [`crate::token`]).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
const CONFIG_FILE: &str = "config.toml";
const STORE_FILE: &str = "legato.db";

/// The account this device is logged in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub user_id: String,
    pub email: String,
    pub server: String,
}

/// `config.toml` of a data directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The server given last with `--server` / `LEGATO_SERVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// A device's data directory, created (private to the user) on first use.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// `dir`, or the per-user default: `$XDG_DATA_HOME/legato`, else `~/.local/share/legato`
    /// (`~/Library/Application Support/legato` on macOS, `%APPDATA%\legato` on Windows).
    pub fn open(dir: Option<PathBuf>) -> Result<Self> {
        let path = match dir {
            Some(dir) => dir,
            None => default_data_dir().context(
                "cannot find a home directory for the data: pass --data-dir or set LEGATO_DATA_DIR",
            )?,
        };
        create_private_dir(&path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn load_config(&self) -> Result<Config> {
        let path = self.file(CONFIG_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("cannot read {}", path.display()))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save_config(&self, config: &Config) -> Result<()> {
        let text = toml::to_string(config).context("cannot encode the config")?;
        write_atomic(&self.file(CONFIG_FILE), text.as_bytes(), false)
    }
}

fn default_data_dir() -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(target_os = "windows") {
        env("APPDATA")?
    } else if cfg!(target_os = "macos") {
        env("HOME")?.join("Library/Application Support")
    } else {
        match env("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
            Some(dir) => dir,
            None => env("HOME")?.join(".local/share"),
        }
    };
    Some(base.join("legato"))
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written file. `private`: readable and writable by the user only (mode 0600).
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Checks and normalises a server URL (`http://host:port`, no trailing slash).
pub fn normalize_server(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let Ok(parsed) = reqwest::Url::parse(url) else {
        bail!("`{url}` is not a server URL (for example http://127.0.0.1:8080)");
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        bail!("`{url}` is not a server URL: use http:// or https:// and a host");
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_without_a_token_field() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(Some(dir.path().join("device"))).unwrap();
        assert_eq!(data.load_config().unwrap(), Config::default());
        let config = Config {
            server: Some("http://localhost:1".into()),
            account: Some(Account {
                user_id: "u1".into(),
                email: "a@example.com".into(),
                server: "http://localhost:1".into(),
            }),
        };
        data.save_config(&config).unwrap();
        assert_eq!(data.load_config().unwrap(), config);
    }

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            normalize_server("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_server("127.0.0.1:8080").is_err());
        assert!(normalize_server("ftp://x").is_err());
    }
}
