//! Reconnect backoff: exponential from a base, capped, with jitter, forever.
//!
//! Jitter keeps a fleet of devices that lost the same server from reconnecting in lock-step.
//! There is deliberately no "give up after N": an offline-first client keeps trying.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// `seed` makes the jitter reproducible in tests; production passes a random seed.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The seed's policy: from 1 s, capped at 30 s.
    pub fn reconnect(seed: u64) -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30), seed)
    }

    /// The ceiling for the current attempt: `base * 2^attempt`, capped.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next attempt: the ceiling scaled by a random factor in
    /// [0.75, 1.0], so it never exceeds the cap and never collapses to zero.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(self.rng.random_range(0.75..=1.0))
    }

    /// After a successful connection the next failure starts again from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let mut b = Backoff::reconnect(7);
        let ceilings: Vec<u64> = (0..8)
            .map(|_| {
                let c = b.ceiling().as_secs();
                let d = b.next_delay();
                assert!(d <= Duration::from_secs(c) && d >= Duration::from_secs(c).mul_f64(0.75));
                c
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn never_gives_up_and_never_overflows() {
        let mut b = Backoff::reconnect(1);
        for _ in 0..10_000 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
        assert_eq!(b.attempts(), 10_000);
    }

    #[test]
    fn reset_starts_over_and_jitter_is_seeded() {
        let mut a = Backoff::reconnect(42);
        let mut b = Backoff::reconnect(42);
        let run_a: Vec<_> = (0..5).map(|_| a.next_delay()).collect();
        let run_b: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(run_a, run_b);
        a.reset();
        assert!(a.next_delay() <= Duration::from_secs(1));
        let mut c = Backoff::reconnect(43);
        let run_c: Vec<_> = (0..5).map(|_| c.next_delay()).collect();
        assert_ne!(run_a, run_c, "different seeds jitter differently");
    }
}
