//! Spawning the real `keybill` binary and talking to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_keybill");

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keybill-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `keybill ARGS` in `dir`, with a clean `KEYBILL_*` environment plus `env`.
pub fn keybill(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run keybill")
}

fn command(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&dir.0).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYBILL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("KEYBILL_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A running `keybill serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Everything the server wrote on stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stdout: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts `keybill serve --bind 127.0.0.1:0` and waits for its listening line.
    pub fn start(dir: &TempDir, env: &[(&str, &str)]) -> Server {
        let mut child = command(dir, &["serve", "--bind", "127.0.0.1:0"], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keybill serve");
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (out_tx, out_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let (addr_tx, addr_rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log_writer = log.clone();
        std::thread::spawn(move || {
            // The listening line means up; end of stderr before it means the server
            // exited, and its last line says why.
            let mut last = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("keybill: listening on ") {
                    let _ = addr_tx.send(Ok(url.to_owned()));
                }
                eprintln!("[server] {line}");
                log_writer.lock().unwrap().push(line.clone());
                last = line;
            }
            let _ = addr_tx.send(Err(last));
        });
        let base = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(url)) => url,
            failed => {
                // Never leave a half-started server behind.
                let _ = child.kill();
                let _ = child.wait();
                match failed {
                    Ok(Err(line)) => panic!("server failed to start: {line}"),
                    _ => panic!("server did not report its address"),
                }
            }
        };
        Server {
            child,
            base,
            log,
            stdout: std::sync::Mutex::new(out_rx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// How many log lines contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    }

    /// The next line the server printed on stdout (waits up to 5 s).
    pub fn stdout_line(&self) -> String {
        self.stdout
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(5))
            .expect("a line on stdout")
    }

    /// A line on stdout if one was printed within half a second.
    pub fn try_stdout_line(&self) -> Option<String> {
        self.stdout
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_millis(500))
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that never follows redirects and never turns 4xx/5xx into errors.
pub fn http() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build()
}

/// Any response, error statuses included.
pub fn send(req: ureq::Request) -> ureq::Response {
    match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    }
}

/// A fresh database for one test: a SQLite file in the test's directory, or, when
/// `KEYBILL_TEST_DATABASE_URL` names a PostgreSQL server, a new database created there
/// and dropped afterwards. A server that was named but cannot be reached fails the test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new(dir: &TempDir) -> TestDb {
        match std::env::var("KEYBILL_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            None => TestDb {
                url: format!("sqlite://{}", dir.0.join("keybill.db").display()),
                pg: None,
            },
            Some(admin) => {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "kb_test_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                );
                pg_admin(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
                pg_admin(&admin, &format!("CREATE DATABASE {name}"));
                let (base, _) = admin
                    .rsplit_once('/')
                    .expect("KEYBILL_TEST_DATABASE_URL is postgres://.../db");
                TestDb {
                    url: format!("{base}/{name}"),
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// A direct connection, for checks a black-box test cannot make over HTTP (what is
    /// stored, e.g. that secrets are hashed).
    pub fn connect(&self) -> keybill::store::Db {
        keybill::store::DbUrl::parse(&self.url)
            .unwrap()
            .establish()
            .unwrap()
    }
}

fn pg_admin(admin_url: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(admin_url).unwrap_or_else(|e| {
        panic!("KEYBILL_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
    });
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            if let Ok(mut conn) = diesel::PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A running server on its own database, with an admin API token.
pub struct TestApp {
    pub server: Server,
    /// The password of the admin `root@keybill.test`.
    pub password: String,
    pub db: TestDb,
    pub dir: TempDir,
    pub token: String,
    pub agent: ureq::Agent,
}

/// A JSON answer: status and body (`Value::Null` when the body is empty).
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        self.body
    }

    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
        assert!(self.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

impl TestApp {
    pub fn start() -> TestApp {
        TestApp::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> TestApp {
        let dir = TempDir::new("app");
        let db = TestDb::new(&dir);
        let password = cli_secret(
            &dir,
            &db,
            &["staff", "add", "root@keybill.test", "--role", "admin"],
        );
        assert_eq!(password.len(), 20, "a generated password");
        let token = cli_secret(&dir, &db, &["staff", "token", "root@keybill.test"]);
        let mut all_env = vec![("KEYBILL_DATABASE_URL", db.url.as_str())];
        all_env.extend_from_slice(env);
        let server = Server::start(&dir, &all_env);
        TestApp {
            server,
            password,
            db,
            dir,
            token,
            agent: http(),
        }
    }

    /// Runs `keybill ARGS` against this app's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        keybill(&self.dir, args, &[("KEYBILL_DATABASE_URL", &self.db.url)])
    }

    /// A new staff member of `role` with an API token; returns the token.
    pub fn staff_token(&self, email: &str, role: &str) -> String {
        cli_secret(
            &self.dir,
            &self.db,
            &["staff", "add", email, "--role", role],
        );
        cli_secret(&self.dir, &self.db, &["staff", "token", email])
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
    ) -> Answer {
        let url = self.server.url(&format!("/api/v1{path}"));
        let mut req = self.agent.request(method, &url);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or_default().to_owned();
                (n, v)
            })
            .collect();
        let text = resp.into_string().unwrap_or_default();
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        Answer {
            status,
            body,
            headers,
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, Some(&self.token))
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> Answer {
        self.call("POST", path, Some(body), Some(&self.token))
    }

    pub fn put(&self, path: &str, body: serde_json::Value) -> Answer {
        self.call("PUT", path, Some(body), Some(&self.token))
    }

    /// A developer, an account in `zone` with one location; returns their ids.
    pub fn seed(&self, zone: &str) -> Seed {
        let developer = self
            .post(
                "/developers",
                serde_json::json!({"name": "Acme Apps", "email": "dev@acme.test"}),
            )
            .expect(201);
        let account = self
            .post(
                "/accounts",
                serde_json::json!({"name": "Smile Dental", "billing_email": "billing@smile.test", "time_zone": zone}),
            )
            .expect(201);
        let account_id = account["id"].as_i64().unwrap();
        let location = self
            .post(
                &format!("/accounts/{account_id}/locations"),
                serde_json::json!({"name": "Main St"}),
            )
            .expect(201);
        Seed {
            developer_id: developer["id"].as_i64().unwrap(),
            developer_key: developer["developer_key"].as_str().unwrap().to_owned(),
            account_id,
            location_id: location["id"].as_i64().unwrap(),
        }
    }

    /// A key with `permissions`, created (and optionally back-dated) for the seed.
    pub fn key(
        &self,
        seed: &Seed,
        permissions: &[&str],
        effective_at: Option<&str>,
    ) -> serde_json::Value {
        let mut body = serde_json::json!({
            "account_id": seed.account_id, "developer_id": seed.developer_id, "permissions": permissions,
        });
        if let Some(at) = effective_at {
            body["effective_at"] = serde_json::json!(at);
        }
        self.post("/keys", body).expect(201)
    }
}

pub struct Seed {
    pub developer_id: i64,
    pub developer_key: String,
    pub account_id: i64,
    pub location_id: i64,
}

/// Runs a command that prints one secret alone on stdout; returns it.
fn cli_secret(dir: &TempDir, db: &TestDb, args: &[&str]) -> String {
    let out = keybill(dir, args, &[("KEYBILL_DATABASE_URL", &db.url)]);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "{args:?} prints the secret alone: {stdout:?}"
    );
    stdout.trim().to_owned()
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 32].to_owned()
}

impl TestApp {
    /// Signs a staff member in to the admin pages; returns the `Cookie` header value.
    pub fn staff_cookie(&self, email: &str, password: &str) -> String {
        let login = self
            .agent
            .post(&self.server.url("/admin/login"))
            .send_form(&[("email", email), ("password", password)]);
        let login = match login {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(login.status(), 303, "signed in");
        login
            .header("Set-Cookie")
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }
}
