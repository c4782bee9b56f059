//! The outbox sender: delivers queued emails through SMTP, or writes them as `.eml`
//! files when no SMTP server is configured.
//!
//! Nothing is lost and nothing is sent twice by design: an email is claimed with a
//! lease (a claim that expires) in a transaction (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several servers never claim the same row), sent, then marked sent.
//! A crash between sending and marking can at most send it once more after the lease
//! ends, with the same Message-ID, so mail clients show it once. Failures are kept
//! visible (status `failed`, the error, the attempt count) and retried with backoff.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use lettre::message::{header, Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::SmtpTransport;
use lettre::{FileTransport, Message, Transport};

use crate::error::{Error, Result};
use crate::store::outbox::OutboxRow;
use crate::store::schema::outbox;
use crate::store::{to_db, Db};

/// How long a claimed email is reserved for the server that claimed it.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Emails claimed per round.
const BATCH: i64 = 20;

/// Where emails go.
pub enum Delivery {
    Smtp(SmtpTransport),
    Files(PathBuf),
}

impl Delivery {
    /// `smtp://host:port` or `smtps://user:pass@host:port`; `None` writes files.
    pub fn from_config(
        smtp_url: Option<&str>,
        mail_dir: &std::path::Path,
    ) -> std::result::Result<Delivery, String> {
        match smtp_url {
            None => Ok(Delivery::Files(mail_dir.to_path_buf())),
            Some(url) => SmtpTransport::from_url(url)
                .map(|b| Delivery::Smtp(b.timeout(Some(Duration::from_secs(10))).build()))
                .map_err(|e| format!("invalid KEYBILL_SMTP_URL: {e}")),
        }
    }

    fn send(&self, message: &Message) -> std::result::Result<(), String> {
        match self {
            Delivery::Smtp(t) => t.send(message).map(|_| ()).map_err(|e| e.to_string()),
            Delivery::Files(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                FileTransport::new(dir)
                    .send(message)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Wait before the next attempt after `attempts` earlier failures: 2 s, doubling, at
/// most an hour.
pub fn backoff(attempts: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds((2i64 << attempts.clamp(0, 11)).min(3600))
}

/// Claims due emails: pending or failed ones whose time has come, and sending ones
/// whose lease ran out (a server died while sending them).
pub fn claim(conn: &mut Db, now: DateTime<Utc>) -> Result<Vec<OutboxRow>> {
    crate::store::write(conn, |conn| {
        macro_rules! due {
            () => {
                outbox::table
                    .filter(outbox::status.eq_any(["pending", "failed", "sending"]))
                    .filter(outbox::next_attempt_at.le(to_db(now)))
                    .order(outbox::id.asc())
                    .limit(BATCH)
                    .select(OutboxRow::as_select())
            };
        }
        // SQLite's IMMEDIATE transaction already keeps other servers out.
        let rows: Vec<OutboxRow> = match conn {
            Db::Postgres(pg) => due!().for_update().skip_locked().load(pg)?,
            Db::Sqlite(c) => due!().load(c)?,
        };
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::status.eq("sending"),
                outbox::next_attempt_at.eq(to_db(now + LEASE)),
            ))
            .execute(conn)?;
        Ok(rows)
    })
}

/// A statement's PDF, rendered from its issued invoice (issued invoices never change,
/// so the outbox keeps no copy).
fn statement_pdf(
    conn: &mut Db,
    row: &OutboxRow,
    portal_url: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    let (Some(invoice), "statement") = (row.invoice_id, row.kind.as_str()) else {
        return Ok(None);
    };
    let view = crate::store::invoices::get(conn, crate::ids::InvoiceId(invoice))?;
    let account =
        crate::store::accounts::get(conn, crate::ids::AccountId(view.invoice.account_id))?;
    let settings = crate::store::invoices::StatementSettings {
        portal_url: portal_url.to_owned(),
    };
    let statement = crate::store::invoices::statement(&view, &account, &settings, Utc::now());
    Ok(Some((
        format!("{}.pdf", statement.number),
        super::pdf::statement(&statement),
    )))
}

fn build(
    row: &OutboxRow,
    from: &Mailbox,
    pdf: Option<(String, Vec<u8>)>,
) -> std::result::Result<Message, String> {
    let to: Mailbox = row
        .recipient
        .parse()
        .map_err(|e| format!("bad recipient {}: {e}", row.recipient))?;
    let bodies = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(header::ContentType::TEXT_PLAIN)
                .body(row.body_text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(header::ContentType::TEXT_HTML)
                .body(row.body_html.clone()),
        );
    let body = match pdf {
        None => bodies,
        Some((name, bytes)) => {
            let pdf_type =
                header::ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
            MultiPart::mixed()
                .multipart(bodies)
                .singlepart(Attachment::new(name).body(bytes, pdf_type))
        }
    };
    Message::builder()
        .message_id(Some(row.message_id.clone()))
        .from(from.clone())
        .to(to)
        .subject(&row.subject)
        .multipart(body)
        .map_err(|e| e.to_string())
}

fn mark(
    conn: &mut Db,
    row: &OutboxRow,
    outcome: std::result::Result<(), String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = diesel::update(outbox::table.find(row.id));
    match outcome {
        Ok(()) => q
            .set((
                outbox::status.eq("sent"),
                outbox::sent_at.eq(to_db(now)),
                outbox::attempts.eq(row.attempts + 1),
                outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        Err(e) => q
            .set((
                outbox::status.eq("failed"),
                outbox::attempts.eq(row.attempts + 1),
                outbox::last_error.eq(Some(e)),
                outbox::next_attempt_at.eq(to_db(now + backoff(row.attempts))),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// One round: claim, send, mark. Returns (sent, failed).
pub fn deliver_due(
    conn: &mut Db,
    delivery: &Delivery,
    from: &Mailbox,
    portal_url: &str,
    now: DateTime<Utc>,
) -> Result<(usize, usize)> {
    let mut counts = (0, 0);
    for row in claim(conn, now)? {
        let pdf = statement_pdf(conn, &row, portal_url)?;
        let outcome = build(&row, from, pdf).and_then(|m| delivery.send(&m));
        match &outcome {
            Ok(()) => counts.0 += 1,
            Err(e) => {
                tracing::warn!(email = row.id, attempts = row.attempts + 1, error = %e, "email not delivered yet");
                counts.1 += 1;
            }
        }
        mark(conn, &row, outcome, Utc::now())?;
    }
    Ok(counts)
}

/// The sender's address from configuration.
pub fn sender(mail_from: &str) -> std::result::Result<Mailbox, Error> {
    mail_from.parse().map_err(|e| {
        Error::field(
            "KEYBILL_MAIL_FROM",
            format!("`{mail_from}` is not an email address: {e}"),
        )
    })
}
