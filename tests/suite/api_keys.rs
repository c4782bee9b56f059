//! Keys: creation, permissions, location, enable/disable, the ledger, back-dating and
//! concurrent changes.

use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn a_key_goes_from_pending_to_enabled_to_disabled() {
    let app = TestApp::start();
    let seed = app.seed("America/Chicago");
    let key = app.key(&seed, &["ReadAll", "Comm"], None);
    assert_eq!(key["status"], "pending");
    assert_eq!(key["location_id"], serde_json::Value::Null);
    assert_eq!(key["tier"], "basic");
    assert_eq!(key["throttle_ms"], 1000);
    assert_eq!(key["permissions"], json!(["ReadAll", "Comm"]));
    let secret = key["customer_key"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    let id = key["id"].as_i64().unwrap();

    let fetched = app.get(&format!("/keys/{id}")).expect(200);
    assert!(fetched.get("customer_key").is_none());
    assert!(!fetched.to_string().contains(&secret));
    for field in [
        "id",
        "account_id",
        "developer_id",
        "location_id",
        "permissions",
        "status",
        "tier",
        "throttle_ms",
    ] {
        assert!(fetched.get(field).is_some(), "{field}");
    }

    let key = app
        .put(
            &format!("/keys/{id}/location"),
            json!({"location_id": seed.location_id}),
        )
        .expect(200);
    assert_eq!(key["location_id"], seed.location_id);
    let key = app
        .post(&format!("/keys/{id}/enable"), json!({}))
        .expect(200);
    assert_eq!(key["status"], "enabled");
    let key = app
        .put(
            &format!("/keys/{id}/permissions"),
            json!({"permissions": ["ReadAll", "Payments"]}),
        )
        .expect(200);
    assert_eq!(
        (key["tier"].as_str(), key["throttle_ms"].as_i64()),
        (Some("full"), Some(1000))
    );
    let key = app
        .put(
            &format!("/keys/{id}/permissions"),
            json!({"permissions": ["ReadAll"]}),
        )
        .expect(200);
    assert_eq!(
        (key["tier"].as_str(), key["throttle_ms"].as_i64()),
        (Some("free"), Some(5000))
    );

    for (by, status) in [
        (Some("customer"), "disabled_by_customer"),
        (Some("developer"), "disabled_by_developer"),
        (Some("staff"), "disabled_by_staff"),
        (None, "disabled_by_staff"),
    ] {
        let body = by.map_or(json!({}), |b| json!({"by": b}));
        assert_eq!(
            app.post(&format!("/keys/{id}/disable"), body).expect(200)["status"],
            status
        );
    }
    // An empty body is "now", like {}.
    let empty = app.call(
        "POST",
        &format!("/keys/{id}/enable"),
        None,
        Some(&app.token),
    );
    assert_eq!(empty.expect(200)["status"], "enabled");
    app.post(&format!("/keys/{id}/disable"), json!({"by": "hq"}))
        .expect_error(422, "validation_failed");
    let location = app
        .put(
            &format!("/keys/{id}/location"),
            json!({"location_id": null}),
        )
        .expect(200);
    assert_eq!(location["location_id"], serde_json::Value::Null);

    let events = app.get(&format!("/keys/{id}/events")).expect(200);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "location_set",
            "enabled",
            "permissions_set",
            "permissions_set",
            "disabled",
            "disabled",
            "disabled",
            "disabled",
            "enabled",
            "location_set"
        ]
    );
    assert!(events[0]["actor"]
        .as_str()
        .unwrap()
        .contains("root@keybill.test"));
}

#[test]
fn key_input_is_validated() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let other = app
        .post(
            "/accounts",
            json!({"name": "Other", "billing_email": "o@o.test", "time_zone": "UTC"}),
        )
        .expect(201);
    let foreign = app
        .post(
            &format!("/accounts/{}/locations", other["id"]),
            json!({"name": "Far"}),
        )
        .expect(201);
    let create = |body: serde_json::Value| app.post("/keys", body);
    create(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": ["ReadAll", "Teleport"]}))
        .expect_error(422, "unknown_permission");
    create(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": ["readall"]}))
        .expect_error(422, "unknown_permission");
    create(json!({"account_id": 999, "developer_id": seed.developer_id, "permissions": []}))
        .expect_error(404, "not_found");
    create(json!({"account_id": seed.account_id, "developer_id": 999, "permissions": []}))
        .expect_error(404, "not_found");
    create(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": "ReadAll"}))
        .expect_error(422, "validation_failed");
    create(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": [], "label": "x".repeat(300)}))
        .expect_error(422, "validation_failed");
    create(json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": [], "effective_at": "yesterday"}))
        .expect_error(422, "validation_failed");

    let key = app.key(&seed, &["ReadAll"], None);
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["Bogus"]}),
    )
    .expect_error(422, "unknown_permission");
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": foreign["id"]}),
    )
    .expect_error(422, "invalid_location");
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": 99999}),
    )
    .expect_error(404, "not_found");
    app.put(&format!("/keys/{id}/location"), json!({}))
        .expect_error(422, "validation_failed");
    app.get("/keys/99999").expect_error(404, "not_found");
    app.post("/keys/99999/enable", json!({}))
        .expect_error(404, "not_found");
    // After all the refusals, the key is as created: one event, no location.
    assert_eq!(
        app.get(&format!("/keys/{id}/events"))
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get(&format!("/keys/{id}")).expect(200)["location_id"],
        serde_json::Value::Null
    );
}

#[test]
fn special_permissions_need_an_agreed_account_price() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let body = json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": ["ReadAll", "TextingASAP"]});
    app.post("/keys", body.clone())
        .expect_error(422, "price_missing");
    let key = app.key(&seed, &["ReadAll"], None);
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["Enterprise"]}),
    )
    .expect_error(422, "price_missing");

    app.put(
        &format!("/accounts/{}/prices", seed.account_id),
        json!({"item": "texting_asap", "monthly_price": "12.50", "effective_from": "2026-01-01"}),
    )
    .expect(200);
    let granted = app.post("/keys", body).expect(201);
    assert_eq!(granted["add_ons"], json!(["texting_asap"]));
    assert_eq!(
        (granted["tier"].as_str(), granted["throttle_ms"].as_i64()),
        (Some("free"), Some(1000))
    );
    // Enterprise still has no price.
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["Enterprise", "TextingASAP"]}),
    )
    .expect_error(422, "price_missing");
}

#[test]
fn the_ledger_answers_what_a_key_was_at_any_instant() {
    let app = TestApp::start();
    let seed = app.seed("America/Chicago");
    let key = app.key(&seed, &["ReadAll"], Some("2026-03-01T06:00:00Z"));
    let id = key["id"].as_i64().unwrap();
    let at = |t: &str| app.get(&format!("/keys/{id}/state?at={t}")).expect(200);
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id, "effective_at": "2026-03-02T00:00:00Z"}),
    )
    .expect(200);
    app.post(
        &format!("/keys/{id}/enable"),
        json!({"effective_at": "2026-03-05T12:00:00Z"}),
    )
    .expect(200);
    app.post(
        &format!("/keys/{id}/disable"),
        json!({"effective_at": "2026-03-20T00:00:00Z", "by": "customer"}),
    )
    .expect(200);
    // A back-dated change lands in the middle of the ledger.
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["ReadAll", "Comm"], "effective_at": "2026-03-10T00:00:00+09:00"}),
    )
    .expect(200);

    assert_eq!(at("2026-03-01T05:59:59Z")["exists"], false);
    let s = at("2026-03-01T06:00:00Z");
    assert_eq!(
        (s["status"].as_str(), s["billable"].as_bool()),
        (Some("pending"), Some(false))
    );
    let s = at("2026-03-05T11:59:59.999999Z");
    assert_eq!(
        (s["location_id"].as_i64(), s["billable"].as_bool()),
        (Some(seed.location_id), Some(false))
    );
    let s = at("2026-03-05T12:00:00Z");
    assert_eq!(
        (
            s["status"].as_str(),
            s["billable"].as_bool(),
            s["tier"].as_str()
        ),
        (Some("enabled"), Some(true), Some("free"))
    );
    let s = at("2026-03-09T15:00:00Z");
    assert_eq!(s["tier"], "basic");
    let s = at("2026-03-20T00:00:00Z");
    assert_eq!(
        (s["status"].as_str(), s["billable"].as_bool()),
        (Some("disabled_by_customer"), Some(false))
    );
    // The key row is the fold of the whole ledger.
    let now = app.get(&format!("/keys/{id}")).expect(200);
    assert_eq!(
        (now["status"].as_str(), now["tier"].as_str()),
        (Some("disabled_by_customer"), Some("basic"))
    );
    app.get(&format!("/keys/{id}/state?at=garbage"))
        .expect_error(422, "validation_failed");
}

#[test]
fn back_dating_is_bounded_by_now_and_by_creation() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({"account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": [], "effective_at": future});
    app.post("/keys", body)
        .expect_error(422, "effective_in_future");
    let key = app.key(&seed, &["ReadAll"], Some("2026-06-01T00:00:00Z"));
    let id = key["id"].as_i64().unwrap();
    app.post(
        &format!("/keys/{id}/enable"),
        json!({"effective_at": future}),
    )
    .expect_error(422, "effective_in_future");
    app.post(
        &format!("/keys/{id}/enable"),
        json!({"effective_at": "2026-05-31T23:59:59Z"}),
    )
    .expect_error(422, "effective_before_creation");
    app.post(
        &format!("/keys/{id}/enable"),
        json!({"effective_at": "2026-06-01T00:00:00Z"}),
    )
    .expect(200);
}

#[test]
fn parallel_enable_disable_storms_keep_one_consistent_ledger() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let key = app.key(&seed, &["ReadAll"], None);
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id}),
    )
    .expect(200);
    let app = &app;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                s.spawn(move || {
                    let action = if i % 2 == 0 { "enable" } else { "disable" };
                    app.post(&format!("/keys/{id}/{action}"), json!({})).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let events = app.get(&format!("/keys/{id}/events")).expect(200);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2 + 32, "every change is one event, none lost");
    // The key's status is the one the last event in ledger order gives.
    let last = events.last().unwrap();
    let expected = match last["kind"].as_str().unwrap() {
        "enabled" => "enabled",
        _ => "disabled_by_staff",
    };
    assert_eq!(
        app.get(&format!("/keys/{id}")).expect(200)["status"],
        expected
    );
    let state = app
        .get(&format!(
            "/keys/{id}/state?at={}",
            chrono::Utc::now().to_rfc3339().replace('+', "%2B")
        ))
        .expect(200);
    assert_eq!(state["status"], expected);
}
