//! Tokens, roles, the audit log, prices, the quote, and the staff commands.

use serde_json::json;

use crate::helpers::{keybill, Server, TempDir, TestApp, TestDb};

#[test]
fn requests_need_a_valid_bearer_token() {
    let app = TestApp::start();
    let none = app.call("GET", "/accounts", None, None);
    assert_eq!(none.header("WWW-Authenticate"), Some("Bearer"));
    none.expect_error(401, "unauthorized");
    app.call("GET", "/accounts", None, Some("not-a-real-token"))
        .expect_error(401, "unauthorized");
    app.call("GET", "/accounts", None, Some(&"x".repeat(500)))
        .expect_error(401, "unauthorized");
}

#[test]
fn roles_decide_who_may_do_what() {
    let app = TestApp::start();
    let support = app.staff_token("help@keybill.test", "support");
    let billing = app.staff_token("money@keybill.test", "billing");
    let seed = app.seed("UTC");
    let as_ = |t: &str, m: &str, p: &str, b: Option<serde_json::Value>| app.call(m, p, b, Some(t));

    // Support manages developers, accounts, locations and keys...
    as_(
        &support,
        "POST",
        "/developers",
        Some(json!({"name": "D", "email": "d@d.test"})),
    )
    .expect(201);
    as_(
        &support,
        "POST",
        "/accounts",
        Some(json!({"name": "A", "billing_email": "a@a.test", "time_zone": "UTC"})),
    )
    .expect(201);
    let key = as_(
        &support,
        "POST",
        "/keys",
        Some(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": ["ReadAll"]})),
    )
    .expect(201);
    as_(
        &support,
        "POST",
        &format!("/keys/{}/enable", key["id"]),
        Some(json!({})),
    )
    .expect(200);
    as_(&support, "GET", "/quote?permissions=Comm", None).expect(200);
    // ...but not prices, nor the audit log.
    let price = json!({"item": "basic", "monthly_price": "16.00", "effective_from": "2030-01-01"});
    as_(&support, "POST", "/price-book", Some(price.clone())).expect_error(403, "forbidden");
    as_(
        &support,
        "PUT",
        &format!("/accounts/{}/prices", seed.account_id),
        Some(price.clone()),
    )
    .expect_error(403, "forbidden");
    as_(&support, "GET", "/audit", None).expect_error(403, "forbidden");
    // Billing may set prices; only admin reads the audit log.
    as_(&billing, "POST", "/price-book", Some(price.clone())).expect(201);
    as_(
        &billing,
        "PUT",
        &format!("/accounts/{}/prices", seed.account_id),
        Some(price),
    )
    .expect(200);
    as_(&billing, "GET", "/audit", None).expect_error(403, "forbidden");
    app.get("/audit").expect(200);
}

#[test]
fn every_write_is_audited_with_actor_and_before_after() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let key = app.key(&seed, &["ReadAll"], None);
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["ReadAll", "Comm"]}),
    )
    .expect(200);
    let log = app
        .get(&format!("/audit?object_type=key&object_id={id}"))
        .expect(200);
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let change = &rows[0];
    assert_eq!(change["action"], "key.permissions_set");
    assert!(change["actor"]
        .as_str()
        .unwrap()
        .starts_with("root@keybill.test"));
    assert_eq!(change["before"]["permissions"], json!(["ReadAll"]));
    assert_eq!(
        change["after"]["key"]["permissions"],
        json!(["ReadAll", "Comm"])
    );
    assert_eq!(rows[1]["action"], "key.create");
    // Secrets never reach the log.
    let all = app.get("/audit?limit=500").expect(200).to_string();
    assert!(!all.contains(key["customer_key"].as_str().unwrap()));
    assert!(!all.contains(&seed.developer_key));
    let actions: Vec<String> = app
        .get("/audit?limit=500")
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "developer.create",
        "account.create",
        "location.create",
        "staff.add",
        "staff.token.issue",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
}

#[test]
fn prices_are_validated_effective_dated_and_quoted() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let book = |b: serde_json::Value| app.post("/price-book", b);
    book(json!({"item": "texting_asap", "monthly_price": "5.00", "effective_from": "2026-01-01"}))
        .expect_error(422, "validation_failed");
    book(json!({"item": "gold", "monthly_price": "5.00", "effective_from": "2026-01-01"}))
        .expect_error(422, "validation_failed");
    book(json!({"item": "basic", "monthly_price": "-1.00", "effective_from": "2026-01-01"}))
        .expect_error(422, "validation_failed");
    book(json!({"item": "basic", "monthly_price": "1.005", "effective_from": "2026-01-01"}))
        .expect_error(422, "validation_failed");
    book(json!({"item": "basic", "monthly_price": 15, "effective_from": "2026-01-01"}))
        .expect_error(422, "validation_failed");
    book(json!({"item": "basic", "monthly_price": "15.00", "effective_from": "2026-02-30"}))
        .expect_error(422, "validation_failed");

    let q = app.get("/quote?permissions=ReadAll,Comm").expect(200);
    assert_eq!(
        (
            q["tier"].as_str(),
            q["monthly_price"].as_str(),
            q["throttle_ms"].as_i64()
        ),
        (Some("basic"), Some("15.00"), Some(1000))
    );
    assert_eq!(q["add_ons"], json!([]));
    let q = app
        .get("/quote?permissions=Enterprise,TextingASAP")
        .expect(200);
    assert_eq!(
        (
            q["tier"].as_str(),
            q["monthly_price"].as_str(),
            q["throttle_ms"].as_i64()
        ),
        (Some("free"), Some("0.00"), Some(500))
    );
    assert_eq!(q["add_ons"], json!(["texting_asap", "enterprise"]));
    app.get("/quote?permissions=ReadAll,Nope")
        .expect_error(422, "unknown_permission");

    // A list price change from today on shows in the quote (API and CLI).
    let today = chrono::Utc::now().date_naive().to_string();
    let created = book(json!({"item": "basic", "monthly_price": "17.25", "effective_from": today}))
        .expect(201);
    assert_eq!(created["monthly_price"], "17.25");
    assert_eq!(
        app.get("/quote?permissions=Comm").expect(200)["monthly_price"],
        "17.25"
    );
    let out = app.cli(&["quote", "Comm"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "basic  17.25 USD/location/month  1 request per 1 s"
    );
    // A future change does not show yet; an account's own price wins for it.
    book(json!({"item": "basic", "monthly_price": "99.00", "effective_from": "2999-01-01"}))
        .expect(201);
    assert_eq!(
        app.get("/quote?permissions=Comm").expect(200)["monthly_price"],
        "17.25"
    );
    app.put(
        &format!("/accounts/{}/prices", seed.account_id),
        json!({"item": "basic", "monthly_price": "9.99", "effective_from": "2020-01-01"}),
    )
    .expect(200);
    let own = app
        .get(&format!(
            "/quote?permissions=Comm&account_id={}",
            seed.account_id
        ))
        .expect(200);
    assert_eq!(own["monthly_price"], "9.99");
    let listed = app
        .get(&format!("/accounts/{}/prices", seed.account_id))
        .expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Setting the same item and date again replaces the price.
    app.put(
        &format!("/accounts/{}/prices", seed.account_id),
        json!({"item": "basic", "monthly_price": "8.00", "effective_from": "2020-01-01"}),
    )
    .expect(200);
    let listed = app
        .get(&format!("/accounts/{}/prices", seed.account_id))
        .expect(200);
    assert_eq!(
        (
            listed.as_array().unwrap().len(),
            listed[0]["monthly_price"].as_str()
        ),
        (1, Some("8.00"))
    );
    app.put(
        "/accounts/999/prices",
        json!({"item": "basic", "monthly_price": "1.00", "effective_from": "2020-01-01"}),
    )
    .expect_error(404, "not_found");
}

#[test]
fn staff_commands_print_secrets_alone_and_refuse_bad_input() {
    let dir = TempDir::new("staff");
    let db = TestDb::new(&dir);
    let env = [("KEYBILL_DATABASE_URL", db.url.as_str())];
    let run = |args: &[&str]| keybill(&dir, args, &env);
    let added = run(&["staff", "add", "ops@keybill.test", "--role", "billing"]);
    assert!(added.status.success());
    let password = String::from_utf8(added.stdout).unwrap();
    assert_eq!(password.trim().len(), 20);
    assert_eq!(password.lines().count(), 1);

    let again = run(&["staff", "add", "OPS@keybill.test", "--role", "admin"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(
        run(&["staff", "add", "ops2@keybill.test", "--role", "owner"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["staff", "add", "not-an-email", "--role", "admin"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["staff", "token", "nobody@keybill.test"])
            .status
            .code(),
        Some(2)
    );
    let token = run(&["staff", "token", "ops@keybill.test"]);
    assert!(token.status.success());
    assert_eq!(String::from_utf8(token.stdout).unwrap().trim().len(), 32);
    let migrate = run(&["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    // An unreachable database is a one-line reason naming the cause, exit 1.
    let out = keybill(
        &dir,
        &["migrate"],
        &[("KEYBILL_DATABASE_URL", "postgres://nobody@127.0.0.1:9/x")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PostgreSQL") && err.contains("refused"),
        "{err}"
    );
    let out = keybill(&dir, &["migrate"], &[("KEYBILL_DATABASE_URL", "mysql://x")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_first_start_creates_an_admin_and_prints_its_password_once() {
    let dir = TempDir::new("first-start");
    let db = TestDb::new(&dir);
    let env = [("KEYBILL_DATABASE_URL", db.url.as_str())];
    let first = Server::start(&dir, &env);
    let password = first.stdout_line();
    assert_eq!(password.len(), 20, "{password:?}");
    drop(first);
    let second = Server::start(&dir, &env);
    assert!(
        second.try_stdout_line().is_none(),
        "the password is printed only on the first start"
    );
    // The admin exists and can be given a token.
    let out = keybill(&dir, &["staff", "token", "admin@localhost"], &env);
    assert!(out.status.success());
}
