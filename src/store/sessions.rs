//! Staff sign-in sessions for the admin pages.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::schema::{staff, staff_sessions};
use super::staff::Staff;
use super::{to_db, Db};
use crate::error::Result;
use crate::secrets;

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::hours(12);

/// Starts a session; returns the cookie token (only its hash is stored).
pub fn start(conn: &mut Db, staff_id: i64, now: DateTime<Utc>) -> Result<String> {
    let token = secrets::generate();
    super::write(conn, |conn| {
        // Expired sessions are cleared as new ones start.
        diesel::delete(staff_sessions::table.filter(staff_sessions::expires_at.lt(to_db(now))))
            .execute(conn)?;
        diesel::insert_into(staff_sessions::table)
            .values((
                staff_sessions::token_hash.eq(secrets::hash(&token)),
                staff_sessions::staff_id.eq(staff_id),
                staff_sessions::csrf_token.eq(secrets::generate()),
                staff_sessions::created_at.eq(to_db(now)),
                staff_sessions::expires_at.eq(to_db(now + LIFETIME)),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(token)
}

/// The staff member and CSRF token of a live session.
pub fn find(conn: &mut Db, token: &str, now: DateTime<Utc>) -> Result<Option<(Staff, String)>> {
    Ok(staff_sessions::table
        .inner_join(staff::table)
        .filter(staff_sessions::token_hash.eq(secrets::hash(token)))
        .filter(staff_sessions::expires_at.gt(to_db(now)))
        .select((Staff::as_select(), staff_sessions::csrf_token))
        .first(conn)
        .optional()?)
}

pub fn end(conn: &mut Db, token: &str) -> Result<()> {
    diesel::delete(
        staff_sessions::table.filter(staff_sessions::token_hash.eq(secrets::hash(token))),
    )
    .execute(conn)?;
    Ok(())
}
