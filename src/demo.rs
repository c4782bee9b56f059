//! `keybill demo`: a small, realistic data set so a fresh install shows a living
//! back-office: developers, practices in several zones, keys in every tier with some
//! history, agreed add-on prices, an issued (closed) month and last month's drafts.
//! Idempotent: a second run changes nothing.

use chrono::{DateTime, Duration, Utc};

use crate::calendar::Month;
use crate::error::{Error, Result};
use crate::ids::{AccountId, DeveloperId, KeyId, LocationId};
use crate::ledger::{Change, DisabledBy};
use crate::money::Money;
use crate::policy::{AddOn, Item};
use crate::store::audit::Actor;
use crate::store::{accounts, developers, invoices, keys, prices, Db};
use crate::validate;

/// The marker that says the demo is loaded.
const FIRST_DEVELOPER: &str = "apps@acme-dental.example";

/// What was loaded (`None` if it already was).
pub struct Loaded {
    pub developers: usize,
    pub practices: usize,
    pub keys: usize,
    pub issued: Vec<String>,
    pub drafts: usize,
}

pub fn load(
    conn: &mut Db,
    settings: &invoices::StatementSettings,
    now: DateTime<Utc>,
) -> Result<Option<Loaded>> {
    // All or nothing: a failure leaves no half-loaded demo behind.
    crate::store::write(conn, |conn| load_in(conn, settings, now))
}

fn load_in(
    conn: &mut Db,
    settings: &invoices::StatementSettings,
    now: DateTime<Utc>,
) -> Result<Option<Loaded>> {
    let already = developers::list(conn, 10_000, 0)?
        .iter()
        .any(|d| d.email == FIRST_DEVELOPER);
    if already {
        return Ok(None);
    }
    let actor = Actor::system();
    let this_month = Month::of(now.date_naive());
    let closed = this_month.prev().prev();
    let last = this_month.prev();
    let dev = |conn: &mut Db, name: &str, email: &str| -> Result<DeveloperId> {
        let input = developers::NewDeveloper {
            name: name.into(),
            email: email.into(),
        };
        Ok(DeveloperId(
            developers::create(conn, input, &actor, now)?.0.id,
        ))
    };
    let acme = dev(conn, "Acme Dental Apps", FIRST_DEVELOPER)?;
    let chairside = dev(conn, "ChairSide Reminders", "dev@chairside.example")?;
    let ledgerlink = dev(conn, "LedgerLink Payments", "api@ledgerlink.example")?;

    let practice = |conn: &mut Db,
                    name: &str,
                    email: &str,
                    zone: &str,
                    offices: &[&str]|
     -> Result<(AccountId, Vec<LocationId>)> {
        let input = accounts::NewAccount {
            name: name.into(),
            billing_email: email.into(),
            time_zone: validate::time_zone(zone)?,
        };
        let id = AccountId(accounts::create(conn, input, &actor, now)?.id);
        let mut locations = Vec::new();
        for office in offices {
            locations.push(LocationId(
                accounts::create_location(conn, id, (*office).into(), &actor, now)?.id,
            ));
        }
        Ok((id, locations))
    };
    let (smile, smile_offices) = practice(
        conn,
        "Smile Dental Group",
        "billing@smiledental.example",
        "America/Chicago",
        &["Main Street", "Lakeside"],
    )?;
    let (sakura, sakura_offices) = practice(
        conn,
        "Sakura Family Dentistry",
        "office@sakura-dental.example",
        "Asia/Tokyo",
        &["Shibuya"],
    )?;
    let (bright, bright_offices) = practice(
        conn,
        "Bright Teeth Boston",
        "accounts@brightteeth.example",
        "America/New_York",
        &["Back Bay", "Cambridge"],
    )?;
    let (harbour, harbour_offices) = practice(
        conn,
        "Harbour Orthodontics",
        "finance@harbour-ortho.example",
        "America/Los_Angeles",
        &["Pier 39"],
    )?;

    // Add-ons are priced per practice before they are granted.
    let agreed = |conn: &mut Db, account: AccountId, add_on: AddOn, cents: i64| -> Result<()> {
        let change = prices::PriceChange {
            item: Item::AddOn(add_on),
            monthly: Money::from_cents(cents),
            from: closed.prev().first_day(),
        };
        prices::set_account_price(conn, account, change, &actor, now).map(|_| ())
    };
    agreed(conn, smile, AddOn::TextingAsap, 1200)?;
    agreed(conn, bright, AddOn::Enterprise, 2500)?;

    // History starts in the closed month: instants relative to its start in UTC.
    let start = closed.start(chrono_tz::Tz::UTC);
    let day = |d: i64, h: i64| start + Duration::days(d) + Duration::hours(h);
    let mut count = 0;
    let mut key = |conn: &mut Db,
                   account,
                   developer,
                   perms: &str,
                   label: &str,
                   location,
                   history: &[(DateTime<Utc>, Change)]|
     -> Result<()> {
        let input = keys::NewKey {
            account,
            developer,
            permissions: perms
                .parse()
                .map_err(|e: crate::policy::UnknownPermission| Error::Internal(e.to_string()))?,
            label: label.into(),
            effective_at: Some(day(0, 0)),
        };
        let (k, _) = keys::create(conn, input, &actor, now)?;
        keys::change(
            conn,
            k.id,
            Change::LocationSet(Some(location)),
            Some(day(0, 1)),
            "",
            &actor,
            now,
        )?;
        for (at, change) in history {
            keys::change(conn, KeyId(k.id.0), *change, Some(*at), "", &actor, now)?;
        }
        count += 1;
        Ok(())
    };
    key(
        conn,
        smile,
        acme,
        "ReadAll,Comm,Appointments,Patients",
        "Scheduling",
        smile_offices[0],
        &[(day(2, 15), Change::Enabled)],
    )?;
    key(
        conn,
        smile,
        chairside,
        "ReadAll,Comm,TextingASAP",
        "Reminders",
        smile_offices[1],
        &[(day(5, 14), Change::Enabled)],
    )?;
    key(
        conn,
        smile,
        ledgerlink,
        "ReadAll,Payments,PayPlans",
        "Payments",
        smile_offices[0],
        &[
            (day(10, 16), Change::Enabled),
            (day(20, 18), Change::Disabled(DisabledBy::Customer)),
            (day(33, 15), Change::Enabled),
        ],
    )?;
    key(
        conn,
        sakura,
        acme,
        "ReadAll",
        "Read-only sync",
        sakura_offices[0],
        &[(day(1, 0), Change::Enabled)],
    )?;
    key(
        conn,
        sakura,
        chairside,
        "ReadAll,Comm,Documents",
        "Reminders",
        sakura_offices[0],
        &[
            (day(12, 3), Change::Enabled),
            (
                day(40, 3),
                Change::PermissionsSet(
                    "ReadAll,Comm,Documents,Appointments"
                        .parse()
                        .expect("valid"),
                ),
            ),
        ],
    )?;
    key(
        conn,
        bright,
        acme,
        "ReadAll,AllOthers,Appointments,Insurance,Enterprise",
        "Enterprise sync",
        bright_offices[0],
        &[(day(0, 14), Change::Enabled)],
    )?;
    key(
        conn,
        bright,
        ledgerlink,
        "ReadAll,Payments",
        "Card payments",
        bright_offices[1],
        &[
            (day(8, 15), Change::Enabled),
            (day(36, 15), Change::Disabled(DisabledBy::Developer)),
        ],
    )?;
    key(
        conn,
        harbour,
        chairside,
        "ReadAll,Comm",
        "Reminders",
        harbour_offices[0],
        &[(day(18, 20), Change::Enabled)],
    )?;
    key(
        conn,
        harbour,
        acme,
        "ReadAll",
        "Pending rollout",
        harbour_offices[0],
        &[],
    )?;

    // The closed month is billed and issued; last month waits as drafts.
    let mut progress = |_: usize, _: usize| {};
    let run = invoices::bill_run(conn, closed, None, &actor, now, &mut progress)?;
    let mut issued = Vec::new();
    for id in run.invoice_ids {
        issued.push(
            invoices::issue(conn, crate::ids::InvoiceId(id), settings, &actor, now)?
                .invoice
                .number
                .unwrap_or_default(),
        );
    }
    let drafts = invoices::bill_run(conn, last, None, &actor, now, &mut progress)?.created;
    Ok(Some(Loaded {
        developers: 3,
        practices: 4,
        keys: count,
        issued,
        drafts,
    }))
}
