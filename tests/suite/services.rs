//! Tests against real Redis and nginx processes that the test starts itself, so it can
//! stop and restart them. They run when `.ci/run` names the binaries:
//! `KEYBILL_TEST_REDIS_SERVER=/usr/bin/redis-server`, `KEYBILL_TEST_NGINX=/usr/sbin/nginx`.
//! Named but missing or failing is a test failure, never a skip.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::authz::{check_at, parallel, ready_key};
use crate::helpers::{Server, TempDir, TestApp};

fn binary(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) if !path.is_empty() => {
            assert!(
                std::path::Path::new(&path).exists(),
                "{var}={path} does not exist"
            );
            Some(path)
        }
        _ => {
            eprintln!("note: {var} is not set; this test needs it (.ci/run sets it)");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Redis {
    child: Child,
}

impl Redis {
    fn start(bin: &str, port: u16) -> Redis {
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        wait_for_port(port, "redis-server");
        Redis { child }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_servers_sharing_redis_allow_exactly_one_request_per_interval() {
    let Some(bin) = binary("KEYBILL_TEST_REDIS_SERVER") else {
        return;
    };
    let port = free_port();
    let _redis = Redis::start(&bin, port);
    let url = format!("redis://127.0.0.1:{port}/");
    let app = TestApp::start_with(&[("KEYBILL_REDIS_URL", &url)]);
    let second = Server::start(
        &app.dir,
        &[
            ("KEYBILL_DATABASE_URL", &app.db.url),
            ("KEYBILL_REDIS_URL", &url),
        ],
    );
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll"]);
    // The second server learns of the new key from the change feed.
    let start = Instant::now();
    while check_at(
        &second,
        "/authz",
        Some(&auth),
        "GET",
        "/patients",
        Some("local"),
    )
    .status
        != 204
    {
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(20));
    }
    let statuses = parallel(&[&app.server, &second], &auth, 24);
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

#[test]
fn when_redis_stops_servers_throttle_alone_and_share_again_when_it_is_back() {
    let Some(bin) = binary("KEYBILL_TEST_REDIS_SERVER") else {
        return;
    };
    let port = free_port();
    let redis = Redis::start(&bin, port);
    let url = format!("redis://127.0.0.1:{port}/");
    let app = TestApp::start_with(&[("KEYBILL_REDIS_URL", &url)]);
    let seed = app.seed("UTC");
    let (_, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let remote = |auth: &str| check_at(&app.server, "/authz", Some(auth), "GET", "/patients", None);
    assert_eq!(remote(&auth).status, 204);
    assert_eq!(remote(&auth).status, 429);

    drop(redis);
    // Documented behaviour: every answer still comes (no 5xx), throttled per server.
    let (_, fresh) = ready_key(&app, &seed, &["Comm"]);
    let statuses: Vec<u16> = (0..5)
        .map(|_| {
            check_at(
                &app.server,
                "/authz",
                Some(&fresh),
                "PUT",
                "/appointments/1/Break",
                None,
            )
            .status
        })
        .collect();
    assert_eq!(
        statuses,
        [204, 429, 429, 429, 429],
        "per-server throttle while Redis is down"
    );
    // The log is read from the server's stderr by another thread: wait for the line.
    let start = Instant::now();
    while app.server.log_count("Redis unreachable") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the outage was not logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(app.server.log_count("Redis unreachable"), 1, "logged once");

    let _redis = Redis::start(&bin, port);
    // Recovery by itself: Redis is tried again at most a second after the failure.
    let (_, later) = ready_key(&app, &seed, &["Comm"]);
    let start = Instant::now();
    while app.server.log_count("reachable again") == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "did not recover");
        check_at(
            &app.server,
            "/authz",
            Some(&later),
            "PUT",
            "/appointments/1/Break",
            None,
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the state lives in Redis again: a second server sees the first one's slot.
    let second = Server::start(
        &app.dir,
        &[
            ("KEYBILL_DATABASE_URL", &app.db.url),
            ("KEYBILL_REDIS_URL", &url),
        ],
    );
    let (_, shared) = ready_key(&app, &seed, &["Comm"]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        check_at(
            &app.server,
            "/authz",
            Some(&shared),
            "PUT",
            "/appointments/1/Break",
            None
        )
        .status,
        204
    );
    assert_eq!(
        check_at(
            &second,
            "/authz",
            Some(&shared),
            "PUT",
            "/appointments/1/Break",
            None
        )
        .status,
        429
    );
    assert_eq!(app.server.log_count("Redis unreachable"), 1);
}

/// A tiny HTTP upstream standing in for the API: counts requests, remembers the
/// X-Keybill-Key header it was sent.
struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
    keys: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let keys = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, k) = (hits.clone(), keys.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (h, k) = (h.clone(), k.clone());
                std::thread::spawn(move || serve_upstream(stream, &h, &k));
            }
        });
        Upstream { port, hits, keys }
    }
}

fn serve_upstream(stream: TcpStream, hits: &AtomicUsize, keys: &std::sync::Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("x-keybill-key") {
                    keys.lock().unwrap().push(value.trim().to_owned());
                }
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        hits.fetch_add(1, Ordering::SeqCst);
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nupstream ok\n");
    }
}

#[test]
fn nginx_in_front_passes_allowed_requests_and_maps_refusals() {
    let Some(bin) = binary("KEYBILL_TEST_NGINX") else {
        return;
    };
    let app = TestApp::start();
    let seed = app.seed("UTC");
    let (key_id, auth) = ready_key(&app, &seed, &["ReadAll"]);
    let upstream = Upstream::start();
    let port = free_port();
    let keybill_addr = app.server.base.trim_start_matches("http://").to_owned();

    // The shipped configuration, with this test's addresses.
    let shipped = include_str!("../../src/gate/nginx/keybill.conf")
        .replace("127.0.0.1:8080", &keybill_addr)
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{}", upstream.port))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{port}"));
    let dir = TempDir::new("nginx");
    let prefix = dir.0.display().to_string();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n proxy_temp_path {prefix}/proxy;\n\
         fastcgi_temp_path {prefix}/fastcgi;\n uwsgi_temp_path {prefix}/uwsgi;\n scgi_temp_path {prefix}/scgi;\n{shipped}\n}}\n"
    );
    std::fs::write(dir.0.join("nginx.conf"), conf).unwrap();
    let mut nginx = Command::new(&bin)
        .args([
            "-p",
            &prefix,
            "-c",
            &format!("{prefix}/nginx.conf"),
            "-e",
            &format!("{prefix}/error.log"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    wait_for_port(port, "nginx");

    let client = |method: &str, path: &str, auth: Option<&str>| {
        let mut req = ureq::request(method, &format!("http://127.0.0.1:{port}{path}"));
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        // A client trying to pick the request keybill judges: overwritten by nginx.
        req = req
            .set("X-Original-URI", "/patients")
            .set("X-Original-Method", "GET")
            .set("X-Keybill-Mode", "local");
        match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => {
                let retry = r.header("Retry-After").map(str::to_owned);
                let www = r.header("WWW-Authenticate").map(str::to_owned);
                (r.status(), retry, www, r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("{e}"),
        }
    };
    let (status, _, _, body) = client("GET", "/api/v1/patients?Limit=10", Some(&auth));
    assert_eq!((status, body.as_str()), (200, "upstream ok\n"));
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        upstream.keys.lock().unwrap().as_slice(),
        [key_id.to_string()]
    );

    let (status, retry, _, _) = client("GET", "/api/v1/patients", Some(&auth));
    assert_eq!(status, 429, "remote mode, whatever the client claims");
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() >= 1));
    let (status, _, www, _) = client("GET", "/api/v1/patients", Some("ODFHIR nobody/nothing"));
    assert_eq!((status, www.as_deref()), (401, Some("ODFHIR")));
    let (status, _, _, _) = client("GET", "/api/v1/patients", None);
    assert_eq!(status, 401);
    let (_, comm) = ready_key(&app, &seed, &["Comm"]);
    let (status, _, _, _) = client("POST", "/api/v1/patients", Some(&comm));
    assert_eq!(status, 403);
    let (status, _, _, _) = client("GET", "/api/v2/patients", Some(&comm));
    assert_eq!(status, 400);
    assert_eq!(
        upstream.hits.load(Ordering::SeqCst),
        1,
        "refused requests never reach the API"
    );

    let _ = nginx.kill();
    let mut err = String::new();
    if let Some(mut e) = nginx.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = nginx.wait();
}
