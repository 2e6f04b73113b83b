//! Per-user token bucket for pushed changes (PROTOCOL.md section 6, `rate_limited`).
//!
//! A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a change costs
//! one token and a batch costs its item count, all or nothing. A cost above `burst` is capped
//! at `burst` (it passes once the bucket is full), so any batch eventually passes. Time is
//! passed in, so the limiter is tested without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets of idle users are dropped once the map grows past this many users.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second; `0` disables the limiter.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate: rate.max(0.0),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens from `user`'s bucket at time `now`, or says how long to wait
    /// until they are there (nothing is taken then).
    pub fn try_acquire(&self, user: &str, cost: u32, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 || cost == 0 {
            return Ok(());
        }
        let cost = f64::from(cost).min(self.burst);
        let mut buckets = self.buckets.lock().expect("rate limiter lock poisoned");
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.refilled(now, rate, burst).tokens < burst);
        }
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        *bucket = bucket.refilled(now, self.rate, self.burst);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((cost - bucket.tokens) / self.rate))
        }
    }
}

impl RateLimiter {
    /// Whether `user`'s bucket is out of debt at `now`; else how long until it is. Used with
    /// [`RateLimiter::charge`] for costs known only after the work (inflating).
    pub fn check_positive(&self, user: &str, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock poisoned");
        let Some(bucket) = buckets.get_mut(user) else {
            return Ok(());
        };
        *bucket = bucket.refilled(now, self.rate, self.burst);
        if bucket.tokens >= 0.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(-bucket.tokens / self.rate))
        }
    }

    /// Takes `cost` from `user`'s bucket, into debt if need be (at most one burst deep).
    pub fn charge(&self, user: &str, cost: f64, now: Instant) {
        if self.rate == 0.0 || cost <= 0.0 {
            return;
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock poisoned");
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        *bucket = bucket.refilled(now, self.rate, self.burst);
        bucket.tokens = (bucket.tokens - cost).max(-self.burst);
    }
}

impl Bucket {
    fn refilled(self, now: Instant, rate: f64, burst: f64) -> Bucket {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        Bucket {
            tokens: (self.tokens + elapsed * rate).min(burst),
            last: now.max(self.last),
        }
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_after_the_work_go_into_debt_and_block_until_paid() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(10.0, 20);
        assert_eq!(limiter.check_positive("ann", t0), Ok(()));
        limiter.charge("ann", 25.0, t0);
        assert_eq!(
            limiter.check_positive("ann", t0),
            Err(Duration::from_millis(500))
        );
        assert_eq!(limiter.check_positive("bob", t0), Ok(()));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check_positive("ann", t1), Ok(()));
        // Debt is at most one burst deep.
        limiter.charge("ann", 1000.0, t1);
        assert_eq!(
            limiter.check_positive("ann", t1),
            Err(Duration::from_secs(2))
        );
    }

    #[test]
    fn admits_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(10.0, 20);
        for _ in 0..20 {
            assert!(limiter.try_acquire("ann", 1, t0).is_ok());
        }
        let wait = limiter.try_acquire("ann", 1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // Another user has a bucket of their own.
        assert!(limiter.try_acquire("bob", 20, t0).is_ok());
        // 0.5 s later five tokens are back.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.try_acquire("ann", 5, t1).is_ok());
        assert!(limiter.try_acquire("ann", 1, t1).is_err());
        // The bucket never holds more than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert!(limiter.try_acquire("ann", 20, t2).is_ok());
        assert!(limiter.try_acquire("ann", 1, t2).is_err());
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(100.0, 500);
        assert!(limiter.try_acquire("ann", 400, t0).is_ok());
        let wait = limiter.try_acquire("ann", 200, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Nothing was taken by the refused batch.
        assert!(limiter.try_acquire("ann", 100, t0).is_ok());
    }

    #[test]
    fn costs_above_the_burst_pass_on_a_full_bucket() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(1.0, 5);
        assert!(limiter.try_acquire("ann", 500, t0).is_ok());
        assert_eq!(
            limiter.try_acquire("ann", 500, t0).unwrap_err(),
            Duration::from_secs(5)
        );
        assert!(
            limiter
                .try_acquire("ann", 500, t0 + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn zero_rate_disables() {
        let limiter = RateLimiter::new(0.0, 1);
        let now = Instant::now();
        for _ in 0..10_000 {
            assert!(limiter.try_acquire("ann", 500, now).is_ok());
        }
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let t1 = Instant::now() + Duration::from_secs(10);
        let limiter = RateLimiter::new(1.0, 1);
        assert!(limiter.try_acquire("ann", 1, t1).is_ok());
        assert!(
            limiter
                .try_acquire("ann", 1, t1 - Duration::from_secs(5))
                .is_err()
        );
        assert!(
            limiter
                .try_acquire("ann", 1, t1 + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
