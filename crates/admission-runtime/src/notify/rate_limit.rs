//! At most N notifications per group per minute, per webhook: a pipeline retrying a refused
//! deployment in a loop must not flood a channel, and one noisy team must not silence the others.
//!
//! A token bucket per group: N at once, then one every 60/N seconds. The clock is given, so that
//! the arithmetic is tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Groups remembered before idle ones are forgotten (a full bucket holds nothing worth keeping).
const MAX_GROUPS: usize = 4096;

pub struct PerGroupRate {
    per_minute: u32,
    buckets: HashMap<String, Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl PerGroupRate {
    pub fn new(per_minute: u32) -> PerGroupRate {
        PerGroupRate { per_minute: per_minute.max(1), buckets: HashMap::new() }
    }

    /// Takes one notification's token for `group` at `now`; false when its minute is used up.
    pub fn allow(&mut self, group: &str, now: Instant) -> bool {
        let capacity = f64::from(self.per_minute);
        if self.buckets.len() >= MAX_GROUPS && !self.buckets.contains_key(group) {
            let full = |b: &Bucket| refill(*b, now, capacity).tokens >= capacity;
            self.buckets.retain(|_, b| !full(b));
        }
        let bucket = self.buckets.entry(group.to_string()).or_insert(Bucket { tokens: capacity, at: now });
        *bucket = refill(*bucket, now, capacity);
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

fn refill(b: Bucket, now: Instant, capacity: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    let per_second = capacity / Duration::from_secs(60).as_secs_f64();
    Bucket { tokens: (b.tokens + elapsed * per_second).min(capacity), at: now.max(b.at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_share_of_the_minute_per_group() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut r = PerGroupRate::new(3);
        assert!((0..3).all(|_| r.allow("/dev", at(0.0))));
        assert!(!r.allow("/dev", at(0.0)), "the fourth in the same instant");
        // Another group has its own minute.
        assert!(r.allow("/prod", at(0.0)));
        // One token comes back every 20 s.
        assert!(!r.allow("/dev", at(19.0)));
        assert!(r.allow("/dev", at(20.5)));
        assert!(!r.allow("/dev", at(21.0)));
        // A quiet hour refills the bucket, never beyond the burst.
        assert!((0..3).all(|_| r.allow("/dev", at(3600.0))));
        assert!(!r.allow("/dev", at(3600.0)));
    }

    #[test]
    fn idle_groups_are_forgotten_when_many() {
        let t0 = Instant::now();
        let mut r = PerGroupRate::new(1);
        for i in 0..MAX_GROUPS {
            assert!(r.allow(&format!("/g{i}"), t0));
        }
        assert!(!r.allow("/g0", t0));
        // A minute later every bucket is full again, so a new group makes room by forgetting them.
        assert!(r.allow("/new", t0 + Duration::from_secs(61)));
        assert!(r.buckets.len() < MAX_GROUPS);
    }
}
