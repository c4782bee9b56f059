//! The audit log: who changed what, with before/after, written in the same
//! transaction as the change.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::audit_log;
use super::{to_db, Db};
use crate::error::Result;

/// Who acts: shown in the audit log and the key history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// A staff member through the JSON API.
    pub fn staff_token(email: &str, token_id: i64) -> Actor {
        Actor(format!("{email} (token #{token_id})"))
    }

    /// A staff member signed in to the admin pages.
    pub fn staff(email: &str) -> Actor {
        Actor(email.to_owned())
    }

    /// A practice admin in the portal.
    pub fn portal(email: &str) -> Actor {
        Actor(format!("{email} (portal)"))
    }

    /// The command line on the server.
    pub fn cli() -> Actor {
        Actor("keybill (command line)".into())
    }

    /// keybill itself (start-up, jobs).
    pub fn system() -> Actor {
        Actor("keybill".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<i64>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// Appends one audit row. `before`/`after` are serialized as JSON; never pass secrets.
pub fn record<B: Serialize, A: Serialize>(
    conn: &mut Db,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    object: (&str, Option<i64>),
    before: Option<&B>,
    after: Option<&A>,
) -> Result<()> {
    let json = |v: Option<String>| v.filter(|s| !s.is_empty());
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(to_db(now)),
            audit_log::actor.eq(actor.as_str()),
            audit_log::action.eq(action),
            audit_log::object_type.eq(object.0),
            audit_log::object_id.eq(object.1),
            audit_log::before_json.eq(json(
                before.map(|b| serde_json::to_string(b).unwrap_or_default()),
            )),
            audit_log::after_json.eq(json(
                after.map(|a| serde_json::to_string(a).unwrap_or_default()),
            )),
        ))
        .execute(conn)?;
    Ok(())
}

/// Filters for the audit log listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// Newest first, at most `limit` rows after skipping `offset`.
pub fn list(conn: &mut Db, filter: &Filter, limit: i64, offset: i64) -> Result<Vec<AuditRow>> {
    let mut q = audit_log::table.into_boxed();
    if let Some(actor) = &filter.actor {
        q = q.filter(audit_log::actor.like(format!("%{}%", actor.replace(['%', '_'], ""))));
    }
    if let Some(t) = &filter.object_type {
        q = q.filter(audit_log::object_type.eq(t.clone()));
    }
    if let Some(id) = filter.object_id {
        q = q.filter(audit_log::object_id.eq(id));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_log::at.ge(from));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_log::at.lt(until));
    }
    Ok(q.order(audit_log::id.desc())
        .limit(limit)
        .offset(offset)
        .select(AuditRow::as_select())
        .load(conn)?)
}
