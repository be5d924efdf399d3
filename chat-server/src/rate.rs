//! Token buckets: the one rate-limiting primitive, used per connection (sends, other requests,
//! reply bytes) and per client address (see `address`). Plain data and arithmetic, no locking.

use std::time::Instant;

/// A bucket of `burst` tokens refilled at `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.at = now;
    }

    /// Take `cost` tokens if the bucket holds them.
    pub(crate) fn take(&mut self, cost: f64) -> bool {
        self.refill(Instant::now());
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is out of debt (see [`Self::charge`]).
    pub(crate) fn has_credit(&mut self) -> bool {
        self.refill(Instant::now());
        self.tokens > 0.0
    }

    /// Take `cost` tokens after the fact (a reply whose size was known only once built); the
    /// bucket may go into debt, at most one burst deep, and [`Self::has_credit`] is false until
    /// it is repaid.
    pub(crate) fn charge(&mut self, cost: f64) {
        self.refill(Instant::now());
        self.tokens = (self.tokens - cost).max(-self.burst);
    }

    /// Whether the bucket is full (nothing to remember about its owner).
    pub(crate) fn is_full(&mut self) -> bool {
        self.refill(Instant::now());
        self.tokens >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn takes_up_to_the_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(2.0, 3.0);
        b.at = start;
        b.refill(start);
        assert!(b.tokens == 3.0);
        for _ in 0..3 {
            assert!(b.tokens >= 1.0);
            b.tokens -= 1.0;
        }
        b.refill(start + Duration::from_millis(500));
        assert!((b.tokens - 1.0).abs() < 1e-9, "{}", b.tokens);
        b.refill(start + Duration::from_secs(60));
        assert_eq!(b.tokens, 3.0, "never above the burst");
    }

    #[test]
    fn charging_goes_into_bounded_debt() {
        let mut b = TokenBucket::new(1.0, 10.0);
        assert!(b.take(4.0));
        b.charge(100.0);
        assert!(!b.has_credit());
        assert!(b.tokens >= -10.0, "debt is at most one burst: {}", b.tokens);
        assert!(!b.take(1.0));
    }
}
