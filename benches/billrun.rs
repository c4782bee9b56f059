//! Bill-run benchmark: generates N keys over 0.3·N accounts with realistic ledgers
//! (about three events each in the month), then times a full bill run of that month.
//! Both sizes and both backends run side by side in one process.
//!
//!   cargo bench --bench billrun
//!   KEYBILL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres cargo bench --bench billrun
//!   KEYBILL_BENCH_SIZES=10000,100000 (default)

use std::time::Instant;

#[path = "common/generate.rs"]
mod generate;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use generate::generate;
use keybill::calendar::Month;
use keybill::store::{invoices, Db, Store};

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
