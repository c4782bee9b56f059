//! The database: one connection type over SQLite and PostgreSQL, a pool, embedded
//! migrations, and the queries of each aggregate (one module per aggregate).

/// Runs the same diesel code on the concrete connection of either backend, for the
/// statements the multi-backend connection does not cover (batch inserts, upserts,
/// row locks). The body is compiled once per backend.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::Db::Sqlite($c) => $body,
            $crate::store::Db::Postgres($c) => $body,
        }
    };
}

pub mod accounts;
pub mod audit;
pub mod developers;
pub mod disputes;
pub mod gate;
pub mod invoices;
pub mod keys;
pub mod outbox;
pub mod portal;
pub mod prices;
pub mod reports;
pub mod schema;
pub mod sessions;
pub mod staff;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::Error;

/// A connection to either backend. Built by [`DbUrl::establish`], never by the
/// derived `establish`, which tries each backend in turn and hides the real error.
#[derive(diesel::MultiConnection)]
pub enum Db {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    /// `sqlite://PATH` (relative or absolute: `sqlite:///var/lib/keybill.db`) or
    /// `postgres://...` / `postgresql://...`.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(format!(
                    "database URL `{url}` names no file (expected sqlite://PATH)"
                ));
            }
            Ok(DbUrl::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_owned()))
        } else {
            let shown = url.split_once("://").map_or("", |(scheme, _)| scheme);
            Err(format!(
                "unsupported database URL scheme `{shown}` (expected sqlite://PATH or postgres://...)"
            ))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DbUrl::Sqlite(_) => "SQLite",
            DbUrl::Postgres(_) => "PostgreSQL",
        }
    }

    /// Opens one connection, with the real cause on failure (first line only: libpq
    /// appends hints on further lines).
    pub fn establish(&self) -> Result<Db, String> {
        match self {
            DbUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(|e| {
                    format!(
                        "cannot open SQLite database `{path}`: {}",
                        first_line(&e.to_string())
                    )
                })?;
                // WAL lets readers run beside the one writer; the busy timeout makes
                // writers queue instead of failing; foreign keys are off by default.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| format!("cannot open SQLite database `{path}`: {e}"))?;
                Ok(Db::Sqlite(conn))
            }
            DbUrl::Postgres(url) => PgConnection::establish(url).map(Db::Postgres).map_err(|e| {
                format!(
                    "cannot connect to PostgreSQL: {}",
                    first_line(&e.to_string())
                )
            }),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(s)
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies pending migrations; returns how many ran.
pub fn migrate(conn: &mut Db) -> Result<usize, String> {
    let result = match conn {
        Db::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        Db::Postgres(c) => {
            // Several servers may start at once: one migrates, the others wait.
            c.batch_execute("SELECT pg_advisory_lock(7405123001)")
                .map_err(|e| format!("cannot lock for migrations: {e}"))?;
            let ran = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7405123001)");
            ran
        }
    };
    result.map_err(|e| format!("migration failed: {e}"))
}

/// r2d2 manager that opens connections through [`DbUrl::establish`].
#[derive(Debug, Clone)]
pub struct Manager(DbUrl);

impl ManageConnection for Manager {
    type Connection = Db;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Db, Self::Error> {
        self.0.establish().map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(e))
        })
    }

    fn is_valid(&self, conn: &mut Db) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _: &mut Db) -> bool {
        false
    }
}

pub type Conn = PooledConnection<Manager>;

/// The database handle the application shares: a pool of connections.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    url: DbUrl,
}

impl Store {
    /// Connects (failing at once with the real cause), applies pending migrations,
    /// and builds the pool.
    pub fn open(url: &str) -> Result<Store, String> {
        let url = DbUrl::parse(url)?;
        let mut first = url.establish()?;
        if let Err(e) = migrate(&mut first) {
            // Another process may have been migrating the same SQLite file at the same
            // moment; what it applied is now visible, so one retry settles it.
            std::thread::sleep(Duration::from_millis(200));
            migrate(&mut first).map_err(|_| e)?;
        }
        let size = match url {
            DbUrl::Sqlite(_) => 8,
            DbUrl::Postgres(_) => 12,
        };
        let pool = r2d2::Builder::new()
            .max_size(size)
            // Connections are opened on demand by the caller: a background opener
            // racing a short-lived command's exit crashes inside libpq teardown.
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(false)
            .build_unchecked(Manager(url.clone()));
        Ok(Store { pool, url })
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn conn(&self) -> Result<Conn, Error> {
        self.pool
            .get()
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}

/// An instant as stored: UTC, truncated to the microsecond both backends keep.
pub fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.trunc_subsecs(6).naive_utc()
}

pub fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// Runs `f` in a transaction that writes: committed if `f` succeeds, rolled back if
/// not. On SQLite it begins IMMEDIATE, taking the write lock up front (queued on the
/// busy timeout): a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY when another writer commits in between. On PostgreSQL the use cases
/// lock the rows they change (see `keys::lock`).
pub fn write<T>(conn: &mut Db, f: impl FnOnce(&mut Db) -> Result<T, Error>) -> Result<T, Error> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Tm = <Db as Connection>::TransactionManager;
    // Inside another write (a use case composed of use cases, like the demo): a
    // savepoint, so the outer transaction stays all-or-nothing.
    if Tm::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some()
    {
        return conn.transaction(f);
    }
    match conn {
        Db::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        Db::Postgres(_) => Tm::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = Tm::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
