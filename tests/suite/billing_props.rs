//! Property tests of the billing rules on random ledgers, zones and months.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use keybill::billing::{compute, AccountMonth, Charges, KeyLedger};
use keybill::calendar::Month;
use keybill::ids::{KeyId, LocationId};
use keybill::ledger::{self, Change, DisabledBy, Event};
use keybill::money::Money;
use keybill::policy::{AddOn, Item, PermissionSet, Tier};
use keybill::pricing::{DatedPrice, PriceBook};
use proptest::prelude::*;
use rust_decimal::Decimal;

const ZONES: [&str; 5] = [
    "UTC",
    "America/Chicago",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/St_Johns",
];
const MONTHS: [&str; 6] = [
    "2026-02", "2028-02", "2026-03", "2026-11", "2026-12", "2026-04",
];
const SETS: [&str; 6] = [
    "ReadAll",
    "ReadAll,Comm",
    "Appointments",
    "ReadAll,Payments",
    "Comm,TextingASAP",
    "Patients,Enterprise",
];

fn book() -> PriceBook {
    let d = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let mut list: Vec<DatedPrice> = Tier::ALL
        .into_iter()
        .map(|t| DatedPrice {
            item: Item::Tier(t),
            from: d,
            monthly: t.default_list_price(),
        })
        .collect();
    // A list price change that falls inside some of the months.
    list.push(DatedPrice {
        item: Item::Tier(Tier::Standard),
        from: NaiveDate::from_ymd_opt(2026, 11, 17).unwrap(),
        monthly: Money::from_cents(3199),
    });
    let account = vec![
        DatedPrice {
            item: Item::AddOn(AddOn::TextingAsap),
            from: d,
            monthly: Money::from_cents(1299),
        },
        DatedPrice {
            item: Item::AddOn(AddOn::Enterprise),
            from: d,
            monthly: Money::from_cents(2001),
        },
    ];
    PriceBook::new(list, account)
}

/// One random change at an offset (in minutes) from a few days before the month.
#[derive(Debug, Clone)]
enum Op {
    Enable,
    Disable,
    Permissions(usize),
    Move(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Enable),
        2 => Just(Op::Disable),
        1 => (0..SETS.len()).prop_map(Op::Permissions),
        1 => (1..=2i64).prop_map(Op::Move),
    ]
}

/// A key: index into SETS, location, and changes at minute offsets.
type KeyPlan = (usize, i64, Vec<(i64, Op)>);

#[derive(Debug, Clone)]
struct Case {
    zone: &'static str,
    month: &'static str,
    keys: Vec<KeyPlan>,
}

fn case() -> impl Strategy<Value = Case> {
    let key = (
        0..SETS.len(),
        1..=2i64,
        proptest::collection::vec((0i64..(36 * 24 * 60), op()), 0..8),
    );
    (
        0..ZONES.len(),
        0..MONTHS.len(),
        proptest::collection::vec(key, 1..4),
    )
        .prop_map(|(z, m, keys)| Case {
            zone: ZONES[z],
            month: MONTHS[m],
            keys,
        })
}

impl Case {
    fn tz(&self) -> Tz {
        self.zone.parse().unwrap()
    }

    fn month(&self) -> Month {
        Month::parse(self.month).unwrap()
    }

    fn origin(&self) -> DateTime<Utc> {
        self.month().start(self.tz()) - Duration::days(3)
    }

    fn ledgers(&self) -> Vec<KeyLedger> {
        let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        self.keys
            .iter()
            .enumerate()
            .map(|(i, (set, loc, ops))| {
                let mut events = vec![
                    Event {
                        at: t0,
                        change: Change::Created {
                            permissions: SETS[*set].parse().unwrap(),
                        },
                    },
                    Event {
                        at: t0,
                        change: Change::LocationSet(Some(LocationId(*loc))),
                    },
                ];
                for (minutes, op) in ops {
                    let at = self.origin() + Duration::minutes(*minutes);
                    let change = match op {
                        Op::Enable => Change::Enabled,
                        Op::Disable => Change::Disabled(DisabledBy::Staff),
                        Op::Permissions(s) => Change::PermissionsSet(SETS[*s].parse().unwrap()),
                        Op::Move(l) => Change::LocationSet(Some(LocationId(*l))),
                    };
                    events.push(Event { at, change });
                }
                ledger::sort(&mut events);
                KeyLedger {
                    key: KeyId(i as i64 + 1),
                    events,
                }
            })
            .collect()
    }

    fn charges(&self, ledgers: &[KeyLedger]) -> Option<Charges> {
        compute(&AccountMonth {
            tz: self.tz(),
            month: self.month(),
            keys: ledgers,
            prices: &book(),
        })
        .unwrap()
    }
}

fn by_location(c: &Charges) -> BTreeMap<LocationId, Vec<&keybill::billing::Line>> {
    let mut m: BTreeMap<LocationId, Vec<_>> = BTreeMap::new();
    for l in &c.lines {
        m.entry(l.location).or_default().push(l);
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn a_location_never_pays_more_than_its_highest_prices(case in case()) {
        let Some(c) = case.charges(&case.ledgers()) else { return Ok(()) };
        for (location, lines) in by_location(&c) {
            let highest_tier = lines.iter().filter(|l| matches!(l.item, Item::Tier(_))).map(|l| l.monthly_price).max().unwrap_or(Money::ZERO);
            let add_ons: Money = AddOn::ALL
                .into_iter()
                .filter_map(|a| lines.iter().filter(|l| l.item == Item::AddOn(a)).map(|l| l.monthly_price).max())
                .sum();
            let total = c.location_total(location);
            prop_assert!(total <= highest_tier + add_ons, "{location:?}: {total} > {highest_tier} + {add_ons}");
        }
    }

    #[test]
    fn lines_sum_to_the_rounded_location_total_and_stay_within_a_cent(case in case()) {
        let Some(c) = case.charges(&case.ledgers()) else { return Ok(()) };
        for (location, lines) in by_location(&c) {
            let exact: Decimal = lines.iter().map(|l| l.exact).sum();
            prop_assert_eq!(c.location_total(location), Money::round(exact).unwrap());
            for l in &lines {
                let diff = (l.amount.to_decimal() - l.exact).abs();
                prop_assert!(diff < Decimal::new(1, 2), "{l:?}");
                prop_assert_eq!(l.exact, l.monthly_price.to_decimal() * Decimal::from(l.days) / Decimal::from(l.days_in_month));
            }
        }
        prop_assert_eq!(c.total, c.lines.iter().map(|l| l.amount).sum::<Money>());
    }

    #[test]
    fn no_day_is_billed_twice_per_location_and_item_or_tier(case in case()) {
        let Some(c) = case.charges(&case.ledgers()) else { return Ok(()) };
        let mut seen: BTreeSet<(LocationId, Item, NaiveDate)> = BTreeSet::new();
        let mut tier_days: BTreeSet<(LocationId, NaiveDate)> = BTreeSet::new();
        let month = case.month();
        for l in &c.lines {
            let mut count = 0;
            for (first, last) in &l.periods {
                prop_assert!(first <= last && *first >= month.first_day() && *last <= month.last_day());
                for d in first.iter_days().take_while(|d| d <= last) {
                    prop_assert!(seen.insert((l.location, l.item, d)), "{:?} {:?} {d} twice", l.location, l.item);
                    if matches!(l.item, Item::Tier(_)) {
                        prop_assert!(tier_days.insert((l.location, d)), "two tiers on {d}");
                    }
                    count += 1;
                }
            }
            prop_assert_eq!(count, l.days);
        }
    }

    #[test]
    fn splitting_an_interval_at_any_instant_changes_nothing(case in case(), key in 0usize..4, at in 0i64..(36 * 24 * 60 * 60)) {
        let ledgers = case.ledgers();
        let key = key % ledgers.len();
        let instant = case.origin() + Duration::seconds(at);
        let mut split = ledgers.clone();
        // A change that restates the key's state at that instant splits whatever span it
        // falls in without changing it.
        if let Some(state) = ledger::state_at(&split[key].events, instant) {
            let events = &mut split[key].events;
            events.push(Event { at: instant, change: Change::PermissionsSet(state.permissions) });
            events.push(Event { at: instant, change: Change::LocationSet(state.location) });
            ledger::sort(events);
            prop_assert_eq!(case.charges(&ledgers), case.charges(&split));
        }
    }

    #[test]
    fn a_constant_full_month_equals_the_monthly_price(zone in 0..ZONES.len(), month in 0..MONTHS.len(), set in 0..SETS.len()) {
        let case = Case { zone: ZONES[zone], month: MONTHS[month], keys: vec![] };
        let permissions: PermissionSet = SETS[set].parse().unwrap();
        let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let ledgers = vec![KeyLedger { key: KeyId(1), events: vec![
            Event { at: t0, change: Change::Created { permissions } },
            Event { at: t0, change: Change::LocationSet(Some(LocationId(1))) },
            Event { at: case.month().start(case.tz()), change: Change::Enabled },
            Event { at: case.month().end(case.tz()), change: Change::Disabled(DisabledBy::Customer) },
        ]}];
        let c = case.charges(&ledgers).unwrap();
        let m = case.month();
        let price = |item: Item| book().monthly(item, m.first_day()).unwrap();
        let constant = book().monthly(Item::Tier(Tier::of(permissions)), m.last_day()) == Some(price(Item::Tier(Tier::of(permissions))));
        if constant {
            let expected: Money = std::iter::once(Item::Tier(Tier::of(permissions)))
                .chain(AddOn::of(permissions).map(Item::AddOn))
                .map(price)
                .sum();
            prop_assert_eq!(c.total, expected);
            prop_assert!(c.lines.iter().all(|l| l.days == m.days()));
        }
    }
}

/// The properties above are only as good as the cases: most must bill something,
/// with several lines.
#[test]
fn the_generator_produces_billed_months_with_several_lines() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut billed, mut multi_line) = (0, 0);
    for _ in 0..300 {
        let case = case().new_tree(&mut runner).unwrap().current();
        if let Some(c) = case.charges(&case.ledgers()) {
            billed += 1;
            if c.lines.len() > 1 {
                multi_line += 1;
            }
        }
    }
    assert!(billed > 150, "only {billed} of 300 cases billed anything");
    assert!(
        multi_line > 60,
        "only {multi_line} of 300 cases had several lines"
    );
}
