//! Server settings, layered: built-in defaults < TOML file (`--config`) < `LEGATO_*`
//! environment variables < command-line flags. `server.example.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::TokenHash;

/// Origins a browser-hosted client (the Tauri webview) may open `/sync` from.
pub const DEFAULT_ALLOWED_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// Everything the server needs to run. Build it with [`Settings::load`] (layered) or start
/// from [`Settings::with_database`] in tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Address `legato-server` binds (the library's [`crate::serve`] takes a bound listener).
    pub listen: SocketAddr,
    /// `sqlite:///absolute/path.db`, `sqlite://relative/path.db` or
    /// `postgres://user@host:port/database` ([`DatabaseLocation`]).
    pub database_url: String,
    /// Entities per page during a WebSocket catch-up.
    pub catchup_page_size: usize,
    /// A WebSocket that sends no frame for this long is closed.
    pub idle_timeout: Duration,
    /// A WebSocket write that cannot make progress for this long closes the connection.
    pub write_timeout: Duration,
    /// Sustained changes per second per user; 0 disables rate limiting.
    pub rate_limit: f64,
    /// Token-bucket capacity: changes a user may push at once after being idle.
    pub rate_limit_burst: u32,
    /// `Origin` values allowed on the WebSocket handshake (requests without `Origin` pass).
    pub allowed_origins: Vec<String>,
    /// Live updates queued for one connection before it is closed as too slow.
    pub outbound_queue: usize,
    /// Bytes of live updates queued for one connection before it is closed as too slow.
    pub outbound_bytes: usize,
    /// WebSocket connections one account may hold at once (more are refused with 429).
    pub max_connections_per_user: usize,
    /// Change pages per second one account may read (`GET /api/sync/changes` pages and
    /// WebSocket `subscribe`s), with a burst of 5 s worth; 0 disables.
    pub read_rate_limit: f64,
    /// How long shutdown waits for WebSocket connections to drain.
    pub shutdown_grace: Duration,
    /// When set, `GET /metrics` wants `Authorization: Bearer <token>` (kept as its hash, so
    /// the settings can be logged). Unset, anyone who reaches the port may read the counters
    /// (they hold no user data; the default listen address is loopback).
    pub metrics_token: Option<TokenHash>,
    /// A token not used for this long stops working (sliding: every use restarts the
    /// clock). `None`: tokens never expire.
    pub token_idle_timeout: Option<Duration>,
    /// Whether `POST /api/auth/register` creates accounts. Unset in the layers, it is open
    /// when the server listens on a loopback address only (a desktop's own server, tests)
    /// and closed otherwise, so a server put on the network is not open to anyone.
    pub open_registration: bool,
    /// Bytes one account may store (`None`: no limit); see `Database::set_user_quota`.
    pub user_quota_bytes: Option<u64>,
    /// An HTTP connection must send a request's headers within this long, also when it
    /// sits idle between requests (keep-alive); else it is closed.
    pub header_timeout: Duration,
    /// A request's body must arrive within this long (`408` otherwise).
    pub body_timeout: Duration,
    /// Change records and tombstones older than this lose their payload (the records of
    /// the change ids and the tombstones stay; docs/server-choices.md, "Pruning"). `None`:
    /// never pruned.
    pub prune_after: Option<Duration>,
    /// How often the pruning task looks for what `prune_after` lets go (also once at start).
    pub prune_interval: Duration,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_CATCHUP_PAGE_SIZE: usize = 500;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RATE_LIMIT: f64 = 1000.0;
/// The burst is this many seconds' worth of the sustained rate (5000 at the default rate).
pub const BURST_SECONDS: f64 = 5.0;
pub const DEFAULT_OUTBOUND_QUEUE: usize = 1024;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Days a token may go unused before it expires (`token_idle_days`; 0: never).
pub const DEFAULT_TOKEN_IDLE_DAYS: u64 = 90;
/// Megabytes one account may store by default (`user_quota_mb`; 0: no limit).
pub const DEFAULT_USER_QUOTA_MB: u64 = 1000;
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 32;
pub const DEFAULT_READ_RATE_LIMIT: f64 = 20.0;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Days change records and tombstones keep their payload (`prune_after_days`; 0: forever).
/// The same as [`DEFAULT_TOKEN_IDLE_DAYS`]: a device away for longer has to sign in again.
pub const DEFAULT_PRUNE_AFTER_DAYS: u64 = 90;
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

impl Settings {
    /// Defaults with the given database (handy for tests and embedding).
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Settings {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            database_url: database_url.into(),
            catchup_page_size: DEFAULT_CATCHUP_PAGE_SIZE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_limit_burst: default_burst(DEFAULT_RATE_LIMIT),
            allowed_origins: DEFAULT_ALLOWED_ORIGINS.map(str::to_owned).to_vec(),
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            outbound_bytes: crate::hub::DEFAULT_OUTBOUND_BYTES,
            max_connections_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
            read_rate_limit: DEFAULT_READ_RATE_LIMIT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics_token: None,
            token_idle_timeout: Some(DAY * DEFAULT_TOKEN_IDLE_DAYS as u32),
            open_registration: true,
            user_quota_bytes: Some(DEFAULT_USER_QUOTA_MB * 1_000_000),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            prune_after: Some(DAY * DEFAULT_PRUNE_AFTER_DAYS as u32),
            prune_interval: DEFAULT_PRUNE_INTERVAL,
        }
    }

    /// Layers `file` (TOML text), the environment (`env` looks a variable up) and `flags`
    /// over the defaults. The default database lives in the user's data directory.
    pub fn load(
        file: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        flags: Overrides,
    ) -> Result<Self, SettingsError> {
        let file = match file {
            Some(text) => toml::from_str::<Overrides>(text).map_err(SettingsError::Toml)?,
            None => Overrides::default(),
        };
        let env_layer = Overrides::from_env(&env)?;
        let merged = file.then(env_layer).then(flags);

        let database_url = match merged.database_url {
            Some(url) => url,
            None => {
                let dir = default_data_dir(&env).ok_or(SettingsError::NoDataDir)?;
                format!("sqlite://{}", dir.join("legato.db").display())
            }
        };
        let mut settings = Settings::with_database(database_url);
        if let Some(listen) = merged.listen {
            settings.listen = listen.parse().map_err(|_| SettingsError::Value {
                key: "listen",
                value: listen,
            })?;
        }
        if let Some(size) = merged.catchup_page_size {
            if size == 0 {
                return Err(SettingsError::Value {
                    key: "catchup_page_size",
                    value: "0".into(),
                });
            }
            settings.catchup_page_size = size;
        }
        if let Some(secs) = merged.idle_timeout_secs {
            settings.idle_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(rate) = merged.rate_limit {
            if !rate.is_finite() || rate < 0.0 {
                return Err(SettingsError::Value {
                    key: "rate_limit",
                    value: rate.to_string(),
                });
            }
            settings.rate_limit = rate;
            settings.rate_limit_burst = default_burst(rate);
        }
        if let Some(burst) = merged.rate_limit_burst {
            settings.rate_limit_burst = burst.max(1);
        }
        if let Some(origins) = merged.allowed_origins {
            settings.allowed_origins = origins;
        }
        if let Some(queue) = merged.outbound_queue {
            settings.outbound_queue = queue.max(1);
        }
        if let Some(mb) = merged.user_quota_mb {
            settings.user_quota_bytes = (mb > 0).then(|| mb.saturating_mul(1_000_000));
        }
        if let Some(bytes) = merged.outbound_bytes {
            settings.outbound_bytes = bytes.max(legato_protocol::MAX_MESSAGE_BYTES);
        }
        if let Some(max) = merged.max_connections_per_user {
            settings.max_connections_per_user = max.max(1);
        }
        if let Some(rate) = merged.read_rate_limit {
            if !rate.is_finite() || rate < 0.0 {
                return Err(SettingsError::Value {
                    key: "read_rate_limit",
                    value: rate.to_string(),
                });
            }
            settings.read_rate_limit = rate;
        }
        settings.open_registration = merged
            .open_registration
            .unwrap_or_else(|| settings.listen.ip().is_loopback());
        if let Some(secs) = merged.header_timeout_secs {
            settings.header_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = merged.body_timeout_secs {
            settings.body_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(days) = merged.token_idle_days {
            settings.token_idle_timeout = match u32::try_from(days) {
                Ok(0) => None,
                Ok(days) if days <= 36_500 => Some(DAY * days),
                _ => {
                    return Err(SettingsError::Value {
                        key: "token_idle_days",
                        value: days.to_string(),
                    });
                }
            };
        }
        if let Some(days) = merged.prune_after_days {
            settings.prune_after = match u32::try_from(days) {
                Ok(0) => None,
                Ok(days) if days <= 36_500 => Some(DAY * days),
                _ => {
                    return Err(SettingsError::Value {
                        key: "prune_after_days",
                        value: days.to_string(),
                    });
                }
            };
        }
        if let Some(token) = merged.metrics_token {
            if token.trim().is_empty() {
                return Err(SettingsError::Value {
                    key: "metrics_token",
                    value: "(empty)".into(),
                });
            }
            settings.metrics_token = Some(TokenHash::of(token.trim()));
        }
        Ok(settings)
    }
}

fn default_burst(rate: f64) -> u32 {
    // Saturating float-to-int conversion; at least 1 so a tiny rate still admits something.
    ((rate * BURST_SECONDS).ceil() as u32).max(1)
}

/// One configuration layer: every key optional. The TOML file has exactly these keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub catchup_page_size: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
    pub rate_limit: Option<f64>,
    pub rate_limit_burst: Option<u32>,
    pub allowed_origins: Option<Vec<String>>,
    pub outbound_queue: Option<usize>,
    pub metrics_token: Option<String>,
    pub token_idle_days: Option<u64>,
    pub open_registration: Option<bool>,
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub outbound_bytes: Option<usize>,
    pub max_connections_per_user: Option<usize>,
    pub read_rate_limit: Option<f64>,
    pub user_quota_mb: Option<u64>,
    pub prune_after_days: Option<u64>,
}

impl Overrides {
    /// `self` overridden by every key `over` sets.
    fn then(self, over: Overrides) -> Overrides {
        Overrides {
            listen: over.listen.or(self.listen),
            database_url: over.database_url.or(self.database_url),
            catchup_page_size: over.catchup_page_size.or(self.catchup_page_size),
            idle_timeout_secs: over.idle_timeout_secs.or(self.idle_timeout_secs),
            rate_limit: over.rate_limit.or(self.rate_limit),
            rate_limit_burst: over.rate_limit_burst.or(self.rate_limit_burst),
            allowed_origins: over.allowed_origins.or(self.allowed_origins),
            outbound_queue: over.outbound_queue.or(self.outbound_queue),
            metrics_token: over.metrics_token.or(self.metrics_token),
            token_idle_days: over.token_idle_days.or(self.token_idle_days),
            open_registration: over.open_registration.or(self.open_registration),
            header_timeout_secs: over.header_timeout_secs.or(self.header_timeout_secs),
            body_timeout_secs: over.body_timeout_secs.or(self.body_timeout_secs),
            outbound_bytes: over.outbound_bytes.or(self.outbound_bytes),
            max_connections_per_user: over
                .max_connections_per_user
                .or(self.max_connections_per_user),
            read_rate_limit: over.read_rate_limit.or(self.read_rate_limit),
            user_quota_mb: over.user_quota_mb.or(self.user_quota_mb),
            prune_after_days: over.prune_after_days.or(self.prune_after_days),
        }
    }

    /// `LEGATO_LISTEN`, `LEGATO_DATABASE_URL`, `LEGATO_CATCHUP_PAGE_SIZE`,
    /// `LEGATO_IDLE_TIMEOUT_SECS`, `LEGATO_RATE_LIMIT`, `LEGATO_RATE_LIMIT_BURST`,
    /// `LEGATO_ALLOWED_ORIGINS` (comma-separated), `LEGATO_OUTBOUND_QUEUE`,
    /// `LEGATO_METRICS_TOKEN`, `LEGATO_TOKEN_IDLE_DAYS`, `LEGATO_OPEN_REGISTRATION`,
    /// `LEGATO_HEADER_TIMEOUT_SECS`, `LEGATO_BODY_TIMEOUT_SECS`, `LEGATO_OUTBOUND_BYTES`,
    /// `LEGATO_MAX_CONNECTIONS_PER_USER`, `LEGATO_READ_RATE_LIMIT`, `LEGATO_USER_QUOTA_MB`,
    /// `LEGATO_PRUNE_AFTER_DAYS`.
    /// Empty variables count as unset.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &'static str| env(name).filter(|v| !v.trim().is_empty());
        fn num<T: std::str::FromStr>(
            name: &'static str,
            v: Option<String>,
        ) -> Result<Option<T>, SettingsError> {
            v.map(|v| {
                v.trim().parse().map_err(|_| SettingsError::Env {
                    var: name,
                    value: v.clone(),
                })
            })
            .transpose()
        }
        Ok(Overrides {
            listen: get("LEGATO_LISTEN"),
            database_url: get("LEGATO_DATABASE_URL"),
            catchup_page_size: num("LEGATO_CATCHUP_PAGE_SIZE", get("LEGATO_CATCHUP_PAGE_SIZE"))?,
            idle_timeout_secs: num("LEGATO_IDLE_TIMEOUT_SECS", get("LEGATO_IDLE_TIMEOUT_SECS"))?,
            rate_limit: num("LEGATO_RATE_LIMIT", get("LEGATO_RATE_LIMIT"))?,
            rate_limit_burst: num("LEGATO_RATE_LIMIT_BURST", get("LEGATO_RATE_LIMIT_BURST"))?,
            allowed_origins: get("LEGATO_ALLOWED_ORIGINS").map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            outbound_queue: num("LEGATO_OUTBOUND_QUEUE", get("LEGATO_OUTBOUND_QUEUE"))?,
            metrics_token: get("LEGATO_METRICS_TOKEN"),
            token_idle_days: num("LEGATO_TOKEN_IDLE_DAYS", get("LEGATO_TOKEN_IDLE_DAYS"))?,
            open_registration: num("LEGATO_OPEN_REGISTRATION", get("LEGATO_OPEN_REGISTRATION"))?,
            header_timeout_secs: num(
                "LEGATO_HEADER_TIMEOUT_SECS",
                get("LEGATO_HEADER_TIMEOUT_SECS"),
            )?,
            body_timeout_secs: num("LEGATO_BODY_TIMEOUT_SECS", get("LEGATO_BODY_TIMEOUT_SECS"))?,
            outbound_bytes: num("LEGATO_OUTBOUND_BYTES", get("LEGATO_OUTBOUND_BYTES"))?,
            max_connections_per_user: num(
                "LEGATO_MAX_CONNECTIONS_PER_USER",
                get("LEGATO_MAX_CONNECTIONS_PER_USER"),
            )?,
            read_rate_limit: num("LEGATO_READ_RATE_LIMIT", get("LEGATO_READ_RATE_LIMIT"))?,
            user_quota_mb: num("LEGATO_USER_QUOTA_MB", get("LEGATO_USER_QUOTA_MB"))?,
            prune_after_days: num("LEGATO_PRUNE_AFTER_DAYS", get("LEGATO_PRUNE_AFTER_DAYS"))?,
        })
    }
}

/// `$XDG_DATA_HOME/legato-server`, else `$HOME/.local/share/legato-server`.
pub fn default_data_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let xdg = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => PathBuf::from(env("HOME").filter(|h| !h.is_empty())?).join(".local/share"),
    };
    Some(base.join("legato-server"))
}

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, as `tokio-postgres` takes it
    /// (`postgres://user:password@host:port/database`).
    Postgres(String),
}

impl DatabaseLocation {
    /// Parses `sqlite:///abs/path.db`, `sqlite://rel.db`, `sqlite:rel.db` or
    /// `postgres://user@host:port/database` (also `postgresql://`).
    pub fn parse(url: &str) -> Result<Self, SettingsError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.starts_with(":memory:") {
                return Err(SettingsError::Value {
                    key: "database_url",
                    value: url.to_owned(),
                });
            }
            return Ok(DatabaseLocation::Sqlite(Path::new(path).to_path_buf()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Checked by the client's own parser now, so a typo fails before anything runs.
            tokio_postgres::Config::from_str(url).map_err(|_| SettingsError::Value {
                key: "database_url",
                value: url.to_owned(),
            })?;
            return Ok(DatabaseLocation::Postgres(url.to_owned()));
        }
        Err(SettingsError::UnsupportedDatabase(format!(
            "unsupported database URL scheme (expected sqlite://... or postgres://...): {}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("environment variable {var}: cannot parse `{value}`")]
    Env { var: &'static str, value: String },
    #[error("setting `{key}`: invalid value `{value}`")]
    Value { key: &'static str, value: String },
    #[error("no data directory: set XDG_DATA_HOME or HOME, or pass --database")]
    NoDataDir,
    #[error("{0}")]
    UnsupportedDatabase(String),
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_use_the_data_dir() {
        let s =
            Settings::load(None, env_of(&[("HOME", "/home/ann")]), Overrides::default()).unwrap();
        assert_eq!(
            s.database_url,
            "sqlite:///home/ann/.local/share/legato-server/legato.db"
        );
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.rate_limit_burst, 5000);
        assert_eq!(s.allowed_origins.len(), 3);

        let s = Settings::load(
            None,
            env_of(&[("HOME", "/home/ann"), ("XDG_DATA_HOME", "/data")]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.database_url, "sqlite:///data/legato-server/legato.db");
        // A relative XDG_DATA_HOME is ignored, as the XDG spec says.
        let dir = default_data_dir(env_of(&[("HOME", "/h"), ("XDG_DATA_HOME", "rel")]));
        assert_eq!(dir, Some(PathBuf::from("/h/.local/share/legato-server")));
        assert!(matches!(
            Settings::load(None, env_of(&[]), Overrides::default()),
            Err(SettingsError::NoDataDir)
        ));
    }

    #[test]
    fn registration_is_open_on_loopback_only_unless_set() {
        let env = env_of(&[("HOME", "/home/ann")]);
        let listen = |addr: &str| Overrides {
            listen: Some(addr.to_owned()),
            ..Overrides::default()
        };
        let open = |file: Option<&str>, flags| {
            Settings::load(file, &env, flags).unwrap().open_registration
        };
        assert!(open(None, Overrides::default()));
        assert!(open(None, listen("[::1]:8080")));
        assert!(!open(None, listen("0.0.0.0:8080")));
        assert!(!open(None, listen("192.0.2.1:8080")));
        assert!(open(
            Some("open_registration = true"),
            listen("0.0.0.0:8080")
        ));
        assert!(!open(
            Some("open_registration = false"),
            Overrides::default()
        ));
        let env_closed = env_of(&[("HOME", "/h"), ("LEGATO_OPEN_REGISTRATION", "false")]);
        assert!(
            !Settings::load(None, env_closed, Overrides::default())
                .unwrap()
                .open_registration
        );
        let days = |text: &str| Settings::load(Some(text), &env, Overrides::default());
        assert_eq!(
            days("token_idle_days = 0").unwrap().token_idle_timeout,
            None
        );
        assert_eq!(
            days("token_idle_days = 2").unwrap().token_idle_timeout,
            Some(Duration::from_secs(2 * 86_400))
        );
        assert!(days("token_idle_days = 99999999").is_err());
        assert_eq!(
            days("").unwrap().prune_after,
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(days("prune_after_days = 0").unwrap().prune_after, None);
        assert_eq!(
            days("prune_after_days = 7").unwrap().prune_after,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert!(days("prune_after_days = 99999999").is_err());
        let env_prune = env_of(&[("HOME", "/h"), ("LEGATO_PRUNE_AFTER_DAYS", "3")]);
        assert_eq!(
            Settings::load(None, env_prune, Overrides::default())
                .unwrap()
                .prune_after,
            Some(Duration::from_secs(3 * 86_400))
        );
    }

    #[test]
    fn layers_override_in_order() {
        let toml = r#"
            listen = "0.0.0.0:9000"
            database_url = "sqlite:///from/toml.db"
            rate_limit = 10
            catchup_page_size = 7
            allowed_origins = ["https://a.example"]
        "#;
        // TOML over defaults.
        let s = Settings::load(Some(toml), env_of(&[]), Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.database_url, "sqlite:///from/toml.db");
        assert_eq!(s.rate_limit, 10.0);
        assert_eq!(s.rate_limit_burst, 50);
        assert_eq!(s.catchup_page_size, 7);
        assert_eq!(s.allowed_origins, vec!["https://a.example".to_owned()]);

        // Environment over TOML.
        let env = env_of(&[
            ("LEGATO_LISTEN", "127.0.0.1:9001"),
            ("LEGATO_DATABASE_URL", "sqlite:///from/env.db"),
            (
                "LEGATO_ALLOWED_ORIGINS",
                "https://b.example, https://c.example",
            ),
            ("LEGATO_RATE_LIMIT_BURST", "99"),
        ]);
        let s = Settings::load(Some(toml), &env, Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(s.database_url, "sqlite:///from/env.db");
        assert_eq!(s.rate_limit_burst, 99);
        assert_eq!(s.allowed_origins.len(), 2);
        assert_eq!(s.catchup_page_size, 7);

        // Flags over environment.
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            database_url: Some("sqlite:///from/flag.db".into()),
            ..Overrides::default()
        };
        let s = Settings::load(Some(toml), &env, flags).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:0");
        assert_eq!(s.database_url, "sqlite:///from/flag.db");
        assert_eq!(s.rate_limit_burst, 99);

        // A PostgreSQL URL goes through the same layers.
        let pg = env_of(&[("LEGATO_DATABASE_URL", "postgres://legato@127.0.0.1:5433/l")]);
        let s = Settings::load(Some(toml), &pg, Overrides::default()).unwrap();
        assert_eq!(
            DatabaseLocation::parse(&s.database_url).unwrap(),
            DatabaseLocation::Postgres("postgres://legato@127.0.0.1:5433/l".into())
        );
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(matches!(
            Settings::load(
                Some("nope = 1"),
                env_of(&[("HOME", "/h")]),
                Overrides::default()
            ),
            Err(SettingsError::Toml(_))
        ));
        assert!(matches!(
            Settings::load(
                None,
                env_of(&[("HOME", "/h"), ("LEGATO_RATE_LIMIT", "fast")]),
                Overrides::default()
            ),
            Err(SettingsError::Env {
                var: "LEGATO_RATE_LIMIT",
                ..
            })
        ));
        let flags = Overrides {
            listen: Some("not an address".into()),
            ..Overrides::default()
        };
        assert!(matches!(
            Settings::load(None, env_of(&[("HOME", "/h")]), flags),
            Err(SettingsError::Value { key: "listen", .. })
        ));
    }

    #[test]
    fn the_metrics_token_is_kept_as_a_hash_and_may_not_be_blank() {
        let env = env_of(&[("HOME", "/h"), ("LEGATO_METRICS_TOKEN", " s3cret ")]);
        let s = Settings::load(None, &env, Overrides::default()).unwrap();
        assert_eq!(s.metrics_token, Some(TokenHash::of("s3cret")));
        assert!(!format!("{s:?}").contains("s3cret"));
        let s = Settings::load(None, env_of(&[("HOME", "/h")]), Overrides::default()).unwrap();
        assert_eq!(s.metrics_token, None);
        assert!(matches!(
            Settings::load(
                Some("metrics_token = \"  \""),
                env_of(&[("HOME", "/h")]),
                Overrides::default()
            ),
            Err(SettingsError::Value {
                key: "metrics_token",
                ..
            })
        ));
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../server.example.toml");
        let s =
            Settings::load(Some(text), env_of(&[("HOME", "/h")]), Overrides::default()).unwrap();
        assert_eq!(s.catchup_page_size, DEFAULT_CATCHUP_PAGE_SIZE);
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseLocation::parse("sqlite:///var/lib/legato.db").unwrap(),
            DatabaseLocation::Sqlite("/var/lib/legato.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite://data/legato.db").unwrap(),
            DatabaseLocation::Sqlite("data/legato.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:legato.db").unwrap(),
            DatabaseLocation::Sqlite("legato.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("postgres://legato@127.0.0.1:5433/legato").unwrap(),
            DatabaseLocation::Postgres("postgres://legato@127.0.0.1:5433/legato".into())
        );
        assert_eq!(
            DatabaseLocation::parse("postgresql://db.example/legato?sslmode=disable").unwrap(),
            DatabaseLocation::Postgres("postgresql://db.example/legato?sslmode=disable".into())
        );
        assert!(matches!(
            DatabaseLocation::parse("postgres://h:notaport/db"),
            Err(SettingsError::Value {
                key: "database_url",
                ..
            })
        ));
        assert!(DatabaseLocation::parse("postgres:x").is_err());
        assert!(DatabaseLocation::parse("mysql://x").is_err());
        assert!(DatabaseLocation::parse("sqlite://").is_err());
    }
}
