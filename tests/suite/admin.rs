//! The admin pages through the real server: sessions, roles, CSRF, bad input.

use crate::helpers::{TestApp, BIN};

/// A signed-in browser without a browser: keeps the session cookie.
struct Client<'a> {
    app: &'a TestApp,
    cookie: String,
}

struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
    headers: Vec<(String, String)>,
}

fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Reply {
    let mut req = app.agent.request(method, &app.server.url(path));
    if let Some(c) = cookie {
        req = req.set("Cookie", &format!("kb_session={c}"));
    }
    let resp = match form {
        Some(f) => req.send_form(f),
        None => req.call(),
    };
    let resp = match resp {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.all(&n).join("\n");
            (n, v)
        })
        .collect();
    Reply {
        status: resp.status(),
        location: resp.header("Location").map(str::to_owned),
        headers,
        body: resp.into_string().unwrap_or_default(),
    }
}

fn sign_in<'a>(app: &'a TestApp, email: &str, password: &str) -> Client<'a> {
    let r = request(
        app,
        "POST",
        "/admin/login",
        None,
        Some(&[
            ("email", email),
            ("password", password),
            ("next", "/admin/accounts"),
        ]),
    );
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/admin/accounts")),
        "{}",
        r.body
    );
    let set = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("kb_session=")
        .to_owned();
    Client { app, cookie }
}

impl Client<'_> {
    fn get(&self, path: &str) -> Reply {
        request(self.app, "GET", path, Some(&self.cookie), None)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        request(self.app, "POST", path, Some(&self.cookie), Some(form))
    }

    /// The CSRF token of this session, as the pages carry it.
    fn csrf(&self) -> String {
        crate::helpers::csrf_of(&self.get("/admin").body)
    }
}

fn staff(app: &TestApp, email: &str, role: &str) -> String {
    let out = app.cli(&["staff", "add", email, "--role", role]);
    assert!(out.status.success());
    let _ = BIN;
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn pages_need_a_session_and_sign_out_ends_it() {
    let app = TestApp::start();
    let r = request(&app, "GET", "/admin/accounts?q=x", None, None);
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/admin/login?next=/admin/accounts%3Fq%3Dx"))
    );
    let bad = request(
        &app,
        "POST",
        "/admin/login",
        None,
        Some(&[("email", "root@keybill.test"), ("password", "wrong")]),
    );
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("Unknown email or wrong password"));
    let forged = request(&app, "GET", "/admin", Some("not-a-session"), None);
    assert_eq!(forged.status, 303);

    let c = sign_in(&app, "root@keybill.test", &app.password);
    let home = c.get("/admin");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("<svg") && home.body.contains("Tier mix"));
    let csp = home
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-security-policy"))
        .unwrap()
        .1
        .clone();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    for page in [
        "/admin",
        "/admin/accounts",
        "/admin/developers",
        "/admin/policy",
        "/admin/invoices",
        "/admin/bill-runs",
        "/admin/prices",
        "/admin/audit",
    ] {
        assert_eq!(c.get(page).status, 200, "{page}");
    }
    // Sign-out needs the CSRF token, then the cookie is worthless.
    assert_eq!(c.post("/admin/logout", &[]).status, 403);
    let csrf = c.csrf();
    assert_eq!(c.post("/admin/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(c.get("/admin").status, 303);
}

#[test]
fn admins_add_staff_and_issue_tokens_shown_once() {
    let app = TestApp::start();
    let c = sign_in(&app, "root@keybill.test", &app.password);
    let csrf = c.csrf();
    let added = c.post(
        "/admin/staff",
        &[
            ("csrf", &csrf),
            ("email", "new@keybill.test"),
            ("role", "billing"),
        ],
    );
    assert_eq!(added.status, 200);
    let at = added
        .body
        .find("shown this once: <code>")
        .expect("the password")
        + 23;
    let password = &added.body[at..at + 20];
    sign_in(&app, "new@keybill.test", password);
    let again = c.post(
        "/admin/staff",
        &[
            ("csrf", &csrf),
            ("email", "new@keybill.test"),
            ("role", "billing"),
        ],
    );
    assert!(again.body.contains("already exists"));
    let token = c.post(
        "/admin/staff/token",
        &[("csrf", &csrf), ("email", "new@keybill.test")],
    );
    let at = token
        .body
        .find("shown this once: <code>")
        .expect("the token")
        + 23;
    let token = token.body[at..at + 32].to_owned();
    assert_eq!(
        app.call("GET", "/invoices", None, Some(&token)).status,
        200,
        "a billing token"
    );
    assert!(
        !c.get("/admin/staff").body.contains(&token),
        "shown once only"
    );
}

#[test]
fn repeated_failures_slow_sign_in_down() {
    let app = TestApp::start();
    for _ in 0..5 {
        let r = request(
            &app,
            "POST",
            "/admin/login",
            None,
            Some(&[("email", "root@keybill.test"), ("password", "nope")]),
        );
        assert_eq!(r.status, 401);
    }
    // Even the right password waits now.
    let r = request(
        &app,
        "POST",
        "/admin/login",
        None,
        Some(&[("email", "root@keybill.test"), ("password", &app.password)]),
    );
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Too many failed attempts"));
}

#[test]
fn roles_hide_and_refuse_billing_and_admin_pages() {
    let app = TestApp::start();
    let password = staff(&app, "help@keybill.test", "support");
    let c = sign_in(&app, "help@keybill.test", &password);
    let home = c.get("/admin").body;
    assert!(!home.contains("href=\"/admin/invoices\"") && !home.contains("href=\"/admin/audit\""));
    let csrf = c.csrf();
    for page in [
        "/admin/invoices",
        "/admin/bill-runs",
        "/admin/prices",
        "/admin/audit",
    ] {
        assert_eq!(c.get(page).status, 403, "{page}");
    }
    let post = c.post(
        "/admin/prices",
        &[
            ("csrf", &csrf),
            ("item", "basic"),
            ("monthly_price", "1.00"),
            ("effective_from", "2030-01-01"),
        ],
    );
    assert_eq!(post.status, 403);
    assert!(post.body.contains("billing role"));
    let run = c.post("/admin/bill-runs", &[("csrf", &csrf), ("month", "2026-10")]);
    assert_eq!(run.status, 403);
    assert_eq!(
        app.get("/price-book").body.as_array().unwrap().len(),
        4,
        "nothing changed"
    );
}

#[test]
fn forms_check_csrf_and_input() {
    let app = TestApp::start();
    let c = sign_in(&app, "root@keybill.test", &app.password);
    let csrf = c.csrf();
    let create = |name: &str, email: &str, zone: &str, token: &str| {
        c.post(
            "/admin/accounts",
            &[
                ("csrf", token),
                ("name", name),
                ("billing_email", email),
                ("time_zone", zone),
            ],
        )
    };
    assert_eq!(create("Smile", "b@smile.test", "UTC", "").status, 403);
    assert_eq!(
        create(
            "Smile",
            "b@smile.test",
            "UTC",
            "forged-token-forged-token-forged"
        )
        .status,
        403
    );
    let empty = create("", "b@smile.test", "UTC", &csrf);
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("name: must not be empty"));
    assert!(create(&"x".repeat(201), "b@smile.test", "UTC", &csrf)
        .body
        .contains("at most 200"));
    let zone = create("Smile", "b@smile.test", "Mars/Base", &csrf);
    assert!(zone.status == 422 && zone.body.contains("not an IANA time zone"));
    // The message stands next to its field.
    let field = zone.body.find("name=\"time_zone\"").unwrap();
    let message = zone.body.find("class=\"field-error\"").unwrap();
    assert!(
        message > field && message - field < 300,
        "next to the time zone field"
    );
    assert!(
        zone.body.contains("value=\"Smile\""),
        "the form keeps what was typed"
    );
    assert_eq!(create("Smile", "not-an-email", "UTC", &csrf).status, 422);
    assert_eq!(
        app.get("/accounts").body.as_array().unwrap().len(),
        0,
        "nothing half-written"
    );
    let made = create("Smile", "b@smile.test", "America/Chicago", &csrf);
    assert_eq!(made.status, 303);
    let account = made.location.unwrap();
    assert_eq!(c.get(&account).status, 200);

    // Unknown ids and malformed ids are 404 pages; a malformed body is 400.
    assert_eq!(c.get("/admin/accounts/999").status, 404);
    assert_eq!(c.get("/admin/keys/abc").status, 404);
    assert_eq!(c.get("/admin/invoices/999").status, 404);
    assert!(c.get("/admin/nowhere").body.contains("Not found"));
    let dev = app
        .post(
            "/developers",
            serde_json::json!({"name": "D", "email": "d@d.test"}),
        )
        .expect(201);
    let id: i64 = account.rsplit('/').next().unwrap().parse().unwrap();
    let key = c.post(
        &format!("/admin/accounts/{id}/keys"),
        &[
            ("csrf", &csrf),
            ("developer_id", &dev["id"].to_string()),
            ("permissions", "ReadAll"),
            ("permissions", "Teleport"),
        ],
    );
    assert_eq!(key.status, 422);
    assert!(key.body.contains("Teleport"));
    let key = c.post(
        &format!("/admin/accounts/{id}/keys"),
        &[
            ("csrf", &csrf),
            ("developer_id", &dev["id"].to_string()),
            ("permissions", "ReadAll"),
            ("effective_at", "yesterday"),
        ],
    );
    assert_eq!(key.status, 422);
    let key = c.post(
        &format!("/admin/accounts/{id}/keys"),
        &[
            ("csrf", &csrf),
            ("developer_id", &dev["id"].to_string()),
            ("permissions", "ReadAll"),
        ],
    );
    assert_eq!(key.status, 200);
    assert!(key.body.contains("shown this once"));

    // Preview changes nothing; save records one event.
    let events = || app.get("/keys/1/events").body.as_array().unwrap().len();
    let before = events();
    let preview = c.post(
        "/admin/keys/1/permissions",
        &[
            ("csrf", &csrf),
            ("permissions", "ReadAll"),
            ("permissions", "Payments"),
            ("action", "preview"),
        ],
    );
    assert!(preview.body.contains("Not saved yet") && preview.body.contains("full"));
    assert_eq!(events(), before);
    let saved = c.post(
        "/admin/keys/1/permissions",
        &[
            ("csrf", &csrf),
            ("permissions", "ReadAll"),
            ("permissions", "Payments"),
            ("action", "save"),
        ],
    );
    assert_eq!(saved.status, 303);
    assert_eq!(events(), before + 1);
    assert_eq!(app.get("/keys/1").body["tier"], "full");
    let future = c.post(
        "/admin/keys/1/status",
        &[
            ("csrf", &csrf),
            ("action", "enable"),
            ("effective_at", "2999-01-01T00:00"),
        ],
    );
    assert_eq!(future.status, 422);
    assert!(future.body.contains("in the future"));
}

#[test]
fn the_demo_loads_once_and_completely() {
    let app = TestApp::start();
    let first = app.cli(&["demo"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stderr)
        .contains("demo loaded: 3 developers, 4 practices, 9 keys, 4 invoices issued"));
    let again = app.cli(&["demo"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already loaded"));
    assert_eq!(app.get("/developers").body.as_array().unwrap().len(), 3);
    let invoices = app.get("/invoices?limit=100").body;
    let statuses: Vec<&str> = invoices
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "issued").count(), 4);
    assert_eq!(statuses.iter().filter(|s| **s == "draft").count(), 4);
    let tiers: std::collections::BTreeSet<String> = (1..=9)
        .map(|k| {
            app.get(&format!("/keys/{k}")).body["tier"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tiers.len(), 4, "keys in every tier: {tiers:?}");
}

#[test]
fn sessions_expire() {
    let app = TestApp::start();
    let c = sign_in(&app, "root@keybill.test", &app.password);
    let later = chrono::Utc::now() + chrono::Duration::hours(13);
    let found = keybill::store::sessions::find(&mut app.db.connect(), &c.cookie, later).unwrap();
    assert!(found.is_none(), "a staff session ends after 12 hours");
    assert!(
        keybill::store::sessions::find(&mut app.db.connect(), &c.cookie, chrono::Utc::now())
            .unwrap()
            .is_some()
    );
    let mut db = app.db.connect();
    let account = app
        .post(
            "/accounts",
            serde_json::json!({"name": "A", "billing_email": "a@a.test", "time_zone": "UTC"}),
        )
        .expect(201);
    let (user, _) = keybill::store::portal::invite(
        &mut db,
        keybill::ids::AccountId(account["id"].as_i64().unwrap()),
        "u@a.test",
        "http://x",
        &keybill::store::audit::Actor::cli(),
        chrono::Utc::now(),
    )
    .unwrap();
    let token =
        keybill::store::portal::start_session(&mut db, user.id, chrono::Utc::now()).unwrap();
    assert!(
        keybill::store::portal::find_session(&mut db, &token, chrono::Utc::now())
            .unwrap()
            .is_some()
    );
    assert!(
        keybill::store::portal::find_session(&mut db, &token, later)
            .unwrap()
            .is_none(),
        "a portal session ends after 12 hours"
    );
}

#[test]
fn a_server_error_is_a_page_that_shows_nothing_internal() {
    let app = TestApp::start();
    let c = sign_in(&app, "root@keybill.test", &app.password);
    use diesel::connection::SimpleConnection;
    app.db
        .connect()
        .batch_execute("DROP TABLE audit_log")
        .unwrap();
    let broken = c.get("/admin/audit");
    assert_eq!(broken.status, 500);
    assert!(broken.body.contains("Something went wrong on our side"));
    for leak in [
        "audit_log",
        "no such table",
        "does not exist",
        "diesel",
        "panicked",
    ] {
        assert!(!broken.body.contains(leak), "{leak} shown to the user");
    }
    // The JSON API says as little.
    let api = app.get("/audit");
    assert_eq!((api.status, api.code()), (500, "internal"));
    assert!(!api.body.to_string().contains("audit_log"));
}

#[test]
fn the_policy_tester_judges_a_key_like_the_gate_without_using_its_throttle() {
    let app = TestApp::start();
    let c = sign_in(&app, "root@keybill.test", &app.password);
    let seed = app.seed("UTC");
    let key = app.key(&seed, &["ReadAll"], None);
    let id = key["id"].as_i64().unwrap();
    let auth = format!(
        "ODFHIR {}/{}",
        seed.developer_key,
        key["customer_key"].as_str().unwrap()
    );
    let tester = |request: &str| {
        c.get(&format!(
            "/admin/policy?request={}&key={id}&mode=remote",
            request.replace(' ', "+").replace('/', "%2F")
        ))
        .body
    };
    let page = tester("PUT /appointments/5/Break");
    assert!(
        page.contains("Needs <span class=\"status\">Comm</span>"),
        "{page}"
    );
    assert!(page.contains("“Appointments PUT Break” under Comm"));
    assert!(
        page.contains("401: the key has not been enabled (status pending)"),
        "{page}"
    );
    app.put(
        &format!("/keys/{id}/location"),
        serde_json::json!({"location_id": seed.location_id}),
    )
    .expect(200);
    app.post(&format!("/keys/{id}/enable"), serde_json::json!({}))
        .expect(200);
    assert!(tester("PUT /appointments/5/Break").contains("403: the key lacks the Comm permission"));
    for _ in 0..3 {
        assert!(tester("GET /patients").contains("204: allowed by ReadAll (largest page 100)"));
    }
    // Testing used none of the key's throttle: the gateway's first request passes.
    let first = app
        .agent
        .get(&app.server.url("/authz"))
        .set("Authorization", &auth)
        .set("X-Original-Method", "GET")
        .set("X-Original-URI", "/patients")
        .call();
    assert_eq!(first.map(|r| r.status()).unwrap_or(0), 204);
}
