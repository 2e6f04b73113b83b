//! Abuse limits on the password endpoints (`register`, `login`, `password`): a per-IP
//! attempt budget and, per account, delays that grow with each failed login. Both are
//! checked before any argon2 work, so a flood costs the server a map lookup, not a core.
//! Time is passed in, so the rules are tested without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ratelimit::RateLimiter;

/// Attempts one IP address may make at once (login, registration, password change).
pub const IP_ATTEMPT_BURST: u32 = 20;
/// ... and then one per this many seconds (20 a minute).
pub const IP_ATTEMPT_EVERY_SECS: f64 = 3.0;
/// Failed logins of one account before delays start.
pub const FREE_FAILURES: u32 = 5;
/// The first delay; each further failure doubles it, up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Accounts with failures kept in memory before the settled ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct AuthGuard {
    ips: RateLimiter,
    accounts: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// No attempt before this.
    locked_until: Instant,
}

impl Default for AuthGuard {
    fn default() -> Self {
        AuthGuard {
            ips: RateLimiter::new(1.0 / IP_ATTEMPT_EVERY_SECS, IP_ATTEMPT_BURST),
            accounts: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthGuard {
    /// Takes one attempt from `ip`'s budget, or says how long to wait. Loopback peers and
    /// requests without a known peer (an in-process router) are not limited by address: on
    /// loopback they are the desktop's own clients, or a reverse proxy on the same host,
    /// where every user shares the one address (limit per address at the proxy then; the
    /// per-account delays hold either way).
    pub fn attempt_from(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        match ip {
            Some(ip) if !ip.is_loopback() => self.ips.try_acquire(&ip.to_string(), 1, now),
            _ => Ok(()),
        }
    }

    /// Whether `account` (a normalised email) may try a password now.
    pub fn account_open(&self, account: &str, now: Instant) -> Result<(), Duration> {
        let accounts = self.accounts.lock().expect("auth guard poisoned");
        match accounts.get(account) {
            Some(failures) if failures.locked_until > now => Err(failures.locked_until - now),
            _ => Ok(()),
        }
    }

    /// Records a wrong password for `account`: after [`FREE_FAILURES`], each failure locks
    /// the account for twice as long as the one before (1 s, 2 s, 4 s, ... 15 min).
    pub fn failed(&self, account: &str, now: Instant) {
        let mut accounts = self.accounts.lock().expect("auth guard poisoned");
        if accounts.len() > PRUNE_ABOVE {
            accounts.retain(|_, f| f.locked_until > now);
        }
        let failures = accounts.entry(account.to_owned()).or_insert(Failures {
            count: 0,
            locked_until: now,
        });
        failures.count = failures.count.saturating_add(1);
        failures.locked_until = now + delay_after(failures.count);
    }

    /// A correct password: the account's failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        self.accounts
            .lock()
            .expect("auth guard poisoned")
            .remove(account);
    }
}

/// The lock after the `failures`-th consecutive failure.
pub fn delay_after(failures: u32) -> Duration {
    if failures <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES - 1).min(20);
    (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_are_capped() {
        let delays: Vec<u64> = (1..=8).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4]);
        assert_eq!(delay_after(15), Duration::from_secs(512));
        assert_eq!(delay_after(16), MAX_DELAY);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn an_account_is_locked_after_failures_and_opened_by_success() {
        let guard = AuthGuard::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(guard.account_open("ann", t0), Ok(()));
            guard.failed("ann", t0);
        }
        assert_eq!(guard.account_open("ann", t0), Ok(()));
        guard.failed("ann", t0);
        assert_eq!(guard.account_open("ann", t0), Err(Duration::from_secs(1)));
        assert_eq!(
            guard.account_open("bob", t0),
            Ok(()),
            "other accounts are open"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(guard.account_open("ann", t1), Ok(()));
        guard.failed("ann", t1);
        assert_eq!(guard.account_open("ann", t1), Err(Duration::from_secs(2)));
        guard.succeeded("ann");
        assert_eq!(guard.account_open("ann", t1), Ok(()));
    }

    #[test]
    fn an_address_has_a_budget_of_attempts() {
        let guard = AuthGuard::default();
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..IP_ATTEMPT_BURST {
            assert_eq!(guard.attempt_from(Some(ip), t0), Ok(()));
        }
        let wait = guard.attempt_from(Some(ip), t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs_f64(IP_ATTEMPT_EVERY_SECS));
        assert_eq!(guard.attempt_from(Some(other), t0), Ok(()));
        assert_eq!(guard.attempt_from(None, t0), Ok(()));
        for _ in 0..=IP_ATTEMPT_BURST {
            assert_eq!(
                guard.attempt_from(Some("127.0.0.1".parse().unwrap()), t0),
                Ok(())
            );
            assert_eq!(guard.attempt_from(Some("::1".parse().unwrap()), t0), Ok(()));
        }
        let later = t0 + Duration::from_secs_f64(IP_ATTEMPT_EVERY_SECS);
        assert_eq!(guard.attempt_from(Some(ip), later), Ok(()));
    }
}
