//! A key's ledger: effective-dated events, and the key's state at any instant as the
//! fold of the events up to it. Pure: the store loads events, this decides.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::ids::LocationId;
use crate::policy::PermissionSet;

/// Who disabled a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisabledBy {
    Customer,
    Developer,
    Staff,
}

impl DisabledBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            DisabledBy::Customer => "customer",
            DisabledBy::Developer => "developer",
            DisabledBy::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<DisabledBy> {
        [
            DisabledBy::Customer,
            DisabledBy::Developer,
            DisabledBy::Staff,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A key's status. Billing needs `Enabled` (and a location).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Created, never enabled.
    Pending,
    Enabled,
    Disabled(DisabledBy),
}

impl KeyStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Pending => "pending",
            KeyStatus::Enabled => "enabled",
            KeyStatus::Disabled(DisabledBy::Customer) => "disabled_by_customer",
            KeyStatus::Disabled(DisabledBy::Developer) => "disabled_by_developer",
            KeyStatus::Disabled(DisabledBy::Staff) => "disabled_by_staff",
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(KeyStatus::Pending),
            "enabled" => Ok(KeyStatus::Enabled),
            _ => s
                .strip_prefix("disabled_by_")
                .and_then(DisabledBy::parse)
                .map(KeyStatus::Disabled)
                .ok_or_else(|| format!("unknown key status `{s}`")),
        }
    }
}

/// What an event changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created { permissions: PermissionSet },
    PermissionsSet(PermissionSet),
    LocationSet(Option<LocationId>),
    Enabled,
    Disabled(DisabledBy),
}

impl Change {
    /// The `kind` column of the event.
    pub const fn kind(&self) -> &'static str {
        match self {
            Change::Created { .. } => "created",
            Change::PermissionsSet(_) => "permissions_set",
            Change::LocationSet(_) => "location_set",
            Change::Enabled => "enabled",
            Change::Disabled(_) => "disabled",
        }
    }
}

/// One entry of a key's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub change: Change,
}

/// What a key is at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    pub permissions: PermissionSet,
    pub status: KeyStatus,
    pub location: Option<LocationId>,
}

impl KeyState {
    /// Billed while enabled and assigned.
    pub fn billable(&self) -> bool {
        self.status == KeyStatus::Enabled && self.location.is_some()
    }

    fn apply(state: Option<KeyState>, change: Change) -> Option<KeyState> {
        match (state, change) {
            (_, Change::Created { permissions }) => Some(KeyState {
                permissions,
                status: KeyStatus::Pending,
                location: None,
            }),
            (None, _) => None,
            (Some(s), Change::PermissionsSet(permissions)) => Some(KeyState { permissions, ..s }),
            (Some(s), Change::LocationSet(location)) => Some(KeyState { location, ..s }),
            (Some(s), Change::Enabled) => Some(KeyState {
                status: KeyStatus::Enabled,
                ..s
            }),
            (Some(s), Change::Disabled(by)) => Some(KeyState {
                status: KeyStatus::Disabled(by),
                ..s
            }),
        }
    }
}

/// The state after all of `events`, which are in ledger order (effective instant, then
/// the order they were recorded). `None` before the key was created.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<KeyState> {
    events
        .into_iter()
        .fold(None, |s, e| KeyState::apply(s, e.change))
}

/// The state at instant `at`: the fold of the events effective at or before it.
pub fn state_at(events: &[Event], at: DateTime<Utc>) -> Option<KeyState> {
    fold(events.iter().take_while(|e| e.at <= at))
}

/// Sorts events into ledger order; stable, so equal instants keep recording order.
pub fn sort(events: &mut [Event]) {
    events.sort_by_key(|e| e.at);
}

/// A stretch of time `[from, to)` during which the key was billable with one
/// location and one permission set. `to` is `None` when it is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillableSpan {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    pub location: LocationId,
    pub permissions: PermissionSet,
}

/// The key's billable spans, from its ledger (in ledger order). Events at the same
/// instant collapse: only the state after the last of them counts from that instant.
pub fn billable_spans(events: &[Event]) -> Vec<BillableSpan> {
    let mut spans: Vec<BillableSpan> = Vec::new();
    let mut state = None;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].at;
        while i < events.len() && events[i].at == at {
            state = KeyState::apply(state, events[i].change);
            i += 1;
        }
        let current = state.filter(KeyState::billable);
        let open = spans.last_mut().filter(|s| s.to.is_none());
        match (open, current) {
            (Some(span), Some(s))
                if span.location == s.location.unwrap() && span.permissions == s.permissions => {}
            (open, current) => {
                if let Some(span) = open {
                    span.to = Some(at);
                }
                if let Some(s) = current {
                    spans.push(BillableSpan {
                        from: at,
                        to: None,
                        location: s.location.expect("billable implies assigned"),
                        permissions: s.permissions,
                    });
                }
            }
        }
    }
    spans.retain(|s| s.to != Some(s.from));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn ev(h: u32, change: Change) -> Event {
        Event { at: t(h), change }
    }

    #[test]
    fn state_is_the_fold_up_to_the_instant() {
        let read: PermissionSet = "ReadAll".parse().unwrap();
        let comm: PermissionSet = "ReadAll,Comm".parse().unwrap();
        let events = [
            ev(1, Change::Created { permissions: read }),
            ev(2, Change::LocationSet(Some(LocationId(7)))),
            ev(3, Change::Enabled),
            ev(5, Change::PermissionsSet(comm)),
            ev(8, Change::Disabled(DisabledBy::Customer)),
        ];
        assert_eq!(state_at(&events, t(0)), None);
        assert_eq!(state_at(&events, t(1)).unwrap().status, KeyStatus::Pending);
        let at4 = state_at(&events, t(4)).unwrap();
        assert!(at4.billable());
        assert_eq!(at4.permissions, read);
        assert_eq!(state_at(&events, t(5)).unwrap().permissions, comm);
        assert_eq!(
            state_at(&events, t(9)).unwrap().status,
            KeyStatus::Disabled(DisabledBy::Customer)
        );
        let spans = billable_spans(&events);
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].from, spans[0].to), (t(3), Some(t(5))));
        assert_eq!((spans[1].from, spans[1].to), (t(5), Some(t(8))));
    }

    #[test]
    fn same_instant_toggles_leave_no_span() {
        let events = [
            ev(
                1,
                Change::Created {
                    permissions: PermissionSet::EMPTY,
                },
            ),
            ev(1, Change::LocationSet(Some(LocationId(1)))),
            ev(2, Change::Enabled),
            ev(2, Change::Disabled(DisabledBy::Staff)),
            ev(4, Change::Enabled),
        ];
        let spans = billable_spans(&events);
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].from, spans[0].to), (t(4), None));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            KeyStatus::Pending,
            KeyStatus::Enabled,
            KeyStatus::Disabled(DisabledBy::Customer),
            KeyStatus::Disabled(DisabledBy::Developer),
            KeyStatus::Disabled(DisabledBy::Staff),
        ] {
            assert_eq!(s.as_str().parse::<KeyStatus>(), Ok(s));
        }
    }
}
