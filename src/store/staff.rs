//! Staff members of the vendor, their roles, passwords and API tokens.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::audit::{self, Actor};
use super::schema::{staff, staff_tokens};
use super::{is_unique_violation, to_db, Db};
use crate::error::{Error, Result};
use crate::secrets;

/// What a staff member may do. Each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Developers, accounts, locations, keys.
    Support,
    /// Also prices, bill runs and invoices.
    Billing,
    /// Everything, including staff.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "support" => Some(Role::Support),
            "billing" => Some(Role::Billing),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Billing => "billing",
            Role::Admin => "admin",
        }
    }

    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = staff)]
pub struct Staff {
    pub id: i64,
    pub email: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

impl Staff {
    pub fn role(&self) -> Role {
        // The column has a CHECK constraint; an unknown value gets the least power.
        Role::parse(&self.role).unwrap_or(Role::Support)
    }
}

/// The e-mail of the staff member created on first start.
pub const INITIAL_ADMIN: &str = "admin@localhost";

/// Adds a staff member with a generated password; returns the password (shown once).
pub fn add(
    conn: &mut Db,
    email: &str,
    role: Role,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Staff, String)> {
    let password = secrets::generate_password();
    let hash = secrets::hash_password(&password);
    let member = super::write(conn, |conn| {
        let id: i64 = diesel::insert_into(staff::table)
            .values((
                staff::email.eq(email),
                staff::role.eq(role.as_str()),
                staff::password_hash.eq(&hash),
                staff::created_at.eq(to_db(now)),
            ))
            .returning(staff::id)
            .get_result(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict(
                        "staff_exists",
                        format!("staff member {email} already exists"),
                    )
                } else {
                    Error::from(e)
                }
            })?;
        let member = get(conn, id)?;
        audit::record(
            conn,
            now,
            actor,
            "staff.add",
            ("staff", Some(member.id)),
            None::<&()>,
            Some(&member),
        )?;
        Ok(member)
    })?;
    Ok((member, password))
}

/// Creates `admin@localhost` if there are no staff yet; returns its password then.
/// Two servers starting at once: the unique email lets only one create it.
pub fn ensure_initial_admin(conn: &mut Db, now: DateTime<Utc>) -> Result<Option<String>> {
    let count: i64 = staff::table.count().get_result(conn)?;
    if count > 0 {
        return Ok(None);
    }
    match add(conn, INITIAL_ADMIN, Role::Admin, &Actor::system(), now) {
        Ok((_, password)) => Ok(Some(password)),
        Err(Error::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn by_email(conn: &mut Db, email: &str) -> Result<Staff> {
    staff::table
        .filter(staff::email.eq(email))
        .select(Staff::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("staff member {email}")))
}

pub fn get(conn: &mut Db, id: i64) -> Result<Staff> {
    staff::table
        .find(id)
        .select(Staff::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("staff member {id}")))
}

pub fn list(conn: &mut Db) -> Result<Vec<Staff>> {
    Ok(staff::table
        .order(staff::email.asc())
        .select(Staff::as_select())
        .load(conn)?)
}

/// Issues a new API token for a staff member; returns it (shown once).
pub fn issue_token(
    conn: &mut Db,
    email: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = secrets::generate();
    super::write(conn, |conn| {
        let member = by_email(conn, email)?;
        let id: i64 = diesel::insert_into(staff_tokens::table)
            .values((
                staff_tokens::staff_id.eq(member.id),
                staff_tokens::token_hash.eq(secrets::hash(&token)),
                staff_tokens::token_prefix.eq(secrets::prefix(&token)),
                staff_tokens::created_at.eq(to_db(now)),
            ))
            .returning(staff_tokens::id)
            .get_result(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "staff.token.issue",
            ("staff", Some(member.id)),
            None::<&()>,
            Some(&serde_json::json!({ "token_id": id, "prefix": secrets::prefix(&token) })),
        )?;
        Ok(())
    })?;
    Ok(token)
}

/// The staff member a bearer token belongs to, and the token's id.
pub fn by_token(conn: &mut Db, token: &str) -> Result<Option<(Staff, i64)>> {
    Ok(staff_tokens::table
        .inner_join(staff::table)
        .filter(staff_tokens::token_hash.eq(secrets::hash(token)))
        .filter(staff_tokens::revoked_at.is_null())
        .select((Staff::as_select(), staff_tokens::id))
        .first(conn)
        .optional()?)
}

/// Checks an email and password; `None` for any mismatch (unknown email included).
pub fn verify_login(conn: &mut Db, email: &str, password: &str) -> Result<Option<Staff>> {
    let member = staff::table
        .filter(staff::email.eq(email.trim().to_ascii_lowercase()))
        .select(Staff::as_select())
        .first(conn)
        .optional()?;
    Ok(member.filter(|m| secrets::verify_password(password, &m.password_hash)))
}
