//! Liveness of one connection: a `ping` every `every`; after a ping, any frame at all within
//! `timeout` proves the connection alive, and silence means it is half-open (the peer or a
//! middlebox vanished without closing), so the engine drops it and reconnects.
//!
//! Pure state over instants, so the rule is tested without a socket or a clock.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    every: Duration,
    timeout: Duration,
    next_ping: Instant,
    /// When the unanswered ping was sent.
    awaiting: Option<Instant>,
}

/// What to do when the heartbeat's deadline comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Not time yet (the timer fired early or for another reason).
    Wait,
    SendPing,
    /// No frame since the ping, past the deadline.
    HalfOpen,
}

impl Heartbeat {
    pub fn new(every: Duration, timeout: Duration, now: Instant) -> Self {
        Heartbeat {
            every,
            timeout,
            next_ping: now + every,
            awaiting: None,
        }
    }

    /// When [`Heartbeat::on_timer`] must run next.
    pub fn deadline(&self) -> Instant {
        match self.awaiting {
            Some(sent) => sent + self.timeout,
            None => self.next_ping,
        }
    }

    /// A frame arrived: the connection is alive.
    pub fn seen(&mut self) {
        self.awaiting = None;
    }

    pub fn on_timer(&mut self, now: Instant) -> Beat {
        if let Some(sent) = self.awaiting {
            return if now >= sent + self.timeout {
                Beat::HalfOpen
            } else {
                Beat::Wait
            };
        }
        if now < self.next_ping {
            return Beat::Wait;
        }
        self.awaiting = Some(now);
        self.next_ping = now + self.every;
        Beat::SendPing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_on_schedule_while_frames_keep_coming() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(30 * S, 10 * S, t0);
        assert_eq!(hb.deadline(), t0 + 30 * S);
        assert_eq!(hb.on_timer(t0 + 29 * S), Beat::Wait);
        assert_eq!(hb.on_timer(t0 + 30 * S), Beat::SendPing);
        assert_eq!(hb.deadline(), t0 + 40 * S);
        hb.seen();
        assert_eq!(hb.deadline(), t0 + 60 * S);
        assert_eq!(hb.on_timer(t0 + 45 * S), Beat::Wait);
        assert_eq!(hb.on_timer(t0 + 60 * S), Beat::SendPing);
    }

    #[test]
    fn silence_after_a_ping_is_a_half_open_connection() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(30 * S, 10 * S, t0);
        assert_eq!(hb.on_timer(t0 + 30 * S), Beat::SendPing);
        assert_eq!(hb.on_timer(t0 + 39 * S), Beat::Wait);
        assert_eq!(hb.on_timer(t0 + 40 * S), Beat::HalfOpen);
    }

    #[test]
    fn a_short_heartbeat_waits_for_the_pong_before_the_next_ping() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(S / 10, S, t0);
        assert_eq!(hb.on_timer(t0 + S / 10), Beat::SendPing);
        // Past the next ping time, but a ping is unanswered: no second ping, just the deadline.
        assert_eq!(hb.on_timer(t0 + S / 2), Beat::Wait);
        assert_eq!(hb.deadline(), t0 + S / 10 + S);
    }
}
