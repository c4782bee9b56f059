//! Disputes: a practice admin questions a charge where they read it; staff answer.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::audit::{self, Actor};
use super::schema::{disputes, invoices};
use super::{to_db, Db};
use crate::error::{Error, Result};
use crate::ids::{AccountId, InvoiceId};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = disputes)]
pub struct Dispute {
    pub id: i64,
    pub invoice_id: i64,
    pub account_id: i64,
    pub portal_user_id: i64,
    pub line_position: Option<i64>,
    pub message: String,
    pub created_at: NaiveDateTime,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<NaiveDateTime>,
}

/// Longest dispute or answer.
pub const MAX_TEXT: usize = 2000;

fn text(field: &str, raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(Error::field(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// Opens a dispute on an invoice the practice can see (issued, paid or void).
#[allow(clippy::too_many_arguments)]
pub fn open(
    conn: &mut Db,
    account: AccountId,
    user: i64,
    invoice: InvoiceId,
    line: Option<i64>,
    message: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Dispute> {
    let message = text("message", message)?;
    super::write(conn, |conn| {
        let inv: Option<(i64, String)> = invoices::table
            .find(invoice.0)
            .select((invoices::account_id, invoices::status))
            .first(conn)
            .optional()?;
        match inv {
            Some((owner, status)) if owner == account.0 && status != "draft" => {}
            _ => return Err(Error::not_found(format!("invoice {invoice}"))),
        }
        let id: i64 = diesel::insert_into(disputes::table)
            .values((
                disputes::invoice_id.eq(invoice.0),
                disputes::account_id.eq(account.0),
                disputes::portal_user_id.eq(user),
                disputes::line_position.eq(line),
                disputes::message.eq(&message),
                disputes::created_at.eq(to_db(now)),
            ))
            .returning(disputes::id)
            .get_result(conn)?;
        let d: Dispute = disputes::table
            .find(id)
            .select(Dispute::as_select())
            .first(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "dispute.open",
            ("invoice", Some(invoice.0)),
            None::<&()>,
            Some(&d),
        )?;
        Ok(d)
    })
}

/// Staff answer a dispute (once).
pub fn answer(
    conn: &mut Db,
    id: i64,
    answer: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Dispute> {
    let answer = text("answer", answer)?;
    super::write(conn, |conn| {
        let updated = diesel::update(
            disputes::table
                .find(id)
                .filter(disputes::answered_at.is_null()),
        )
        .set((
            disputes::answer.eq(&answer),
            disputes::answered_by.eq(actor.as_str()),
            disputes::answered_at.eq(to_db(now)),
        ))
        .execute(conn)?;
        if updated == 0 {
            let exists = disputes::table
                .find(id)
                .select(disputes::id)
                .first::<i64>(conn)
                .optional()?
                .is_some();
            return Err(if exists {
                Error::conflict(
                    "dispute_answered",
                    format!("dispute {id} has been answered already"),
                )
            } else {
                Error::not_found(format!("dispute {id}"))
            });
        }
        let d: Dispute = disputes::table
            .find(id)
            .select(Dispute::as_select())
            .first(conn)?;
        audit::record(
            conn,
            now,
            actor,
            "dispute.answer",
            ("invoice", Some(d.invoice_id)),
            None::<&()>,
            Some(&d),
        )?;
        Ok(d)
    })
}

pub fn for_invoice(conn: &mut Db, invoice: InvoiceId) -> Result<Vec<Dispute>> {
    Ok(disputes::table
        .filter(disputes::invoice_id.eq(invoice.0))
        .order(disputes::id.asc())
        .select(Dispute::as_select())
        .load(conn)?)
}

pub fn open_disputes(conn: &mut Db) -> Result<Vec<Dispute>> {
    Ok(disputes::table
        .filter(disputes::answered_at.is_null())
        .order(disputes::id.asc())
        .select(Dispute::as_select())
        .load(conn)?)
}
