//! The `keybill` command line (CONTRACT section 5).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::policy::{self, AddOn, PermissionSet, Tier};

#[derive(Debug, Parser)]
#[command(
    name = "keybill",
    version,
    about = "Back-office for selling API access"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admin pages, portal, JSON API and check endpoint (the default).
    Serve,
    /// Print the tier, list price and throttle of a permission set.
    Quote {
        /// Permission names (`ReadAll Comm` or `ReadAll,Comm`).
        #[arg(required = true, value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
}

/// A command's failure: exit 2 for bad usage or input, 1 for anything else.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn input(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

/// Parses the command line, runs the command, and maps the outcome to an exit status
/// with a one-line reason on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keybill: {}", e.message.lines().next().unwrap_or_default());
            ExitCode::from(e.code)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYBILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::web::serve(cli.config).map_err(|e| CliError::other(e.to_string())),
        Command::Quote { permissions } => {
            let line = quote_line(&permissions)?;
            println!("{line}");
            std::io::stdout().flush().ok();
            Ok(())
        }
    }
}

/// `basic  15.00 USD/location/month  1 request per 1 s`, plus the add-ons if any.
pub fn quote_line(names: &[String]) -> Result<String, CliError> {
    let set = PermissionSet::parse_names(
        names
            .iter()
            .flat_map(|n| n.split(','))
            .filter(|n| !n.trim().is_empty()),
    )
    .map_err(|e| CliError::input(e.to_string()))?;
    let tier = Tier::of(set);
    let mut line = format!(
        "{}  {} USD/location/month  {}",
        tier,
        tier.default_list_price(),
        policy::describe_interval(policy::remote_throttle(set))
    );
    let add_ons: Vec<&str> = AddOn::of(set).map(AddOn::as_str).collect();
    if !add_ons.is_empty() {
        line.push_str(&format!(
            "  add-ons: {} (price agreed per account)",
            add_ons.join(", ")
        ));
    }
    Ok(line)
}
