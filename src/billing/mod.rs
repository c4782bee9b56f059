//! Billing, pure: one account's key ledgers, prices and time zone in; the month's
//! invoice lines out, each keeping its arithmetic (CONTRACT section 4).
//!
//! A day of the month is billed for a location if some key was billable there at any
//! instant of that (local) day; its tier is the highest among those keys that day, and
//! it carries an add-on if such a key had the special permission that day. Lines are
//! (location, item, monthly price) with their day counts and date ranges; a location's
//! total is its exact sum rounded half away from zero, shared out to its lines by
//! largest remainder.

mod rounding;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::Decimal;

pub use self::rounding::allocate;
use crate::calendar::{local_date, Month};
use crate::ids::{KeyId, LocationId};
use crate::ledger::{self, Event};
use crate::money::Money;
use crate::policy::{AddOn, Item, Tier};
use crate::pricing::PriceBook;

/// One key's ledger, in ledger order.
#[derive(Debug, Clone)]
pub struct KeyLedger {
    pub key: KeyId,
    pub events: Vec<Event>,
}

/// Everything one account-month's invoice is computed from.
#[derive(Debug, Clone, Copy)]
pub struct AccountMonth<'a> {
    pub tz: Tz,
    pub month: Month,
    pub keys: &'a [KeyLedger],
    pub prices: &'a PriceBook,
}

/// An invoice line: `days / days_in_month × monthly_price`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub location: LocationId,
    pub item: Item,
    pub monthly_price: Money,
    pub days: u32,
    pub days_in_month: u32,
    /// Runs of consecutive billed days, first and last day included.
    pub periods: Vec<(NaiveDate, NaiveDate)>,
    /// `monthly_price × days / days_in_month`, unrounded.
    pub exact: Decimal,
    /// Its share of the location's rounded total.
    pub amount: Money,
}

impl Line {
    pub fn first_day(&self) -> NaiveDate {
        self.periods[0].0
    }
}

/// The month's charges for one account: lines ordered by location, then by first
/// billed day, then by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charges {
    pub lines: Vec<Line>,
    pub total: Money,
}

impl Charges {
    /// The total of one location's lines.
    pub fn location_total(&self, location: LocationId) -> Money {
        self.lines
            .iter()
            .filter(|l| l.location == location)
            .map(|l| l.amount)
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("no price for {item} on {date}")]
    PriceMissing { item: Item, date: NaiveDate },
    #[error("the amounts do not fit in the money type")]
    Overflow,
}

/// What one location had on one day.
#[derive(Debug, Clone, Copy, Default)]
struct Day {
    tier: Option<Tier>,
    add_ons: [bool; 2],
}

/// The billed days of each location in the month up to `until`, index 0 being the 1st.
fn billed_days(
    input: &AccountMonth<'_>,
    until: chrono::DateTime<chrono::Utc>,
) -> BTreeMap<LocationId, Vec<Day>> {
    let days_in_month = input.month.days() as usize;
    let month_start = input.month.start(input.tz);
    let month_end = input.month.end(input.tz).min(until);
    let first = input.month.first_day();
    let mut by_location: BTreeMap<LocationId, Vec<Day>> = BTreeMap::new();
    for key in input.keys {
        for span in ledger::billable_spans(&key.events) {
            let from = span.from.max(month_start);
            let to = span.to.map_or(month_end, |t| t.min(month_end));
            if from >= to {
                continue;
            }
            // Half-open: the last instant of the span is just before `to`.
            let first_day = local_date(from, input.tz);
            let last_day = local_date(to - Duration::microseconds(1), input.tz);
            let tier = Tier::of(span.permissions);
            let days = by_location
                .entry(span.location)
                .or_insert_with(|| vec![Day::default(); days_in_month]);
            let start = (first_day - first).num_days().max(0) as usize;
            let end = ((last_day - first).num_days() as usize).min(days_in_month - 1);
            for day in &mut days[start..=end] {
                day.tier = day.tier.max(Some(tier));
                for (i, add_on) in AddOn::ALL.into_iter().enumerate() {
                    day.add_ons[i] |= span.permissions.contains(add_on.permission());
                }
            }
        }
    }
    by_location
}

/// Consecutive dates as inclusive ranges.
fn periods(dates: &[NaiveDate]) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in dates {
        match out.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(d) => *last = d,
            _ => out.push((d, d)),
        }
    }
    out
}

/// The month's charges, or `None` when no day was billed.
pub fn compute(input: &AccountMonth<'_>) -> Result<Option<Charges>, BillingError> {
    compute_until(input, input.month.end(input.tz))
}

/// The charges as if the month ended at `until` (the days so far, each still priced at
/// a 1/days-in-month share): "this month so far".
pub fn compute_until(
    input: &AccountMonth<'_>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Charges>, BillingError> {
    let d = input.month.days();
    let first = input.month.first_day();
    let mut lines = Vec::new();
    for (location, days) in billed_days(input, until) {
        // (item, monthly price) -> billed dates, in date order.
        let mut groups: BTreeMap<(Item, Money), Vec<NaiveDate>> = BTreeMap::new();
        for (i, day) in days.iter().enumerate() {
            let Some(tier) = day.tier else { continue };
            let date = first + Duration::days(i as i64);
            let items = std::iter::once(Item::Tier(tier)).chain(
                AddOn::ALL
                    .into_iter()
                    .enumerate()
                    .filter(|(j, _)| day.add_ons[*j])
                    .map(|(_, a)| Item::AddOn(a)),
            );
            for item in items {
                let price = input
                    .prices
                    .monthly(item, date)
                    .ok_or(BillingError::PriceMissing { item, date })?;
                groups.entry((item, price)).or_default().push(date);
            }
        }
        let mut location_lines: Vec<Line> = groups
            .into_iter()
            .map(|((item, monthly_price), dates)| {
                let days = dates.len() as u32;
                Line {
                    location,
                    item,
                    monthly_price,
                    days,
                    days_in_month: d,
                    periods: periods(&dates),
                    exact: monthly_price.to_decimal() * Decimal::from(days) / Decimal::from(d),
                    amount: Money::ZERO,
                }
            })
            .collect();
        location_lines.sort_by(|a, b| {
            (a.first_day(), a.item, a.monthly_price).cmp(&(b.first_day(), b.item, b.monthly_price))
        });
        let exact: Vec<Decimal> = location_lines.iter().map(|l| l.exact).collect();
        let amounts = allocate(&exact).ok_or(BillingError::Overflow)?;
        for (line, amount) in location_lines.iter_mut().zip(amounts) {
            line.amount = amount;
        }
        lines.extend(location_lines);
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let total = lines.iter().map(|l| l.amount).sum();
    Ok(Some(Charges { lines, total }))
}

#[cfg(test)]
mod tests;
