//! Per-key throttles without burst (GCRA with zero tolerance): at most one allowed
//! request per interval; refused requests do not count.

use std::sync::Mutex;
use std::time::Duration;

use super::index::IdMap;

const SHARDS: usize = 64;

/// In-process throttle state: each key's theoretical arrival time (TAT) in
/// microseconds of the caller's clock.
pub struct LocalThrottle {
    shards: Vec<Mutex<IdMap<i64, u64>>>,
}

impl Default for LocalThrottle {
    fn default() -> Self {
        LocalThrottle {
            shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(),
        }
    }
}

impl LocalThrottle {
    /// `Ok` if the request may pass at `now_us` (and records it); otherwise how long to
    /// wait.
    pub fn check(&self, key: i64, interval: Duration, now_us: u64) -> Result<(), Duration> {
        let mut shard = self.shards[key.rem_euclid(SHARDS as i64) as usize]
            .lock()
            .expect("throttle lock");
        let tat = shard.get(&key).copied().unwrap_or(0);
        if tat > now_us {
            return Err(Duration::from_micros(tat - now_us));
        }
        shard.insert(key, now_us + interval.as_micros() as u64);
        Ok(())
    }

    /// Forgets keys whose interval has passed: they constrain nothing, so memory stays
    /// bounded by the keys seen in the last interval.
    pub fn sweep(&self, now_us: u64) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock().expect("throttle lock");
                s.retain(|_, tat| *tat > now_us);
                s.len()
            })
            .sum()
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_micros().div_ceil(1_000_000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_interval_and_refusals_do_not_count() {
        let t = LocalThrottle::default();
        let s = Duration::from_secs(1);
        assert!(t.check(7, s, 1_000_000).is_ok());
        assert_eq!(
            t.check(7, s, 1_400_000),
            Err(Duration::from_micros(600_000))
        );
        assert_eq!(t.check(7, s, 1_999_999), Err(Duration::from_micros(1)));
        assert!(
            t.check(7, s, 2_000_000).is_ok(),
            "the refusals did not push the next slot"
        );
        assert!(t.check(8, s, 2_000_000).is_ok(), "keys are independent");
        assert_eq!(t.sweep(2_500_000), 2);
        assert_eq!(t.sweep(3_000_000), 0);
        assert_eq!(retry_after_secs(Duration::from_micros(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(4_200)), 5);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
