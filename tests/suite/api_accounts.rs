//! Developers, accounts and locations through the JSON API; validation; secrets at rest.

use diesel::prelude::*;
use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn developers_get_a_key_once_and_only_its_hash_is_stored() {
    let app = TestApp::start();
    let dev = app
        .post(
            "/developers",
            json!({"name": " Acme Apps ", "email": "Dev@Acme.TEST"}),
        )
        .expect(201);
    assert_eq!(dev["name"], "Acme Apps");
    assert_eq!(dev["email"], "dev@acme.test");
    let key = dev["developer_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32);
    let id = dev["id"].as_i64().unwrap();

    let fetched = app.get(&format!("/developers/{id}")).expect(200);
    assert_eq!(fetched["name"], "Acme Apps");
    assert!(
        fetched.get("developer_key").is_none(),
        "the key is shown only once"
    );
    assert!(!fetched.to_string().contains(&key));
    assert_eq!(
        app.get("/developers").expect(200).as_array().unwrap().len(),
        1
    );

    // At rest: the SHA-256 of the key, never the key.
    diesel::table! { developers (id) { id -> BigInt, key_hash -> Text, } }
    let stored: String = developers::table
        .find(id)
        .select(developers::key_hash)
        .first(&mut app.db.connect())
        .unwrap();
    assert_eq!(stored, keybill::secrets::hash(&key));
    assert!(!stored.contains(&key));
}

#[test]
fn accounts_and_locations() {
    let app = TestApp::start();
    let account = app
        .post(
            "/accounts",
            json!({"name": "Smile Dental", "billing_email": "billing@smile.test", "time_zone": "America/Chicago"}),
        )
        .expect(201);
    let id = account["id"].as_i64().unwrap();
    assert_eq!(account["time_zone"], "America/Chicago");
    let fetched = app.get(&format!("/accounts/{id}")).expect(200);
    for field in ["id", "name", "billing_email", "time_zone"] {
        assert_eq!(fetched[field], account[field], "{field}");
    }
    let location = app
        .post(
            &format!("/accounts/{id}/locations"),
            json!({"name": "Main St"}),
        )
        .expect(201);
    assert_eq!(location["account_id"], id);
    assert_eq!(location["name"], "Main St");
    assert!(location["id"].as_i64().is_some());
    let list = app.get(&format!("/accounts/{id}/locations")).expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1);

    app.post("/accounts/999/locations", json!({"name": "Nowhere"}))
        .expect_error(404, "not_found");
    app.get("/accounts/999").expect_error(404, "not_found");
    app.get("/accounts/abc").expect_error(404, "not_found");
    let search = app.get("/accounts?q=smile").expect(200);
    assert_eq!(search.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/accounts?q=zzz")
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn every_field_is_validated() {
    let app = TestApp::start();
    let account = |name: serde_json::Value, email: serde_json::Value, zone: serde_json::Value| {
        app.post(
            "/accounts",
            json!({"name": name, "billing_email": email, "time_zone": zone}),
        )
    };
    account(json!("A"), json!("a@b.test"), json!("Mars/Olympus"))
        .expect_error(422, "invalid_time_zone");
    account(json!("A"), json!("a@b.test"), json!("america/chicago"))
        .expect_error(422, "invalid_time_zone");
    account(json!("A"), json!("a@b.test"), json!("")).expect_error(422, "invalid_time_zone");
    account(json!(""), json!("a@b.test"), json!("UTC")).expect_error(422, "validation_failed");
    account(json!("   "), json!("a@b.test"), json!("UTC")).expect_error(422, "validation_failed");
    account(json!("x".repeat(201)), json!("a@b.test"), json!("UTC"))
        .expect_error(422, "validation_failed");
    account(json!("A"), json!("not-an-email"), json!("UTC")).expect_error(422, "validation_failed");
    account(json!("A"), json!("a@b@c"), json!("UTC")).expect_error(422, "validation_failed");
    account(json!(5), json!("a@b.test"), json!("UTC")).expect_error(422, "validation_failed");
    account(json!(null), json!("a@b.test"), json!("UTC")).expect_error(422, "validation_failed");
    app.post("/accounts", json!({"name": "A", "time_zone": "UTC"}))
        .expect_error(422, "validation_failed");
    app.post("/developers", json!({"name": "A", "email": ""}))
        .expect_error(422, "validation_failed");
    app.post(
        "/developers",
        json!({"name": "\u{0007}bell", "email": "a@b.test"}),
    )
    .expect_error(422, "validation_failed");
    // Nothing half-written: no account or developer exists after all those refusals.
    assert_eq!(
        app.get("/accounts").expect(200).as_array().unwrap().len(),
        0
    );
    assert_eq!(
        app.get("/developers").expect(200).as_array().unwrap().len(),
        0
    );
    account(json!("Ok"), json!("ok@b.test"), json!("Asia/Tokyo")).expect(201);
}

#[test]
fn malformed_bodies_and_unknown_routes() {
    let app = TestApp::start();
    let url = app.server.url("/api/v1/accounts");
    let raw = |body: &str| {
        let resp = app
            .agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", app.token))
            .set("Content-Type", "application/json")
            .send_string(body);
        let resp = match resp {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let status = resp.status();
        let body: serde_json::Value = resp.into_json().unwrap();
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(raw("{not json"), (400, "bad_request".into()));
    assert_eq!(raw(""), (400, "bad_request".into()));
    assert_eq!(raw("[1,2]"), (422, "validation_failed".into()));
    app.get("/no-such-thing").expect_error(404, "not_found");
}
