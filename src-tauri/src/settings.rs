//! Configuration, layered: defaults, then the device's `settings.json` (what the user chose
//! in the app), then `LEGATO_*` environment variables (for `cargo xtask run`, tests and
//! several devices on one machine).
//!
//! | variable | effect |
//! |---|---|
//! | `LEGATO_DATA_DIR` | the data directory (one directory = one device); default: the OS per-user app data dir |
//! | `LEGATO_SERVER` | the sync server URL, over the saved one |
//! | `LEGATO_KEYRING` | `os` (default) or `memory`: the token only in memory, for tests |
//! | `LEGATO_DEV_LOGIN` | `email:password`: sign in (registering if needed) at start when signed out; development only |
//! | `LEGATO_LOG` | a `tracing` filter (default `info,legato_app=debug`) |
//!
//! `settings.json` never holds the token (that is the keychain's, see [`crate::keychain`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ipc::types::{ConflictStrategy, EntityKind, Strategies, Theme};
use crate::keychain::KeyringMode;

/// The server used when neither the settings nor the environment name one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The app's identifier (also in `tauri.conf.json`): the default data dir's name.
pub const IDENTIFIER: &str = "app.legato.desktop";
const SETTINGS_FILE: &str = "settings.json";

/// What the process was started with: read once from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Launch {
    pub data_dir: PathBuf,
    /// `LEGATO_DATA_DIR` was set (the window title names the device then).
    pub data_dir_from_env: bool,
    pub server_override: Option<String>,
    pub keyring: KeyringMode,
    /// `LEGATO_DEV_LOGIN`: (email, password).
    pub dev_login: Option<(String, String)>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("data_dir", &self.data_dir)
            .field("server_override", &self.server_override)
            .field("keyring", &self.keyring)
            .field(
                "dev_login",
                &self.dev_login.as_ref().map(|(email, _)| email),
            )
            .finish_non_exhaustive()
    }
}

impl Launch {
    /// Reads the `LEGATO_*` variables through `var` (the process environment in the app).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let (data_dir, data_dir_from_env) = match var("LEGATO_DATA_DIR") {
            Some(dir) => (PathBuf::from(dir), true),
            None => (
                dirs::data_dir()
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "cannot find the per-user data directory: set LEGATO_DATA_DIR"
                        )
                    })?
                    .join(IDENTIFIER),
                false,
            ),
        };
        let keyring = match var("LEGATO_KEYRING").as_deref() {
            None | Some("os") => KeyringMode::Os,
            Some("memory") => KeyringMode::Memory,
            Some(other) => anyhow::bail!("LEGATO_KEYRING must be `os` or `memory`, not `{other}`"),
        };
        let dev_login = var("LEGATO_DEV_LOGIN")
            .map(|value| {
                value
                    .split_once(':')
                    .map(|(email, password)| (email.to_owned(), password.to_owned()))
                    .ok_or_else(|| anyhow::anyhow!("LEGATO_DEV_LOGIN must be `email:password`"))
            })
            .transpose()?;
        Ok(Launch {
            data_dir,
            data_dir_from_env,
            server_override: var("LEGATO_SERVER"),
            keyring,
            dev_login,
        })
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("legato.db")
    }

    pub fn settings_path(&self) -> PathBuf {
        self.data_dir.join(SETTINGS_FILE)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// The window title: `Legato`, plus the device's directory name when several devices
    /// run side by side (`LEGATO_DATA_DIR`).
    pub fn window_title(&self) -> String {
        match self.data_dir.file_name() {
            Some(name) if self.data_dir_from_env => {
                format!("Legato — {}", name.to_string_lossy())
            }
            _ => "Legato".to_owned(),
        }
    }
}

/// The account this device is signed in to (the token is in the keychain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedAccount {
    pub user_id: String,
    pub email: String,
    /// The server the account (and its token) belongs to. `None` in settings of older
    /// versions: the server in use then, recorded at the next start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// What the user chose, saved as `settings.json` in the data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// `None`: [`DEFAULT_SERVER`].
    pub server_url: Option<String>,
    pub theme: Theme,
    pub close_to_tray: bool,
    pub sync_paused: bool,
    pub strategies: Strategies,
    pub account: Option<SavedAccount>,
    /// The account whose data this device holds; kept after signing out, so another
    /// account's sign-in cannot mix two users' data.
    pub data_owner: Option<String>,
    /// A running practice timer reminds once after this many minutes.
    pub timer_reminder_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            theme: Theme::System,
            close_to_tray: true,
            sync_paused: false,
            strategies: Strategies::default(),
            account: None,
            data_owner: None,
            timer_reminder_minutes: crate::timer::DEFAULT_REMINDER_MINUTES,
        }
    }
}

impl Settings {
    /// [`Settings::effective_server`] parsed; an unusable one (a bad `LEGATO_SERVER`) is the
    /// default, as the sync engine does (see `state::sync_config`).
    pub fn effective_server_url(&self, launch: &Launch) -> legato_sync::ServerUrl {
        legato_sync::ServerUrl::parse(&self.effective_server(launch)).unwrap_or_else(|_| {
            legato_sync::ServerUrl::parse(DEFAULT_SERVER)
                .expect("the default server address is valid")
        })
    }

    /// The server in use: the environment's, else the saved one, else the default.
    pub fn effective_server(&self, launch: &Launch) -> String {
        launch
            .server_override
            .clone()
            .or_else(|| self.server_url.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }

    pub fn set_strategy(&mut self, kind: EntityKind, strategy: ConflictStrategy) {
        let slot = match kind {
            EntityKind::Logbook => &mut self.strategies.logbook,
            EntityKind::Repertoire => &mut self.strategies.repertoire,
            EntityKind::Goals => &mut self.strategies.goals,
        };
        *slot = strategy;
    }

    /// Reads `path`; a missing file is the defaults, an unreadable one is set aside as
    /// `settings.json.bad` (logged) and replaced by the defaults, so a bad file never keeps
    /// the app from starting.
    pub fn load(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(settings) => settings,
                Err(err) => {
                    let aside = path.with_extension("json.bad");
                    tracing::warn!(%err, path = %path.display(), aside = %aside.display(),
                        "settings file does not read; using the defaults");
                    let _ = std::fs::rename(path, aside);
                    Settings::default()
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(err) => {
                tracing::warn!(%err, path = %path.display(), "cannot read the settings; using the defaults");
                Settings::default()
            }
        }
    }

    /// Writes `path` through a temporary file and a rename (never half-written). Blocking:
    /// call it off the async workers.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

impl From<ConflictStrategy> for legato_sync::Strategy {
    fn from(value: ConflictStrategy) -> Self {
        match value {
            ConflictStrategy::Local => legato_sync::Strategy::Local,
            ConflictStrategy::Remote => legato_sync::Strategy::Remote,
            ConflictStrategy::Merge => legato_sync::Strategy::Merge,
            ConflictStrategy::Manual => legato_sync::Strategy::Manual,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn launch(vars: &[(&str, &str)]) -> anyhow::Result<Launch> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Launch::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn environment_overrides_the_saved_settings() {
        let l = launch(&[
            ("LEGATO_DATA_DIR", "/tmp/dev-2"),
            ("LEGATO_SERVER", "http://127.0.0.1:9000"),
            ("LEGATO_KEYRING", "memory"),
            ("LEGATO_DEV_LOGIN", "dev@example.com:pa:ss"),
        ])
        .unwrap();
        assert_eq!(l.data_dir, PathBuf::from("/tmp/dev-2"));
        assert_eq!(l.store_path(), PathBuf::from("/tmp/dev-2/legato.db"));
        assert_eq!(l.window_title(), "Legato — dev-2");
        assert_eq!(l.keyring, KeyringMode::Memory);
        assert_eq!(
            l.dev_login,
            Some(("dev@example.com".into(), "pa:ss".into()))
        );
        assert!(!format!("{l:?}").contains("pa:ss"), "no password in logs");

        let mut settings = Settings {
            server_url: Some("https://sync.example.com".into()),
            ..Settings::default()
        };
        assert_eq!(settings.effective_server(&l), "http://127.0.0.1:9000");
        let plain = launch(&[("LEGATO_DATA_DIR", "/tmp/d")]).unwrap();
        assert_eq!(
            settings.effective_server(&plain),
            "https://sync.example.com"
        );
        settings.server_url = None;
        assert_eq!(settings.effective_server(&plain), DEFAULT_SERVER);
        assert_eq!(plain.keyring, KeyringMode::Os);

        assert!(launch(&[("LEGATO_KEYRING", "file")]).is_err());
        assert!(launch(&[("LEGATO_DEV_LOGIN", "nopassword")]).is_err());
    }

    #[test]
    fn settings_round_trip_and_survive_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default());
        assert!(Settings::default().close_to_tray);

        let mut settings = Settings {
            theme: Theme::Dark,
            sync_paused: true,
            account: Some(SavedAccount {
                user_id: "u1".into(),
                email: "a@example.com".into(),
                server: Some("https://sync.example.com".into()),
            }),
            ..Settings::default()
        };
        settings.set_strategy(EntityKind::Goals, ConflictStrategy::Manual);
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"goals\": \"manual\""), "{text}");

        // Settings of an older version: an account without its server still reads.
        std::fs::write(
            &path,
            r#"{"account": {"userId": "u1", "email": "a@example.com"}}"#,
        )
        .unwrap();
        let old = Settings::load(&path).account.unwrap();
        assert_eq!(old.server, None);
        assert_eq!(old.email, "a@example.com");

        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        assert!(dir.path().join("settings.json.bad").exists());
    }
}
