//! The practice portal: invitations, sign-in, tenant isolation, CSV, keys, resets.

use serde_json::json;

use crate::helpers::{csrf_of, Seed, TestApp};

struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
    cookie: Option<String>,
}

fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Reply {
    let mut req = app.agent.request(method, &app.server.url(path));
    if let Some(c) = cookie {
        req = req.set("Cookie", &format!("kb_portal={c}"));
    }
    let resp = match form {
        Some(f) => req.send_form(f),
        None => req.call(),
    };
    let resp = match resp {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let cookie = resp.header("Set-Cookie").map(|c| {
        c.split(';')
            .next()
            .unwrap()
            .trim_start_matches("kb_portal=")
            .to_owned()
    });
    Reply {
        status: resp.status(),
        location: resp.header("Location").map(str::to_owned),
        cookie,
        body: resp.into_string().unwrap_or_default(),
    }
}

/// A practice with an issued invoice for September and a draft for August.
fn practice(app: &TestApp, name: &str) -> (Seed, i64, i64, i64) {
    let dev = app
        .post("/developers", json!({"name": "Dev", "email": "d@d.test"}))
        .expect(201);
    let account = app
        .post(
            "/accounts",
            json!({"name": name, "billing_email": "b@b.test", "time_zone": "UTC"}),
        )
        .expect(201);
    let location = app
        .post(
            &format!("/accounts/{}/locations", account["id"]),
            json!({"name": "Office"}),
        )
        .expect(201);
    let seed = Seed {
        developer_id: dev["id"].as_i64().unwrap(),
        developer_key: dev["developer_key"].as_str().unwrap().to_owned(),
        account_id: account["id"].as_i64().unwrap(),
        location_id: location["id"].as_i64().unwrap(),
    };
    let key = app.key(
        &seed,
        &["ReadAll", "Comm", "Payments"],
        Some("2026-01-01T00:00:00Z"),
    )["id"]
        .as_i64()
        .unwrap();
    app.put(
        &format!("/keys/{key}/location"),
        json!({"location_id": seed.location_id, "effective_at": "2026-01-01T00:00:00Z"}),
    )
    .expect(200);
    app.post(
        &format!("/keys/{key}/enable"),
        json!({"effective_at": "2026-08-20T00:00:00Z"}),
    )
    .expect(200);
    let run = |m: &str| {
        app.post(
            "/bill-runs",
            json!({"month": m, "account_id": seed.account_id}),
        )
        .expect(201)["invoices"][0]["id"]
            .as_i64()
            .unwrap()
    };
    let draft = run("2026-08");
    let issued = run("2026-09");
    app.post(&format!("/invoices/{issued}/issue"), json!({}))
        .expect(200);
    (seed, key, issued, draft)
}

fn invite(app: &TestApp, account: i64, email: &str) -> String {
    let out = app.cli(&["portal-user", "add", &account.to_string(), email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(link.contains("/portal/invite/"), "{link}");
    link
}

fn join(app: &TestApp, link: &str, email: &str) -> String {
    let path = link
        .split_once("/portal/")
        .map(|(_, p)| format!("/portal/{p}"))
        .unwrap();
    assert_eq!(call(app, "GET", &path, None, None).status, 200);
    let set = call(
        app,
        "POST",
        &path,
        None,
        Some(&[
            ("password", "correct horse 1"),
            ("confirm", "correct horse 1"),
        ]),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let again = call(
        app,
        "POST",
        &path,
        None,
        Some(&[
            ("password", "another pass 2"),
            ("confirm", "another pass 2"),
        ]),
    );
    assert!(
        again.status == 422 && again.body.contains("used already"),
        "one use only"
    );
    let login = call(
        app,
        "POST",
        "/portal/login",
        None,
        Some(&[("email", email), ("password", "correct horse 1")]),
    );
    assert_eq!(
        (login.status, login.location.as_deref()),
        (303, Some("/portal/invoices"))
    );
    login.cookie.unwrap()
}

#[test]
fn practices_see_only_their_own_objects() {
    let app = TestApp::start();
    let (a, a_key, a_issued, a_draft) = practice(&app, "Alpha Dental");
    let (_, b_key, b_issued, _) = practice(&app, "Beta Dental");
    let link = invite(&app, a.account_id, "owner@alpha.test");
    let cookie = join(&app, &link, "owner@alpha.test");
    let get = |p: &str| call(&app, "GET", p, Some(&cookie), None);

    let list = get("/portal/invoices");
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Alpha Dental") && list.body.contains("2026-09"));
    assert!(!list.body.contains("2026-08"), "drafts are not shown");
    assert_eq!(get(&format!("/portal/invoices/{a_issued}")).status, 200);
    assert!(get(&format!("/portal/invoices/{a_issued}"))
        .body
        .contains("× $35.00 = $"));
    // Another practice's objects, and drafts, are 404: existence does not leak.
    for path in [
        format!("/portal/invoices/{b_issued}"),
        format!("/portal/invoices/{b_issued}/csv"),
        format!("/portal/invoices/{b_issued}/pdf"),
        format!("/portal/invoices/{a_draft}/pdf"),
        format!("/portal/invoices/{a_draft}"),
        format!("/portal/invoices/{a_draft}/csv"),
        "/portal/invoices/99999".to_owned(),
        "/portal/invoices/x".to_owned(),
    ] {
        assert_eq!(get(&path).status, 404, "{path}");
    }
    let keys = get("/portal/keys").body;
    assert!(
        keys.contains("full</span> $35.00") && keys.contains("allowed"),
        "tier, price and usage"
    );
    let csrf = csrf_of(&keys);
    let post = |p: &str, f: &[(&str, &str)]| call(&app, "POST", p, Some(&cookie), Some(f));
    assert_eq!(
        post(
            &format!("/portal/keys/{b_key}/status"),
            &[("csrf", &csrf), ("action", "disable")]
        )
        .status,
        404
    );
    assert_eq!(
        app.get(&format!("/keys/{b_key}")).body["status"],
        "enabled",
        "untouched"
    );
    assert_eq!(
        post(
            &format!("/portal/keys/{a_key}/status"),
            &[("action", "disable")]
        )
        .status,
        403,
        "CSRF"
    );
    // Disabling as the customer: status and billing follow.
    assert_eq!(
        post(
            &format!("/portal/keys/{a_key}/status"),
            &[("csrf", &csrf), ("action", "disable")]
        )
        .status,
        303
    );
    assert_eq!(
        app.get(&format!("/keys/{a_key}")).body["status"],
        "disabled_by_customer"
    );
    let events = app.get(&format!("/keys/{a_key}/events")).body;
    assert!(events.as_array().unwrap().last().unwrap()["actor"]
        .as_str()
        .unwrap()
        .contains("owner@alpha.test (portal)"));

    // Without a session every page sends to sign-in.
    for path in [
        "/portal/invoices",
        &format!("/portal/invoices/{a_issued}"),
        &format!("/portal/invoices/{a_issued}/csv"),
        &format!("/portal/invoices/{a_issued}/pdf"),
        "/portal/keys",
        "/portal/this-month",
    ] {
        let r = call(&app, "GET", path, None, None);
        assert_eq!(
            (r.status, r.location.as_deref()),
            (303, Some("/portal/login")),
            "{path}"
        );
    }
    // Staff sessions are not portal sessions and the other way round.
    assert_eq!(call(&app, "GET", "/admin", Some(&cookie), None).status, 303);
}

#[test]
fn the_csv_parses_and_sums_to_the_total() {
    let app = TestApp::start();
    let (a, _, issued, _) = practice(&app, "Alpha Dental");
    let cookie = join(
        &app,
        &invite(&app, a.account_id, "owner@alpha.test"),
        "owner@alpha.test",
    );
    let csv = call(
        &app,
        "GET",
        &format!("/portal/invoices/{issued}/csv"),
        Some(&cookie),
        None,
    );
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "location",
            "item",
            "monthly_price",
            "days",
            "days_in_month",
            "periods",
            "amount"
        ]
    );
    let mut cents = 0i64;
    for row in reader.records() {
        let row = row.unwrap();
        cents += row[6].parse::<keybill::money::Money>().unwrap().cents();
    }
    let total = app.get(&format!("/invoices/{issued}")).body["total"]
        .as_str()
        .unwrap()
        .parse::<keybill::money::Money>()
        .unwrap();
    assert_eq!(cents, total.cents());
    assert!(cents > 0);
}

#[test]
fn invitation_links_are_checked_and_expire() {
    let app = TestApp::start();
    let (a, _, _, _) = practice(&app, "Alpha Dental");
    let link = invite(&app, a.account_id, "owner@alpha.test");
    let wrong = call(
        &app,
        "POST",
        "/portal/invite/notarealtoken",
        None,
        Some(&[
            ("password", "correct horse 1"),
            ("confirm", "correct horse 1"),
        ]),
    );
    assert!(wrong.status == 422 && wrong.body.contains("not valid"));
    let short = call(
        &app,
        "POST",
        &link[link.find("/portal/").unwrap()..],
        None,
        Some(&[("password", "short"), ("confirm", "short")]),
    );
    assert_eq!(short.status, 422);
    // Expiry, with the clock a week and a day ahead.
    let token = link.rsplit('/').next().unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    let err = keybill::store::portal::redeem(
        &mut app.db.connect(),
        token,
        "invite",
        "correct horse 1",
        later,
    )
    .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // The invitation went out as an email too.
    use diesel::prelude::*;
    diesel::table! { outbox (id) { id -> BigInt, kind -> Text, recipient -> Text, body_text -> Text, } }
    let invites: Vec<(String, String)> = outbox::table
        .filter(outbox::kind.eq("invite"))
        .select((outbox::recipient, outbox::body_text))
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].0, "owner@alpha.test");
    assert!(invites[0].1.contains(&link));
    // A user of one practice cannot be invited to another.
    let (b, _, _, _) = practice(&app, "Beta Dental");
    let out = app.cli(&[
        "portal-user",
        "add",
        &b.account_id.to_string(),
        "owner@alpha.test",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn passwords_are_reset_by_email_link() {
    let app = TestApp::start();
    let (a, _, _, _) = practice(&app, "Alpha Dental");
    join(
        &app,
        &invite(&app, a.account_id, "owner@alpha.test"),
        "owner@alpha.test",
    );
    let known = call(
        &app,
        "POST",
        "/portal/reset",
        None,
        Some(&[("email", "owner@alpha.test")]),
    );
    let unknown = call(
        &app,
        "POST",
        "/portal/reset",
        None,
        Some(&[("email", "nobody@alpha.test")]),
    );
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(known.body, unknown.body, "the same answer either way");
    use diesel::prelude::*;
    diesel::table! { outbox (id) { id -> BigInt, kind -> Text, body_text -> Text, } }
    let body: String = outbox::table
        .filter(outbox::kind.eq("reset"))
        .select(outbox::body_text)
        .first(&mut app.db.connect())
        .unwrap();
    let link = body
        .lines()
        .find(|l| l.contains("/portal/reset/"))
        .unwrap()
        .trim();
    let path = &link[link.find("/portal/").unwrap()..];
    let set = call(
        &app,
        "POST",
        path,
        None,
        Some(&[
            ("password", "brand new pass 3"),
            ("confirm", "brand new pass 3"),
        ]),
    );
    assert_eq!(set.status, 200);
    let old = call(
        &app,
        "POST",
        "/portal/login",
        None,
        Some(&[
            ("email", "owner@alpha.test"),
            ("password", "correct horse 1"),
        ]),
    );
    assert_eq!(old.status, 401);
    let new = call(
        &app,
        "POST",
        "/portal/login",
        None,
        Some(&[
            ("email", "owner@alpha.test"),
            ("password", "brand new pass 3"),
        ]),
    );
    assert_eq!(new.status, 303);
}

#[test]
fn a_practice_disputes_a_charge_and_reads_the_answer() {
    let app = TestApp::start();
    let (a, _, issued, _) = practice(&app, "Alpha Dental");
    let (b, _, _, _) = practice(&app, "Beta Dental");
    let cookie = join(
        &app,
        &invite(&app, a.account_id, "owner@alpha.test"),
        "owner@alpha.test",
    );
    let page = call(
        &app,
        "GET",
        &format!("/portal/invoices/{issued}"),
        Some(&cookie),
        None,
    )
    .body;
    let csrf = csrf_of(&page);
    let dispute = |c: &str, message: &str| {
        call(
            &app,
            "POST",
            &format!("/portal/invoices/{issued}/disputes"),
            Some(c),
            Some(&[("csrf", &csrf), ("line", "1"), ("message", message)]),
        )
    };
    assert_eq!(
        dispute(&cookie, "   ").status,
        422,
        "an empty dispute is refused"
    );
    let sent = dispute(&cookie, "We closed the Office on the 25th.");
    assert_eq!(sent.status, 200);
    assert!(
        sent.body.contains("We closed the Office on the 25th.")
            && sent.body.contains("Waiting for an answer")
    );
    // Another practice's admin cannot dispute it (404), even with a session of its own.
    let other = join(
        &app,
        &invite(&app, b.account_id, "owner@beta.test"),
        "owner@beta.test",
    );
    let keys = call(&app, "GET", "/portal/keys", Some(&other), None).body;
    let other_csrf = csrf_of(&keys);
    let foreign = call(
        &app,
        "POST",
        &format!("/portal/invoices/{issued}/disputes"),
        Some(&other),
        Some(&[("csrf", &other_csrf), ("message", "not ours")]),
    );
    assert_eq!(foreign.status, 404);
    assert_eq!(dispute(&other, "wrong token").status, 403);

    // Staff see it on the dashboard and answer it on the invoice.
    let password = app.cli(&["staff", "add", "money@keybill.test", "--role", "billing"]);
    let password = String::from_utf8(password.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let staff = app.staff_cookie("money@keybill.test", &password);
    let staff_get = |p: &str| {
        app.agent
            .get(&app.server.url(p))
            .set("Cookie", &staff)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    let dashboard = staff_get("/admin");
    assert!(dashboard.contains("Open disputes (1)") && dashboard.contains("We closed the Office"));
    let invoice_page = staff_get(&format!("/admin/invoices/{issued}"));
    let staff_csrf = csrf_of(&invoice_page);
    let answer = |text: &str| {
        let r = app
            .agent
            .post(&app.server.url("/admin/disputes/1/answer"))
            .set("Cookie", &staff)
            .send_form(&[("csrf", &staff_csrf), ("answer", text)]);
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        answer("The key stayed enabled until the 30th; see the key history."),
        303
    );
    assert_eq!(answer("A second answer"), 422, "answered once");
    assert!(!staff_get("/admin").contains("Open disputes"));
    let read = call(
        &app,
        "GET",
        &format!("/portal/invoices/{issued}"),
        Some(&cookie),
        None,
    )
    .body;
    assert!(read.contains("The key stayed enabled until the 30th"));
}

#[test]
fn staff_invite_practice_admins_from_the_practice_page() {
    let app = TestApp::start();
    let (a, _, _, _) = practice(&app, "Alpha Dental");
    let staff = app.staff_cookie("root@keybill.test", &app.password);
    let page_path = format!("/admin/accounts/{}", a.account_id);
    let page = app
        .agent
        .get(&app.server.url(&page_path))
        .set("Cookie", &staff)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let csrf = csrf_of(&page);
    let post = |email: &str| {
        let r = app
            .agent
            .post(&app.server.url(&format!("{page_path}/portal-users")))
            .set("Cookie", &staff)
            .send_form(&[("csrf", &csrf), ("email", email)]);
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, body) = post("not-an-email");
    assert_eq!(status, 422);
    assert!(body.contains("field-error"));
    let (status, body) = post("office@alpha.test");
    assert_eq!(status, 200);
    let at = body.find("shown this once: <code>").unwrap() + 23;
    let link = &body[at..body[at..].find("</code>").unwrap() + at];
    assert!(body.contains("office@alpha.test") && body.contains("(invited)"));
    join(&app, link, "office@alpha.test");
}

#[test]
fn this_month_so_far_shows_the_running_charges() {
    let app = TestApp::start();
    let (a, _, _, _) = practice(&app, "Alpha Dental");
    let cookie = join(
        &app,
        &invite(&app, a.account_id, "owner@alpha.test"),
        "owner@alpha.test",
    );
    let page = call(&app, "GET", "/portal/this-month", Some(&cookie), None);
    assert_eq!(page.status, 200);
    // The key (full tier, $35) has been enabled since August: every day so far.
    let today = chrono::Utc::now().date_naive();
    use chrono::Datelike;
    let days_in_month = keybill::calendar::Month::of(today).days();
    let expected = format!("{}/{} × $35.00 = $", today.day(), days_in_month);
    assert!(page.body.contains(&expected), "{expected} in {}", page.body);
    assert!(page.body.contains(&today.format("%Y-%m").to_string()));
    assert_eq!(
        call(&app, "GET", "/portal/this-month", None, None).status,
        303
    );
}

#[test]
fn the_statement_pdf_opens_and_shows_number_and_total() {
    let app = TestApp::start();
    let (a, _, issued, _) = practice(&app, "Alpha Dental");
    let cookie = join(
        &app,
        &invite(&app, a.account_id, "owner@alpha.test"),
        "owner@alpha.test",
    );
    let invoice = app.get(&format!("/invoices/{issued}")).body;
    let (number, total) = (
        invoice["number"].as_str().unwrap().to_owned(),
        invoice["total"].as_str().unwrap().to_owned(),
    );
    let resp = app
        .agent
        .get(&app.server.url(&format!("/portal/invoices/{issued}/pdf")))
        .set("Cookie", &format!("kb_portal={cookie}"))
        .call()
        .unwrap();
    assert_eq!(resp.content_type(), "application/pdf");
    let mut pdf = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/portal/invoices/{issued}/pdf"),
            None,
            None
        )
        .status,
        303
    );
    // Opened by a real PDF reader (poppler's pdftotext) when .ci/run names it.
    if let Ok(pdftotext) = std::env::var("KEYBILL_TEST_PDFTOTEXT") {
        let dir = crate::helpers::TempDir::new("pdf");
        let file = dir.0.join("statement.pdf");
        std::fs::write(&file, &pdf).unwrap();
        let out = std::process::Command::new(pdftotext)
            .arg(&file)
            .arg("-")
            .output()
            .expect("pdftotext");
        assert!(out.status.success(), "the PDF opens");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&number) && text.contains(&format!("${total} USD")),
            "{text}"
        );
        assert!(
            text.contains("× $35.00 = $"),
            "each line's arithmetic: {text}"
        );
    } else {
        let raw = String::from_utf8_lossy(&pdf);
        assert!(raw.contains(&number) && raw.contains(&total));
    }
}
