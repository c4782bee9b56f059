//! The throttle shared by several servers through Redis: one atomic script per
//! decision, timed by Redis's own clock so the servers' clocks do not matter.
//!
//! If Redis cannot be reached, keybill throttles with each server's own memory until
//! it is back (degraded: a key may then get one request per interval per server, not
//! per fleet). The change is logged once each way, and Redis is tried again at most
//! once a second, so a dead Redis costs the hot path nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// GCRA without burst: refuse (answering the wait in µs) while the stored theoretical
/// arrival time is ahead of now; otherwise store now + interval, expiring with it.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return tat - now
end
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], now + interval, 'PX', math.ceil(interval / 1000))
return 0
";

/// How long one Redis decision may take before the local throttle answers instead.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How long to wait before trying a Redis that failed again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct SharedThrottle {
    client: redis::Client,
    script: redis::Script,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    degraded: AtomicBool,
    /// Microseconds (of the gate's clock) before which Redis is not tried again.
    retry_at: AtomicU64,
}

/// The outcome of asking Redis.
pub enum Shared {
    Allowed,
    Wait(Duration),
    /// Redis did not answer: use the local throttle.
    Unavailable,
}

impl SharedThrottle {
    /// Checks the URL; connects lazily.
    pub fn new(url: &str) -> Result<SharedThrottle, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(SharedThrottle {
            client,
            script: redis::Script::new(SCRIPT),
            conn: tokio::sync::Mutex::new(None),
            degraded: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
        })
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub async fn check(&self, key: i64, interval: Duration, now_us: u64) -> Shared {
        if self.is_degraded() && now_us < self.retry_at.load(Ordering::Relaxed) {
            return Shared::Unavailable;
        }
        let attempt = tokio::time::timeout(TIMEOUT, self.ask(key, interval)).await;
        match attempt {
            Ok(Ok(wait_us)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        "Redis is reachable again: the throttle is shared between servers again"
                    );
                }
                if wait_us > 0 {
                    Shared::Wait(Duration::from_micros(wait_us as u64))
                } else {
                    Shared::Allowed
                }
            }
            failure => {
                *self.conn.lock().await = None;
                self.retry_at
                    .store(now_us + RETRY_AFTER.as_micros() as u64, Ordering::Relaxed);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    let why = match failure {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {TIMEOUT:?}"),
                    };
                    tracing::error!(error = %why, "Redis unreachable: throttling per server until it is back");
                }
                Shared::Unavailable
            }
        }
    }

    async fn ask(&self, key: i64, interval: Duration) -> redis::RedisResult<i64> {
        let mut conn = {
            let mut slot = self.conn.lock().await;
            match &*slot {
                Some(c) => c.clone(),
                None => {
                    let c = self.client.get_multiplexed_async_connection().await?;
                    *slot = Some(c.clone());
                    c
                }
            }
        };
        self.script
            .key(format!("keybill:throttle:{key}"))
            .arg(interval.as_micros() as u64)
            .invoke_async(&mut conn)
            .await
    }
}
