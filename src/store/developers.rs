//! Developers: software vendors, each with one developer key.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::audit::{self, Actor};
use super::schema::developers;
use super::{to_db, Db};
use crate::error::{Error, Result};
use crate::ids::DeveloperId;
use crate::secrets;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = developers)]
pub struct Developer {
    pub id: i64,
    pub name: String,
    pub email: String,
    #[serde(skip)]
    pub key_hash: String,
    pub key_prefix: String,
    pub created_at: NaiveDateTime,
}

/// Validated input for a new developer.
pub struct NewDeveloper {
    pub name: String,
    pub email: String,
}

/// Creates a developer; returns it with its developer key (shown once, stored hashed).
pub fn create(
    conn: &mut Db,
    input: NewDeveloper,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Developer, String)> {
    let key = secrets::generate();
    super::write(conn, |conn| {
        let id: i64 = diesel::insert_into(developers::table)
            .values((
                developers::name.eq(&input.name),
                developers::email.eq(&input.email),
                developers::key_hash.eq(secrets::hash(&key)),
                developers::key_prefix.eq(secrets::prefix(&key)),
                developers::created_at.eq(to_db(now)),
            ))
            .returning(developers::id)
            .get_result(conn)?;
        let dev = get(conn, DeveloperId(id))?;
        audit::record(
            conn,
            now,
            actor,
            "developer.create",
            ("developer", Some(dev.id)),
            None::<&()>,
            Some(&dev),
        )?;
        Ok(dev)
    })
    .map(|dev| (dev, key))
}

pub fn get(conn: &mut Db, id: DeveloperId) -> Result<Developer> {
    developers::table
        .find(id.0)
        .select(Developer::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("developer {id}")))
}

pub fn list(conn: &mut Db, limit: i64, offset: i64) -> Result<Vec<Developer>> {
    Ok(developers::table
        .order(developers::name.asc())
        .then_order_by(developers::id.asc())
        .limit(limit)
        .offset(offset)
        .select(Developer::as_select())
        .load(conn)?)
}

/// Every developer's id and name (a few dozen rows: vendors, not customers).
pub fn names(conn: &mut Db) -> Result<Vec<(i64, String)>> {
    Ok(developers::table
        .select((developers::id, developers::name))
        .load(conn)?)
}
