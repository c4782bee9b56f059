//! Accounts (practices) and their locations (offices).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;

use super::audit::{self, Actor};
use super::schema::{accounts, invoices, locations};
use super::{to_db, Db};
use crate::error::{Error, Result};
use crate::ids::{AccountId, LocationId};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub billing_email: String,
    pub time_zone: String,
    pub created_at: NaiveDateTime,
}

impl Account {
    pub fn tz(&self) -> Tz {
        // Only valid zones are stored (validated on the way in).
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = locations)]
pub struct Location {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub created_at: NaiveDateTime,
}

pub struct NewAccount {
    pub name: String,
    pub billing_email: String,
    pub time_zone: Tz,
}

pub fn create(
    conn: &mut Db,
    input: NewAccount,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Account> {
    super::write(conn, |conn| {
        let id: i64 = diesel::insert_into(accounts::table)
            .values((
                accounts::name.eq(&input.name),
                accounts::billing_email.eq(&input.billing_email),
                accounts::time_zone.eq(input.time_zone.name()),
                accounts::created_at.eq(to_db(now)),
            ))
            .returning(accounts::id)
            .get_result(conn)?;
        let account = get(conn, AccountId(id))?;
        audit::record(
            conn,
            now,
            actor,
            "account.create",
            ("account", Some(account.id)),
            None::<&()>,
            Some(&account),
        )?;
        Ok(account)
    })
}

pub fn get(conn: &mut Db, id: AccountId) -> Result<Account> {
    accounts::table
        .find(id.0)
        .select(Account::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("account {id}")))
}

/// Sort orders of the account list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    Newest,
    Id,
}

/// A page of accounts whose name or billing email contains `search`.
pub fn list(
    conn: &mut Db,
    search: Option<&str>,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Account>, i64)> {
    let filtered = || {
        let mut q = accounts::table.into_boxed();
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", s.replace(['%', '_'], ""));
            q = q.filter(
                accounts::name
                    .like(pattern.clone())
                    .or(accounts::billing_email.like(pattern)),
            );
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let q = match sort {
        Sort::Name => filtered().order((accounts::name.asc(), accounts::id.asc())),
        Sort::Newest => filtered().order(accounts::id.desc()),
        Sort::Id => filtered().order(accounts::id.asc()),
    };
    let rows = q
        .limit(limit)
        .offset(offset)
        .select(Account::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn create_location(
    conn: &mut Db,
    account: AccountId,
    name: String,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Location> {
    super::write(conn, |conn| {
        get(conn, account)?;
        let id: i64 = diesel::insert_into(locations::table)
            .values((
                locations::account_id.eq(account.0),
                locations::name.eq(&name),
                locations::created_at.eq(to_db(now)),
            ))
            .returning(locations::id)
            .get_result(conn)?;
        let location = self::location(conn, LocationId(id))?;
        audit::record(
            conn,
            now,
            actor,
            "location.create",
            ("location", Some(location.id)),
            None::<&()>,
            Some(&location),
        )?;
        Ok(location)
    })
}

pub fn location(conn: &mut Db, id: LocationId) -> Result<Location> {
    locations::table
        .find(id.0)
        .select(Location::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("location {id}")))
}

pub fn locations(conn: &mut Db, account: AccountId) -> Result<Vec<Location>> {
    Ok(locations::table
        .filter(locations::account_id.eq(account.0))
        .order(locations::id.asc())
        .select(Location::as_select())
        .load(conn)?)
}

/// The latest month (`YYYY-MM`) with an issued or paid invoice: that month and every
/// month before it are closed to back-dated events and prices.
pub fn latest_closed_month(conn: &mut Db, account: AccountId) -> Result<Option<String>> {
    Ok(invoices::table
        .filter(invoices::account_id.eq(account.0))
        .filter(invoices::status.eq_any(["issued", "paid"]))
        .select(diesel::dsl::max(invoices::month))
        .first::<Option<String>>(conn)?)
}

/// The first local date after the account's latest closed month, if any month is closed.
pub fn open_from(conn: &mut Db, account: AccountId) -> Result<Option<NaiveDate>> {
    latest_closed_month(conn, account)?
        .map(|m| {
            crate::calendar::Month::parse(&m)
                .map(|m| m.next().first_day())
                .map_err(|e| Error::Internal(format!("stored month `{m}`: {e}")))
        })
        .transpose()
}

/// Refuses an event dated before the end of the account's latest closed month
/// (409 `period_closed`).
pub fn ensure_open_at(conn: &mut Db, account: &Account, at: DateTime<Utc>) -> Result<()> {
    if let Some(open) = open_from(conn, AccountId(account.id))? {
        let local = at.with_timezone(&account.tz()).date_naive();
        if local < open {
            return Err(Error::conflict(
                "period_closed",
                format!(
                    "{} falls in a closed month of account {} (open from {open})",
                    at.to_rfc3339(),
                    account.id
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a price taking effect on `from` if that date is in (or before the end of)
/// the account's latest closed month (409 `period_closed`).
pub fn ensure_open_on(conn: &mut Db, account: AccountId, from: NaiveDate) -> Result<()> {
    if let Some(open) = open_from(conn, account)? {
        if from < open {
            return Err(Error::conflict(
                "period_closed",
                format!("{from} falls in a closed month of account {account} (open from {open})"),
            ));
        }
    }
    Ok(())
}
