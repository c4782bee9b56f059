//! The check endpoint: statuses, reasons and headers, both flavours, modes, page
//! limits, how fast changes take effect, and exact throttling under concurrency.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Seed, Server, TestApp};

/// A key that is created, assigned and enabled; returns its id and Authorization value.
pub fn ready_key(app: &TestApp, seed: &Seed, perms: &[&str]) -> (i64, String) {
    let key = app.key(seed, perms, None);
    let id = key["id"].as_i64().unwrap();
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id}),
    )
    .expect(200);
    app.post(&format!("/keys/{id}/enable"), json!({}))
        .expect(200);
    (
        id,
        format!(
            "ODFHIR {}/{}",
            seed.developer_key,
            key["customer_key"].as_str().unwrap()
        ),
    )
}

pub struct Check {
    pub status: u16,
    pub body: String,
    headers: Vec<(String, String)>,
}

impl Check {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Asks `path` (`/authz` or `/authz/nginx`) about `method uri`.
pub fn check_at(
    server: &Server,
    path: &str,
    auth: Option<&str>,
    method: &str,
    uri: &str,
    mode: Option<&str>,
) -> Check {
    let mut req = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .get(&server.url(path))
        .set("X-Original-Method", method)
        .set("X-Original-URI", uri);
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    if let Some(m) = mode {
        req = req.set("X-Keybill-Mode", m);
    }
    let resp = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or_default().to_owned();
            (n, v)
        })
        .collect();
    let status = resp.status();
    Check {
        status,
        body: resp.into_string().unwrap_or_default(),
        headers,
    }
}

fn check(app: &TestApp, auth: Option<&str>, method: &str, uri: &str, mode: Option<&str>) -> Check {
    check_at(&app.server, "/authz", auth, method, uri, mode)
}

#[test]
fn every_status_reason_and_header() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (id, auth) = ready_key(&app, &seed, &["ReadAll", "Comm"]);
    let local = Some("local");

    let ok = check(
        &app,
        Some(&auth),
        "PUT",
        "/api/v1/appointments/5/Break?x=1",
        local,
    );
    assert_eq!(ok.status, 204, "{}", ok.body);
    assert!(ok.body.is_empty());
    assert_eq!(ok.header("X-Keybill-Key"), Some(id.to_string().as_str()));
    assert_eq!(
        ok.header("X-Keybill-Account"),
        Some(seed.account_id.to_string().as_str())
    );
    assert_eq!(
        ok.header("X-Keybill-Location"),
        Some(seed.location_id.to_string().as_str())
    );
    assert_eq!(ok.header("X-Keybill-Permission"), Some("Comm"));
    assert_eq!(ok.header("X-Keybill-Max-Limit"), Some("1000"));
    assert_eq!(
        check(&app, Some(&auth), "GET", "/patients", Some("service")).header("X-Keybill-Max-Limit"),
        Some("1000")
    );

    // 403 names the missing permission.
    let no = check(&app, Some(&auth), "PUT", "/appointments/34", local);
    assert_eq!(no.status, 403);
    assert!(
        no.body.contains("Appointments") && no.body.lines().count() == 1,
        "{}",
        no.body
    );

    // 400: malformed header, request line, or mode.
    for (a, method, uri, mode) in [
        ("Bearer abc", "GET", "/patients", local),
        ("ODFHIR onlyone", "GET", "/patients", local),
        (auth.as_str(), "GET", "/patients/../payments", local),
        (auth.as_str(), "GET", "/patients%2F5", local),
        (auth.as_str(), "GET", "/api/v2/patients", local),
        (auth.as_str(), "BREW", "/patients", local),
        (auth.as_str(), "GET", "/patients", Some("satellite")),
    ] {
        let c = check(&app, Some(a), method, uri, mode);
        assert_eq!(c.status, 400, "{a} {method} {uri} {mode:?}: {}", c.body);
        assert!(!c.body.trim().is_empty() && c.body.trim().lines().count() == 1);
    }
    // Only one of the two X-Original headers.
    let half = ureq::get(&app.server.url("/authz"))
        .set("Authorization", &auth)
        .set("X-Original-URI", "/patients")
        .call();
    assert_eq!(
        half.map(|r| r.status()).unwrap_or_else(|e| match e {
            ureq::Error::Status(s, _) => s,
            _ => 0,
        }),
        400
    );

    // 401 with WWW-Authenticate: ODFHIR.
    let other_dev = app
        .post("/developers", json!({"name": "Other", "email": "o@o.test"}))
        .expect(201);
    let customer = auth.split('/').nth(1).unwrap();
    let cases = [
        (None, "missing"),
        (
            Some(format!("ODFHIR {}/nosuchcustomerkey", seed.developer_key)),
            "unknown customer key",
        ),
        (
            Some(format!("ODFHIR nosuchdeveloperkey/{customer}")),
            "unknown developer key",
        ),
        (
            Some(format!(
                "ODFHIR {}/{customer}",
                other_dev["developer_key"].as_str().unwrap()
            )),
            "another developer",
        ),
    ];
    for (a, reason) in cases {
        let c = check(&app, a.as_deref(), "GET", "/patients", local);
        assert_eq!(c.status, 401, "{reason}");
        assert_eq!(c.header("WWW-Authenticate"), Some("ODFHIR"));
        assert!(c.body.contains(reason), "{reason}: {}", c.body);
    }
    let pending = app.key(&seed, &["ReadAll"], None);
    let pending_auth = format!(
        "ODFHIR {}/{}",
        seed.developer_key,
        pending["customer_key"].as_str().unwrap()
    );
    assert!(check(&app, Some(&pending_auth), "GET", "/patients", local)
        .body
        .contains("not been enabled"));
    app.post(&format!("/keys/{}/enable", pending["id"]), json!({}))
        .expect(200);
    let unassigned = check(&app, Some(&pending_auth), "GET", "/patients", local);
    assert_eq!(unassigned.status, 401);
    assert!(
        unassigned.body.contains("not assigned"),
        "{}",
        unassigned.body
    );
    app.post(&format!("/keys/{id}/disable"), json!({"by": "customer"}))
        .expect(200);
    let disabled = check(&app, Some(&auth), "GET", "/patients", local);
    assert_eq!(
        (disabled.status, disabled.body.contains("disabled")),
        (401, true)
    );
}

#[test]
fn remote_mode_throttles_and_says_when_to_retry() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let first = check(&app, Some(&auth), "GET", "/patients", None);
    assert_eq!(first.status, 204);
    assert_eq!(first.header("X-Keybill-Max-Limit"), Some("100"));
    let second = check(&app, Some(&auth), "GET", "/patients/1", Some("remote"));
    assert_eq!(second.status, 429);
    let retry: u64 = second.header("Retry-After").unwrap().parse().unwrap();
    assert!(
        (1..=5).contains(&retry),
        "a ReadAll-only key waits up to 5 s: {retry}"
    );
    // Denied requests do not count: a 403 does not use up the slot of another key.
    let (_, comm) = ready_key(&app, &seed, &["Comm"]);
    assert_eq!(
        check(&app, Some(&comm), "GET", "/patients", None).status,
        403
    );
    assert_eq!(
        check(&app, Some(&comm), "PUT", "/appointments/1/Break", None).status,
        204
    );
    // Local and service modes are not throttled.
    for _ in 0..5 {
        assert_eq!(
            check(&app, Some(&auth), "GET", "/patients", Some("local")).status,
            204
        );
    }
}

#[test]
fn enterprise_raises_page_limits_and_speeds_the_throttle() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    app.put(
        &format!("/accounts/{}/prices", seed.account_id),
        json!({"item": "enterprise", "monthly_price": "20.00", "effective_from": "2026-01-01"}),
    )
    .expect(200);
    let (_, auth) = ready_key(&app, &seed, &["ReadAll", "Enterprise"]);
    assert_eq!(
        check(&app, Some(&auth), "GET", "/patients", None).header("X-Keybill-Max-Limit"),
        Some("1000")
    );
    assert_eq!(
        check(&app, Some(&auth), "GET", "/patients", Some("local")).header("X-Keybill-Max-Limit"),
        Some("10000")
    );
    std::thread::sleep(Duration::from_millis(550));
    assert_eq!(
        check(&app, Some(&auth), "GET", "/patients", None).status,
        204,
        "500 ms later a new slot"
    );
}

#[test]
fn the_nginx_flavour_answers_only_204_401_and_403() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let n =
        |a: Option<&str>, m: &str, u: &str| check_at(&app.server, "/authz/nginx", a, m, u, None);
    assert_eq!(n(Some(&auth), "GET", "/patients").status, 204);
    let throttled = n(Some(&auth), "GET", "/patients");
    assert_eq!(
        (throttled.status, throttled.header("X-Keybill-Deny")),
        (403, Some("throttled"))
    );
    assert!(throttled.header("Retry-After").is_some());
    let forbidden = n(Some(&auth), "POST", "/patients");
    assert_eq!(
        (forbidden.status, forbidden.header("X-Keybill-Deny")),
        (403, Some("permission"))
    );
    let malformed = n(Some(&auth), "GET", "//patients");
    assert_eq!(
        (malformed.status, malformed.header("X-Keybill-Deny")),
        (403, Some("malformed"))
    );
    let unknown = n(Some("ODFHIR a/b"), "GET", "/patients");
    assert_eq!(
        (unknown.status, unknown.header("X-Keybill-Deny")),
        (401, None)
    );
}

#[test]
fn envoy_style_uses_the_method_and_uri_after_the_prefix() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll", "Patients"]);
    let call = |method: &str, path: &str| {
        let r = ureq::request(method, &app.server.url(path))
            .set("Authorization", &auth)
            .set("X-Keybill-Mode", "local")
            .call();
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => (
                r.status(),
                r.header("X-Keybill-Permission").map(str::to_owned),
            ),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(
        call("GET", "/authz/api/v1/patients/48?Limit=5"),
        (204, Some("ReadAll".into()))
    );
    assert_eq!(
        call("POST", "/authz/patients"),
        (204, Some("Patients".into()))
    );
    assert_eq!(call("DELETE", "/authz/patients/4").0, 403);
    assert_eq!(call("GET", "/authz").0, 400, "no request after the prefix");
}

#[test]
fn changes_reach_this_server_at_once_and_another_within_a_second() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (id, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let other = Server::start(&app.dir, &[("KEYBILL_DATABASE_URL", &app.db.url)]);
    let status = |s: &Server, method: &str, uri: &str| {
        check_at(s, "/authz", Some(&auth), method, uri, Some("local")).status
    };
    assert_eq!(status(&other, "GET", "/patients"), 204);

    let within_a_second = |what: &str, expect: u16, method: &str, uri: &str| {
        // This server answered the change's request after updating itself.
        assert_eq!(
            status(&app.server, method, uri),
            expect,
            "{what}: this server"
        );
        let start = Instant::now();
        loop {
            if status(&other, method, uri) == expect {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{what}: the other server still answers the old state"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    app.put(
        &format!("/keys/{id}/permissions"),
        json!({"permissions": ["ReadAll", "Patients"]}),
    )
    .expect(200);
    within_a_second("permissions", 204, "POST", "/patients");
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": null}),
    )
    .expect(200);
    within_a_second("unassigned", 401, "GET", "/patients");
    app.put(
        &format!("/keys/{id}/location"),
        json!({"location_id": seed.location_id}),
    )
    .expect(200);
    within_a_second("assigned", 204, "GET", "/patients");
    app.post(&format!("/keys/{id}/disable"), json!({}))
        .expect(200);
    within_a_second("disabled", 401, "GET", "/patients");
}

#[test]
fn parallel_requests_inside_one_interval_allow_exactly_one() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let statuses = parallel(&[&app.server], &auth, 24);
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 204 || *s == 429),
        "{statuses:?}"
    );
}

/// `n` requests for one key at once, spread over `servers`; their statuses.
pub fn parallel(servers: &[&Server], auth: &str, n: usize) -> Vec<u16> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let server = servers[i % servers.len()];
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    check_at(server, "/authz", Some(auth), "GET", "/patients", None).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn usage_is_counted_per_key_and_day() {
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (id, auth) = ready_key(&app, &seed, &["ReadAll"]);
    for _ in 0..3 {
        check(&app, Some(&auth), "GET", "/patients", Some("local"));
    }
    check(&app, Some(&auth), "POST", "/patients", Some("local"));
    check(&app, Some(&auth), "GET", "/patients", None);
    check(&app, Some(&auth), "GET", "/patients", None);
    let start = Instant::now();
    loop {
        let usage = app.get(&format!("/keys/{id}/usage")).expect(200);
        let today = &usage[0];
        if today["allowed"] == 4 {
            assert_eq!(
                (today["denied"].as_i64(), today["throttled"].as_i64()),
                (Some(1), Some(1))
            );
            assert_eq!(today["day"], chrono::Utc::now().date_naive().to_string());
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "usage not written: {usage}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
