//! Live WebSocket sessions by token, so that revoking a token (logout, a device revoked, a
//! password change) ends the connections opened with it at once, not at their next
//! handshake.
//!
//! The registry is this node's. On PostgreSQL a revoke is also notified to every node in its
//! transaction, and each node ends the token's sessions here when it hears of it
//! ([`crate::cluster`]); a connection also re-checks its token every
//! [`token_recheck_interval`] (which catches the idle expiry, and a revoke whose
//! notification was lost with a dropped bus connection), so no connection outlives its
//! token by more than that anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::TokenHash;
use crate::db::UserId;

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
    live: Mutex<Live>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct Live {
    by_token: HashMap<TokenHash, HashMap<u64, CancellationToken>>,
    per_user: HashMap<UserId, usize>,
}

/// The account already holds the most connections it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this account already has {0} live connections, the most it may hold")]
pub struct TooManyConnections(pub usize);

impl Sessions {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Registers a connection of `user` made with `token`, unless the user holds `max`
    /// already; it leaves the registry when the returned session is dropped.
    pub fn open(
        self: &Arc<Self>,
        token: TokenHash,
        user: &UserId,
        max: usize,
    ) -> Result<Session, TooManyConnections> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        let mut live = self.live.lock().expect("sessions poisoned");
        let count = live.per_user.entry(user.clone()).or_default();
        if *count >= max {
            return Err(TooManyConnections(*count));
        }
        *count += 1;
        live.by_token
            .entry(token)
            .or_default()
            .insert(id, ended.clone());
        Ok(Session {
            token,
            user: user.clone(),
            id,
            ended,
            sessions: Arc::clone(self),
        })
    }

    /// Ends every connection made with `token`; returns how many there were.
    pub fn end(&self, token: TokenHash) -> usize {
        let ended = self
            .live
            .lock()
            .expect("sessions poisoned")
            .by_token
            .get(&token)
            .cloned()
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
            .by_token
            .get(&token)
            .map_or(0, HashMap::len)
    }

    /// Live connections of `user`.
    pub fn user_count(&self, user: &UserId) -> usize {
        self.live
            .lock()
            .expect("sessions poisoned")
            .per_user
            .get(user)
            .copied()
            .unwrap_or(0)
    }
}

/// One registered connection.
#[derive(Debug)]
pub struct Session {
    token: TokenHash,
    user: UserId,
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
        if let Some(sessions) = live.by_token.get_mut(&self.token) {
            sessions.remove(&self.id);
            if sessions.is_empty() {
                live.by_token.remove(&self.token);
            }
        }
        if let Some(count) = live.per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                live.per_user.remove(&self.user);
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
        let ann = UserId("ann".into());
        let a1 = sessions.open(a, &ann, 8).unwrap();
        let a2 = sessions.open(a, &ann, 8).unwrap();
        let b1 = sessions.open(b, &ann, 8).unwrap();
        assert_eq!((sessions.count(a), sessions.count(b)), (2, 1));
        assert_eq!(sessions.end(a), 2);
        a1.ended().await;
        a2.ended().await;
        let b_ended = tokio::time::timeout(Duration::from_millis(20), b1.ended()).await;
        assert!(b_ended.is_err(), "another token's session ended");
        // Ending closes them; they leave the registry when the connections drop them.
        drop((a1, a2));
        assert_eq!(sessions.count(a), 0);
        drop(b1);
        assert_eq!(sessions.count(b), 0);
        let live = sessions.live.lock().unwrap();
        assert!(live.by_token.is_empty() && live.per_user.is_empty());
        drop(live);
        assert_eq!(sessions.end(a), 0);
    }

    #[test]
    fn an_account_holds_at_most_its_connections() {
        let sessions = Sessions::new();
        let (ann, bob) = (UserId("ann".into()), UserId("bob".into()));
        let token = TokenHash::of("t");
        let held: Vec<_> = (0..3)
            .map(|_| sessions.open(token, &ann, 3).unwrap())
            .collect();
        assert_eq!(
            sessions.open(token, &ann, 3).unwrap_err(),
            TooManyConnections(3)
        );
        assert!(sessions.open(TokenHash::of("b"), &bob, 3).is_ok());
        assert_eq!(sessions.user_count(&ann), 3);
        drop(held);
        assert_eq!(sessions.user_count(&ann), 0);
        assert!(sessions.open(token, &ann, 3).is_ok());
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
