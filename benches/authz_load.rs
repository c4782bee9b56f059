//! Load benchmark of the check endpoint against nginx's `return 204`, side by side in
//! one run (see BENCHMARKS.md): 100,000 keys in the database, requests spread over all
//! of them, wrk alternating between the two servers. Needs `wrk` and `nginx`.
//!
//!   cargo bench --bench authz_load
//!   KEYBILL_LOAD_SECONDS=10 KEYBILL_LOAD_ROUNDS=2 KEYBILL_LOAD_CONNECTIONS=32

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use keybill::secrets;
use keybill::store::schema::{accounts, developers, keys, locations};
use keybill::store::{Db, Store};

const KEYS: usize = 100_000;
const DEVELOPERS: usize = 20;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// 100,000 enabled, assigned keys whose secrets the load script can compute.
fn fill(url: &str) {
    let store = Store::open(url).unwrap();
    let mut conn = store.conn().unwrap();
    let at = NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    conn.batch_execute("BEGIN").unwrap();
    let devs: Vec<_> = (0..DEVELOPERS)
        .map(|d| {
            (
                developers::id.eq(d as i64 + 1),
                developers::name.eq(format!("Developer {d}")),
                developers::email.eq(format!("dev{d}@bench.test")),
                developers::key_hash.eq(secrets::hash(&format!("benchdev{d}"))),
                developers::key_prefix.eq("bench"),
                developers::created_at.eq(at),
            )
        })
        .collect();
    batch_insert!(&mut *conn, developers::table, devs);
    let n_accounts = KEYS / 3;
    let accts: Vec<_> = (0..n_accounts)
        .map(|a| {
            (
                accounts::id.eq(a as i64 + 1),
                accounts::name.eq(format!("Practice {a}")),
                accounts::billing_email.eq(format!("b{a}@bench.test")),
                accounts::time_zone.eq("UTC"),
                accounts::created_at.eq(at),
            )
        })
        .collect();
    batch_insert!(&mut *conn, accounts::table, accts);
    let locs: Vec<_> = (0..n_accounts)
        .map(|a| {
            (
                locations::id.eq(a as i64 + 1),
                locations::account_id.eq(a as i64 + 1),
                locations::name.eq("Office"),
                locations::created_at.eq(at),
            )
        })
        .collect();
    batch_insert!(&mut *conn, locations::table, locs);
    let rows: Vec<_> = (0..KEYS)
        .map(|i| {
            let account = (i % n_accounts) as i64 + 1;
            (
                keys::id.eq(i as i64 + 1),
                keys::account_id.eq(account),
                keys::developer_id.eq((i % DEVELOPERS) as i64 + 1),
                keys::key_hash.eq(secrets::hash(&format!("benchkey{i:024}"))),
                keys::key_prefix.eq("bench"),
                keys::permissions.eq("ReadAll,Comm,Appointments"),
                keys::status.eq("enabled"),
                keys::location_id.eq(Some(account)),
                keys::version.eq(1),
                keys::created_at.eq(at),
                keys::updated_at.eq(at),
            )
        })
        .collect();
    batch_insert!(&mut *conn, keys::table, rows);
    conn.batch_execute("COMMIT").unwrap();
}

/// wrk's script: each request a different key, a mix of real routes.
fn wrk_script(mode: &str, keys: usize) -> String {
    format!(
        r#"local paths = {{ {{"PUT", "/api/v1/appointments/5/Break"}}, {{"GET", "/api/v1/patients?Limit=100"}},
  {{"PUT", "/api/v1/appointments/34"}}, {{"GET", "/api/v1/appointments/Slots"}} }}
local i = 0
function init(args) i = math.random(0, {keys} - 1) end
function request()
  i = (i + 7919) % {keys}
  local p = paths[(i % 4) + 1]
  wrk.headers["Authorization"] = string.format("ODFHIR benchdev%d/benchkey%024d", i % {DEVELOPERS}, i)
  wrk.headers["X-Original-Method"] = p[1]
  wrk.headers["X-Original-URI"] = p[2]
  wrk.headers["X-Keybill-Mode"] = "{mode}"
  return wrk.format("GET", "/authz")
end
"#
    )
}

#[derive(Debug, Default, Clone)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    errors: u64,
}

fn millis(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap() / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap()
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap() * 1000.0
    } else {
        f64::NAN
    }
}

fn wrk(url: &str, script: &std::path::Path, seconds: u64, connections: u64) -> Load {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut load = Load::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => load.rps = v.parse().unwrap(),
            ["50%", v] => load.p50_ms = millis(v),
            ["99%", v] => load.p99_ms = millis(v),
            ["Non-2xx", "or", "3xx", "responses:", v] => load.non_2xx = v.parse().unwrap(),
            ["Socket", "errors:", rest @ ..] => {
                load.errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum()
            }
            _ => {}
        }
    }
    load
}

fn wait_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let seconds = env("KEYBILL_LOAD_SECONDS", 10);
    let rounds = env("KEYBILL_LOAD_ROUNDS", 2);
    let connections = env("KEYBILL_LOAD_CONNECTIONS", 32);
    let dir = std::env::temp_dir().join(format!("keybill-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("load.db").display());
    let started = Instant::now();
    fill(&db);
    eprintln!(
        "filled {KEYS} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let nginx_port = port();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
             server {{ listen 127.0.0.1:{nginx_port}; location / {{ return 204; }} }} }}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let _nginx = Kill(
        Command::new("nginx")
            .args([
                "-p",
                &dir.display().to_string(),
                "-c",
                &dir.join("nginx.conf").display().to_string(),
                "-e",
                "stderr",
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_port(nginx_port);

    let keybill_port = port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keybill"))
        .args(["serve", "--bind", &format!("127.0.0.1:{keybill_port}")])
        .env("KEYBILL_DATABASE_URL", &db)
        .env("KEYBILL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keybill");
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    let keybill = Kill(child);
    wait_port(keybill_port);
    let pid = keybill.0.id();
    let idle_mb = peak_rss_mb(pid);

    let local = dir.join("local.lua");
    std::fs::write(&local, wrk_script("local", KEYS)).unwrap();
    let remote = dir.join("remote.lua");
    // Few keys, so most answers are 429: the throttled path must be as cheap.
    std::fs::write(&remote, wrk_script("remote", 64)).unwrap();

    let mut ng = Vec::new();
    let mut kb = Vec::new();
    for _ in 0..rounds {
        ng.push(wrk(
            &format!("http://127.0.0.1:{nginx_port}/authz"),
            &local,
            seconds,
            connections,
        ));
        kb.push(wrk(
            &format!("http://127.0.0.1:{keybill_port}/authz"),
            &local,
            seconds,
            connections,
        ));
    }
    let throttled = wrk(
        &format!("http://127.0.0.1:{keybill_port}/authz"),
        &remote,
        seconds,
        connections,
    );
    let peak_mb = peak_rss_mb(pid);
    let _ = std::fs::remove_dir_all(&dir);

    let mean = |v: &[Load], f: fn(&Load) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (n_rps, k_rps) = (mean(&ng, |l| l.rps), mean(&kb, |l| l.rps));
    let (n_p50, k_p50) = (mean(&ng, |l| l.p50_ms), mean(&kb, |l| l.p50_ms));
    let (n_p99, k_p99) = (mean(&ng, |l| l.p99_ms), mean(&kb, |l| l.p99_ms));
    let errors: u64 = kb.iter().map(|l| l.errors + l.non_2xx).sum();
    println!("wrk -t1 -c{connections} -d{seconds}s, {rounds} alternating rounds each, {KEYS} keys (local mode)");
    println!("| server | requests/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|");
    println!(
        "| nginx `return 204` | {n_rps:.0} | {n_p50:.2} ms | {n_p99:.2} ms | {} |",
        ng.iter().map(|l| l.errors).sum::<u64>()
    );
    println!("| keybill /authz | {k_rps:.0} | {k_p50:.2} ms | {k_p99:.2} ms | {errors} |");
    println!(
        "| ratio keybill/nginx | {:.2}x | {:.2}x | {:.2}x | |",
        k_rps / n_rps,
        k_p50 / n_p50,
        k_p99 / n_p99
    );
    println!(
        "remote mode, 64 keys (mostly 429): {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} of them not 2xx, {} socket errors",
        throttled.rps, throttled.p50_ms, throttled.p99_ms, throttled.non_2xx, throttled.errors
    );
    println!("keybill memory with {KEYS} keys: {idle_mb:.0} MB after start, {peak_mb:.0} MB peak (VmHWM)");
}
