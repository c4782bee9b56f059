//! Bill runs and invoices: drafts from the pure billing rules, then issue, pay, void.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::accounts::Account;
use super::audit::{self, Actor};
use super::keys::EventRow;
use super::schema::{
    account_prices, accounts, bill_runs, credit_notes, invoice_lines, invoices, key_events, keys,
    list_prices, locations, number_series, payments,
};
use super::{outbox, to_db, Db};
use crate::billing::{self, AccountMonth, Charges, KeyLedger};
use crate::calendar::Month;
use crate::error::{Error, Result};
use crate::ids::{AccountId, InvoiceId, KeyId};
use crate::mail::{Statement, StatementLine};
use crate::money::Money;
use crate::pricing::{DatedPrice, PriceBook};
use crate::secrets;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = invoices)]
pub struct InvoiceRow {
    pub id: i64,
    pub account_id: i64,
    pub month: String,
    pub status: String,
    pub number: Option<String>,
    pub currency: String,
    pub total_cents: i64,
    pub paid_cents: i64,
    pub inputs_digest: String,
    pub revision: i64,
    pub changes_json: Option<String>,
    pub bill_run_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub issued_at: Option<NaiveDateTime>,
    pub paid_at: Option<NaiveDateTime>,
    pub voided_at: Option<NaiveDateTime>,
}

impl InvoiceRow {
    pub fn total(&self) -> Money {
        Money::from_cents(self.total_cents)
    }

    pub fn balance(&self) -> Money {
        Money::from_cents(self.total_cents - self.paid_cents)
    }

    pub fn paid(&self) -> Money {
        Money::from_cents(self.paid_cents)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = invoice_lines)]
pub struct LineRow {
    pub position: i64,
    pub location_id: i64,
    pub location_name: String,
    pub item: String,
    pub monthly_price_cents: i64,
    pub days: i64,
    pub days_in_month: i64,
    pub periods: String,
    pub amount_cents: i64,
}

impl LineRow {
    pub fn amount(&self) -> Money {
        Money::from_cents(self.amount_cents)
    }

    /// `[["2026-03-01", "2026-03-10"], ...]`
    pub fn period_pairs(&self) -> Vec<(String, String)> {
        self.periods
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (a, b) = p.split_once("..").unwrap_or((p, p));
                (a.to_owned(), b.to_owned())
            })
            .collect()
    }

    /// `14/30 × $30.00 = $14.00`
    pub fn arithmetic(&self) -> String {
        format!(
            "{}/{} × ${} = ${}",
            self.days,
            self.days_in_month,
            Money::from_cents(self.monthly_price_cents),
            Money::from_cents(self.amount_cents)
        )
    }

    /// `Mar 1–10, Mar 15`
    pub fn periods_text(&self) -> String {
        self.period_pairs()
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.clone()
                } else {
                    format!("{a} to {b}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = credit_notes)]
pub struct CreditNote {
    pub id: i64,
    pub invoice_id: i64,
    pub number: String,
    pub amount_cents: i64,
    pub created_at: NaiveDateTime,
}

impl CreditNote {
    pub fn amount(&self) -> Money {
        Money::from_cents(self.amount_cents)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: i64,
    pub invoice_id: i64,
    pub amount_cents: i64,
    pub paid_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub actor: String,
}

/// An invoice with everything shown about it.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub invoice: InvoiceRow,
    pub account_name: String,
    pub lines: Vec<LineRow>,
    pub credit_note: Option<CreditNote>,
    pub payments: Vec<Payment>,
}

// ---------------------------------------------------------------------------
// Reads

fn lines_of(conn: &mut Db, invoice: i64) -> Result<Vec<LineRow>> {
    Ok(invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice))
        .order(invoice_lines::position.asc())
        .select(LineRow::as_select())
        .load(conn)?)
}

fn row(conn: &mut Db, id: InvoiceId) -> Result<InvoiceRow> {
    invoices::table
        .find(id.0)
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("invoice {id}")))
}

pub fn get(conn: &mut Db, id: InvoiceId) -> Result<InvoiceView> {
    let invoice = row(conn, id)?;
    let mut one = views(conn, vec![invoice])?;
    one.pop()
        .ok_or_else(|| Error::Internal(format!("invoice {id} vanished")))
}

/// Invoice rows by id, in id order (missing ids are skipped).
pub fn rows_by_id(conn: &mut Db, ids: &[i64]) -> Result<Vec<InvoiceRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(
            invoices::table
                .filter(invoices::id.eq_any(chunk))
                .order(invoices::id.asc())
                .select(InvoiceRow::as_select())
                .load(conn)?,
        );
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Views of invoices by id, in id order.
pub fn views_by_id(conn: &mut Db, ids: &[i64]) -> Result<Vec<InvoiceView>> {
    let rows = rows_by_id(conn, ids)?;
    views(conn, rows)
}

/// Filters of the invoice list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub account: Option<AccountId>,
    pub month: Option<Month>,
    pub status: Option<String>,
}

pub fn list(conn: &mut Db, filter: &Filter, limit: i64, offset: i64) -> Result<Vec<InvoiceRow>> {
    let mut q = invoices::table.into_boxed();
    if let Some(a) = filter.account {
        q = q.filter(invoices::account_id.eq(a.0));
    }
    if let Some(m) = filter.month {
        q = q.filter(invoices::month.eq(m.to_string()));
    }
    if let Some(s) = &filter.status {
        q = q.filter(invoices::status.eq(s.clone()));
    }
    Ok(q.order((invoices::month.desc(), invoices::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(InvoiceRow::as_select())
        .load(conn)?)
}

/// Views of invoices, in the order given: lines, credit notes, payments and practice
/// names are loaded together, four queries per 500 invoices rather than per invoice.
pub fn views(conn: &mut Db, rows: Vec<InvoiceRow>) -> Result<Vec<InvoiceView>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<InvoiceRow> = rows.by_ref().take(500).collect();
        let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
        let mut account_ids: Vec<i64> = chunk.iter().map(|r| r.account_id).collect();
        account_ids.sort_unstable();
        account_ids.dedup();
        let names: HashMap<i64, String> = accounts::table
            .filter(accounts::id.eq_any(&account_ids))
            .select((accounts::id, accounts::name))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect();
        let mut lines: HashMap<i64, Vec<LineRow>> = HashMap::new();
        for (invoice, line) in invoice_lines::table
            .filter(invoice_lines::invoice_id.eq_any(&ids))
            .order((
                invoice_lines::invoice_id.asc(),
                invoice_lines::position.asc(),
            ))
            .select((invoice_lines::invoice_id, LineRow::as_select()))
            .load::<(i64, LineRow)>(conn)?
        {
            lines.entry(invoice).or_default().push(line);
        }
        let mut notes: HashMap<i64, CreditNote> = credit_notes::table
            .filter(credit_notes::invoice_id.eq_any(&ids))
            .select(CreditNote::as_select())
            .load::<CreditNote>(conn)?
            .into_iter()
            .map(|c| (c.invoice_id, c))
            .collect();
        let mut paid: HashMap<i64, Vec<Payment>> = HashMap::new();
        for p in payments::table
            .filter(payments::invoice_id.eq_any(&ids))
            .order(payments::id.asc())
            .select(Payment::as_select())
            .load::<Payment>(conn)?
        {
            paid.entry(p.invoice_id).or_default().push(p);
        }
        for invoice in chunk {
            out.push(InvoiceView {
                account_name: names.get(&invoice.account_id).cloned().unwrap_or_default(),
                lines: lines.remove(&invoice.id).unwrap_or_default(),
                credit_note: notes.remove(&invoice.id),
                payments: paid.remove(&invoice.id).unwrap_or_default(),
                invoice,
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Locks and numbers

/// Serializes work on these accounts' invoices across servers: a row lock on
/// PostgreSQL; SQLite's IMMEDIATE write transactions are serialized already.
fn lock_accounts(conn: &mut Db, ids: &[i64]) -> Result<()> {
    if let Db::Postgres(pg) = conn {
        accounts::table
            .filter(accounts::id.eq_any(ids))
            .order(accounts::id.asc())
            .select(accounts::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// The next number of a gapless series (`KB-2026-000001`), inside the caller's
/// transaction: the series row is locked until it commits, so parallel issues queue
/// and a rolled-back issue gives its number back.
fn next_number(conn: &mut Db, prefix: &str, year: i32) -> Result<String> {
    let series = format!("{prefix}-{year}");
    let seed = (
        number_series::series.eq(&series),
        number_series::last_value.eq(0i64),
    );
    on_backend!(&mut *conn, |c| diesel::insert_into(number_series::table)
        .values(seed)
        .on_conflict_do_nothing()
        .execute(c))?;
    let value: i64 = diesel::update(number_series::table.find(&series))
        .set(number_series::last_value.eq(number_series::last_value + 1))
        .returning(number_series::last_value)
        .get_result(conn)?;
    Ok(format!("{series}-{value:06}"))
}

// ---------------------------------------------------------------------------
// Bill runs

/// What a bill run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub month: String,
    pub accounts: usize,
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub removed: usize,
    /// Issued, paid or void invoices the run left alone.
    pub untouched: usize,
    /// Accounts whose zone has not finished the month yet.
    pub not_ended: usize,
    pub total: Money,
    /// The month's invoices of the accounts run, after the run.
    pub invoice_ids: Vec<i64>,
    /// Accounts that could not be billed, with the reason (e.g. a missing price).
    pub failures: Vec<(i64, String)>,
}

/// Accounts billed per transaction: bounds memory and lets a killed run keep the
/// chunks it finished (the next run completes the rest).
const CHUNK: usize = 500;

/// The zone where a month ends last (UTC-12); a month has ended everywhere after it.
fn latest_zone() -> Tz {
    "Etc/GMT+12".parse().expect("a tz database zone")
}

fn earliest_zone() -> Tz {
    "Etc/GMT-14".parse().expect("a tz database zone")
}

/// Runs the bill for `month`, for one account or all. Creates or replaces drafts,
/// never touches issued, paid or void invoices, and changes nothing where the inputs
/// did not change. `progress(done, total)` is called after each chunk.
pub fn bill_run(
    conn: &mut Db,
    month: Month,
    account: Option<AccountId>,
    actor: &Actor,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RunSummary> {
    let not_ended = |tz: Tz| {
        Error::conflict(
            "month_not_ended",
            format!(
                "{month} has not ended yet in {tz}; bill it after {}",
                month.end(tz).to_rfc3339()
            ),
        )
    };
    let targets: Vec<(i64, String)> = match account {
        Some(id) => {
            let a = super::accounts::get(conn, id)?;
            vec![(a.id, a.time_zone)]
        }
        None => {
            if !month.has_ended(earliest_zone(), now) {
                return Err(not_ended(earliest_zone()));
            }
            accounts::table
                .order(accounts::id.asc())
                .select((accounts::id, accounts::time_zone))
                .load(conn)?
        }
    };
    let tz_of = |zone: &str| zone.parse::<Tz>().unwrap_or(Tz::UTC);
    if let [(_, zone)] = targets.as_slice() {
        if account.is_some() && !month.has_ended(tz_of(zone), now) {
            return Err(not_ended(tz_of(zone)));
        }
    }
    let ended: Vec<(i64, Tz)> = targets
        .iter()
        .map(|(id, zone)| (*id, tz_of(zone)))
        .filter(|(_, tz)| month.has_ended(*tz, now))
        .collect();

    let run_id: i64 = super::write(conn, |conn| {
        Ok(diesel::insert_into(bill_runs::table)
            .values((
                bill_runs::month.eq(month.to_string()),
                bill_runs::account_id.eq(account.map(|a| a.0)),
                bill_runs::actor.eq(actor.as_str()),
                bill_runs::started_at.eq(to_db(now)),
            ))
            .returning(bill_runs::id)
            .get_result(conn)?)
    })?;
    let mut summary = RunSummary {
        id: run_id,
        month: month.to_string(),
        accounts: ended.len(),
        not_ended: targets.len() - ended.len(),
        ..RunSummary::default()
    };
    let list = list_book(conn)?;
    progress(0, ended.len());
    for (n, chunk) in ended.chunks(CHUNK).enumerate() {
        if n % 10 == 0 {
            refresh_statistics(conn)?;
        }
        run_chunk(conn, month, chunk, &list, run_id, actor, now, &mut summary)?;
        progress(((n + 1) * CHUNK).min(ended.len()), ended.len());
    }
    summary.invoice_ids.sort_unstable();
    let s = &summary;
    super::write(conn, |conn| {
        diesel::update(bill_runs::table.find(run_id))
            .set((
                bill_runs::finished_at.eq(to_db(Utc::now())),
                bill_runs::accounts_billed.eq(s.accounts as i64),
                bill_runs::invoices_created.eq(s.created as i64),
                bill_runs::invoices_changed.eq(s.changed as i64),
                bill_runs::invoices_unchanged.eq(s.unchanged as i64),
                bill_runs::total_cents.eq(s.total.cents()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "bill_run",
            ("bill_run", Some(run_id)),
            None::<&()>,
            Some(s),
        )?;
        Ok(())
    })?;
    Ok(summary)
}

/// A run adds invoices faster than PostgreSQL's autovacuum notices: with statistics
/// that still say "empty", the planner scans the whole month's invoices for every
/// chunk instead of using the account index. Sampling them again now and then keeps
/// the run linear. (SQLite plans without statistics.)
fn refresh_statistics(conn: &mut Db) -> Result<()> {
    if let Db::Postgres(pg) = conn {
        diesel::connection::SimpleConnection::batch_execute(pg, "ANALYZE invoices, invoice_lines")?;
    }
    Ok(())
}

fn list_book(conn: &mut Db) -> Result<Vec<DatedPrice>> {
    list_prices::table
        .select((
            list_prices::item,
            list_prices::monthly_price_cents,
            list_prices::effective_from,
        ))
        .load::<(String, i64, chrono::NaiveDate)>(conn)?
        .into_iter()
        .map(|(item, cents, from)| dated(&item, cents, from))
        .collect()
}

fn dated(item: &str, cents: i64, from: chrono::NaiveDate) -> Result<DatedPrice> {
    Ok(DatedPrice {
        item: item
            .parse()
            .map_err(|e| Error::Internal(format!("stored price: {e}")))?,
        from,
        monthly: Money::from_cents(cents),
    })
}

/// One account's month, computed and ready to write.
struct Computed {
    account: i64,
    digest: String,
    charges: Option<Charges>,
    location_names: HashMap<i64, String>,
}

#[allow(clippy::too_many_arguments)]
fn run_chunk(
    conn: &mut Db,
    month: Month,
    chunk: &[(i64, Tz)],
    list: &[DatedPrice],
    run_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
    summary: &mut RunSummary,
) -> Result<()> {
    let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
    // Everything the chunk's invoices depend on, in four queries.
    let horizon = to_db(month.end(latest_zone()));
    let events: Vec<(i64, EventRow)> = key_events::table
        .inner_join(keys::table)
        .filter(keys::account_id.eq_any(&ids))
        .filter(key_events::effective_at.lt(horizon))
        .order((
            keys::account_id.asc(),
            key_events::key_id.asc(),
            key_events::effective_at.asc(),
            key_events::id.asc(),
        ))
        .select((keys::account_id, EventRow::as_select()))
        .load(conn)?;
    let own_prices: Vec<(i64, String, i64, chrono::NaiveDate)> = account_prices::table
        .filter(account_prices::account_id.eq_any(&ids))
        .order((
            account_prices::account_id,
            account_prices::item,
            account_prices::effective_from,
        ))
        .select((
            account_prices::account_id,
            account_prices::item,
            account_prices::monthly_price_cents,
            account_prices::effective_from,
        ))
        .load(conn)?;
    let location_rows: Vec<(i64, i64, String)> = locations::table
        .filter(locations::account_id.eq_any(&ids))
        .order(locations::id)
        .select((locations::account_id, locations::id, locations::name))
        .load(conn)?;

    let mut events_by_account: BTreeMap<i64, Vec<&EventRow>> = BTreeMap::new();
    for (account, e) in &events {
        events_by_account.entry(*account).or_default().push(e);
    }
    let mut prices_by_account: HashMap<i64, Vec<DatedPrice>> = HashMap::new();
    for (account, item, cents, from) in &own_prices {
        prices_by_account
            .entry(*account)
            .or_default()
            .push(dated(item, *cents, *from)?);
    }
    let mut names_by_account: HashMap<i64, HashMap<i64, String>> = HashMap::new();
    for (account, id, name) in location_rows {
        names_by_account
            .entry(account)
            .or_default()
            .insert(id, name);
    }

    let mut computed = Vec::with_capacity(chunk.len());
    for (account, tz) in chunk {
        let end = to_db(month.end(*tz));
        let rows: Vec<&EventRow> = events_by_account
            .remove(account)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.effective_at < end)
            .collect();
        let own = prices_by_account.remove(account).unwrap_or_default();
        let names = names_by_account.remove(account).unwrap_or_default();
        let digest = inputs_digest(*tz, month, &rows, list, &own, &names);
        let mut ledgers: Vec<KeyLedger> = Vec::new();
        for e in rows {
            let event = e.to_event()?;
            match ledgers.last_mut() {
                Some(l) if l.key.0 == e.key_id => l.events.push(event),
                _ => ledgers.push(KeyLedger {
                    key: KeyId(e.key_id),
                    events: vec![event],
                }),
            }
        }
        let book = PriceBook::new(list.to_vec(), own);
        match billing::compute(&AccountMonth {
            tz: *tz,
            month,
            keys: &ledgers,
            prices: &book,
        }) {
            Ok(charges) => computed.push(Computed {
                account: *account,
                digest,
                charges,
                location_names: names,
            }),
            Err(e) => {
                tracing::warn!(account, error = %e, "account not billed");
                summary.failures.push((*account, e.to_string()));
            }
        }
    }

    super::write(conn, |conn| {
        lock_accounts(conn, &ids)?;
        // Read the month's invoices under the lock: a concurrent run or issue that
        // committed first is seen here.
        let existing: Vec<InvoiceRow> = invoices::table
            .filter(invoices::account_id.eq_any(&ids))
            .filter(invoices::month.eq(month.to_string()))
            .filter(invoices::status.ne("void"))
            .select(InvoiceRow::as_select())
            .load(conn)?;
        write_chunk(
            conn, month, &computed, existing, run_id, actor, now, summary,
        )
    })
}

/// A stable digest of everything an account-month's invoice is computed from.
fn inputs_digest(
    tz: Tz,
    month: Month,
    events: &[&EventRow],
    list: &[DatedPrice],
    own: &[DatedPrice],
    names: &HashMap<i64, String>,
) -> String {
    let mut s = String::with_capacity(64 + events.len() * 48);
    let _ = write!(s, "v1|{}|{}|", tz.name(), month);
    for e in events {
        let _ = write!(
            s,
            "{}:{}:{}:{}:{:?}:{:?}:{:?};",
            e.key_id, e.id, e.kind, e.effective_at, e.permissions, e.location_id, e.disabled_by
        );
    }
    let mut prices: Vec<String> = list
        .iter()
        .map(|p| format!("L{}@{}={}", p.item, p.from, p.monthly))
        .chain(
            own.iter()
                .map(|p| format!("A{}@{}={}", p.item, p.from, p.monthly)),
        )
        .collect();
    prices.sort();
    s.push_str(&prices.join(";"));
    let mut names: Vec<_> = names.iter().collect();
    names.sort();
    for (id, name) in names {
        let _ = write!(s, "|{id}={name}");
    }
    secrets::hash(&s)
}

fn line_rows(c: &Computed) -> Vec<LineRow> {
    let Some(charges) = &c.charges else {
        return Vec::new();
    };
    charges
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineRow {
            position: i as i64 + 1,
            location_id: l.location.0,
            location_name: c
                .location_names
                .get(&l.location.0)
                .cloned()
                .unwrap_or_default(),
            item: l.item.as_str().to_owned(),
            monthly_price_cents: l.monthly_price.cents(),
            days: i64::from(l.days),
            days_in_month: i64::from(l.days_in_month),
            periods: l
                .periods
                .iter()
                .map(|(a, b)| format!("{a}..{b}"))
                .collect::<Vec<_>>()
                .join(","),
            amount_cents: l.amount.cents(),
        })
        .collect()
}

/// Inserts lines of any number of invoices in multi-row statements.
fn insert_lines(conn: &mut Db, lines: &[(i64, LineRow)]) -> Result<()> {
    let values: Vec<_> = lines
        .iter()
        .map(|(invoice, l)| {
            (
                invoice_lines::invoice_id.eq(*invoice),
                invoice_lines::position.eq(l.position),
                invoice_lines::location_id.eq(l.location_id),
                invoice_lines::location_name.eq(&l.location_name),
                invoice_lines::item.eq(&l.item),
                invoice_lines::monthly_price_cents.eq(l.monthly_price_cents),
                invoice_lines::days.eq(l.days),
                invoice_lines::days_in_month.eq(l.days_in_month),
                invoice_lines::periods.eq(&l.periods),
                invoice_lines::amount_cents.eq(l.amount_cents),
            )
        })
        .collect();
    // Batches keep each statement well under SQLite's bound-parameter limit.
    for batch in values.chunks(1000) {
        on_backend!(&mut *conn, |c| diesel::insert_into(invoice_lines::table)
            .values(batch)
            .execute(c))?;
    }
    Ok(())
}

/// What changed between two drafts, line by line, for the re-run report.
fn changes(
    before: &[LineRow],
    after: &[LineRow],
    old_total: i64,
    new_total: i64,
) -> serde_json::Value {
    let key = |l: &LineRow| (l.location_id, l.item.clone(), l.monthly_price_cents);
    let old: BTreeMap<_, &LineRow> = before.iter().map(|l| (key(l), l)).collect();
    let new: BTreeMap<_, &LineRow> = after.iter().map(|l| (key(l), l)).collect();
    let mut diffs = Vec::new();
    let describe = |l: Option<&&LineRow>| {
        l.map(|l| json!({"days": l.days, "amount": Money::from_cents(l.amount_cents), "periods": l.periods}))
    };
    let mut keys: Vec<_> = old.keys().chain(new.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (old.get(&k), new.get(&k));
        if a.map(|l| (l.days, l.amount_cents, &l.periods))
            != b.map(|l| (l.days, l.amount_cents, &l.periods))
        {
            let name = a.or(b).map(|l| l.location_name.clone()).unwrap_or_default();
            diffs.push(json!({
                "location_id": k.0, "location": name, "item": k.1,
                "monthly_price": Money::from_cents(k.2),
                "before": describe(a), "after": describe(b),
            }));
        }
    }
    json!({
        "total": {"before": Money::from_cents(old_total), "after": Money::from_cents(new_total)},
        "lines": diffs,
    })
}

/// Writes one chunk's invoices: new drafts and their lines in multi-row statements,
/// redrafts and removals one by one (they are the exception), and nothing at all for
/// unchanged inputs or for invoices that are no longer drafts.
#[allow(clippy::too_many_arguments)]
fn write_chunk(
    conn: &mut Db,
    month: Month,
    computed: &[Computed],
    existing: Vec<InvoiceRow>,
    run_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
    summary: &mut RunSummary,
) -> Result<()> {
    let mut existing: HashMap<i64, InvoiceRow> =
        existing.into_iter().map(|i| (i.account_id, i)).collect();
    let mut fresh: Vec<&Computed> = Vec::new();
    let mut new_lines: Vec<(i64, LineRow)> = Vec::new();
    for c in computed {
        let total = c.charges.as_ref().map_or(Money::ZERO, |ch| ch.total);
        match existing.remove(&c.account) {
            Some(inv) if inv.status != "draft" => {
                summary.untouched += 1;
                summary.invoice_ids.push(inv.id);
            }
            Some(inv) if inv.inputs_digest == c.digest => {
                summary.unchanged += 1;
                summary.total += inv.total();
                summary.invoice_ids.push(inv.id);
            }
            Some(inv) if c.charges.is_none() => {
                diesel::delete(invoice_lines::table.filter(invoice_lines::invoice_id.eq(inv.id)))
                    .execute(conn)?;
                diesel::delete(invoices::table.find(inv.id)).execute(conn)?;
                audit::record(
                    conn,
                    now,
                    actor,
                    "invoice.remove_draft",
                    ("invoice", Some(inv.id)),
                    Some(&inv),
                    None::<&()>,
                )?;
                summary.removed += 1;
            }
            Some(inv) => {
                let old_lines = lines_of(conn, inv.id)?;
                let lines = line_rows(c);
                if old_lines == lines && inv.total_cents == total.cents() {
                    // Different inputs, same invoice (e.g. a toggle inside a billed day).
                    diesel::update(invoices::table.find(inv.id))
                        .set(invoices::inputs_digest.eq(&c.digest))
                        .execute(conn)?;
                    summary.unchanged += 1;
                } else {
                    let diff = changes(&old_lines, &lines, inv.total_cents, total.cents());
                    diesel::delete(
                        invoice_lines::table.filter(invoice_lines::invoice_id.eq(inv.id)),
                    )
                    .execute(conn)?;
                    diesel::update(invoices::table.find(inv.id))
                        .set((
                            invoices::total_cents.eq(total.cents()),
                            invoices::inputs_digest.eq(&c.digest),
                            invoices::revision.eq(inv.revision + 1),
                            invoices::changes_json.eq(diff.to_string()),
                            invoices::bill_run_id.eq(run_id),
                            invoices::updated_at.eq(to_db(now)),
                        ))
                        .execute(conn)?;
                    audit::record(
                        conn,
                        now,
                        actor,
                        "invoice.redraft",
                        ("invoice", Some(inv.id)),
                        None::<&()>,
                        Some(&diff),
                    )?;
                    new_lines.extend(lines.into_iter().map(|l| (inv.id, l)));
                    summary.changed += 1;
                }
                summary.total += total;
                summary.invoice_ids.push(inv.id);
            }
            None if c.charges.is_none() => {}
            None => fresh.push(c),
        }
    }
    let month = month.to_string();
    for batch in fresh.chunks(500) {
        let rows: Vec<_> = batch
            .iter()
            .map(|c| {
                (
                    invoices::account_id.eq(c.account),
                    invoices::month.eq(&month),
                    invoices::status.eq("draft"),
                    invoices::currency.eq("USD"),
                    invoices::total_cents.eq(c.charges.as_ref().map_or(0, |ch| ch.total.cents())),
                    invoices::inputs_digest.eq(&c.digest),
                    invoices::bill_run_id.eq(run_id),
                    invoices::created_at.eq(to_db(now)),
                    invoices::updated_at.eq(to_db(now)),
                )
            })
            .collect();
        let ids: Vec<(i64, i64)> =
            on_backend!(&mut *conn, |c| diesel::insert_into(invoices::table)
                .values(&rows)
                .returning((invoices::account_id, invoices::id))
                .get_results(c))?;
        let ids: HashMap<i64, i64> = ids.into_iter().collect();
        for c in batch {
            let id = ids[&c.account];
            new_lines.extend(line_rows(c).into_iter().map(|l| (id, l)));
            summary.created += 1;
            summary.total += c.charges.as_ref().map_or(Money::ZERO, |ch| ch.total);
            summary.invoice_ids.push(id);
        }
    }
    insert_lines(conn, &new_lines)
}

// ---------------------------------------------------------------------------
// Lifecycle

fn refuse(inv: &InvoiceRow, action: &str) -> Error {
    match inv.status.as_str() {
        "paid" => Error::conflict(
            "invoice_paid",
            format!("invoice {} is paid; it cannot be {action}", inv.id),
        ),
        "void" => Error::conflict("invoice_void", format!("invoice {} is void", inv.id)),
        "draft" => Error::conflict(
            "invoice_not_issued",
            format!("invoice {} is a draft; issue it first", inv.id),
        ),
        _ => Error::conflict(
            "invoice_not_draft",
            format!("invoice {} is already {}", inv.id, inv.status),
        ),
    }
}

/// Settings the statement email needs.
#[derive(Debug, Clone)]
pub struct StatementSettings {
    pub portal_url: String,
}

/// Days after issue an invoice is due.
pub const DUE_DAYS: i64 = 30;

/// Issues a draft: the next gapless number, status issued (paid at once when its total
/// is zero), and the statement email queued, all in one transaction.
pub fn issue(
    conn: &mut Db,
    id: InvoiceId,
    settings: &StatementSettings,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<InvoiceView> {
    super::write(conn, |conn| {
        let account_id = row(conn, id)?.account_id;
        lock_accounts(conn, &[account_id])?;
        let inv = row(conn, id)?;
        if inv.status != "draft" {
            return Err(refuse(&inv, "issued"));
        }
        let number = next_number(conn, "KB", now.year())?;
        let zero = inv.total_cents == 0;
        diesel::update(invoices::table.find(id.0))
            .set((
                invoices::status.eq(if zero { "paid" } else { "issued" }),
                invoices::number.eq(&number),
                invoices::issued_at.eq(to_db(now)),
                invoices::paid_at.eq(zero.then(|| to_db(now))),
                invoices::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let issued = get(conn, id)?;
        let account: Account = super::accounts::get(conn, AccountId(account_id))?;
        let email = statement(&issued, &account, settings, now).render();
        outbox::enqueue(conn, &email, Some(id.0), now)?;
        audit::record(
            conn,
            now,
            actor,
            "invoice.issue",
            ("invoice", Some(id.0)),
            Some(&inv),
            Some(&json!({"number": number, "total": inv.total()})),
        )?;
        Ok(issued)
    })
}

/// The statement email of an issued invoice.
pub fn statement(
    view: &InvoiceView,
    account: &Account,
    settings: &StatementSettings,
    now: DateTime<Utc>,
) -> Statement {
    let issued = view.invoice.issued_at.map_or(now, |t| t.and_utc());
    Statement {
        account_name: account.name.clone(),
        recipient: account.billing_email.clone(),
        number: view.invoice.number.clone().unwrap_or_default(),
        month: view.invoice.month.clone(),
        total: view.invoice.total(),
        lines: view
            .lines
            .iter()
            .map(|l| StatementLine {
                location: l.location_name.clone(),
                item: l.item.clone(),
                days: l.days,
                days_in_month: l.days_in_month,
                monthly_price: Money::from_cents(l.monthly_price_cents),
                periods: l.periods_text(),
                amount: Money::from_cents(l.amount_cents),
            })
            .collect(),
        portal_url: format!(
            "{}/portal/invoices/{}",
            settings.portal_url.trim_end_matches('/'),
            view.invoice.id
        ),
        due_date: (issued + Duration::days(DUE_DAYS)).date_naive().to_string(),
    }
}

/// Voids an issued, unpaid invoice with a credit note for its total; the month
/// reopens for the account.
pub fn void(
    conn: &mut Db,
    id: InvoiceId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(InvoiceView, CreditNote)> {
    super::write(conn, |conn| {
        let account_id = row(conn, id)?.account_id;
        lock_accounts(conn, &[account_id])?;
        let inv = row(conn, id)?;
        if inv.status != "issued" {
            return Err(refuse(&inv, "voided"));
        }
        if inv.paid_cents > 0 {
            return Err(Error::conflict(
                "invoice_paid",
                format!(
                    "invoice {} has payments of {}; it cannot be voided",
                    inv.id,
                    Money::from_cents(inv.paid_cents)
                ),
            ));
        }
        let number = next_number(conn, "CN", now.year())?;
        diesel::insert_into(credit_notes::table)
            .values((
                credit_notes::invoice_id.eq(id.0),
                credit_notes::number.eq(&number),
                credit_notes::amount_cents.eq(inv.total_cents),
                credit_notes::created_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        diesel::update(invoices::table.find(id.0))
            .set((
                invoices::status.eq("void"),
                invoices::voided_at.eq(to_db(now)),
                invoices::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "invoice.void",
            ("invoice", Some(id.0)),
            Some(&inv),
            Some(&json!({"credit_note": number, "amount": inv.total()})),
        )?;
        let view = get(conn, id)?;
        let note = view
            .credit_note
            .clone()
            .ok_or_else(|| Error::Internal("credit note not written".into()))?;
        Ok((view, note))
    })
}

/// Records a payment; the invoice is paid when payments reach its total.
pub fn pay(
    conn: &mut Db,
    id: InvoiceId,
    amount: Money,
    paid_at: DateTime<Utc>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<InvoiceView> {
    if amount.cents() <= 0 {
        return Err(Error::field("amount", "must be more than 0.00"));
    }
    crate::validate::not_future(paid_at, now)?;
    super::write(conn, |conn| {
        let account_id = row(conn, id)?.account_id;
        lock_accounts(conn, &[account_id])?;
        let inv = row(conn, id)?;
        if inv.status != "issued" {
            return Err(refuse(&inv, "paid again"));
        }
        if amount > inv.balance() {
            return Err(Error::invalid(
                "overpayment",
                format!(
                    "{amount} is more than the balance of {} on invoice {}",
                    inv.balance(),
                    inv.id
                ),
            ));
        }
        diesel::insert_into(payments::table)
            .values((
                payments::invoice_id.eq(id.0),
                payments::amount_cents.eq(amount.cents()),
                payments::paid_at.eq(to_db(paid_at)),
                payments::recorded_at.eq(to_db(now)),
                payments::actor.eq(actor.as_str()),
            ))
            .execute(conn)?;
        let paid = inv.paid_cents + amount.cents();
        let settled = paid == inv.total_cents;
        diesel::update(invoices::table.find(id.0))
            .set((
                invoices::paid_cents.eq(paid),
                invoices::status.eq(if settled { "paid" } else { "issued" }),
                invoices::paid_at.eq(settled.then(|| to_db(paid_at))),
                invoices::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "invoice.payment",
            ("invoice", Some(id.0)),
            Some(&inv),
            Some(&json!({"amount": amount, "paid_at": paid_at.to_rfc3339(), "settled": settled})),
        )?;
        get(conn, id)
    })
}

/// Queues a reminder for each issued, unpaid invoice more than `DUE_DAYS` past its
/// issue that has none yet; returns how many. Safe to run any number of times, on any
/// number of servers (the check and the insert share a write transaction).
pub fn queue_reminders(
    conn: &mut Db,
    settings: &StatementSettings,
    now: DateTime<Utc>,
) -> Result<usize> {
    use super::schema::outbox as queued;
    super::write(conn, |conn| {
        let reminded = queued::table
            .filter(queued::kind.eq("reminder"))
            .select(queued::invoice_id);
        let overdue: Vec<InvoiceRow> = invoices::table
            .filter(invoices::status.eq("issued"))
            .filter(invoices::issued_at.le(to_db(now - Duration::days(DUE_DAYS))))
            .filter(invoices::id.nullable().ne_all(reminded))
            .select(InvoiceRow::as_select())
            .load(conn)?;
        for inv in &overdue {
            let account = super::accounts::get(conn, AccountId(inv.account_id))?;
            let issued = inv.issued_at.map_or(now, |t| t.and_utc());
            let reminder = crate::mail::Reminder {
                account_name: account.name,
                recipient: account.billing_email,
                number: inv.number.clone().unwrap_or_default(),
                month: inv.month.clone(),
                balance: inv.balance(),
                due_date: (issued + Duration::days(DUE_DAYS)).date_naive().to_string(),
                portal_url: format!(
                    "{}/portal/invoices/{}",
                    settings.portal_url.trim_end_matches('/'),
                    inv.id
                ),
            };
            outbox::enqueue(conn, &reminder.render(), Some(inv.id), now)?;
        }
        Ok(overdue.len())
    })
}

/// This month so far for one account: what would be billed if the month ended now,
/// with the names of its locations.
pub fn so_far(
    conn: &mut Db,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<(Month, Option<Charges>, HashMap<i64, String>)> {
    let acct = super::accounts::get(conn, account)?;
    let tz = acct.tz();
    let month = Month::of(crate::calendar::local_date(now, tz));
    let rows: Vec<EventRow> = key_events::table
        .inner_join(keys::table)
        .filter(keys::account_id.eq(account.0))
        .filter(key_events::effective_at.le(to_db(now)))
        .order((
            key_events::key_id.asc(),
            key_events::effective_at.asc(),
            key_events::id.asc(),
        ))
        .select(EventRow::as_select())
        .load(conn)?;
    let mut ledgers: Vec<KeyLedger> = Vec::new();
    for e in &rows {
        let event = e.to_event()?;
        match ledgers.last_mut() {
            Some(l) if l.key.0 == e.key_id => l.events.push(event),
            _ => ledgers.push(KeyLedger {
                key: KeyId(e.key_id),
                events: vec![event],
            }),
        }
    }
    let book = super::prices::book(conn, Some(account))?;
    let names = super::accounts::locations(conn, account)?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let charges = billing::compute_until(
        &AccountMonth {
            tz,
            month,
            keys: &ledgers,
            prices: &book,
        },
        now,
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((month, charges, names))
}
