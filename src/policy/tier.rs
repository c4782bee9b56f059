//! Tiers, add-ons, throttle intervals and page limits of a permission set.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::permission::{Permission, PermissionSet};
use crate::money::Money;

/// The monthly price tier of a permission set (CONTRACT section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Free,
    Basic,
    Standard,
    Full,
}

const BASIC_SET: PermissionSet = PermissionSet::EMPTY
    .with(Permission::ReadAll)
    .with(Permission::Comm)
    .with(Permission::Documents)
    .with(Permission::InsuranceSimple)
    .with(Permission::Setup)
    .with(Permission::Queries);

const FREE_SET: PermissionSet = PermissionSet::EMPTY.with(Permission::ReadAll);

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Free, Tier::Basic, Tier::Standard, Tier::Full];

    /// The tier of a set, ignoring its special permissions.
    pub fn of(set: PermissionSet) -> Tier {
        let set = set.without_specials();
        if set.is_subset(FREE_SET) {
            Tier::Free
        } else if set.is_subset(BASIC_SET) {
            Tier::Basic
        } else if !set.contains(Permission::Payments) && !set.contains(Permission::PayPlans) {
            Tier::Standard
        } else {
            Tier::Full
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Basic => "basic",
            Tier::Standard => "standard",
            Tier::Full => "full",
        }
    }

    /// The general pricing of the reference page, the price book's first entries.
    pub fn default_list_price(self) -> Money {
        Money::from_cents(match self {
            Tier::Free => 0,
            Tier::Basic => 1500,
            Tier::Standard => 3000,
            Tier::Full => 3500,
        })
    }

    /// The permissions that, added to a free set, first reach this tier.
    pub fn unlocked_by(self) -> PermissionSet {
        Permission::ALL
            .into_iter()
            .filter(|p| !p.is_special() && Tier::of(PermissionSet::EMPTY.with(*p)) == self)
            .collect()
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A special permission sold as a per-location add-on at a price agreed per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddOn {
    TextingAsap,
    Enterprise,
}

impl AddOn {
    pub const ALL: [AddOn; 2] = [AddOn::TextingAsap, AddOn::Enterprise];

    pub const fn as_str(self) -> &'static str {
        match self {
            AddOn::TextingAsap => "texting_asap",
            AddOn::Enterprise => "enterprise",
        }
    }

    pub const fn permission(self) -> Permission {
        match self {
            AddOn::TextingAsap => Permission::TextingAsap,
            AddOn::Enterprise => Permission::Enterprise,
        }
    }

    /// The add-ons a permission set carries.
    pub fn of(set: PermissionSet) -> impl Iterator<Item = AddOn> {
        AddOn::ALL
            .into_iter()
            .filter(move |a| set.contains(a.permission()))
    }
}

impl fmt::Display for AddOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something with a monthly price per location: a tier or an add-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    Tier(Tier),
    AddOn(AddOn),
}

impl Item {
    pub const ALL: [Item; 6] = [
        Item::Tier(Tier::Free),
        Item::Tier(Tier::Basic),
        Item::Tier(Tier::Standard),
        Item::Tier(Tier::Full),
        Item::AddOn(AddOn::TextingAsap),
        Item::AddOn(AddOn::Enterprise),
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Item::Tier(t) => t.as_str(),
            Item::AddOn(a) => a.as_str(),
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown price item `{0}` (expected free, basic, standard, full, texting_asap or enterprise)"
)]
pub struct UnknownItem(pub String);

impl FromStr for Item {
    type Err = UnknownItem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Item::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| UnknownItem(s.to_owned()))
    }
}

/// Where the API request is served from (header `X-Keybill-Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    #[default]
    Remote,
    Local,
    Service,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        [
            ("remote", Mode::Remote),
            ("local", Mode::Local),
            ("service", Mode::Service),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, m)| m)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Remote => "remote",
            Mode::Local => "local",
            Mode::Service => "service",
        }
    }
}

/// The Remote-mode throttle interval of a set: at most one allowed request per interval.
pub fn remote_throttle(set: PermissionSet) -> Duration {
    if set.contains(Permission::Enterprise) {
        Duration::from_millis(500)
    } else if set.is_subset(FREE_SET) {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(1)
    }
}

/// The throttle interval in a mode; Local and Service are not throttled.
pub fn throttle(set: PermissionSet, mode: Mode) -> Option<Duration> {
    match mode {
        Mode::Remote => Some(remote_throttle(set)),
        Mode::Local | Mode::Service => None,
    }
}

/// The largest page (`Limit`) a request may ask for.
pub fn max_limit(set: PermissionSet, mode: Mode) -> u32 {
    match (set.contains(Permission::Enterprise), mode) {
        (false, Mode::Remote) => 100,
        (false, Mode::Local | Mode::Service) => 1_000,
        (true, Mode::Remote) => 1_000,
        (true, Mode::Local | Mode::Service) => 10_000,
    }
}

/// "1 request per 5 s", "1 request per 500 ms".
pub fn describe_interval(interval: Duration) -> String {
    let ms = interval.as_millis();
    if ms % 1000 == 0 {
        format!("1 request per {} s", ms / 1000)
    } else {
        format!("1 request per {ms} ms")
    }
}
