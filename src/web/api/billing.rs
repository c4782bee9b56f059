//! Bill runs and invoices in the JSON API (billing role).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiStaff;
use super::error::ApiError;
use crate::calendar::Month;
use crate::error::Error;
use crate::ids::{AccountId, InvoiceId};
use crate::money::Money;
use crate::store::invoices::{self, InvoiceView, StatementSettings};
use crate::store::staff::Role;
use crate::validate;
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/bill-runs", web::post().to(create_bill_run))
        .route("/invoices", web::get().to(list_invoices))
        .route("/invoices/{id}", web::get().to(get_invoice))
        .route("/invoices/{id}/issue", web::post().to(issue))
        .route("/invoices/{id}/void", web::post().to(void))
        .route("/invoices/{id}/payments", web::post().to(pay));
}

/// An invoice as the API shows it (CONTRACT section 6), with its lines' arithmetic.
pub fn invoice_json(v: &InvoiceView) -> Value {
    let i = &v.invoice;
    let at = |t: Option<chrono::NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
    json!({
        "id": i.id,
        "number": i.number,
        "account_id": i.account_id,
        "account_name": v.account_name,
        "month": i.month,
        "status": i.status,
        "currency": i.currency,
        "total": i.total(),
        "paid": Money::from_cents(i.paid_cents),
        "balance": i.balance(),
        "revision": i.revision,
        "created_at": i.created_at.and_utc().to_rfc3339(),
        "updated_at": i.updated_at.and_utc().to_rfc3339(),
        "changes": i.changes_json.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
        "issued_at": at(i.issued_at),
        "paid_at": at(i.paid_at),
        "voided_at": at(i.voided_at),
        "lines": v.lines.iter().map(|l| json!({
            "location_id": l.location_id,
            "location": l.location_name,
            "item": l.item,
            "monthly_price": Money::from_cents(l.monthly_price_cents),
            "days": l.days,
            "days_in_month": l.days_in_month,
            "periods": l.period_pairs().into_iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
            "amount": Money::from_cents(l.amount_cents),
            "arithmetic": l.arithmetic(),
        })).collect::<Vec<_>>(),
        "credit_note": v.credit_note.as_ref().map(|c| json!({"number": c.number, "amount": Money::from_cents(c.amount_cents)})),
        "payments": v.payments.iter().map(|p| json!({
            "amount": Money::from_cents(p.amount_cents), "paid_at": p.paid_at.and_utc().to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

fn month(raw: &str) -> Result<Month, Error> {
    Month::parse(raw.trim()).map_err(|e| Error::field("month", e))
}

#[derive(Deserialize)]
struct BillRunBody {
    month: String,
    account_id: Option<i64>,
}

async fn create_bill_run(
    who: ApiStaff,
    state: web::Data<AppState>,
    body: web::Json<BillRunBody>,
) -> ApiResult {
    who.require(Role::Billing)?;
    let month = month(&body.month)?;
    let account = body.account_id.map(AccountId);
    let actor = who.actor.clone();
    let (summary, views) = state
        .db(move |c| {
            let summary =
                invoices::bill_run(c, month, account, &actor, Utc::now(), &mut |_, _| {})?;
            let views = invoices::views_by_id(c, &summary.invoice_ids)?;
            Ok((summary, views))
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": summary.id,
        "month": summary.month,
        "invoices": views.iter().map(invoice_json).collect::<Vec<_>>(),
        "accounts": summary.accounts,
        "created": summary.created,
        "changed": summary.changed,
        "unchanged": summary.unchanged,
        "removed": summary.removed,
        "untouched": summary.untouched,
        "not_ended": summary.not_ended,
        "total": summary.total,
        "failures": summary.failures.iter().map(|(a, why)| json!({"account_id": a, "reason": why})).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct InvoiceQuery {
    account_id: Option<i64>,
    month: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_invoices(
    who: ApiStaff,
    state: web::Data<AppState>,
    q: web::Query<InvoiceQuery>,
) -> ApiResult {
    who.require(Role::Billing)?;
    let filter = invoices::Filter {
        account: q.account_id.map(AccountId),
        month: q
            .month
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(month)
            .transpose()?,
        status: match q.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s @ ("draft" | "issued" | "paid" | "void")) => Some(s.to_owned()),
            Some(other) => {
                return Err(Error::field(
                    "status",
                    format!("`{other}` is not draft, issued, paid or void"),
                )
                .into())
            }
            None => None,
        },
    };
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(1..=500).contains(&limit) || offset < 0 {
        return Err(
            Error::field("limit/offset", "limit must be 1..500 and offset at least 0").into(),
        );
    }
    let views = state
        .db(move |c| {
            let rows = invoices::list(c, &filter, limit, offset)?;
            invoices::views(c, rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(views.iter().map(invoice_json).collect::<Vec<_>>()))
}

async fn get_invoice(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Billing)?;
    let id = InvoiceId(id.into_inner());
    let view = state.db(move |c| invoices::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(invoice_json(&view)))
}

async fn issue(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Billing)?;
    let id = InvoiceId(id.into_inner());
    let settings = StatementSettings {
        portal_url: state.config.public_url(),
    };
    let actor = who.actor.clone();
    let view = state
        .db(move |c| invoices::issue(c, id, &settings, &actor, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(invoice_json(&view)))
}

async fn void(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Billing)?;
    let id = InvoiceId(id.into_inner());
    let actor = who.actor.clone();
    let (view, note) = state
        .db(move |c| invoices::void(c, id, &actor, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "invoice": invoice_json(&view),
        "credit_note": {"number": note.number, "amount": Money::from_cents(note.amount_cents)},
    })))
}

#[derive(Deserialize)]
struct PaymentBody {
    amount: Value,
    paid_at: Option<String>,
}

async fn pay(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PaymentBody>,
) -> ApiResult {
    who.require(Role::Billing)?;
    let id = InvoiceId(id.into_inner());
    let amount: Money = match &body.amount {
        Value::String(s) => s.parse().map_err(|e| Error::field("amount", e))?,
        _ => return Err(Error::field("amount", "must be a string like \"14.00\"").into()),
    };
    let now = Utc::now();
    let paid_at = match &body.paid_at {
        Some(raw) => validate::instant("paid_at", raw)?,
        None => now,
    };
    let actor = who.actor.clone();
    let view = state
        .db(move |c| invoices::pay(c, id, amount, paid_at, &actor, now))
        .await?;
    Ok(HttpResponse::Ok().json(invoice_json(&view)))
}
