//! `keybill serve`: health, home page, headers, clean shutdown.

use std::time::{Duration, Instant};

use crate::helpers::{http, send, Server, TempDir};

#[test]
fn serves_health_and_the_home_page_with_security_headers() {
    let dir = TempDir::new("serve");
    let server = Server::start(&dir, &[]);
    let agent = http();

    let health = send(agent.get(&server.url("/healthz")));
    assert_eq!(health.status(), 200);
    assert_eq!(health.into_string().unwrap(), "ok");

    let home = send(agent.get(&server.url("/")));
    assert_eq!(home.status(), 200);
    assert!(home.content_type().starts_with("text/html"));
    let csp = home
        .header("Content-Security-Policy")
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(home.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(home.header("Referrer-Policy").is_some());
    let body = home.into_string().unwrap();
    assert!(
        body.contains("standard") && body.contains("$30.00"),
        "{body}"
    );
    assert!(body.contains("279 API methods"));

    let css = send(agent.get(&server.url("/static/app.css")));
    assert_eq!(css.status(), 200);
    assert!(css.content_type().starts_with("text/css"));
}

#[test]
fn binds_from_the_environment_when_no_flag_is_given() {
    let dir = TempDir::new("bind-env");
    // The flag wins over the environment: the server comes up on port 0 despite a
    // KEYBILL_BIND that is already taken.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = blocker.local_addr().unwrap().to_string();
    let server = Server::start(&dir, &[("KEYBILL_BIND", &taken)]);
    assert!(!server.base.ends_with(&taken));
    // Without the flag, the taken address from the environment is used and fails.
    let out = crate::helpers::keybill(&dir, &["serve"], &[("KEYBILL_BIND", &taken)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keybill: "));
}

#[cfg(unix)]
#[test]
fn shuts_down_cleanly_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let dir = TempDir::new("signal");
        let mut server = Server::start(&dir, &[]);
        let pid = server.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        let exit = loop {
            if let Some(exit) = server.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "no exit after {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "{signal}: {exit:?}");
    }
}
