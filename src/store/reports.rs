//! Figures for the dashboard.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{invoices, keys, outbox};
use super::Db;
use crate::error::Result;
use crate::policy::{PermissionSet, Tier};

/// Billable locations now and, per tier, how many locations bill at it.
pub fn tier_mix(conn: &mut Db) -> Result<HashMap<Tier, i64>> {
    let rows: Vec<(Option<i64>, String)> = keys::table
        .filter(keys::status.eq("enabled"))
        .filter(keys::location_id.is_not_null())
        .select((keys::location_id, keys::permissions))
        .load(conn)?;
    let mut best: HashMap<i64, Tier> = HashMap::new();
    for (location, permissions) in rows {
        let (Some(location), Ok(set)) = (location, permissions.parse::<PermissionSet>()) else {
            continue;
        };
        let tier = Tier::of(set);
        best.entry(location)
            .and_modify(|t| *t = (*t).max(tier))
            .or_insert(tier);
    }
    let mut mix = HashMap::new();
    for tier in best.into_values() {
        *mix.entry(tier).or_insert(0) += 1;
    }
    Ok(mix)
}

/// Issued and paid totals per month, from `from_month` (`YYYY-MM`) on.
pub fn invoiced_by_month(conn: &mut Db, from_month: &str) -> Result<Vec<(String, i64)>> {
    Ok(invoices::table
        .filter(invoices::status.eq_any(["issued", "paid"]))
        .filter(invoices::month.ge(from_month))
        .group_by(invoices::month)
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back to whole cents.
        .select((
            invoices::month,
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                "CAST(SUM(total_cents) AS BIGINT)",
            ),
        ))
        .order(invoices::month.asc())
        .load::<(String, Option<i64>)>(conn)?
        .into_iter()
        .map(|(m, s)| (m, s.unwrap_or(0)))
        .collect())
}

pub fn failed_emails(conn: &mut Db) -> Result<i64> {
    Ok(outbox::table
        .filter(outbox::status.eq("failed"))
        .count()
        .get_result(conn)?)
}

/// The emails that failed their last attempt (they are retried), newest first.
pub fn failed_email_list(conn: &mut Db, limit: i64) -> Result<Vec<super::outbox::OutboxRow>> {
    Ok(outbox::table
        .filter(outbox::status.eq("failed"))
        .order(outbox::id.desc())
        .limit(limit)
        .select(super::outbox::OutboxRow::as_select())
        .load(conn)?)
}

pub fn draft_invoices(conn: &mut Db) -> Result<i64> {
    Ok(invoices::table
        .filter(invoices::status.eq("draft"))
        .count()
        .get_result(conn)?)
}
