//! Scenarios with pinned instants: zones, month ends, DST, toggles, moves, prices.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::ledger::{Change, DisabledBy};
use crate::policy::PermissionSet;
use crate::pricing::DatedPrice;

fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

/// A local wall-clock instant in `zone`.
fn local(zone: &str, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz(zone)
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn perms(s: &str) -> PermissionSet {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn list_book() -> PriceBook {
    PriceBook::new(
        Tier::ALL
            .into_iter()
            .map(|t| DatedPrice {
                item: Item::Tier(t),
                from: date("2000-01-01"),
                monthly: t.default_list_price(),
            })
            .collect(),
        vec![],
    )
}

const L1: LocationId = LocationId(1);
const L2: LocationId = LocationId(2);

/// A key created (with `p`) and assigned to `loc` long before, enabled at `on`.
fn key(id: i64, p: &str, loc: LocationId, toggles: &[(DateTime<Utc>, Change)]) -> KeyLedger {
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut events = vec![
        Event {
            at: t0,
            change: Change::Created {
                permissions: perms(p),
            },
        },
        Event {
            at: t0,
            change: Change::LocationSet(Some(loc)),
        },
    ];
    events.extend(toggles.iter().map(|(at, change)| Event {
        at: *at,
        change: *change,
    }));
    ledger::sort(&mut events);
    KeyLedger {
        key: KeyId(id),
        events,
    }
}

fn run(zone: &str, month: &str, keys: &[KeyLedger], prices: &PriceBook) -> Option<Charges> {
    compute(&AccountMonth {
        tz: tz(zone),
        month: Month::parse(month).unwrap(),
        keys,
        prices,
    })
    .unwrap()
}

fn summary(c: &Charges) -> Vec<(i64, &'static str, String, u32, String)> {
    c.lines
        .iter()
        .map(|l| {
            (
                l.location.0,
                l.item.as_str(),
                l.monthly_price.to_string(),
                l.days,
                l.amount.to_string(),
            )
        })
        .collect()
}

#[test]
fn a_whole_month_at_one_price_is_exactly_the_price() {
    for (zone, month) in [
        ("America/Chicago", "2026-03"),
        ("Asia/Tokyo", "2026-02"),
        ("UTC", "2028-02"),
        ("UTC", "2026-01"),
    ] {
        let m = Month::parse(month).unwrap();
        let on = m.start(tz(zone));
        let k = key(1, "ReadAll,Comm", L1, &[(on, Change::Enabled)]);
        let c = run(zone, month, &[k], &list_book()).unwrap();
        assert_eq!(
            summary(&c),
            [(1, "basic", "15.00".into(), m.days(), "15.00".into())],
            "{zone} {month}"
        );
        assert_eq!(c.lines[0].periods, [(m.first_day(), m.last_day())]);
    }
}

#[test]
fn february_2028_has_29_days_and_2026_has_28() {
    let on = local("UTC", 2028, 2, 15, 9, 0);
    let k = key(1, "ReadAll,Appointments", L1, &[(on, Change::Enabled)]);
    let c = run("UTC", "2028-02", &[k], &list_book()).unwrap();
    // 15th..29th = 15 days of 29 at $30: 15.5172... -> 15.52
    assert_eq!(
        summary(&c),
        [(1, "standard", "30.00".into(), 15, "15.52".into())]
    );
    assert_eq!(c.lines[0].days_in_month, 29);
    let on = local("UTC", 2026, 2, 15, 9, 0);
    let k = key(1, "ReadAll,Appointments", L1, &[(on, Change::Enabled)]);
    let c = run("UTC", "2026-02", &[k], &list_book()).unwrap();
    // 15th..28th = 14 of 28 at $30 = 15.00
    assert_eq!(
        summary(&c),
        [(1, "standard", "30.00".into(), 14, "15.00".into())]
    );
}

#[test]
fn midnight_is_half_open() {
    let zone = "America/Chicago";
    let enable = local(zone, 2026, 3, 10, 0, 0);
    let disable = local(zone, 2026, 3, 20, 0, 0);
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (enable, Change::Enabled),
            (disable, Change::Disabled(DisabledBy::Customer)),
        ],
    );
    let c = run(zone, "2026-03", &[k], &list_book()).unwrap();
    // Billed the 10th through the 19th: the 20th starts disabled.
    assert_eq!(
        c.lines[0].periods,
        [(date("2026-03-10"), date("2026-03-19"))]
    );
    assert_eq!(c.lines[0].days, 10);
    // One microsecond more and the 20th is billed too.
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (enable, Change::Enabled),
            (
                disable + Duration::microseconds(1),
                Change::Disabled(DisabledBy::Customer),
            ),
        ],
    );
    assert_eq!(
        run(zone, "2026-03", &[k], &list_book()).unwrap().lines[0].days,
        11
    );
}

#[test]
fn the_day_dst_ends_in_chicago_is_one_local_day() {
    // 2026-11-01 is 25 hours long in Chicago. A key enabled at 23:30 local that day
    // and disabled at 00:30 the next is billed for both local days.
    let zone = "America/Chicago";
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (local(zone, 2026, 11, 1, 23, 30), Change::Enabled),
            (
                local(zone, 2026, 11, 2, 0, 30),
                Change::Disabled(DisabledBy::Staff),
            ),
        ],
    );
    let c = run(zone, "2026-11", &[k], &list_book()).unwrap();
    assert_eq!(
        c.lines[0].periods,
        [(date("2026-11-01"), date("2026-11-02"))]
    );
    // The same instants seen from Tokyo fall on one local day, Nov 2.
    let c = run(
        "Asia/Tokyo",
        "2026-11",
        &[key(
            1,
            "Comm",
            L1,
            &[
                (local(zone, 2026, 11, 1, 23, 30), Change::Enabled),
                (
                    local(zone, 2026, 11, 2, 0, 30),
                    Change::Disabled(DisabledBy::Staff),
                ),
            ],
        )],
        &list_book(),
    )
    .unwrap();
    assert_eq!(
        c.lines[0].periods,
        [(date("2026-11-02"), date("2026-11-02"))]
    );
}

#[test]
fn the_month_is_counted_in_the_account_zone() {
    // Enabled 2026-03-31 20:00 in Chicago = 2026-04-01 01:00 UTC.
    let on = local("America/Chicago", 2026, 3, 31, 20, 0);
    let k = key(1, "Comm", L1, &[(on, Change::Enabled)]);
    let chicago = run(
        "America/Chicago",
        "2026-03",
        std::slice::from_ref(&k),
        &list_book(),
    )
    .unwrap();
    assert_eq!(
        (chicago.lines[0].days, chicago.lines[0].amount.to_string()),
        (1, "0.48".into())
    );
    assert!(run("UTC", "2026-03", std::slice::from_ref(&k), &list_book()).is_none());
    let tokyo_april = run("Asia/Tokyo", "2026-04", &[k], &list_book()).unwrap();
    assert_eq!(tokyo_april.lines[0].days, 30);
}

#[test]
fn toggles_inside_one_day_bill_the_day_once() {
    let zone = "UTC";
    let d = |h| local(zone, 2026, 1, 5, h, 0);
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (d(1), Change::Enabled),
            (d(2), Change::Disabled(DisabledBy::Customer)),
            (d(3), Change::Enabled),
            (d(4), Change::Disabled(DisabledBy::Developer)),
            (d(5), Change::Enabled),
            (d(6), Change::Disabled(DisabledBy::Staff)),
        ],
    );
    let c = run(zone, "2026-01", &[k], &list_book()).unwrap();
    assert_eq!(
        summary(&c),
        [(1, "basic", "15.00".into(), 1, "0.48".into())]
    );
    // Enabled and disabled at the same instant: never billable, no invoice.
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (d(1), Change::Enabled),
            (d(1), Change::Disabled(DisabledBy::Staff)),
        ],
    );
    assert!(run(zone, "2026-01", &[k], &list_book()).is_none());
}

#[test]
fn keys_never_enabled_or_never_assigned_are_not_billed() {
    let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let pending = key(1, "Payments", L1, &[]);
    let unassigned = KeyLedger {
        key: KeyId(2),
        events: vec![
            Event {
                at: t0,
                change: Change::Created {
                    permissions: perms("Payments"),
                },
            },
            Event {
                at: t0,
                change: Change::Enabled,
            },
        ],
    };
    assert!(run("UTC", "2026-01", &[pending, unassigned], &list_book()).is_none());
}

#[test]
fn the_highest_tier_of_the_day_wins_and_upgrades_split_lines() {
    let zone = "UTC";
    // Upgrade at noon on the 11th, downgrade at noon on the 21st.
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (local(zone, 2026, 4, 1, 0, 0), Change::Enabled),
            (
                local(zone, 2026, 4, 11, 12, 0),
                Change::PermissionsSet(perms("Comm,Payments")),
            ),
            (
                local(zone, 2026, 4, 21, 12, 0),
                Change::PermissionsSet(perms("Comm")),
            ),
        ],
    );
    let c = run(zone, "2026-04", &[k], &list_book()).unwrap();
    // Basic: 1-10 and 22-30 (19 days); full: 11-21 (11 days, both switch days).
    assert_eq!(
        summary(&c),
        [
            (1, "basic", "15.00".into(), 19, "9.50".into()),
            (1, "full", "35.00".into(), 11, "12.83".into())
        ]
    );
    assert_eq!(
        c.lines[0].periods,
        [
            (date("2026-04-01"), date("2026-04-10")),
            (date("2026-04-22"), date("2026-04-30"))
        ]
    );
    // 9.50 + 12.8333 = 22.3333 -> 22.33
    assert_eq!(c.total.to_string(), "22.33");

    // Two keys at one location: the higher tier that day; a second location apart.
    let a = key(
        1,
        "ReadAll",
        L1,
        &[(local(zone, 2026, 4, 1, 0, 0), Change::Enabled)],
    );
    let b = key(
        2,
        "Patients",
        L1,
        &[(local(zone, 2026, 4, 16, 0, 0), Change::Enabled)],
    );
    let c2 = key(
        3,
        "Queries",
        L2,
        &[(local(zone, 2026, 4, 1, 0, 0), Change::Enabled)],
    );
    let c = run(zone, "2026-04", &[a, b, c2], &list_book()).unwrap();
    assert_eq!(
        summary(&c),
        [
            (1, "free", "0.00".into(), 15, "0.00".into()),
            (1, "standard", "30.00".into(), 15, "15.00".into()),
            (2, "basic", "15.00".into(), 30, "15.00".into()),
        ]
    );
}

#[test]
fn a_location_move_bills_both_locations_on_the_moving_day() {
    let zone = "Asia/Tokyo";
    let k = key(
        1,
        "Comm",
        L1,
        &[
            (local(zone, 2026, 5, 1, 0, 0), Change::Enabled),
            (
                local(zone, 2026, 5, 11, 15, 0),
                Change::LocationSet(Some(L2)),
            ),
        ],
    );
    let c = run(zone, "2026-05", &[k], &list_book()).unwrap();
    assert_eq!(
        c.lines[0].periods,
        [(date("2026-05-01"), date("2026-05-11"))]
    );
    assert_eq!(
        c.lines[1].periods,
        [(date("2026-05-11"), date("2026-05-31"))]
    );
    assert_eq!((c.lines[0].location, c.lines[1].location), (L1, L2));
}

#[test]
fn price_changes_mid_month_and_account_prices_and_add_ons() {
    let zone = "UTC";
    let mut list: Vec<DatedPrice> = Tier::ALL
        .into_iter()
        .map(|t| DatedPrice {
            item: Item::Tier(t),
            from: date("2000-01-01"),
            monthly: t.default_list_price(),
        })
        .collect();
    list.push(DatedPrice {
        item: Item::Tier(Tier::Standard),
        from: date("2026-07-16"),
        monthly: Money::from_cents(3100),
    });
    let account = vec![
        DatedPrice {
            item: Item::AddOn(AddOn::Enterprise),
            from: date("2026-01-01"),
            monthly: Money::from_cents(2000),
        },
        DatedPrice {
            item: Item::Tier(Tier::Basic),
            from: date("2026-01-01"),
            monthly: Money::from_cents(1000),
        },
    ];
    let book = PriceBook::new(list, account);
    let k = key(
        1,
        "Appointments,Enterprise",
        L1,
        &[(local(zone, 2026, 7, 1, 0, 0), Change::Enabled)],
    );
    let c = run(zone, "2026-07", &[k], &book).unwrap();
    assert_eq!(
        summary(&c),
        [
            (1, "standard", "30.00".into(), 15, "14.52".into()),
            (1, "enterprise", "20.00".into(), 31, "20.00".into()),
            (1, "standard", "31.00".into(), 16, "16.00".into()),
        ]
    );
    // 14.516 + 20 + 16 = 50.516 -> 50.52, never more than 31 + 20.
    assert_eq!(c.total.to_string(), "50.52");
    // The account's own basic price wins over the list price.
    let k = key(
        1,
        "Comm",
        L1,
        &[(local(zone, 2026, 7, 1, 0, 0), Change::Enabled)],
    );
    assert_eq!(
        run(zone, "2026-07", &[k], &book).unwrap().total.to_string(),
        "10.00"
    );
}

#[test]
fn a_missing_add_on_price_is_an_error_not_a_free_day() {
    let k = key(
        1,
        "ReadAll,TextingASAP",
        L1,
        &[(local("UTC", 2026, 7, 1, 0, 0), Change::Enabled)],
    );
    let err = compute(&AccountMonth {
        tz: tz("UTC"),
        month: Month::parse("2026-07").unwrap(),
        keys: &[k],
        prices: &list_book(),
    })
    .unwrap_err();
    assert!(matches!(
        err,
        BillingError::PriceMissing {
            item: Item::AddOn(AddOn::TextingAsap),
            ..
        }
    ));
}

#[test]
fn allocation_gives_leftover_cents_to_the_largest_remainders() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let cents = |v: Vec<Money>| v.into_iter().map(|m| m.cents()).collect::<Vec<_>>();
    // 3.333 + 3.333 + 3.334 = 10.00: one leftover cent to the largest remainder.
    assert_eq!(
        cents(allocate(&[d("3.333"), d("3.333"), d("3.334")]).unwrap()),
        [333, 333, 334]
    );
    // Ties go to the earlier line.
    assert_eq!(cents(allocate(&[d("0.005"), d("0.005")]).unwrap()), [1, 0]);
    assert_eq!(
        cents(allocate(&[d("1.004"), d("1.004")]).unwrap()),
        [101, 100]
    );
    assert_eq!(cents(allocate(&[]).unwrap()), Vec::<i64>::new());
}

#[test]
fn so_far_counts_the_days_up_to_now_at_the_full_month_rate() {
    let k = key(
        1,
        "Comm",
        L1,
        &[(local("UTC", 2026, 3, 1, 0, 0), Change::Enabled)],
    );
    let input = AccountMonth {
        tz: tz("UTC"),
        month: Month::parse("2026-03").unwrap(),
        keys: std::slice::from_ref(&k),
        prices: &list_book(),
    };
    // On the 10th at noon: ten days billed so far (the 10th is touched), 10/31 of $15.
    let c = compute_until(&input, local("UTC", 2026, 3, 10, 12, 0))
        .unwrap()
        .unwrap();
    assert_eq!(
        summary(&c),
        [(1, "basic", "15.00".into(), 10, "4.84".into())]
    );
    assert_eq!(c.lines[0].days_in_month, 31);
    assert_eq!(
        compute_until(&input, local("UTC", 2026, 4, 5, 0, 0)).unwrap(),
        compute(&input).unwrap()
    );
}
