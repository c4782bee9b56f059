//! List prices (the price book) and account prices, both effective-dated.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::accounts;
use super::audit::{self, Actor};
use super::schema::{account_prices, invoices, list_prices};
use super::{to_db, Db};
use crate::calendar::Month;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::money::Money;
use crate::policy::{Item, Tier};
use crate::pricing::{DatedPrice, PriceBook};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = list_prices)]
pub struct ListPrice {
    pub id: i64,
    pub item: String,
    pub monthly_price_cents: i64,
    pub effective_from: NaiveDate,
    pub created_at: NaiveDateTime,
}

impl ListPrice {
    pub fn price(&self) -> Money {
        Money::from_cents(self.monthly_price_cents)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = account_prices)]
pub struct AccountPrice {
    pub id: i64,
    pub account_id: i64,
    pub item: String,
    pub monthly_price_cents: i64,
    pub effective_from: NaiveDate,
    pub created_at: NaiveDateTime,
}

/// A validated price change.
#[derive(Debug, Clone, Copy)]
pub struct PriceChange {
    pub item: Item,
    pub monthly: Money,
    pub from: NaiveDate,
}

fn dated(item: &str, cents: i64, from: NaiveDate) -> Result<DatedPrice> {
    Ok(DatedPrice {
        item: item
            .parse()
            .map_err(|e| Error::Internal(format!("stored price: {e}")))?,
        from,
        monthly: Money::from_cents(cents),
    })
}

pub fn list_book(conn: &mut Db) -> Result<Vec<ListPrice>> {
    Ok(list_prices::table
        .order((list_prices::item.asc(), list_prices::effective_from.asc()))
        .select(ListPrice::as_select())
        .load(conn)?)
}

pub fn list_for_account(conn: &mut Db, account: AccountId) -> Result<Vec<AccountPrice>> {
    Ok(account_prices::table
        .filter(account_prices::account_id.eq(account.0))
        .order((
            account_prices::item.asc(),
            account_prices::effective_from.asc(),
        ))
        .select(AccountPrice::as_select())
        .load(conn)?)
}

/// The price book as the pricing rules see it: all list prices, and the account's own.
pub fn book(conn: &mut Db, account: Option<AccountId>) -> Result<PriceBook> {
    let list = list_book(conn)?
        .into_iter()
        .map(|p| dated(&p.item, p.monthly_price_cents, p.effective_from))
        .collect::<Result<_>>()?;
    let own = match account {
        Some(a) => list_for_account(conn, a)?
            .into_iter()
            .map(|p| dated(&p.item, p.monthly_price_cents, p.effective_from))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    Ok(PriceBook::new(list, own))
}

/// Sets a list price (tiers only: add-ons are priced per account). A second price for
/// the same item and date replaces the first. Refused (`period_closed`) when it would
/// take effect before the end of any account's latest closed month.
pub fn set_list_price(
    conn: &mut Db,
    change: PriceChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ListPrice> {
    if !matches!(change.item, Item::Tier(_)) {
        return Err(Error::field(
            "item",
            format!(
                "{} is an add-on: it has no list price, set it per account",
                change.item
            ),
        ));
    }
    super::write(conn, |conn| {
        let latest_closed: Option<String> = invoices::table
            .filter(invoices::status.eq_any(["issued", "paid"]))
            .select(diesel::dsl::max(invoices::month))
            .first(conn)?;
        if let Some(m) = latest_closed
            .as_deref()
            .map(Month::parse)
            .transpose()
            .map_err(Error::Internal)?
        {
            let open = m.next().first_day();
            if change.from < open {
                return Err(Error::conflict(
                    "period_closed",
                    format!(
                        "{} falls in a month that is closed for some account (open from {open})",
                        change.from
                    ),
                ));
            }
        }
        let existing = list_prices::table
            .filter(list_prices::item.eq(change.item.as_str()))
            .filter(list_prices::effective_from.eq(change.from))
            .select(ListPrice::as_select())
            .first(conn)
            .optional()?;
        let id: i64 = match &existing {
            Some(old) => diesel::update(list_prices::table.find(old.id))
                .set(list_prices::monthly_price_cents.eq(change.monthly.cents()))
                .returning(list_prices::id)
                .get_result(conn)?,
            None => diesel::insert_into(list_prices::table)
                .values((
                    list_prices::item.eq(change.item.as_str()),
                    list_prices::monthly_price_cents.eq(change.monthly.cents()),
                    list_prices::effective_from.eq(change.from),
                    list_prices::created_at.eq(to_db(now)),
                ))
                .returning(list_prices::id)
                .get_result(conn)?,
        };
        let row: ListPrice = list_prices::table
            .find(id)
            .select(ListPrice::as_select())
            .first(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "price_book.set",
            ("list_price", Some(row.id)),
            existing.as_ref(),
            Some(&row),
        )?;
        Ok(row)
    })
}

/// Sets an account's own price for a tier or add-on (replacing one for the same item
/// and date). Refused (`period_closed`) inside the account's closed months.
pub fn set_account_price(
    conn: &mut Db,
    account: AccountId,
    change: PriceChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<AccountPrice> {
    super::write(conn, |conn| {
        accounts::get(conn, account)?;
        accounts::ensure_open_on(conn, account, change.from)?;
        let existing = account_prices::table
            .filter(account_prices::account_id.eq(account.0))
            .filter(account_prices::item.eq(change.item.as_str()))
            .filter(account_prices::effective_from.eq(change.from))
            .select(AccountPrice::as_select())
            .first(conn)
            .optional()?;
        let id: i64 = match &existing {
            Some(old) => diesel::update(account_prices::table.find(old.id))
                .set(account_prices::monthly_price_cents.eq(change.monthly.cents()))
                .returning(account_prices::id)
                .get_result(conn)?,
            None => diesel::insert_into(account_prices::table)
                .values((
                    account_prices::account_id.eq(account.0),
                    account_prices::item.eq(change.item.as_str()),
                    account_prices::monthly_price_cents.eq(change.monthly.cents()),
                    account_prices::effective_from.eq(change.from),
                    account_prices::created_at.eq(to_db(now)),
                ))
                .returning(account_prices::id)
                .get_result(conn)?,
        };
        let row: AccountPrice = account_prices::table
            .find(id)
            .select(AccountPrice::as_select())
            .first(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "account_price.set",
            ("account", Some(account.0)),
            existing.as_ref(),
            Some(&row),
        )?;
        Ok(row)
    })
}

/// The list price of a tier on a date.
pub fn list_price(conn: &mut Db, tier: Tier, on: NaiveDate) -> Result<Money> {
    book(conn, None)?
        .monthly(Item::Tier(tier), on)
        .ok_or_else(|| Error::Internal(format!("no list price for {tier} on {on}")))
}
