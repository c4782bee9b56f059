//! Bill-run benchmark: generates N keys over 0.3·N accounts with realistic ledgers
//! (about three events each in the month), then times a full bill run of that month.
//! Both sizes and both backends run side by side in one process.
//!
//!   cargo bench --bench billrun
//!   KEYBILL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres cargo bench --bench billrun
//!   KEYBILL_BENCH_SIZES=10000,100000 (default)

use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keybill::calendar::Month;
use keybill::store::schema::{account_prices, accounts, developers, key_events, keys, locations};
use keybill::store::{invoices, Db, Store};
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
fn generate(conn: &mut Db, n_keys: usize) -> usize {
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

struct Row {
    backend: &'static str,
    keys: usize,
    accounts: usize,
    events: usize,
    invoices: usize,
    seconds: f64,
    rerun_seconds: f64,
}

fn bench(backend: &'static str, url: &str, n_keys: usize) -> Row {
    let store = Store::open(url).unwrap();
    let mut conn = store.conn().unwrap();
    let events = generate(&mut conn, n_keys);
    let month = Month::parse("2026-10").unwrap();
    if let (Db::Postgres(c), Ok(ms)) = (&mut *conn, std::env::var("KEYBILL_BENCH_LOG_SLOW_MS")) {
        c.batch_execute(&format!("SET log_min_duration_statement = {ms}"))
            .unwrap();
    }
    let actor = keybill::store::audit::Actor::cli();
    let start = Instant::now();
    let summary = invoices::bill_run(
        &mut conn,
        month,
        None,
        &actor,
        chrono::Utc::now(),
        &mut |_, _| {},
    )
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert!(summary.failures.is_empty());
    let start = Instant::now();
    let rerun = invoices::bill_run(
        &mut conn,
        month,
        None,
        &actor,
        chrono::Utc::now(),
        &mut |_, _| {},
    )
    .unwrap();
    let rerun_seconds = start.elapsed().as_secs_f64();
    assert_eq!(
        rerun.unchanged, summary.created,
        "an unchanged re-run changes nothing"
    );
    Row {
        backend,
        keys: n_keys,
        accounts: summary.accounts,
        events,
        invoices: summary.created,
        seconds,
        rerun_seconds,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("KEYBILL_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("keybill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    for &n in &sizes {
        let path = dir.join(format!("bench-{n}.db"));
        rows.push(bench("SQLite", &format!("sqlite://{}", path.display()), n));
        if let Ok(admin) = std::env::var("KEYBILL_BENCH_POSTGRES_URL") {
            let name = format!("keybill_bench_{n}");
            let mut a = diesel::PgConnection::establish(&admin).unwrap();
            a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap();
            a.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            rows.push(bench("PostgreSQL", &format!("{base}/{name}"), n));
            if std::env::var_os("KEYBILL_BENCH_KEEP").is_none() {
                a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .unwrap();
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "| backend | keys | accounts | events | invoices | bill run | per key | unchanged re-run |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} s | {:.1} µs | {:.2} s |",
            r.backend,
            r.keys,
            r.accounts,
            r.events,
            r.invoices,
            r.seconds,
            r.seconds * 1e6 / r.keys as f64,
            r.rerun_seconds
        );
    }
    for backend in ["SQLite", "PostgreSQL"] {
        let of = |n: usize| rows.iter().find(|r| r.backend == backend && r.keys == n);
        if let (Some(small), Some(large)) = (of(sizes[0]), of(*sizes.last().unwrap())) {
            let ratio = (large.seconds / large.keys as f64) / (small.seconds / small.keys as f64);
            println!(
                "{backend}: per-key cost at {} keys is {ratio:.2}x the cost at {} keys",
                large.keys, small.keys
            );
        }
    }
}
