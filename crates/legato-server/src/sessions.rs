//! Live WebSocket sessions by token, so that revoking a token (logout, a device revoked, a
//! password change) ends the connections opened with it at once, not at their next
//! handshake.
//!
//! The registry is this node's: a connection also re-checks its token every
//! [`token_recheck_interval`] (which catches a revoke made on another node, and the idle
//! expiry), so no connection outlives its token by more than that anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::TokenHash;

/// Longest time between two re-checks of a live connection's token.
pub const MAX_TOKEN_RECHECK: Duration = Duration::from_secs(60);
/// Longest time between two records of a token's use.
pub const MAX_TOKEN_TOUCH: Duration = Duration::from_secs(3600);
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How often a token's use is written down: an hour, or a quarter of the idle expiry when
/// that is shorter, so a token in use never looks idle while the writer sees at most one
/// such write per token and interval.
pub fn token_touch_interval(token_idle_timeout: Option<Duration>) -> Duration {
    token_idle_timeout.map_or(MAX_TOKEN_TOUCH, |idle| {
        (idle / 4).clamp(MIN_INTERVAL, MAX_TOKEN_TOUCH)
    })
}

/// How often a live connection re-checks its token: a minute, or the touch interval when
/// that is shorter.
pub fn token_recheck_interval(token_idle_timeout: Option<Duration>) -> Duration {
    token_touch_interval(token_idle_timeout).min(MAX_TOKEN_RECHECK)
}

/// The live sessions of this node.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<TokenHash, HashMap<u64, CancellationToken>>>,
    next_id: AtomicU64,
}

impl Sessions {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Registers a connection made with `token`; it leaves the registry when the returned
    /// session is dropped.
    pub fn open(self: &Arc<Self>, token: TokenHash) -> Session {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        self.live
            .lock()
            .expect("sessions poisoned")
            .entry(token)
            .or_default()
            .insert(id, ended.clone());
        Session {
            token,
            id,
            ended,
            sessions: Arc::clone(self),
        }
    }

    /// Ends every connection made with `token`; returns how many there were.
    pub fn end(&self, token: TokenHash) -> usize {
        let ended = self
            .live
            .lock()
            .expect("sessions poisoned")
            .remove(&token)
            .unwrap_or_default();
        for session in ended.values() {
            session.cancel();
        }
        ended.len()
    }

    /// Live connections made with `token`.
    pub fn count(&self, token: TokenHash) -> usize {
        self.live
            .lock()
            .expect("sessions poisoned")
            .get(&token)
            .map_or(0, HashMap::len)
    }
}

/// One registered connection.
#[derive(Debug)]
pub struct Session {
    token: TokenHash,
    id: u64,
    ended: CancellationToken,
    sessions: Arc<Sessions>,
}

impl Session {
    pub fn token(&self) -> TokenHash {
        self.token
    }

    /// Resolves once the token is revoked.
    pub async fn ended(&self) {
        self.ended.cancelled().await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut live = self.sessions.live.lock().expect("sessions poisoned");
        if let Some(sessions) = live.get_mut(&self.token) {
            sessions.remove(&self.id);
            if sessions.is_empty() {
                live.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ending_a_token_ends_its_sessions_only() {
        let sessions = Sessions::new();
        let (a, b) = (TokenHash::of("a"), TokenHash::of("b"));
        let a1 = sessions.open(a);
        let a2 = sessions.open(a);
        let b1 = sessions.open(b);
        assert_eq!((sessions.count(a), sessions.count(b)), (2, 1));
        assert_eq!(sessions.end(a), 2);
        a1.ended().await;
        a2.ended().await;
        let b_ended = tokio::time::timeout(Duration::from_millis(20), b1.ended()).await;
        assert!(b_ended.is_err(), "another token's session ended");
        assert_eq!(sessions.count(a), 0);
        drop(b1);
        assert_eq!(sessions.count(b), 0);
        assert!(sessions.live.lock().unwrap().is_empty());
        assert_eq!(sessions.end(a), 0);
    }

    #[test]
    fn intervals_follow_the_idle_expiry() {
        assert_eq!(token_touch_interval(None), MAX_TOKEN_TOUCH);
        assert_eq!(token_recheck_interval(None), MAX_TOKEN_RECHECK);
        let day = Duration::from_secs(86_400);
        assert_eq!(token_touch_interval(Some(day * 90)), MAX_TOKEN_TOUCH);
        assert_eq!(token_recheck_interval(Some(day)), MAX_TOKEN_RECHECK);
        assert_eq!(
            token_touch_interval(Some(Duration::from_secs(600))),
            Duration::from_secs(150)
        );
        assert_eq!(
            token_recheck_interval(Some(Duration::from_secs(8))),
            Duration::from_secs(2)
        );
        assert_eq!(
            token_recheck_interval(Some(Duration::ZERO)),
            Duration::from_millis(100)
        );
    }
}
