//! The fifteen permission names and a compact set of them.

use std::fmt;
use std::str::FromStr;

/// One permission a customer key may hold (CONTRACT section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Permission {
    ReadAll = 0,
    AllOthers,
    Comm,
    Documents,
    Queries,
    Appointments,
    InsuranceSimple,
    Insurance,
    Patients,
    Payments,
    PayPlans,
    ProcedureLogs,
    Setup,
    TextingAsap,
    Enterprise,
}

impl Permission {
    /// Every permission, in the order of the permission table.
    pub const ALL: [Permission; 15] = [
        Permission::ReadAll,
        Permission::AllOthers,
        Permission::Comm,
        Permission::Documents,
        Permission::Queries,
        Permission::Appointments,
        Permission::InsuranceSimple,
        Permission::Insurance,
        Permission::Patients,
        Permission::Payments,
        Permission::PayPlans,
        Permission::ProcedureLogs,
        Permission::Setup,
        Permission::TextingAsap,
        Permission::Enterprise,
    ];

    /// The exact name used on the wire and in the permission table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::ReadAll => "ReadAll",
            Permission::AllOthers => "AllOthers",
            Permission::Comm => "Comm",
            Permission::Documents => "Documents",
            Permission::Queries => "Queries",
            Permission::Appointments => "Appointments",
            Permission::InsuranceSimple => "InsuranceSimple",
            Permission::Insurance => "Insurance",
            Permission::Patients => "Patients",
            Permission::Payments => "Payments",
            Permission::PayPlans => "PayPlans",
            Permission::ProcedureLogs => "ProcedureLogs",
            Permission::Setup => "Setup",
            Permission::TextingAsap => "TextingASAP",
            Permission::Enterprise => "Enterprise",
        }
    }

    /// Special permissions are priced as per-location add-ons, not by tier.
    pub const fn is_special(self) -> bool {
        matches!(self, Permission::TextingAsap | Permission::Enterprise)
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission name that is not one of the fifteen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{0}`")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    /// Names are exact (`ReadAll`, `TextingASAP`): they are identifiers, not prose.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

/// A set of permissions in two bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub const fn from_bits_truncate(bits: u16) -> Self {
        PermissionSet(bits & ((1 << Permission::ALL.len()) - 1))
    }

    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }

    pub fn remove(&mut self, p: Permission) {
        self.0 &= !p.bit();
    }

    pub const fn with(self, p: Permission) -> Self {
        PermissionSet(self.0 | p.bit())
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every permission of `self` is also in `other`.
    pub const fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The set without its special permissions (what the tier looks at).
    pub fn without_specials(self) -> Self {
        self.iter().filter(|p| !p.is_special()).collect()
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Parses exact names; the error names the first unknown one.
    pub fn parse_names<I, S>(names: I) -> Result<Self, UnknownPermission>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .map(|n| n.as_ref().trim().parse::<Permission>())
            .collect()
    }

    /// The names in table order, e.g. for JSON answers.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(iter: T) -> Self {
        let mut set = PermissionSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for PermissionSet {
    /// Comma-separated names in table order (`ReadAll,Comm`), empty for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for PermissionSet {
    type Err = UnknownPermission;

    /// Comma-separated names; blanks between commas are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PermissionSet::parse_names(s.split(',').map(str::trim).filter(|n| !n.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_exact() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!("readall".parse::<Permission>().is_err());
        assert!("TextingAsap".parse::<Permission>().is_err());
    }

    #[test]
    fn set_text_round_trip() {
        let set: PermissionSet = "Comm, ReadAll,Enterprise".parse().unwrap();
        assert_eq!(set.to_string(), "ReadAll,Comm,Enterprise");
        assert_eq!(set.len(), 3);
        assert_eq!(set.without_specials().to_string(), "ReadAll,Comm");
        let err = "ReadAll,Bogus".parse::<PermissionSet>().unwrap_err();
        assert_eq!(err, UnknownPermission("Bogus".into()));
    }
}
