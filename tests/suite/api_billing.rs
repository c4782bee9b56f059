//! Bill runs and the invoice lifecycle through the real server.

use serde_json::{json, Value};

use crate::helpers::{Seed, TestApp};

/// A key back-dated into a past month: created with `perms`, assigned, enabled at `on`.
fn billed_key(app: &TestApp, seed: &Seed, perms: &[&str], on: &str) -> i64 {
    let key = app.key(seed, perms, Some("2026-01-01T00:00:00Z"));
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id, "effective_at": "2026-01-01T00:00:00Z"}),
    )
    .expect(200);
    app.post(&format!("/keys/{id}/enable"), json!({"effective_at": on}))
        .expect(200);
    id
}

fn run(app: &TestApp, month: &str, account: Option<i64>) -> Value {
    let mut body = json!({"month": month});
    if let Some(a) = account {
        body["account_id"] = json!(a);
    }
    app.post("/bill-runs", body).expect(201)
}

fn lines(invoice: &Value) -> Vec<(String, i64, String, Vec<Vec<String>>)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["item"].as_str().unwrap().to_owned(),
                l["days"].as_i64().unwrap(),
                l["amount"].as_str().unwrap().to_owned(),
                serde_json::from_value(l["periods"].clone()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_run_prorates_by_local_day_and_reruns_change_nothing() {
    let app = TestApp::start();
    let seed = app.seed("America/Chicago");
    // Enabled 2026-11-16 00:00 in Chicago (06:00 UTC): 15 of 30 days at $15.
    let key = billed_key(&app, &seed, &["ReadAll", "Comm"], "2026-11-16T06:00:00Z");
    let first = run(&app, "2026-11", None);
    assert_eq!(
        (first["created"].as_i64(), first["accounts"].as_i64()),
        (Some(1), Some(1))
    );
    let invoice = &first["invoices"][0];
    assert_eq!(
        (invoice["status"].as_str(), invoice["number"].as_str()),
        (Some("draft"), None)
    );
    assert_eq!(
        (invoice["total"].as_str(), invoice["currency"].as_str()),
        (Some("7.50"), Some("USD"))
    );
    assert_eq!(
        lines(invoice),
        [(
            "basic".into(),
            15,
            "7.50".into(),
            vec![vec!["2026-11-16".to_owned(), "2026-11-30".to_owned()]]
        )]
    );
    let line = &invoice["lines"][0];
    assert_eq!(
        (
            line["days_in_month"].as_i64(),
            line["monthly_price"].as_str()
        ),
        (Some(30), Some("15.00"))
    );
    assert_eq!(line["location"], "Main St");
    assert_eq!(line["arithmetic"], "15/30 × $15.00 = $7.50");
    let id = invoice["id"].as_i64().unwrap();

    // Unchanged inputs: nothing changes, not even the revision.
    let again = run(&app, "2026-11", None);
    assert_eq!(
        (
            again["created"].as_i64(),
            again["changed"].as_i64(),
            again["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(1))
    );
    let same = app.get(&format!("/invoices/{id}")).expect(200);
    assert_eq!(
        (same["revision"].as_i64(), same["updated_at"].clone()),
        (Some(1), invoice["updated_at"].clone())
    );

    // A back-dated disable: the re-run replaces the draft and says what changed.
    app.post(
        &format!("/keys/{key}/disable"),
        json!({"effective_at": "2026-11-26T06:00:00Z"}),
    )
    .expect(200);
    let changed = run(&app, "2026-11", None);
    assert_eq!(changed["changed"], 1);
    let redrafted = &changed["invoices"][0];
    assert_eq!(
        (redrafted["id"].as_i64(), redrafted["revision"].as_i64()),
        (Some(id), Some(2))
    );
    assert_eq!(redrafted["total"], "5.00");
    assert_eq!(
        redrafted["changes"]["total"],
        json!({"before": "7.50", "after": "5.00"})
    );
    assert_eq!(redrafted["changes"]["lines"][0]["before"]["days"], 15);
    assert_eq!(redrafted["changes"]["lines"][0]["after"]["days"], 10);
    let listed = app.get("/invoices?month=2026-11").expect(200);
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "one invoice per account and month"
    );
}

#[test]
fn months_that_have_not_ended_cannot_be_billed() {
    let app = TestApp::start();
    let seed = app.seed("Asia/Tokyo");
    let now = chrono::Utc::now();
    let this_month = now.format("%Y-%m").to_string();
    app.post("/bill-runs", json!({"month": this_month}))
        .expect_error(409, "month_not_ended");
    app.post(
        "/bill-runs",
        json!({"month": this_month, "account_id": seed.account_id}),
    )
    .expect_error(409, "month_not_ended");
    app.post("/bill-runs", json!({"month": "2999-01"}))
        .expect_error(409, "month_not_ended");
    app.post("/bill-runs", json!({"month": "2026-13"}))
        .expect_error(422, "validation_failed");
    app.post("/bill-runs", json!({"month": "2026-11", "account_id": 999}))
        .expect_error(404, "not_found");
    // An account with no billed day gets no invoice.
    app.key(&seed, &["ReadAll"], Some("2026-01-01T00:00:00Z"));
    let empty = run(&app, "2026-11", None);
    assert_eq!(
        (
            empty["created"].as_i64(),
            empty["invoices"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
}

#[test]
fn tokyo_and_february_bill_by_their_own_calendars() {
    let app = TestApp::start();
    let seed = app.seed("Asia/Tokyo");
    // 2026-02-14 15:00 UTC is the 15th in Tokyo: 14 of 28 days at $30.
    billed_key(
        &app,
        &seed,
        &["ReadAll", "Appointments"],
        "2026-02-14T15:00:00Z",
    );
    let feb = run(&app, "2026-02", None);
    let invoice = &feb["invoices"][0];
    assert_eq!(
        lines(invoice),
        [(
            "standard".into(),
            14,
            "15.00".into(),
            vec![vec!["2026-02-15".to_owned(), "2026-02-28".to_owned()]]
        )]
    );
    assert_eq!(invoice["lines"][0]["days_in_month"], 28);
    // January: the key was not billable yet.
    assert_eq!(run(&app, "2026-01", None)["created"], 0);
}

#[test]
fn issuing_numbers_closes_the_month_and_voiding_reopens_it() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let key = billed_key(
        &app,
        &seed,
        &["ReadAll", "Payments"],
        "2026-10-01T00:00:00Z",
    );
    let id = run(&app, "2026-10", None)["invoices"][0]["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/invoices/{id}/payments"),
        json!({"amount": "1.00"}),
    )
    .expect_error(409, "invoice_not_issued");
    app.post(&format!("/invoices/{id}/void"), json!({}))
        .expect_error(409, "invoice_not_issued");

    let issued = app
        .post(&format!("/invoices/{id}/issue"), json!({}))
        .expect(200);
    assert_eq!(issued["status"], "issued");
    let number = issued["number"].as_str().unwrap().to_owned();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(number, format!("KB-{year}-000001"));
    assert_eq!(issued["total"], "35.00");
    app.post(&format!("/invoices/{id}/issue"), json!({}))
        .expect_error(409, "invoice_not_draft");

    // The statement email is queued in the same transaction.
    use diesel::prelude::*;
    diesel::table! { outbox (id) { id -> BigInt, kind -> Text, recipient -> Text, subject -> Text, invoice_id -> Nullable<BigInt>, } }
    let queued: Vec<(String, String, String)> = outbox::table
        .filter(outbox::invoice_id.eq(id))
        .select((outbox::kind, outbox::recipient, outbox::subject))
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, "statement");
    assert_eq!(queued[0].1, "billing@smile.test");
    assert!(
        queued[0].2.contains(&number)
            && queued[0].2.contains("2026-10")
            && queued[0].2.contains("35.00")
    );

    // The month is closed: events and prices dated in it are refused; re-runs leave it.
    app.post(
        &format!("/keys/{key}/disable"),
        json!({"effective_at": "2026-10-15T00:00:00Z"}),
    )
    .expect_error(409, "period_closed");
    app.put(
        &format!("/accounts/{}/prices", seed.account_id),
        json!({"item": "full", "monthly_price": "1.00", "effective_from": "2026-10-15"}),
    )
    .expect_error(409, "period_closed");
    app.post(
        "/price-book",
        json!({"item": "full", "monthly_price": "1.00", "effective_from": "2026-10-31"}),
    )
    .expect_error(409, "period_closed");
    // After the month's end is fine.
    app.post(
        &format!("/keys/{key}/disable"),
        json!({"effective_at": "2026-11-01T00:00:00Z"}),
    )
    .expect(200);
    let rerun = run(&app, "2026-10", None);
    assert_eq!(
        (
            rerun["untouched"].as_i64(),
            rerun["invoices"][0]["number"].as_str()
        ),
        (Some(1), Some(number.as_str()))
    );

    // Payments: partial, overpayment refused, then settled.
    let partial = app
        .post(
            &format!("/invoices/{id}/payments"),
            json!({"amount": "10.00"}),
        )
        .expect(200);
    assert_eq!(
        (partial["status"].as_str(), partial["balance"].as_str()),
        (Some("issued"), Some("25.00"))
    );
    app.post(
        &format!("/invoices/{id}/payments"),
        json!({"amount": "25.01"}),
    )
    .expect_error(422, "overpayment");
    app.post(&format!("/invoices/{id}/payments"), json!({"amount": "0"}))
        .expect_error(422, "validation_failed");
    app.post(&format!("/invoices/{id}/payments"), json!({"amount": 5}))
        .expect_error(422, "validation_failed");
    app.post(&format!("/invoices/{id}/void"), json!({}))
        .expect_error(409, "invoice_paid");
    let paid = app
        .post(
            &format!("/invoices/{id}/payments"),
            json!({"amount": "25.00"}),
        )
        .expect(200);
    assert_eq!(
        (paid["status"].as_str(), paid["balance"].as_str()),
        (Some("paid"), Some("0.00"))
    );
    app.post(&format!("/invoices/{id}/void"), json!({}))
        .expect_error(409, "invoice_paid");
    app.post(
        &format!("/invoices/{id}/payments"),
        json!({"amount": "1.00"}),
    )
    .expect_error(409, "invoice_paid");
}

#[test]
fn voiding_writes_a_credit_note_and_the_month_can_be_billed_again() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let key = billed_key(&app, &seed, &["ReadAll", "Comm"], "2026-09-01T00:00:00Z");
    let id = run(&app, "2026-09", None)["invoices"][0]["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/invoices/{id}/issue"), json!({}))
        .expect(200);
    let voided = app
        .post(&format!("/invoices/{id}/void"), json!({}))
        .expect(200);
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(
        voided["credit_note"],
        json!({"number": format!("CN-{year}-000001"), "amount": "15.00"})
    );
    assert_eq!(voided["invoice"]["status"], "void");
    app.post(&format!("/invoices/{id}/void"), json!({}))
        .expect_error(409, "invoice_void");
    // The month is open again: a back-dated correction, then a new draft beside the void one.
    app.post(
        &format!("/keys/{key}/disable"),
        json!({"effective_at": "2026-09-16T00:00:00Z"}),
    )
    .expect(200);
    let rebill = run(&app, "2026-09", None);
    assert_eq!(rebill["created"], 1);
    let new_id = rebill["invoices"][0]["id"].as_i64().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(rebill["invoices"][0]["total"], "7.50");
    let reissued = app
        .post(&format!("/invoices/{new_id}/issue"), json!({}))
        .expect(200);
    assert_eq!(reissued["number"], format!("KB-{year}-000002"));
    let all = app
        .get(&format!(
            "/invoices?account_id={}&month=2026-09",
            seed.account_id
        ))
        .expect(200);
    let statuses: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"void") && statuses.contains(&"issued"));
}

#[test]
fn a_zero_invoice_is_paid_when_issued() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    billed_key(&app, &seed, &["ReadAll"], "2026-08-10T00:00:00Z");
    let invoice = &run(&app, "2026-08", None)["invoices"][0];
    assert_eq!(lines(invoice)[0].0, "free");
    assert_eq!(invoice["total"], "0.00");
    let issued = app
        .post(&format!("/invoices/{}/issue", invoice["id"]), json!({}))
        .expect(200);
    assert_eq!(issued["status"], "paid");
}

#[test]
fn parallel_issues_get_distinct_gapless_numbers() {
    let app = TestApp::start();
    let mut ids = Vec::new();
    for i in 0..8 {
        let account = app
            .post("/accounts", json!({"name": format!("Practice {i}"), "billing_email": format!("p{i}@x.test"), "time_zone": "UTC"}))
            .expect(201);
        let location = app
            .post(
                &format!("/accounts/{}/locations", account["id"]),
                json!({"name": "Office"}),
            )
            .expect(201);
        let dev = app
            .post("/developers", json!({"name": "D", "email": "d@d.test"}))
            .expect(201);
        let seed = Seed {
            developer_id: dev["id"].as_i64().unwrap(),
            developer_key: String::new(),
            account_id: account["id"].as_i64().unwrap(),
            location_id: location["id"].as_i64().unwrap(),
        };
        billed_key(&app, &seed, &["Comm"], "2026-07-01T00:00:00Z");
    }
    for invoice in run(&app, "2026-07", None)["invoices"].as_array().unwrap() {
        ids.push(invoice["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 8);
    let app = &app;
    let mut numbers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                s.spawn(move || {
                    app.post(&format!("/invoices/{id}/issue"), json!({}))
                        .expect(200)["number"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    numbers.sort();
    let year = chrono::Utc::now().format("%Y").to_string();
    let expected: Vec<String> = (1..=8).map(|n| format!("KB-{year}-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

#[test]
fn concurrent_runs_never_duplicate_and_a_partial_run_is_completed() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    billed_key(&app, &seed, &["Comm"], "2026-06-01T00:00:00Z");
    let other = app
        .post(
            "/accounts",
            json!({"name": "Other", "billing_email": "o@o.test", "time_zone": "America/Chicago"}),
        )
        .expect(201);
    let other_location = app
        .post(
            &format!("/accounts/{}/locations", other["id"]),
            json!({"name": "Branch"}),
        )
        .expect(201);
    let other_seed = Seed {
        developer_id: seed.developer_id,
        developer_key: String::new(),
        account_id: other["id"].as_i64().unwrap(),
        location_id: other_location["id"].as_i64().unwrap(),
    };
    billed_key(&app, &other_seed, &["Appointments"], "2026-06-01T05:00:00Z");

    // As if a run had stopped after the first account: the full run completes it.
    let partial = run(&app, "2026-06", Some(seed.account_id));
    assert_eq!(partial["created"], 1);
    let full = run(&app, "2026-06", None);
    assert_eq!(
        (full["created"].as_i64(), full["unchanged"].as_i64()),
        (Some(1), Some(1))
    );

    // Four runs at once, for a month not billed yet: one invoice per account.
    let app_ref = &app;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(move || {
                    app_ref
                        .post("/bill-runs", json!({"month": "2026-07"}))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let july = app.get("/invoices?month=2026-07").expect(200);
    assert_eq!(july.as_array().unwrap().len(), 2);
    assert!(july.as_array().unwrap().iter().all(|i| i["revision"] == 1));
}

#[test]
fn the_bill_run_command_summarises_and_issues() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    billed_key(&app, &seed, &["Comm"], "2026-05-01T00:00:00Z");
    let out = app.cli(&["bill-run", "--month", "2026-05", "--issue"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let year = chrono::Utc::now().format("%Y").to_string();
    assert!(
        stdout.contains("1 accounts, 1 invoices (1 created"),
        "{stdout}"
    );
    assert!(stdout.contains("total 15.00 USD"), "{stdout}");
    assert!(
        stdout.contains(&format!("issued 1 (KB-{year}-000001 to KB-{year}-000001)")),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("billed 1/1 accounts"));
    let issued = app.get("/invoices?month=2026-05").expect(200);
    assert_eq!(issued[0]["status"], "issued");

    let bad = app.cli(&["bill-run", "--month", "May"]);
    assert_eq!(bad.status.code(), Some(2));
    let this_month = chrono::Utc::now().format("%Y-%m").to_string();
    let early = app.cli(&["bill-run", "--month", &this_month]);
    assert_eq!(early.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&early.stderr).contains("has not ended"));
    assert_eq!(
        app.cli(&["bill-run", "--month", "2026-05", "--account", "999"])
            .status
            .code(),
        Some(2)
    );
}
