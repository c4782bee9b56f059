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
}

impl Server {
    /// Starts `keybill serve --bind 127.0.0.1:0` and waits for its listening line.
    pub fn start(dir: &TempDir, env: &[(&str, &str)]) -> Server {
        let mut child = command(dir, &["serve", "--bind", "127.0.0.1:0"], env)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keybill serve");
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("keybill: listening on ") {
                    let _ = addr_tx.send(Ok(url.to_owned()));
                } else if line.starts_with("keybill: ") {
                    let _ = addr_tx.send(Err(line.clone()));
                }
                eprintln!("[server] {line}");
            }
        });
        let base = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(url)) => url,
            Ok(Err(line)) => panic!("server failed to start: {line}"),
            Err(_) => panic!("server did not report its address"),
        };
        Server { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
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
