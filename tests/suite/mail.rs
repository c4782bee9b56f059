//! Statements leave through the outbox: as .eml files by default, through a real SMTP
//! server (aiosmtpd, started by the test when KEYBILL_TEST_SMTP=aiosmtpd) otherwise,
//! exactly once, even when the server is down at first.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Seed, TempDir, TestApp};

/// An issued statement for a practice billed in September (15 of 30 days at $15).
fn issue_one(app: &TestApp) -> String {
    let seed: Seed = app.seed("UTC");
    let key = app.key(&seed, &["ReadAll", "Comm"], Some("2026-01-01T00:00:00Z"));
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id, "effective_at": "2026-01-01T00:00:00Z"}),
    )
    .expect(200);
    app.post(
        &format!("/keys/{id}/enable"),
        json!({"effective_at": "2026-09-16T00:00:00Z"}),
    )
    .expect(200);
    let invoice = app
        .post("/bill-runs", json!({"month": "2026-09"}))
        .expect(201)["invoices"][0]["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/invoices/{invoice}/issue"), json!({}))
        .expect(200)["number"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, seconds: u64, mut found: impl FnMut() -> bool) {
    let start = Instant::now();
    while !found() {
        assert!(
            start.elapsed() < Duration::from_secs(seconds),
            "{what} did not happen within {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_statement(raw: &str, number: &str) {
    let unfolded = raw.replace("\r\n ", " ").replace("\r\n\t", " ");
    assert!(
        unfolded.contains(&format!(
            "Subject: Statement {number} for 2026-09: $7.50 USD"
        )),
        "{raw}"
    );
    assert!(raw.contains("To: billing@smile.test"), "{raw}");
    assert!(
        raw.contains("Message-ID: <") || raw.contains("Message-Id: <"),
        "{raw}"
    );
    assert!(
        raw.contains("text/plain") && raw.contains("text/html"),
        "both bodies"
    );
    assert!(
        raw.contains("15/30 x $15.00 = $7.50"),
        "the arithmetic in the text body"
    );
    assert!(raw.contains("/portal/invoices/"), "a link to the portal");
    assert!(
        raw.contains("application/pdf") && raw.contains(&format!("{number}.pdf")),
        "the PDF is attached"
    );
}

#[test]
fn without_smtp_statements_are_written_as_eml_files() {
    let mail_dir = TempDir::new("mail");
    let dir = mail_dir.0.display().to_string();
    let app = TestApp::start_with(&[
        ("KEYBILL_MAIL_DIR", &dir),
        (
            "KEYBILL_MAIL_FROM",
            "Keybill Billing <billing@keybill.test>",
        ),
    ]);
    let number = issue_one(&app);
    wait_for("the .eml file", 10, || files_in(&mail_dir.0).len() == 1);
    let raw = &files_in(&mail_dir.0)[0];
    assert_statement(raw, &number);
    assert!(
        raw.contains("From: \"Keybill Billing\" <billing@keybill.test>")
            || raw.contains("From: Keybill Billing <billing@keybill.test>"),
        "{raw}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(files_in(&mail_dir.0).len(), 1, "sent once");
}

struct Smtpd(Child);

impl Smtpd {
    fn start(port: u16, maildir: &Path) -> Smtpd {
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd");
        wait_for("aiosmtpd to listen", 15, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Smtpd(child)
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn with_the_smtp_server_down_the_statement_waits_and_arrives_once() {
    match std::env::var("KEYBILL_TEST_SMTP").as_deref() {
        Ok("aiosmtpd") => {}
        _ => {
            eprintln!("note: KEYBILL_TEST_SMTP=aiosmtpd is not set; .ci/run sets it");
            return;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::start_with(&[("KEYBILL_SMTP_URL", &smtp)]);
    // Issuing succeeds with nobody listening; the email waits in the outbox.
    let number = issue_one(&app);
    use diesel::prelude::*;
    diesel::table! { outbox (id) { id -> BigInt, status -> Text, attempts -> BigInt, last_error -> Nullable<Text>, } }
    let state = || -> (String, i64) {
        outbox::table
            .select((outbox::status, outbox::attempts))
            .first(&mut app.db.connect())
            .unwrap()
    };
    wait_for("a failed attempt", 10, || state().1 >= 1);
    assert_eq!(state().0, "failed", "the failure is recorded");
    // ...and visible to staff.
    let staff = app.staff_cookie("root@keybill.test", &app.password);
    let dashboard = app
        .agent
        .get(&app.server.url("/admin"))
        .set("Cookie", &staff)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        dashboard.contains("could not be delivered yet")
            && dashboard.contains("billing@smile.test"),
        "{dashboard}"
    );

    let mailbox = TempDir::new("maildir");
    let maildir = mailbox.0.join("box");
    let _smtpd = Smtpd::start(port, &maildir);
    let new = maildir.join("new");
    wait_for("the statement to arrive", 20, || files_in(&new).len() == 1);
    assert_statement(&files_in(&new)[0], &number);
    wait_for("the row to be marked sent", 5, || state().0 == "sent");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(files_in(&new).len(), 1, "exactly once");
}

#[test]
fn unpaid_statements_get_one_reminder_after_thirty_days() {
    let app = TestApp::start();
    let number = issue_one(&app);
    let settings = keybill::store::invoices::StatementSettings {
        portal_url: "http://portal.test".into(),
    };
    let queue = |days: i64| {
        let when = chrono::Utc::now() + chrono::Duration::days(days);
        keybill::store::invoices::queue_reminders(&mut app.db.connect(), &settings, when).unwrap()
    };
    assert_eq!(queue(29), 0, "not due yet");
    assert_eq!(queue(31), 1);
    assert_eq!(queue(32), 0, "one reminder per invoice");
    use diesel::prelude::*;
    diesel::table! { outbox (id) { id -> BigInt, kind -> Text, subject -> Text, body_text -> Text, } }
    let (subject, text): (String, String) = outbox::table
        .filter(outbox::kind.eq("reminder"))
        .select((outbox::subject, outbox::body_text))
        .first(&mut app.db.connect())
        .unwrap();
    assert_eq!(
        subject,
        format!("Reminder: statement {number} for 2026-09 is past due ($7.50 USD)")
    );
    assert!(text.contains("http://portal.test/portal/invoices/"));
    // A paid invoice gets none.
    let app2 = TestApp::start();
    issue_one(&app2);
    app2.post("/invoices/1/payments", json!({"amount": "7.50"}))
        .expect(200);
    let when = chrono::Utc::now() + chrono::Duration::days(40);
    assert_eq!(
        keybill::store::invoices::queue_reminders(&mut app2.db.connect(), &settings, when).unwrap(),
        0
    );
}

#[test]
fn two_servers_on_one_database_send_each_statement_once() {
    match std::env::var("KEYBILL_TEST_SMTP").as_deref() {
        Ok("aiosmtpd") => {}
        _ => {
            eprintln!("note: KEYBILL_TEST_SMTP=aiosmtpd is not set; .ci/run sets it");
            return;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mailbox = TempDir::new("maildir2");
    let maildir = mailbox.0.join("box");
    let _smtpd = Smtpd::start(port, &maildir);
    let smtp = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::start_with(&[("KEYBILL_SMTP_URL", &smtp)]);
    let _second = crate::helpers::Server::start(
        &app.dir,
        &[
            ("KEYBILL_DATABASE_URL", &app.db.url),
            ("KEYBILL_SMTP_URL", &smtp),
        ],
    );
    // Six statements queued at once; both servers' senders race for them.
    let seed = app.seed("UTC");
    for i in 0..6 {
        let account = app
            .post("/accounts", json!({"name": format!("P{i}"), "billing_email": format!("p{i}@x.test"), "time_zone": "UTC"}))
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        let location = app
            .post(
                &format!("/accounts/{account}/locations"),
                json!({"name": "O"}),
            )
            .expect(201)["id"]
            .as_i64()
            .unwrap();
        let s = Seed {
            account_id: account,
            location_id: location,
            ..Seed {
                developer_key: String::new(),
                ..seed_copy(&seed)
            }
        };
        let key = app.key(&s, &["Comm"], Some("2026-01-01T00:00:00Z"))["id"]
            .as_i64()
            .unwrap();
        app.put(
            &format!("/keys/{key}/location"),
            json!({"location_id": location, "effective_at": "2026-01-01T00:00:00Z"}),
        )
        .expect(200);
        app.post(
            &format!("/keys/{key}/enable"),
            json!({"effective_at": "2026-08-01T00:00:00Z"}),
        )
        .expect(200);
    }
    let run = app
        .post("/bill-runs", json!({"month": "2026-08"}))
        .expect(201);
    for invoice in run["invoices"].as_array().unwrap() {
        app.post(&format!("/invoices/{}/issue", invoice["id"]), json!({}))
            .expect(200);
    }
    let new = maildir.join("new");
    wait_for("six statements", 20, || files_in(&new).len() >= 6);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(files_in(&new).len(), 6, "each statement exactly once");
}

fn seed_copy(seed: &Seed) -> Seed {
    Seed {
        developer_id: seed.developer_id,
        developer_key: seed.developer_key.clone(),
        account_id: seed.account_id,
        location_id: seed.location_id,
    }
}
