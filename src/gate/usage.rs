//! Usage counters: counted in memory on the hot path, written to the database in
//! batches by a background task.

use std::sync::Mutex;

use chrono::NaiveDate;

use super::index::IdMap;
use crate::store::gate::Usage;

/// What an answer counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Throttled,
    Unauthorized,
}

const SHARDS: usize = 16;

pub struct UsageCounters {
    shards: Vec<Mutex<IdMap<(i64, NaiveDate), Usage>>>,
}

impl Default for UsageCounters {
    fn default() -> Self {
        UsageCounters {
            shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(),
        }
    }
}

impl UsageCounters {
    pub fn count(&self, key: i64, day: NaiveDate, outcome: Outcome) {
        let mut shard = self.shards[key.rem_euclid(SHARDS as i64) as usize]
            .lock()
            .expect("usage lock");
        let u = shard.entry((key, day)).or_default();
        match outcome {
            Outcome::Allowed => u.allowed += 1,
            Outcome::Denied => u.denied += 1,
            Outcome::Throttled => u.throttled += 1,
            Outcome::Unauthorized => u.unauthorized += 1,
        }
    }

    /// Takes everything counted so far.
    pub fn drain(&self) -> Vec<(i64, NaiveDate, Usage)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().expect("usage lock"));
            out.extend(taken.into_iter().map(|((k, d), u)| (k, d, u)));
        }
        out
    }

    /// Puts back counts that could not be written, so none are lost.
    pub fn restore(&self, batch: Vec<(i64, NaiveDate, Usage)>) {
        for (key, day, u) in batch {
            let mut shard = self.shards[key.rem_euclid(SHARDS as i64) as usize]
                .lock()
                .expect("usage lock");
            let c = shard.entry((key, day)).or_default();
            c.allowed += u.allowed;
            c.denied += u.denied;
            c.throttled += u.throttled;
            c.unauthorized += u.unauthorized;
        }
    }
}
