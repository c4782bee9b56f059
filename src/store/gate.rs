//! What the check endpoint needs from the database: keys with their developer's key
//! hash, the change feed, and usage counters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{developers, key_changes, key_usage, keys};
use super::{to_db, Db};
use crate::error::Result;
use crate::ids::KeyId;

/// A key as the gate holds it.
#[derive(Debug, Clone, Queryable)]
pub struct GateRow {
    pub key_id: i64,
    pub key_hash: String,
    pub account_id: i64,
    pub location_id: Option<i64>,
    pub permissions: String,
    pub status: String,
    pub version: i64,
    pub developer_key_hash: String,
}

type GateColumns = (
    keys::id,
    keys::key_hash,
    keys::account_id,
    keys::location_id,
    keys::permissions,
    keys::status,
    keys::version,
    developers::key_hash,
);

const GATE_COLUMNS: GateColumns = (
    keys::id,
    keys::key_hash,
    keys::account_id,
    keys::location_id,
    keys::permissions,
    keys::status,
    keys::version,
    developers::key_hash,
);

pub fn load_all(conn: &mut Db) -> Result<Vec<GateRow>> {
    Ok(keys::table
        .inner_join(developers::table)
        .select(GATE_COLUMNS)
        .load(conn)?)
}

pub fn load_keys(conn: &mut Db, ids: &[i64]) -> Result<Vec<GateRow>> {
    Ok(keys::table
        .inner_join(developers::table)
        .filter(keys::id.eq_any(ids))
        .select(GATE_COLUMNS)
        .load(conn)?)
}

pub fn developer_hashes(conn: &mut Db) -> Result<Vec<String>> {
    Ok(developers::table.select(developers::key_hash).load(conn)?)
}

/// Records that a key changed; call inside the change's transaction.
pub fn record_change(conn: &mut Db, key: KeyId, now: DateTime<Utc>) -> Result<()> {
    diesel::insert_into(key_changes::table)
        .values((
            key_changes::key_id.eq(key.0),
            key_changes::changed_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Changes with an id above `after`, and, because ids are handed out before commit
/// and transactions can commit out of order, any change recorded since `recent`.
pub fn changes_since(conn: &mut Db, after: i64, recent: NaiveDateTime) -> Result<Vec<(i64, i64)>> {
    Ok(key_changes::table
        .filter(
            key_changes::id
                .gt(after)
                .or(key_changes::changed_at.ge(recent)),
        )
        .order(key_changes::id.asc())
        .select((key_changes::id, key_changes::key_id))
        .load(conn)?)
}

/// The newest change id (where a fresh poller starts).
pub fn last_change(conn: &mut Db) -> Result<i64> {
    Ok(key_changes::table
        .select(diesel::dsl::max(key_changes::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Counts of check-endpoint answers for one key and UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Queryable)]
pub struct Usage {
    pub allowed: i64,
    pub denied: i64,
    pub throttled: i64,
    pub unauthorized: i64,
}

/// Adds counts to the stored ones (one upsert per key and day).
pub fn add_usage(conn: &mut Db, batch: &[(i64, NaiveDate, Usage)]) -> Result<()> {
    use diesel::upsert::excluded;
    super::write(conn, |conn| {
        for (key, day, u) in batch {
            let row = (
                key_usage::key_id.eq(key),
                key_usage::day.eq(day),
                key_usage::allowed.eq(u.allowed),
                key_usage::denied.eq(u.denied),
                key_usage::throttled.eq(u.throttled),
                key_usage::unauthorized.eq(u.unauthorized),
            );
            on_backend!(&mut *conn, |c| diesel::insert_into(key_usage::table)
                .values(row)
                .on_conflict((key_usage::key_id, key_usage::day))
                .do_update()
                .set((
                    key_usage::allowed.eq(key_usage::allowed + excluded(key_usage::allowed)),
                    key_usage::denied.eq(key_usage::denied + excluded(key_usage::denied)),
                    key_usage::throttled.eq(key_usage::throttled + excluded(key_usage::throttled)),
                    key_usage::unauthorized
                        .eq(key_usage::unauthorized + excluded(key_usage::unauthorized)),
                ))
                .execute(c))?;
        }
        Ok(())
    })
}

/// A key's usage per day, newest first, from `since` on.
pub fn usage(conn: &mut Db, key: KeyId, since: NaiveDate) -> Result<Vec<(NaiveDate, Usage)>> {
    Ok(key_usage::table
        .filter(key_usage::key_id.eq(key.0))
        .filter(key_usage::day.ge(since))
        .order(key_usage::day.desc())
        .select((
            key_usage::day,
            (
                key_usage::allowed,
                key_usage::denied,
                key_usage::throttled,
                key_usage::unauthorized,
            ),
        ))
        .load(conn)?)
}

/// Usage of several keys from `since` on, summed per key (one query).
pub fn usage_totals(
    conn: &mut Db,
    keys: &[i64],
    since: NaiveDate,
) -> Result<std::collections::HashMap<i64, Usage>> {
    let rows: Vec<(i64, Usage)> = key_usage::table
        .filter(key_usage::key_id.eq_any(keys))
        .filter(key_usage::day.ge(since))
        .select((
            key_usage::key_id,
            (
                key_usage::allowed,
                key_usage::denied,
                key_usage::throttled,
                key_usage::unauthorized,
            ),
        ))
        .load(conn)?;
    let mut totals = std::collections::HashMap::new();
    for (key, u) in rows {
        let t: &mut Usage = totals.entry(key).or_default();
        t.allowed += u.allowed;
        t.denied += u.denied;
        t.throttled += u.throttled;
        t.unauthorized += u.unauthorized;
    }
    Ok(totals)
}
