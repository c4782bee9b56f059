//! The benchmark data set shared by the bill-run and page benchmarks: N keys over
//! 0.3·N accounts with realistic ledgers (about three events each in 2026-10).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keybill::store::schema::{account_prices, accounts, developers, key_events, keys, locations};
use keybill::store::Db;
use rand::{rngs::StdRng, Rng, SeedableRng};

const ZONES: [&str; 4] = ["UTC", "America/Chicago", "Asia/Tokyo", "Europe/Berlin"];
const SETS: [&str; 6] = [
    "ReadAll",
    "ReadAll,Comm",
    "ReadAll,Appointments",
    "ReadAll,Payments",
    "Comm,Enterprise",
    "Patients,TextingASAP",
];

fn at(date: NaiveDate, hour: u32) -> NaiveDateTime {
    date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap())
}

macro_rules! batch_insert {
    ($conn:expr, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks(1000) {
            match $conn {
                Db::Sqlite(c) => diesel::insert_into($table)
                    .values(chunk)
                    .execute(c)
                    .unwrap(),
                Db::Postgres(c) => diesel::insert_into($table)
                    .values(chunk)
                    .execute(c)
                    .unwrap(),
            };
        }
    };
}

/// Fills an empty database; returns the number of key events written.
pub fn generate(conn: &mut Db, n_keys: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(42);
    let n_accounts = n_keys * 3 / 10;
    let created = at(NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(), 0);
    conn.batch_execute("BEGIN").unwrap();
    let devs: Vec<_> = (0..20)
        .map(|i| {
            (
                developers::name.eq(format!("Developer {i}")),
                developers::email.eq(format!("dev{i}@bench.test")),
                developers::key_hash.eq(format!("devhash{i}")),
                developers::key_prefix.eq("bench"),
                developers::created_at.eq(created),
            )
        })
        .collect();
    batch_insert!(&mut *conn, developers::table, devs);
    let accts: Vec<_> = (0..n_accounts)
        .map(|i| {
            (
                accounts::id.eq(i as i64 + 1),
                accounts::name.eq(format!("Practice {i}")),
                accounts::billing_email.eq(format!("billing{i}@bench.test")),
                accounts::time_zone.eq(ZONES[i % ZONES.len()]),
                accounts::created_at.eq(created),
            )
        })
        .collect();
    batch_insert!(&mut *conn, accounts::table, accts);
    // One location per account, a second for every fifth.
    let mut locs = Vec::new();
    let mut first_location = Vec::with_capacity(n_accounts);
    for a in 0..n_accounts {
        first_location.push(locs.len() as i64 + 1);
        for l in 0..(1 + usize::from(a % 5 == 0)) {
            locs.push((
                locations::id.eq(locs.len() as i64 + 1),
                locations::account_id.eq(a as i64 + 1),
                locations::name.eq(format!("Office {l}")),
                locations::created_at.eq(created),
            ));
        }
    }
    batch_insert!(&mut *conn, locations::table, locs);
    let prices: Vec<_> = (0..n_accounts)
        .flat_map(|a| {
            ["texting_asap", "enterprise"].map(|item| {
                (
                    account_prices::account_id.eq(a as i64 + 1),
                    account_prices::item.eq(item),
                    account_prices::monthly_price_cents.eq(1500i64),
                    account_prices::effective_from.eq(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
                    account_prices::created_at.eq(created),
                )
            })
        })
        .collect();
    batch_insert!(&mut *conn, account_prices::table, prices);

    let mut key_rows = Vec::with_capacity(n_keys);
    let mut events = Vec::with_capacity(n_keys * 5);
    for k in 0..n_keys {
        let id = k as i64 + 1;
        let account = k % n_accounts;
        let location = first_location[account] + i64::from(account % 5 == 0 && k % 2 == 0);
        let set = SETS[rng.gen_range(0..SETS.len())];
        key_rows.push((
            keys::id.eq(id),
            keys::account_id.eq(account as i64 + 1),
            keys::developer_id.eq((k % 20) as i64 + 1),
            keys::key_hash.eq(format!("keyhash{k}")),
            keys::key_prefix.eq("bench"),
            keys::permissions.eq(set),
            keys::status.eq("enabled"),
            keys::location_id.eq(Some(location)),
            keys::created_at.eq(created),
            keys::updated_at.eq(created),
        ));
        let event = |kind: &'static str,
                     when: NaiveDateTime,
                     perms: Option<&'static str>,
                     loc: Option<i64>,
                     by: Option<&'static str>| {
            (
                key_events::key_id.eq(id),
                key_events::kind.eq(kind),
                key_events::effective_at.eq(when),
                key_events::recorded_at.eq(when),
                key_events::permissions.eq(perms),
                key_events::location_id.eq(loc),
                key_events::disabled_by.eq(by),
                key_events::actor.eq("bench"),
                key_events::note.eq(""),
            )
        };
        events.push(event("created", created, Some(set), None, None));
        events.push(event("location_set", created, None, Some(location), None));
        let october = |day: u32| NaiveDate::from_ymd_opt(2026, 10, day).unwrap();
        let on = rng.gen_range(1..=20);
        events.push(event(
            "enabled",
            at(october(on), rng.gen_range(0..24)),
            None,
            None,
            None,
        ));
        if rng.gen_bool(0.6) {
            let upgrade = SETS[rng.gen_range(0..SETS.len())];
            events.push(event(
                "permissions_set",
                at(october(on + 3), 12),
                Some(upgrade),
                None,
                None,
            ));
        }
        if rng.gen_bool(0.5) {
            events.push(event(
                "disabled",
                at(october(on + 7), 9),
                None,
                None,
                Some("customer"),
            ));
        }
    }
    batch_insert!(&mut *conn, keys::table, key_rows);
    batch_insert!(&mut *conn, key_events::table, events);
    conn.batch_execute("COMMIT").unwrap();
    if let Db::Postgres(c) = conn {
        c.batch_execute("ANALYZE").unwrap();
        for t in ["developers", "accounts", "locations", "keys"] {
            c.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
            ))
            .unwrap();
        }
    }
    events.len()
}
