//! Bill runs, invoices (issue, payments, void with confirmation) and the price book.

use actix_web::web;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::accounts::parse_price;
use super::{html, see_other, Admin, Form, Nav, Page, PageResult};
use crate::calendar::Month;
use crate::error::Error;
use crate::ids::InvoiceId;
use crate::money::Money;
use crate::store::invoices::{self, InvoiceRow, InvoiceView, RunSummary, StatementSettings};
use crate::store::prices;
use crate::store::staff::Role;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/bill-runs", web::get().to(bill_runs))
        .route("/bill-runs", web::post().to(run))
        .route("/invoices", web::get().to(list))
        .route("/invoices/{id}", web::get().to(detail))
        .route("/invoices/{id}/issue", web::post().to(issue))
        .route("/invoices/{id}/payments", web::post().to(pay))
        .route("/invoices/{id}/void", web::get().to(confirm_void))
        .route("/invoices/{id}/void", web::post().to(void))
        .route("/prices", web::get().to(price_book))
        .route("/prices", web::post().to(set_list_price));
}

#[derive(Template)]
#[template(path = "admin/bill_runs.html")]
struct BillRunsPage {
    nav: Nav,
    month: String,
    summary: Option<RunSummary>,
    changed: Vec<InvoiceView>,
    error: Option<String>,
}

async fn bill_runs(admin: Admin) -> PageResult {
    admin.require(Role::Billing)?;
    let last = Month::of(Utc::now().date_naive()).prev().to_string();
    html(BillRunsPage {
        nav: admin.nav("bill-runs"),
        month: last,
        summary: None,
        changed: vec![],
        error: None,
    })
}

async fn run(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Billing)?;
    let form = Form::parse(&body)?;
    admin.check(&form)?;
    let raw = form.value("month").unwrap_or_default().to_owned();
    let month = match Month::parse(&raw) {
        Ok(m) => m,
        Err(e) => {
            return html(BillRunsPage {
                nav: admin.nav("bill-runs"),
                month: raw,
                summary: None,
                changed: vec![],
                error: Some(e),
            })
        }
    };
    let actor = admin.actor.clone();
    let result = state
        .db(move |c| {
            let summary = invoices::bill_run(c, month, None, &actor, Utc::now(), &mut |_, _| {})?;
            // What changed against the previous drafts, for the re-run report.
            let mut changed = Vec::new();
            for id in &summary.invoice_ids {
                let view = invoices::get(c, InvoiceId(*id))?;
                if view.invoice.bill_run_id == Some(summary.id) && view.invoice.revision > 1 {
                    changed.push(view);
                }
            }
            Ok((summary, changed))
        })
        .await;
    match result {
        Ok((summary, changed)) => html(BillRunsPage {
            nav: admin.nav("bill-runs"),
            month: raw,
            summary: Some(summary),
            changed,
            error: None,
        }),
        Err(e @ (Error::Conflict { .. } | Error::Invalid { .. })) => html(BillRunsPage {
            nav: admin.nav("bill-runs"),
            month: raw,
            summary: None,
            changed: vec![],
            error: Some(e.to_string()),
        }),
        Err(e) => Err(Page::from(e)),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    month: Option<String>,
    status: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/invoices.html")]
struct ListPage {
    nav: Nav,
    invoices: Vec<InvoiceRow>,
    month: String,
    status: String,
    page: i64,
    more: bool,
    error: Option<String>,
}

async fn list(admin: Admin, state: web::Data<AppState>, q: web::Query<ListQuery>) -> PageResult {
    admin.require(Role::Billing)?;
    let page = q.page.unwrap_or(1).max(1);
    let month_text = q.month.clone().unwrap_or_default();
    let status = q.status.clone().unwrap_or_default();
    let mut error = None;
    let month = match month_text.trim() {
        "" => None,
        m => match Month::parse(m) {
            Ok(m) => Some(m),
            Err(e) => {
                error = Some(e);
                None
            }
        },
    };
    let filter = invoices::Filter {
        account: None,
        month,
        status: ["draft", "issued", "paid", "void"]
            .contains(&status.as_str())
            .then(|| status.clone()),
    };
    let mut rows = state
        .db(move |c| invoices::list(c, &filter, 51, (page - 1) * 50))
        .await?;
    let more = rows.len() > 50;
    rows.truncate(50);
    html(ListPage {
        nav: admin.nav("invoices"),
        invoices: rows,
        month: month_text,
        status,
        page,
        more,
        error,
    })
}

#[derive(Template)]
#[template(path = "admin/invoice.html")]
struct DetailPage {
    nav: Nav,
    v: InvoiceView,
    confirm_void: bool,
    error: Option<String>,
}

async fn show(
    admin: &Admin,
    state: &AppState,
    id: InvoiceId,
    confirm_void: bool,
    error: Option<String>,
) -> PageResult {
    let v = state.db(move |c| invoices::get(c, id)).await?;
    let failed = error.is_some();
    let mut page = html(DetailPage {
        nav: admin.nav("invoices"),
        v,
        confirm_void,
        error,
    })?;
    if failed {
        *page.status_mut() = actix_web::http::StatusCode::CONFLICT;
    }
    Ok(page)
}

async fn detail(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> PageResult {
    admin.require(Role::Billing)?;
    show(&admin, &state, InvoiceId(id.into_inner()), false, None).await
}

async fn confirm_void(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> PageResult {
    admin.require(Role::Billing)?;
    show(&admin, &state, InvoiceId(id.into_inner()), true, None).await
}

/// Runs a lifecycle step, then back to the invoice (or the invoice with the reason).
async fn step<F>(admin: &Admin, state: &AppState, id: InvoiceId, f: F) -> PageResult
where
    F: FnOnce(&mut crate::store::Db) -> Result<(), Error> + Send + 'static,
{
    match state.db(f).await {
        Ok(()) => see_other(&format!("/admin/invoices/{id}")),
        Err(e @ (Error::Conflict { .. } | Error::Invalid { .. })) => {
            show(admin, state, id, false, Some(e.to_string())).await
        }
        Err(e) => Err(Page::from(e)),
    }
}

async fn issue(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Billing)?;
    admin.check(&Form::parse(&body)?)?;
    let id = InvoiceId(id.into_inner());
    let settings = StatementSettings {
        portal_url: state.config.public_url(),
    };
    let actor = admin.actor.clone();
    step(&admin, &state, id, move |c| {
        invoices::issue(c, id, &settings, &actor, Utc::now()).map(|_| ())
    })
    .await
}

async fn pay(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Billing)?;
    let form = Form::parse(&body)?;
    admin.check(&form)?;
    let id = InvoiceId(id.into_inner());
    let amount: Result<Money, Error> = form
        .get("amount")
        .unwrap_or_default()
        .parse()
        .map_err(|e| Error::field("amount", e));
    let actor = admin.actor.clone();
    step(&admin, &state, id, move |c| {
        let now = Utc::now();
        invoices::pay(c, id, amount?, now, &actor, now).map(|_| ())
    })
    .await
}

async fn void(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Billing)?;
    let form = Form::parse(&body)?;
    admin.check(&form)?;
    let id = InvoiceId(id.into_inner());
    if form.get("confirm") != Some("yes") {
        return show(&admin, &state, id, true, None).await;
    }
    let actor = admin.actor.clone();
    step(&admin, &state, id, move |c| {
        invoices::void(c, id, &actor, Utc::now()).map(|_| ())
    })
    .await
}

#[derive(Template)]
#[template(path = "admin/prices.html")]
struct PricesPage {
    nav: Nav,
    prices: Vec<prices::ListPrice>,
    error: Option<String>,
}

async fn price_book(admin: Admin, state: web::Data<AppState>) -> PageResult {
    admin.require(Role::Billing)?;
    let list = state.db(prices::list_book).await?;
    html(PricesPage {
        nav: admin.nav("prices"),
        prices: list,
        error: None,
    })
}

async fn set_list_price(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Billing)?;
    let form = Form::parse(&body)?;
    admin.check(&form)?;
    let change = parse_price(&form);
    let actor = admin.actor.clone();
    let result = match change {
        Err(e) => Err(e),
        Ok(change) => {
            state
                .db(move |c| prices::set_list_price(c, change, &actor, Utc::now()).map(|_| ()))
                .await
        }
    };
    match result {
        Ok(()) => see_other("/admin/prices"),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            let list = state.db(prices::list_book).await?;
            let mut page = html(PricesPage {
                nav: admin.nav("prices"),
                prices: list,
                error: Some(e.to_string()),
            })?;
            *page.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(Page::from(e)),
    }
}
