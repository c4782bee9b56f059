//! Bill runs, invoices (issue, payments, void with confirmation) and the price book.

use actix_web::web;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::accounts::parse_price;
use super::{html, see_other, Admin, Nav, Page, PageResult};
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
        .route("/bill-runs/current", web::get().to(current))
        .route("/invoices", web::get().to(list))
        .route("/invoices/{id}", web::get().to(detail))
        .route("/invoices/{id}/issue", web::post().to(issue))
        .route("/invoices/{id}/payments", web::post().to(pay))
        .route("/invoices/{id}/void", web::get().to(confirm_void))
        .route("/invoices/{id}/void", web::post().to(void))
        .route("/disputes/{id}/answer", web::post().to(answer_dispute))
        .route("/prices", web::get().to(price_book))
        .route("/prices", web::post().to(set_list_price));
}

/// The bill run started from the pages: at most one at a time per server, run in
/// the background so the page can show its progress.
#[derive(Default)]
pub struct RunJobs(std::sync::Mutex<Option<RunJob>>);

#[derive(Clone)]
pub struct RunJob {
    pub month: String,
    pub done: usize,
    pub total: usize,
    pub outcome: Option<Result<(RunSummary, Vec<InvoiceView>), String>>,
}

impl RunJob {
    pub fn percent(&self) -> usize {
        (self.done * 100).checked_div(self.total).unwrap_or(0)
    }
}

#[derive(Template)]
#[template(path = "admin/bill_runs.html")]
struct BillRunsPage {
    nav: Nav,
    month: String,
    job: Option<RunJob>,
    error: Option<String>,
}

async fn bill_runs(admin: Admin, state: web::Data<AppState>) -> PageResult {
    admin.require(Role::Billing)?;
    let last = Month::of(Utc::now().date_naive()).prev().to_string();
    let job = state
        .bill_runs
        .0
        .lock()
        .expect("jobs")
        .clone()
        .filter(|j| j.outcome.is_none());
    html(BillRunsPage {
        nav: admin.nav("bill-runs"),
        month: last,
        job,
        error: None,
    })
}

async fn run(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Billing)?;
    let form = admin.form(&body)?;
    let raw = form.value("month").unwrap_or_default().to_owned();
    let month = match Month::parse(&raw) {
        Ok(m) => m,
        Err(e) => {
            return html(BillRunsPage {
                nav: admin.nav("bill-runs"),
                month: raw,
                job: None,
                error: Some(e),
            })
        }
    };
    {
        let mut slot = state.bill_runs.0.lock().expect("jobs");
        if slot.as_ref().is_some_and(|j| j.outcome.is_none()) {
            return see_other("/admin/bill-runs/current");
        }
        *slot = Some(RunJob {
            month: month.to_string(),
            done: 0,
            total: 0,
            outcome: None,
        });
    }
    let actor = admin.actor.clone();
    let jobs = state.clone();
    let store = state.store.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let progress_jobs = jobs.clone();
        let mut progress = |done: usize, total: usize| {
            if let Some(j) = progress_jobs.bill_runs.0.lock().expect("jobs").as_mut() {
                j.done = done;
                j.total = total;
            }
        };
        let outcome = (|| {
            let mut c = store.conn()?;
            let summary =
                invoices::bill_run(&mut c, month, None, &actor, Utc::now(), &mut progress)?;
            // What changed against the previous drafts, for the re-run report.
            let redrafted: Vec<InvoiceRow> = invoices::rows_by_id(&mut c, &summary.invoice_ids)?
                .into_iter()
                .filter(|i| i.bill_run_id == Some(summary.id) && i.revision > 1)
                .collect();
            let changed = invoices::views(&mut c, redrafted)?;
            Ok::<_, Error>((summary, changed))
        })();
        let outcome = outcome.map_err(|e| match e {
            Error::Conflict { message, .. } | Error::Invalid { message, .. } => message,
            other => {
                tracing::error!(error = %other, "bill run failed");
                "The run failed; it has been logged. Running it again is safe.".to_owned()
            }
        });
        if let Some(j) = jobs.bill_runs.0.lock().expect("jobs").as_mut() {
            j.outcome = Some(outcome);
        }
    });
    see_other("/admin/bill-runs/current")
}

/// The current (or last) run: progress that refreshes itself, then the result.
async fn current(admin: Admin, state: web::Data<AppState>) -> PageResult {
    admin.require(Role::Billing)?;
    let job = state.bill_runs.0.lock().expect("jobs").clone();
    let Some(job) = job else {
        return see_other("/admin/bill-runs");
    };
    let month = job.month.clone();
    html(BillRunsPage {
        nav: admin.nav("bill-runs"),
        month,
        job: Some(job),
        error: None,
    })
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
    disputes: Vec<crate::store::disputes::Dispute>,
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
    let (v, disputes) = state
        .db(move |c| {
            Ok((
                invoices::get(c, id)?,
                crate::store::disputes::for_invoice(c, id)?,
            ))
        })
        .await?;
    let failed = error.is_some();
    let mut page = html(DetailPage {
        nav: admin.nav("invoices"),
        v,
        disputes,
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
    admin.form(&body)?;
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
    let form = admin.form(&body)?;
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
    let form = admin.form(&body)?;
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

/// Staff answer a dispute; the practice reads the answer on the invoice.
async fn answer_dispute(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Billing)?;
    let form = admin.form(&body)?;
    let text = form.get("answer").unwrap_or_default().to_owned();
    let actor = admin.actor.clone();
    let id = id.into_inner();
    match state
        .db(move |c| crate::store::disputes::answer(c, id, &text, &actor, Utc::now()))
        .await
    {
        Ok(d) => see_other(&format!("/admin/invoices/{}", d.invoice_id)),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => Err(Page::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(e) => Err(Page::from(e)),
    }
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
    let form = admin.form(&body)?;
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
