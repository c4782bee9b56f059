//! The check endpoint's runtime: may this key make this request now?
//!
//! No database round trip per request: keys live in an in-memory index (loaded at
//! start, refreshed at once on local changes and within a second from the change feed
//! for changes made by other servers), the policy decides, and the throttle counts.

pub mod index;
pub mod shared;
pub mod throttle;
pub mod usage;

use std::time::{Duration, Instant};

use chrono::Utc;

use self::index::{GateKey, KeyIndex};
use self::shared::{Shared, SharedThrottle};
use self::throttle::LocalThrottle;
use self::usage::{Outcome, UsageCounters};
use crate::ledger::KeyStatus;
use crate::policy::{self, Allowed, Denied, Mode, Permission, PermissionSet, Request};
use crate::secrets;

/// What the gateway sent, as raw header values.
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    pub authorization: Option<&'a str>,
    pub method: &'a str,
    pub target: &'a str,
    pub mode: Option<&'a str>,
}

/// The answer.
#[derive(Debug, Clone)]
pub enum Verdict {
    Allow {
        key: GateKey,
        permission: Permission,
        max_limit: u32,
    },
    /// 400: the header or the request line cannot be read.
    Malformed(String),
    /// 401: no such key pair, or the key may not be used now.
    Unauthorized(&'static str),
    /// 403: the key lacks this permission.
    Forbidden(Permission),
    /// 429: come back after this many whole seconds.
    Throttled { retry_after: u64 },
}

pub struct Gate {
    pub index: KeyIndex,
    local: LocalThrottle,
    shared: Option<SharedThrottle>,
    pub usage: UsageCounters,
    epoch: Instant,
}

/// The longest key or token keybill reads from a header.
const MAX_SECRET: usize = 128;

/// The gate's judgement of a key whose secrets checked out: status, assignment, then
/// the permission the request needs (throttling aside). The policy tester shows staff
/// this same judgement for a stored key.
pub fn judge_state(
    status: KeyStatus,
    location: Option<i64>,
    permissions: PermissionSet,
    request: &Request<'_>,
    mode: Mode,
) -> Result<Allowed, Verdict> {
    match status {
        KeyStatus::Enabled => {}
        KeyStatus::Pending => return Err(Verdict::Unauthorized("the key has not been enabled")),
        KeyStatus::Disabled(_) => return Err(Verdict::Unauthorized("the key is disabled")),
    }
    if location.is_none() {
        return Err(Verdict::Unauthorized(
            "the key is not assigned to a location",
        ));
    }
    policy::decide(request, permissions, mode).map_err(|denied| match denied {
        Denied::Missing(p) => Verdict::Forbidden(p),
        Denied::Malformed(m) => Verdict::Malformed(format!("malformed request: {m}")),
    })
}

/// Splits at the first `sep` with a byte scan: these strings are short, and memchr's
/// set-up costs more than it saves.
fn split_at_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    s.bytes()
        .position(|b| b == sep)
        .map(|i| (&s[..i], &s[i + 1..]))
}

/// `ODFHIR {DeveloperKey}/{CustomerKey}`: the two secrets, or `None` if malformed.
fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = split_at_byte(value, b' ')?;
    if !scheme.eq_ignore_ascii_case("ODFHIR") {
        return None;
    }
    let (developer, customer) = split_at_byte(rest.trim(), b'/')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_SECRET
            && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
    };
    (valid(developer) && valid(customer)).then_some((developer, customer))
}

impl Gate {
    pub fn new(shared: Option<SharedThrottle>) -> Gate {
        Gate {
            index: KeyIndex::default(),
            local: LocalThrottle::default(),
            shared,
            usage: UsageCounters::default(),
            epoch: Instant::now(),
        }
    }

    /// Microseconds on the gate's monotonic clock.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Everything but the throttle: header, request line, key, status, permission.
    /// Counts nothing and consumes nothing (the policy tester uses it too).
    pub fn evaluate(&self, req: &CheckRequest<'_>) -> Result<(GateKey, Allowed, Mode), Verdict> {
        self.judge(req).map_err(|(_, verdict)| verdict)
    }

    /// `evaluate`, also naming the key a refusal concerns once it has been found, so
    /// usage is counted without looking the key up again.
    fn judge(
        &self,
        req: &CheckRequest<'_>,
    ) -> Result<(GateKey, Allowed, Mode), (Option<i64>, Verdict)> {
        let unknown = |v: Verdict| (None, v);
        let (developer, customer) = match req.authorization {
            None => {
                return Err(unknown(Verdict::Unauthorized(
                    "missing Authorization: ODFHIR {DeveloperKey}/{CustomerKey}",
                )))
            }
            Some(h) => parse_authorization(h).ok_or_else(|| {
                unknown(Verdict::Malformed(
                    "malformed Authorization header: expected ODFHIR {DeveloperKey}/{CustomerKey}"
                        .into(),
                ))
            })?,
        };
        let mode = match req.mode {
            None => Mode::Remote,
            Some(m) => Mode::parse(m.trim()).ok_or_else(|| {
                unknown(Verdict::Malformed(
                    "malformed X-Keybill-Mode: expected remote, local or service".into(),
                ))
            })?,
        };
        let request = Request::parse(req.method, req.target)
            .map_err(|e| unknown(Verdict::Malformed(format!("malformed request: {e}"))))?;
        let key = self
            .index
            .get(&secrets::digest(customer))
            .ok_or(unknown(Verdict::Unauthorized("unknown customer key")))?;
        let refuse = |v: Verdict| (Some(key.id), v);
        let developer = secrets::digest(developer);
        if !secrets::constant_time_eq(&developer, &key.developer) {
            return Err(refuse(Verdict::Unauthorized(
                if self.index.is_developer(&developer) {
                    "the customer key belongs to another developer"
                } else {
                    "unknown developer key"
                },
            )));
        }
        judge_state(key.status, key.location_id, key.permissions, &request, mode)
            .map(|allowed| (key, allowed, mode))
            .map_err(refuse)
    }

    /// The whole decision, throttle included, counted in the key's usage.
    pub async fn check(&self, req: &CheckRequest<'_>) -> Verdict {
        let (key, allowed, mode) = match self.judge(req) {
            Ok(found) => found,
            Err((known, verdict)) => {
                // A malformed request line is refused before the key is looked up;
                // its usage is still counted against the key it names.
                let key = match verdict {
                    Verdict::Malformed(_) => known.or_else(|| self.key_of(req)),
                    _ => known,
                };
                if let Some(key) = key {
                    let outcome = match verdict {
                        Verdict::Forbidden(_) => Outcome::Denied,
                        _ => Outcome::Unauthorized,
                    };
                    self.usage.count(key, Utc::now().date_naive(), outcome);
                }
                return verdict;
            }
        };
        if let Some(interval) = policy::throttle(key.permissions, mode) {
            if let Err(wait) = self.throttle(key.id, interval).await {
                self.usage
                    .count(key.id, Utc::now().date_naive(), Outcome::Throttled);
                return Verdict::Throttled {
                    retry_after: throttle::retry_after_secs(wait),
                };
            }
        }
        self.usage
            .count(key.id, Utc::now().date_naive(), Outcome::Allowed);
        Verdict::Allow {
            key,
            permission: allowed.permission,
            max_limit: allowed.max_limit,
        }
    }

    /// The key a refused request named, when it names a known one (for usage).
    fn key_of(&self, req: &CheckRequest<'_>) -> Option<i64> {
        let (_, customer) = parse_authorization(req.authorization?)?;
        self.index.get(&secrets::digest(customer)).map(|k| k.id)
    }

    async fn throttle(&self, key: i64, interval: Duration) -> Result<(), Duration> {
        let now = self.now_us();
        if let Some(shared) = &self.shared {
            match shared.check(key, interval, now).await {
                Shared::Allowed => return Ok(()),
                Shared::Wait(wait) => return Err(wait),
                Shared::Unavailable => {}
            }
        }
        self.local.check(key, interval, now)
    }

    /// Drops throttle entries that no longer constrain anything.
    pub fn sweep(&self) -> usize {
        self.local.sweep(self.now_us())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        assert_eq!(parse_authorization("ODFHIR abc/def"), Some(("abc", "def")));
        assert_eq!(parse_authorization("odfhir abc/def"), Some(("abc", "def")));
        for bad in [
            "",
            "ODFHIR",
            "ODFHIR abc",
            "ODFHIR /def",
            "ODFHIR abc/",
            "Bearer abc/def",
            "ODFHIR a/b/c",
            "ODFHIR a b/c",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }
}
