//! Staff pages with 100,000 keys (30,000 practices, 30,000 invoices): server time per
//! page, measured from a client on loopback. Target: 50 ms per list page.
//!
//!   cargo bench --bench pages

#[path = "common/generate.rs"]
mod generate;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keybill::calendar::Month;
use keybill::store::{invoices, Store};

const KEYS: usize = 100_000;
const SAMPLES: usize = 30;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("keybill-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("pages.db").display());
    {
        let store = Store::open(&url).unwrap();
        let mut conn = store.conn().unwrap();
        generate::generate(&mut conn, KEYS);
        let actor = keybill::store::audit::Actor::cli();
        invoices::bill_run(
            &mut conn,
            Month::parse("2026-10").unwrap(),
            None,
            &actor,
            chrono::Utc::now(),
            &mut |_, _| {},
        )
        .unwrap();
    }
    let bin = env!("CARGO_BIN_EXE_keybill");
    let out = Command::new(bin)
        .args(["staff", "add", "bench@keybill.test", "--role", "admin"])
        .env("KEYBILL_DATABASE_URL", &url)
        .output()
        .unwrap();
    let password = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut server = Command::new(bin)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("KEYBILL_DATABASE_URL", &url)
        .env("KEYBILL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("the server's address").unwrap();
        if let Some(u) = line.strip_prefix("keybill: listening on ") {
            break u.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let login = match agent
        .post(&format!("{base}/admin/login"))
        .send_form(&[("email", "bench@keybill.test"), ("password", &password)])
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let cookie = login
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let pages = [
        ("dashboard", "/admin"),
        ("practices, first page", "/admin/accounts"),
        ("practices, page 500 of 600", "/admin/accounts?page=500"),
        ("practices, search", "/admin/accounts?q=Practice%2029999"),
        ("practices, newest first", "/admin/accounts?sort=newest"),
        ("practice detail", "/admin/accounts/15000"),
        ("key page", "/admin/keys/50000"),
        ("invoices, first page", "/admin/invoices"),
        (
            "invoices, month + status, page 100",
            "/admin/invoices?month=2026-10&status=draft&page=100",
        ),
        ("invoice detail", "/admin/invoices/20000"),
        ("audit log", "/admin/audit"),
    ];
    println!("{KEYS} keys, 30,000 practices and invoices, SQLite; {SAMPLES} requests per page, one at a time");
    println!("| page | median | p95 | status |");
    println!("|---|---|---|---|");
    for (name, path) in pages {
        let mut times: Vec<Duration> = Vec::with_capacity(SAMPLES);
        let mut status = 0;
        for _ in 0..SAMPLES {
            let start = Instant::now();
            let r = agent
                .get(&format!("{base}{path}"))
                .set("Cookie", &cookie)
                .call();
            let r = match r {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{e}"),
            };
            status = r.status();
            let _ = r.into_string();
            times.push(start.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {status} |",
            ms(times[SAMPLES / 2]),
            ms(times[SAMPLES * 95 / 100])
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
