//! The outbox: emails written in the same transaction as what causes them, sent
//! afterwards by the mail sender.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::outbox;
use super::{to_db, Db};
use crate::error::Result;
use crate::mail::OutgoingEmail;
use crate::secrets;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub invoice_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Queues an email; its Message-ID is fixed now, so a resend after a crash between
/// sending and marking it sent is recognisably the same message.
pub fn enqueue(
    conn: &mut Db,
    email: &OutgoingEmail,
    invoice: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let message_id = format!(
        "<{}.{}@keybill>",
        now.timestamp_micros(),
        secrets::generate().to_ascii_lowercase()
    );
    Ok(diesel::insert_into(outbox::table)
        .values((
            outbox::kind.eq(email.kind),
            outbox::message_id.eq(message_id),
            outbox::recipient.eq(&email.recipient),
            outbox::subject.eq(&email.subject),
            outbox::body_text.eq(&email.text),
            outbox::body_html.eq(&email.html),
            outbox::invoice_id.eq(invoice),
            outbox::status.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(to_db(now)),
            outbox::created_at.eq(to_db(now)),
        ))
        .returning(outbox::id)
        .get_result(conn)?)
}

pub fn for_invoice(conn: &mut Db, invoice: i64) -> Result<Vec<OutboxRow>> {
    Ok(outbox::table
        .filter(outbox::invoice_id.eq(invoice))
        .order(outbox::id.asc())
        .select(OutboxRow::as_select())
        .load(conn)?)
}
