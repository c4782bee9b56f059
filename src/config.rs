//! Settings: flags, else `KEYBILL_*` environment, else defaults (CONTRACT section 5).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Every setting keybill reads. Parsed by clap, which applies the precedence
/// flag > environment > default for each field.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://...`
    #[arg(
        long,
        global = true,
        env = "KEYBILL_DATABASE_URL",
        default_value = "sqlite://keybill.db"
    )]
    pub database_url: String,

    /// Address to serve on.
    #[arg(
        long,
        global = true,
        env = "KEYBILL_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: SocketAddr,

    /// `smtp://host:port` or `smtps://user:pass@host:port`; without it emails are files.
    #[arg(long, global = true, env = "KEYBILL_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// Where emails are written as `.eml` files when there is no SMTP server.
    #[arg(
        long,
        global = true,
        env = "KEYBILL_MAIL_DIR",
        default_value = "./mail"
    )]
    pub mail_dir: PathBuf,

    /// Sender of every email.
    #[arg(
        long,
        global = true,
        env = "KEYBILL_MAIL_FROM",
        default_value = "billing@localhost"
    )]
    pub mail_from: String,

    /// Base of links in emails; `http://{bind}` when unset.
    #[arg(long, global = true, env = "KEYBILL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Redis URL; shares throttle state between instances when set.
    #[arg(long, global = true, env = "KEYBILL_REDIS_URL")]
    pub redis_url: Option<String>,
}

impl Config {
    /// The base of links in emails, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }
}
