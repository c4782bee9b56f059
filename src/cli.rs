//! The `keybill` command line (CONTRACT section 5).

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};

use crate::calendar::Month;
use crate::config::Config;
use crate::error::Error;
use crate::ids::{AccountId, InvoiceId};
use crate::policy::{self, AddOn, Item, PermissionSet, Tier};
use crate::store::audit::Actor;
use crate::store::invoices;
use crate::store::{self, staff::Role, DbUrl, Store};
use crate::validate;

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
    /// Serve the admin pages, JSON API and check endpoint (the default).
    Serve {
        /// Load the demo data set first (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Load a small demo data set (idempotent).
    Demo,
    /// Apply pending database migrations (every command does this first).
    Migrate,
    /// Manage staff members.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Bill a month: create or refresh draft invoices (optionally issue them).
    BillRun {
        /// The month, `YYYY-MM`; it must have ended in each account's zone.
        #[arg(long)]
        month: String,
        /// Only this account.
        #[arg(long)]
        account: Option<i64>,
        /// Issue the month's drafts afterwards (numbers them, queues the statements).
        #[arg(long)]
        issue: bool,
    },
    /// Practice admins of the portal.
    #[command(subcommand, name = "portal-user")]
    PortalUser(PortalUserCommand),
    /// Print the tier, list price and throttle of a permission set.
    Quote {
        /// Permission names (`ReadAll Comm` or `ReadAll,Comm`).
        #[arg(required = true, value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; prints the generated password alone on stdout.
    Add {
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Issue a new API token; prints it alone on stdout.
    Token { email: String },
}

#[derive(Debug, Subcommand)]
pub enum PortalUserCommand {
    /// Invite a practice admin: prints the one-time link alone on stdout and emails it.
    Add { account_id: i64, email: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Billing,
    Support,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Billing => Role::Billing,
            RoleArg::Support => Role::Support,
        }
    }
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

impl From<Error> for CliError {
    /// Refusals of the input exit 2; failures of the system exit 1.
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound(_) => {
                CliError::input(e.to_string())
            }
            other => CliError::other(other.to_string()),
        }
    }
}

/// Opens the database named by the configuration and applies pending migrations.
fn open_store(config: &Config) -> Result<Store, CliError> {
    DbUrl::parse(&config.database_url).map_err(CliError::input)?;
    Store::open(&config.database_url).map_err(CliError::other)
}

fn print_secret(secret: &str) {
    println!("{secret}");
    std::io::stdout().flush().ok();
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
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    // Input is checked before the database is opened, so a typo costs nothing.
    let quote_set = match &command {
        Command::Quote { permissions } => Some(parse_permission_args(permissions)?),
        _ => None,
    };
    let bill_month = match &command {
        Command::BillRun { month, .. } => Some(Month::parse(month).map_err(CliError::input)?),
        _ => None,
    };
    let store = open_store(&cli.config)?;
    let now = Utc::now();
    match command {
        Command::Serve { demo } => {
            if demo {
                load_demo(&store, &cli.config)?;
            }
            crate::web::serve(cli.config, store).map_err(|e| CliError::other(e.to_string()))
        }
        Command::Demo => load_demo(&store, &cli.config),
        Command::PortalUser(PortalUserCommand::Add { account_id, email }) => {
            let email = validate::email("email", &email)?;
            let url = cli.config.public_url();
            let (_, link) = crate::store::portal::invite(
                &mut *store.conn()?,
                AccountId(account_id),
                &email,
                &url,
                &Actor::cli(),
                now,
            )?;
            print_secret(&link);
            Ok(())
        }
        Command::Migrate => {
            eprintln!(
                "keybill: {} schema is up to date",
                store.url().backend_name()
            );
            Ok(())
        }
        Command::Staff(StaffCommand::Add { email, role }) => {
            let email = validate::email("email", &email)?;
            let (_, password) =
                store::staff::add(&mut *store.conn()?, &email, role.into(), &Actor::cli(), now)?;
            print_secret(&password);
            Ok(())
        }
        Command::Staff(StaffCommand::Token { email }) => {
            let email = validate::email("email", &email)?;
            let token = store::staff::issue_token(&mut *store.conn()?, &email, &Actor::cli(), now)?;
            print_secret(&token);
            Ok(())
        }
        Command::BillRun { account, issue, .. } => {
            let month = bill_month.expect("parsed above");
            bill_run(&store, &cli.config, month, account.map(AccountId), issue)
        }
        Command::Quote { .. } => {
            let set = quote_set.unwrap_or_default();
            let tier = Tier::of(set);
            let book = store::prices::book(&mut *store.conn()?, None)?;
            let price = book
                .monthly(Item::Tier(tier), now.date_naive())
                .ok_or_else(|| {
                    CliError::other(format!("the price book has no price for {tier}"))
                })?;
            println!("{}", quote_line(set, price));
            std::io::stdout().flush().ok();
            Ok(())
        }
    }
}

/// `keybill bill-run`: a progress bar on a terminal, plain progress lines otherwise,
/// and a summary line on stdout.
fn bill_run(
    store: &Store,
    config: &Config,
    month: Month,
    account: Option<AccountId>,
    issue: bool,
) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let mut conn = store.conn()?;
    let actor = Actor::cli();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} accounts ({eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("billing {month}"));
        bar
    });
    let mut progress = |done: usize, total: usize| match &bar {
        Some(bar) => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        None => eprintln!("keybill: billed {done}/{total} accounts"),
    };
    let summary = invoices::bill_run(&mut conn, month, account, &actor, Utc::now(), &mut progress)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    for (account, why) in &summary.failures {
        eprintln!("keybill: account {account} not billed: {why}");
    }
    let mut line = format!(
        "bill run {} for {month}: {} accounts, {} invoices ({} created, {} changed, {} unchanged, {} left issued), {} removed, total {} USD",
        summary.id,
        summary.accounts,
        summary.invoice_ids.len(),
        summary.created,
        summary.changed,
        summary.unchanged,
        summary.untouched,
        summary.removed,
        summary.total
    );
    if issue {
        let settings = invoices::StatementSettings {
            portal_url: config.public_url(),
        };
        let mut numbers = Vec::new();
        let drafts: Vec<i64> = invoices::rows_by_id(&mut conn, &summary.invoice_ids)?
            .into_iter()
            .filter(|i| i.status == "draft")
            .map(|i| i.id)
            .collect();
        for id in drafts {
            let issued = invoices::issue(&mut conn, InvoiceId(id), &settings, &actor, Utc::now())?;
            numbers.push(issued.invoice.number.unwrap_or_default());
        }
        line.push_str(&format!("; issued {}", numbers.len()));
        if let (Some(first), Some(last)) = (numbers.first(), numbers.last()) {
            line.push_str(&format!(" ({first} to {last})"));
        }
    }
    println!("{line}");
    if summary.failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::other(format!(
            "{} accounts could not be billed",
            summary.failures.len()
        )))
    }
}

fn load_demo(store: &Store, config: &Config) -> Result<(), CliError> {
    let settings = invoices::StatementSettings {
        portal_url: config.public_url(),
    };
    match crate::demo::load(&mut *store.conn()?, &settings, Utc::now())? {
        None => eprintln!("keybill: the demo data is already loaded"),
        Some(l) => eprintln!(
            "keybill: demo loaded: {} developers, {} practices, {} keys, {} invoices issued ({}), {} drafts for last month",
            l.developers,
            l.practices,
            l.keys,
            l.issued.len(),
            l.issued.join(", "),
            l.drafts
        ),
    }
    Ok(())
}

/// Permission names from arguments (`ReadAll Comm` or `ReadAll,Comm`).
fn parse_permission_args(names: &[String]) -> Result<PermissionSet, CliError> {
    PermissionSet::parse_names(
        names
            .iter()
            .flat_map(|n| n.split(','))
            .filter(|n| !n.trim().is_empty()),
    )
    .map_err(|e| CliError::input(e.to_string()))
}

/// `basic  15.00 USD/location/month  1 request per 1 s`, plus the add-ons if any.
pub fn quote_line(set: PermissionSet, list_price: crate::money::Money) -> String {
    let tier = Tier::of(set);
    let mut line = format!(
        "{}  {} USD/location/month  {}",
        tier,
        list_price,
        policy::describe_interval(policy::remote_throttle(set))
    );
    let add_ons: Vec<&str> = AddOn::of(set).map(AddOn::as_str).collect();
    if !add_ons.is_empty() {
        line.push_str(&format!(
            "  add-ons: {} (price agreed per account)",
            add_ons.join(", ")
        ));
    }
    line
}
