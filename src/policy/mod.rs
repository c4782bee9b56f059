//! THE policy: which permission an API request needs, whether a key's permission set
//! may make it, and what a set costs and allows (tier, throttle, page size).
//!
//! Pure: no I/O, no clock, no web or database types. The pricing engine and the check
//! endpoint both call into this module, so there is one table and one truth.

mod permission;
mod request;
mod table;
mod tier;

pub use permission::{Permission, PermissionSet, UnknownPermission};
pub use request::{Malformed, Request, Verb, MAX_REQUEST_LEN};
pub use table::{Entry, Rule, Table, TABLE_SOURCE};
pub use tier::{
    describe_interval, max_limit, remote_throttle, throttle, AddOn, Item, Mode, Tier, UnknownItem,
};

/// A request the key may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// The permission that granted it.
    pub permission: Permission,
    /// The largest `Limit` it may ask for.
    pub max_limit: u32,
}

/// Why a request is refused (before any throttling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("malformed request: {0}")]
    Malformed(#[from] Malformed),
    #[error("the key lacks the {0} permission")]
    Missing(Permission),
}

/// The permission a request needs, and which rule of the table says so.
pub fn required_permission(request: &Request<'_>) -> (Permission, Rule) {
    Table::global().required(request)
}

/// May a key holding `permissions` make `request` in `mode`? Throttling (who was last
/// allowed when) is the caller's: this is the timeless part of the decision.
pub fn decide(
    request: &Request<'_>,
    permissions: PermissionSet,
    mode: Mode,
) -> Result<Allowed, Denied> {
    let (permission, _) = required_permission(request);
    if permissions.contains(permission) {
        Ok(Allowed {
            permission,
            max_limit: max_limit(permissions, mode),
        })
    } else {
        Err(Denied::Missing(permission))
    }
}

/// `decide` from a raw verb and request target (what a gateway passes on).
pub fn decide_raw(
    verb: &str,
    target: &str,
    permissions: PermissionSet,
    mode: Mode,
) -> Result<Allowed, Denied> {
    let request = Request::parse(verb, target)?;
    decide(&request, permissions, mode)
}
