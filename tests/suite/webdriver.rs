//! A minimal W3C WebDriver client (JSON over HTTP) for the browser tests: enough to
//! open pages, fill and submit forms, read text and take screenshots in headless
//! Chromium through chromedriver.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::TempDir;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start(chromedriver: &str, chromium: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = TempDir::new("chromium");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ];
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(format!("--user-data-dir={}", profile.0.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": all}
        }}});
        let created: Value = ureq::post(&format!("{base}/session"))
            .send_json(caps)
            .expect("new session")
            .into_json()
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let browser = Browser {
            driver,
            base,
            session,
            _profile: profile,
        };
        browser.call(
            "POST",
            "/timeouts",
            Some(json!({"implicit": 5000, "pageLoad": 20000})),
        );
        browser
    }

    /// Like `call`, but an error is `None` (during navigation scripts can fail).
    fn try_call(&self, method: &str, path: &str, body: Value) -> Option<Value> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        ureq::request(method, &url)
            .send_json(body)
            .ok()?
            .into_json::<Value>()
            .ok()
            .map(|v| v["value"].clone())
    }

    /// Clicks something that loads a new page (a submit button, a link) and waits
    /// until the new document has loaded.
    pub fn submit(&self, css: &str) {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "window.__kbOld = true;", "args": []})),
        );
        self.click(css);
        let start = Instant::now();
        loop {
            let done = self.try_call(
                "POST",
                "/execute/sync",
                json!({"script": "return window.__kbOld === undefined && document.readyState === 'complete';", "args": []}),
            );
            if done == Some(Value::Bool(true)) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no new page after clicking {css}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let req = ureq::request(method, &url);
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(code, r)) => panic!(
                "webdriver {method} {path}: {code} {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("webdriver {method} {path}: {e}"),
        }
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn find(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Sets a field the way a person's date picker would (datetime-local inputs do not
    /// take typed text the same way in every locale).
    pub fn set_value(&self, css: &str, value: &str) {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "document.querySelector(arguments[0]).value = arguments[1];", "args": [css, value]})),
        );
    }

    /// Chooses an option of a select by its visible text.
    pub fn select(&self, css: &str, text: &str) {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": "const s = document.querySelector(arguments[0]); for (const o of s.options) { if (o.text === arguments[1]) { s.value = o.value; } }", "args": [css, text]})),
        );
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 5 s) until the element's text contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            // The page may be reloading (a self-refreshing page): errors just mean "not yet".
            let text = self
                .try_call(
                    "POST",
                    "/element",
                    json!({"using": "css selector", "value": css}),
                )
                .and_then(|found| found[ELEMENT].as_str().map(str::to_owned))
                .and_then(|id| {
                    let url = format!("{}/session/{}/element/{id}/text", self.base, self.session);
                    ureq::get(&url).call().ok()?.into_json::<Value>().ok()
                })
                .and_then(|v| v["value"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{css} never showed {needle:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn page_text(&self) -> String {
        self.text("body")
    }

    /// Saves a PNG screenshot of the viewport.
    pub fn screenshot(&self, path: &std::path::Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let png = decode_base64(b64.as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => 0,
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u8> = chunk.iter().map(|c| value(*c)).collect();
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = (u32::from(v[0]) << 18)
            | (u32::from(v[1]) << 12)
            | (u32::from(v[2]) << 6)
            | u32::from(v[3]);
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    out
}
