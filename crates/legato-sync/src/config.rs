//! How an engine is set up: the server, the credentials, the strategies and the timings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use legato_core::Strategy;
use legato_protocol::EntityType;
use legato_store::RetryPolicy;
use reqwest::Url;

use crate::plan::PlanConfig;

/// The sync server's base address, validated: `http(s)://host[:port][/prefix]`.
///
/// The WebSocket endpoint is derived from it (`ws(s)://host:port[/prefix]/sync`), as are the
/// HTTP endpoints (`.../api/sync/batch`, `.../api/sync/changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    base: Url,
}

/// Why a server address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("server address `{0}` is not a URL")]
    NotAUrl(String),
    #[error("server address must start with http:// or https://, got `{0}`")]
    Scheme(String),
    #[error("server address must not carry credentials, a query or a fragment")]
    Extra,
}

impl ServerUrl {
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut base = Url::parse(text.trim()).map_err(|_| ConfigError::NotAUrl(text.into()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfigError::Scheme(text.into()));
        }
        if !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(ConfigError::Extra);
        }
        // A trailing slash makes `join` append instead of replacing the last segment.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(ServerUrl { base })
    }

    /// The base as given (normalised with a trailing slash).
    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }

    /// Plain `http://` to a host that is not this machine: the password, the token and
    /// every entry cross the network unencrypted (and the token can be replayed by anyone
    /// on the path). See [`is_insecure_server`]; clients warn about it.
    pub fn is_insecure(&self) -> bool {
        is_insecure_server(self.base.scheme(), self.base.host_str().unwrap_or(""))
    }

    /// The warning a client shows for an insecure server (see [`ServerUrl::is_insecure`]),
    /// or `None` when the server is `https://` or on this machine.
    pub fn insecure_warning(&self) -> Option<String> {
        self.is_insecure().then(|| {
            format!(
                "{} is not on this machine and uses plain http://: your password, your sign-in \
                 token and your entries travel unencrypted. Use https:// for a remote server.",
                self.base.as_str().trim_end_matches('/')
            )
        })
    }

    /// `ws(s)://host:port[/prefix]/sync`.
    pub fn websocket(&self) -> Url {
        let mut url = self.endpoint("sync");
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        url.set_scheme(scheme)
            .expect("http(s) URLs can switch to ws(s)");
        url
    }

    /// An HTTP endpoint under the base, e.g. `api/sync/batch`.
    pub fn endpoint(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("a relative path always joins onto a base URL")
    }
}

/// Whether a server at `scheme://host` is reached without encryption over a network: the
/// scheme is `http` and the host is not a loopback address (`127.0.0.0/8`, `::1`, an
/// IPv4-mapped loopback) or a loopback name (`localhost` and `*.localhost`, RFC 6761, which
/// resolve to the machine itself). A private LAN address (`192.168.x.y`) is insecure too:
/// anyone on that network can read the traffic. Pure; `host` as `Url::host_str` gives it
/// (IPv6 in brackets).
pub fn is_insecure_server(scheme: &str, host: &str) -> bool {
    if !scheme.eq_ignore_ascii_case("http") {
        return false;
    }
    let host = host.trim_end_matches('.');
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let loopback = match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = bare.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    !loopback
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.as_str())
    }
}

/// Everything an engine needs. Start from [`SyncConfig::new`] and adjust fields.
///
/// `Debug` never prints the token.
#[derive(Clone)]
pub struct SyncConfig {
    pub server: ServerUrl,
    /// The bearer token; `None`: signed out (the engine stays offline until one is set).
    pub token: Option<String>,
    /// Conflict strategy per entity type; a type missing here uses `merge`.
    pub strategies: HashMap<EntityType, Strategy>,
    /// What to send when: throttles, batching, coalescing, in-flight window.
    pub plan: PlanConfig,
    /// How often a `ping` is sent on an open connection.
    pub heartbeat: Duration,
    /// No frame at all this long after a `ping`: the connection is half-open and replaced.
    /// Also bounds every write on the socket.
    pub pong_timeout: Duration,
    /// Bounds the TCP connect + TLS + WebSocket handshake.
    pub connect_timeout: Duration,
    /// Bounds one HTTP request (a batch).
    pub request_timeout: Duration,
    /// Reconnect backoff: from `reconnect_base`, doubling, capped at `reconnect_cap`, jittered.
    pub reconnect_base: Duration,
    pub reconnect_cap: Duration,
    /// Seeds the reconnect jitter (tests make it reproducible); `None`: random.
    pub backoff_seed: Option<u64>,
    /// How a change the server refuses is retried (backoff, attempts before the dead letters).
    pub retry: RetryPolicy,
    /// Send strings over 1000 characters as `$deflate` when smaller, and ask the server to do
    /// the same (`hello.compress`).
    pub compress: bool,
    /// Catch-up updates applied per transaction.
    pub catch_up_page: usize,
    /// How long [`crate::SyncHandle::sync_now`] waits before answering `Timeout`.
    pub sync_now_timeout: Duration,
    /// How long a flushing [`crate::SyncHandle::shutdown`] waits for the server.
    pub shutdown_flush_timeout: Duration,
    /// How often pending changes waiting for a retry time are looked at again (covers retry
    /// times set before a restart).
    pub retry_sweep: Duration,
    /// Status counts (pending, dead letters, ...) are refreshed at most this often.
    pub status_interval: Duration,
    /// The wall clock the engine stamps and schedules by (the system's; the simulation gives
    /// each device its own, which it can jump).
    pub clock: WallClock,
}

/// A wall clock: milliseconds since the Unix epoch. It may jump either way; the engine
/// measures waits on the monotonic clock and uses this one only for times it stores.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl WallClock {
    /// The system's clock.
    pub fn system() -> Self {
        WallClock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }))
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        WallClock(Arc::new(now))
    }

    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WallClock({})", self.now_ms())
    }
}

impl SyncConfig {
    /// Defaults from the seed: heartbeat 30 s, reconnect 1 s → 30 s, batches of 50,
    /// logbook immediate, repertoire and goals every 30 s, `merge` everywhere, compression on.
    pub fn new(server: &str, token: Option<String>) -> Result<Self, ConfigError> {
        Ok(SyncConfig {
            server: ServerUrl::parse(server)?,
            token,
            strategies: HashMap::new(),
            plan: PlanConfig::default(),
            heartbeat: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            reconnect_base: Duration::from_secs(1),
            reconnect_cap: Duration::from_secs(30),
            backoff_seed: None,
            retry: RetryPolicy::default(),
            compress: true,
            catch_up_page: 500,
            sync_now_timeout: Duration::from_secs(60),
            shutdown_flush_timeout: Duration::from_secs(5),
            retry_sweep: Duration::from_secs(5),
            status_interval: Duration::from_millis(50),
            clock: WallClock::system(),
        })
    }

    /// The strategy for `entity_type` (`merge` unless configured).
    pub fn strategy(&self, entity_type: EntityType) -> Strategy {
        self.strategies
            .get(&entity_type)
            .copied()
            .unwrap_or_default()
    }
}

impl fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncConfig")
            .field("server", &self.server.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("strategies", &self.strategies)
            .field("plan", &self.plan)
            .field("heartbeat", &self.heartbeat)
            .field("pong_timeout", &self.pong_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("reconnect_base", &self.reconnect_base)
            .field("reconnect_cap", &self.reconnect_cap)
            .field("retry", &self.retry)
            .field("compress", &self.compress)
            .field("catch_up_page", &self.catch_up_page)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_websocket_and_http_endpoints() {
        let plain = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(plain.websocket().as_str(), "ws://127.0.0.1:8080/sync");
        assert_eq!(
            plain.endpoint("api/sync/batch").as_str(),
            "http://127.0.0.1:8080/api/sync/batch"
        );
        let prefixed = ServerUrl::parse("https://example.com/legato").unwrap();
        assert_eq!(
            prefixed.websocket().as_str(),
            "wss://example.com/legato/sync"
        );
        assert_eq!(
            prefixed.endpoint("api/sync/changes").as_str(),
            "https://example.com/legato/api/sync/changes"
        );
    }

    #[test]
    fn refuses_other_schemes_and_credentials() {
        assert!(matches!(
            ServerUrl::parse("ws://host/sync"),
            Err(ConfigError::Scheme(_))
        ));
        assert!(matches!(
            ServerUrl::parse("not a url"),
            Err(ConfigError::NotAUrl(_))
        ));
        assert_eq!(ServerUrl::parse("http://u:p@host"), Err(ConfigError::Extra));
        assert_eq!(
            ServerUrl::parse("http://host/?token=x"),
            Err(ConfigError::Extra)
        );
    }

    #[test]
    fn plain_http_is_insecure_unless_the_server_is_this_machine() {
        let insecure = |url: &str| ServerUrl::parse(url).unwrap().is_insecure();
        for local in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://localhost.:1",
            "http://sync.localhost",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]",
            "https://sync.example.com",
            "https://192.168.1.20",
            "HTTPS://example.com",
        ] {
            assert!(!insecure(local), "{local}");
        }
        for remote in [
            "http://sync.example.com",
            "http://192.168.1.20:8080",
            "http://10.0.0.1",
            "http://0.0.0.0:8080",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
            "http://notlocalhost",
            "HTTP://example.com/legato",
        ] {
            assert!(insecure(remote), "{remote}");
        }
        assert!(is_insecure_server("http", "example.com"));
        assert!(!is_insecure_server("https", "example.com"));
        assert!(!is_insecure_server("http", "[::1]"));
        let warning = ServerUrl::parse("http://sync.example.com/")
            .unwrap()
            .insecure_warning()
            .unwrap();
        assert!(warning.starts_with("http://sync.example.com is not on this machine"));
        assert!(warning.contains("https://"));
        assert_eq!(
            ServerUrl::parse("http://localhost:1")
                .unwrap()
                .insecure_warning(),
            None
        );
    }

    #[test]
    fn debug_redacts_the_token() {
        let config = SyncConfig::new("http://h", Some("secret-token".into())).unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("redacted"));
        assert_eq!(config.strategy(EntityType::Goals), Strategy::Merge);
    }
}
