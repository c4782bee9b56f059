//! The practice portal under `/portal`: practice admins see their own invoices (with
//! each line's arithmetic, as CSV too) and keys (and may enable or disable them as the
//! customer). Another practice's objects are 404, never 403, so existence never leaks.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::admin::{html, see_other, Form, Page, PageResult};
use super::AppState;
use crate::error::Error;
use crate::ids::{AccountId, InvoiceId, KeyId};
use crate::ledger::{Change, DisabledBy, KeyStatus};
use crate::policy::Tier;
use crate::store::audit::Actor;
use crate::store::disputes::{self, Dispute};
use crate::store::invoices::{self, InvoiceRow, InvoiceView};
use crate::store::portal::{self, PortalUser};
use crate::store::{accounts, developers, keys};

const COOKIE: &str = "kb_portal";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/portal")
            .route(
                "",
                web::get().to(|| async { see_other("/portal/invoices") }),
            )
            .route(
                "/",
                web::get().to(|| async { see_other("/portal/invoices") }),
            )
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/invite/{token}", web::get().to(set_password_page))
            .route("/invite/{token}", web::post().to(set_password))
            .route("/reset", web::get().to(reset_page))
            .route("/reset", web::post().to(request_reset))
            .route("/reset/{token}", web::get().to(set_password_page))
            .route("/reset/{token}", web::post().to(set_password))
            .route("/invoices", web::get().to(invoice_list))
            .route("/invoices/{id}", web::get().to(invoice_page))
            .route("/invoices/{id}/csv", web::get().to(invoice_csv))
            .route("/invoices/{id}/pdf", web::get().to(invoice_pdf))
            .route("/invoices/{id}/disputes", web::post().to(open_dispute))
            .route("/keys", web::get().to(key_list))
            .route("/this-month", web::get().to(this_month))
            .route("/keys/{id}/status", web::post().to(key_status))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(Page::not_found())
            })),
    );
}

/// The signed-in practice admin.
pub struct Member {
    pub user: PortalUser,
    pub csrf: String,
}

impl Member {
    fn account(&self) -> AccountId {
        AccountId(self.user.account_id)
    }

    fn form(&self, body: &[u8]) -> Result<Form, Page> {
        Form::checked(body, &self.csrf)
    }
}

impl FromRequest for Member {
    type Error = Page;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(Page::internal)?;
            let token = token
                .filter(|t| t.len() <= 64)
                .ok_or_else(|| Page::redirect("/portal/login"))?;
            let found = state
                .db(move |c| portal::find_session(c, &token, Utc::now()))
                .await?;
            let (user, csrf) = found.ok_or_else(|| Page::redirect("/portal/login"))?;
            Ok(Member { user, csrf })
        })
    }
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    email: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn login_page() -> PageResult {
    html(LoginPage {
        email: String::new(),
        error: None,
        notice: None,
    })
}

async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    let form = Form::parse(&body)?;
    let email = form.value("email").unwrap_or_default().to_ascii_lowercase();
    let password = form.get("password").unwrap_or_default().to_owned();
    let key = format!("portal:{email}");
    if state.logins.wait(&key).is_some() {
        let mut page = html(LoginPage {
            email,
            error: Some("Too many failed attempts. Wait a little and try again.".into()),
            notice: None,
        })?;
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(page);
    }
    let e = email.clone();
    let Some(user) = state
        .db(move |c| portal::verify_login(c, &e, &password))
        .await?
    else {
        state.logins.failed(&key);
        let mut page = html(LoginPage {
            email,
            error: Some("Unknown email or wrong password.".into()),
            notice: None,
        })?;
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(page);
    };
    state.logins.succeeded(&key);
    let id = user.id;
    let token = state
        .db(move |c| portal::start_session(c, id, Utc::now()))
        .await?;
    let secure = state.config.public_url().starts_with("https://")
        || req.connection_info().scheme() == "https";
    let cookie = Cookie::build(COOKIE, token)
        .path("/portal")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/portal/invoices"))
        .finish())
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    member: Member,
    body: web::Bytes,
) -> PageResult {
    member.form(&body)?;
    if let Some(token) = req.cookie(COOKIE).map(|c| c.value().to_owned()) {
        state.db(move |c| portal::end_session(c, &token)).await?;
    }
    let mut gone = Cookie::build(COOKIE, "").path("/portal").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/portal/login"))
        .finish())
}

#[derive(Template)]
#[template(path = "portal/set_password.html")]
struct SetPasswordPage {
    action: String,
    invite: bool,
    error: Option<String>,
}

async fn set_password_page(req: HttpRequest) -> PageResult {
    let invite = req.path().starts_with("/portal/invite/");
    html(SetPasswordPage {
        action: req.path().to_owned(),
        invite,
        error: None,
    })
}

async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let form = Form::parse(&body)?;
    let invite = req.path().starts_with("/portal/invite/");
    let purpose = if invite { "invite" } else { "reset" };
    let password = form.get("password").unwrap_or_default().to_owned();
    if form.get("confirm").unwrap_or_default() != password {
        return html(SetPasswordPage {
            action: req.path().to_owned(),
            invite,
            error: Some("The two passwords differ.".into()),
        });
    }
    let token = token.into_inner();
    match state
        .db(move |c| portal::redeem(c, &token, purpose, &password, Utc::now()))
        .await
    {
        Ok(_) => html(LoginPage {
            email: String::new(),
            error: None,
            notice: Some("Your password is set. Sign in.".into()),
        }),
        Err(e @ Error::Invalid { .. }) => {
            let mut page = html(SetPasswordPage {
                action: req.path().to_owned(),
                invite,
                error: Some(e.to_string()),
            })?;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "portal/reset.html")]
struct ResetPage {
    sent: bool,
}

async fn reset_page() -> PageResult {
    html(ResetPage { sent: false })
}

async fn request_reset(state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    let form = Form::parse(&body)?;
    let email = form.value("email").unwrap_or_default().to_ascii_lowercase();
    let url = state.config.public_url();
    state
        .db(move |c| portal::request_reset(c, &email, &url, Utc::now()))
        .await?;
    // The same answer whether or not the address is known.
    html(ResetPage { sent: true })
}

/// An invoice of the member's practice that the practice may see (not a draft).
async fn own_invoice(state: &AppState, member: &Member, id: i64) -> Result<InvoiceView, Page> {
    let view = state.db(move |c| invoices::get(c, InvoiceId(id))).await?;
    if view.invoice.account_id != member.user.account_id || view.invoice.status == "draft" {
        return Err(Page::not_found());
    }
    Ok(view)
}

#[derive(Template)]
#[template(path = "portal/invoices.html")]
struct InvoicesPage {
    email: String,
    csrf: String,
    practice: String,
    invoices: Vec<InvoiceRow>,
}

async fn invoice_list(state: web::Data<AppState>, member: Member) -> PageResult {
    let account = member.account();
    let (practice, rows) = state
        .db(move |c| {
            let name = accounts::get(c, account)?.name;
            let filter = invoices::Filter {
                account: Some(account),
                ..Default::default()
            };
            let rows = invoices::list(c, &filter, 120, 0)?;
            Ok((
                name,
                rows.into_iter().filter(|i| i.status != "draft").collect(),
            ))
        })
        .await?;
    html(InvoicesPage {
        email: member.user.email.clone(),
        csrf: member.csrf.clone(),
        practice,
        invoices: rows,
    })
}

#[derive(Template)]
#[template(path = "portal/invoice.html")]
struct InvoicePage {
    email: String,
    csrf: String,
    v: InvoiceView,
    disputes: Vec<Dispute>,
    error: Option<String>,
    sent: bool,
}

async fn show_invoice(
    state: &AppState,
    member: &Member,
    id: i64,
    error: Option<String>,
    sent: bool,
) -> PageResult {
    let v = own_invoice(state, member, id).await?;
    let disputes = state
        .db(move |c| disputes::for_invoice(c, InvoiceId(id)))
        .await?;
    let failed = error.is_some();
    let mut page = html(InvoicePage {
        email: member.user.email.clone(),
        csrf: member.csrf.clone(),
        v,
        disputes,
        error,
        sent,
    })?;
    if failed {
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(page)
}

async fn invoice_page(
    state: web::Data<AppState>,
    member: Member,
    id: web::Path<i64>,
) -> PageResult {
    show_invoice(&state, &member, id.into_inner(), None, false).await
}

/// Disputes a charge, on the invoice where the practice reads it.
async fn open_dispute(
    state: web::Data<AppState>,
    member: Member,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    let form = member.form(&body)?;
    let id = id.into_inner();
    own_invoice(&state, &member, id).await?;
    let line = form.value("line").and_then(|l| l.parse::<i64>().ok());
    let message = form.get("message").unwrap_or_default().to_owned();
    let (account, user, actor) = (
        member.account(),
        member.user.id,
        Actor::portal(&member.user.email),
    );
    match state
        .db(move |c| {
            disputes::open(
                c,
                account,
                user,
                InvoiceId(id),
                line,
                &message,
                &actor,
                Utc::now(),
            )
        })
        .await
    {
        Ok(_) => show_invoice(&state, &member, id, None, true).await,
        Err(e @ Error::Invalid { .. }) => {
            show_invoice(&state, &member, id, Some(e.to_string()), false).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The statement as PDF.
async fn invoice_pdf(state: web::Data<AppState>, member: Member, id: web::Path<i64>) -> PageResult {
    let v = own_invoice(&state, &member, id.into_inner()).await?;
    let account = member.account();
    let acct = state.db(move |c| accounts::get(c, account)).await?;
    let settings = invoices::StatementSettings {
        portal_url: state.config.public_url(),
    };
    let statement = invoices::statement(&v, &acct, &settings, Utc::now());
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.pdf\"", statement.number),
        ))
        .body(crate::mail::pdf::statement(&statement)))
}

/// The invoice's lines as CSV; the amounts add up to the total.
async fn invoice_csv(state: web::Data<AppState>, member: Member, id: web::Path<i64>) -> PageResult {
    let v = own_invoice(&state, &member, id.into_inner()).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>| -> csv::Result<()> {
        out.write_record([
            "location",
            "item",
            "monthly_price",
            "days",
            "days_in_month",
            "periods",
            "amount",
        ])?;
        for l in &v.lines {
            out.write_record([
                l.location_name.clone(),
                l.item.clone(),
                crate::money::Money::from_cents(l.monthly_price_cents).to_string(),
                l.days.to_string(),
                l.days_in_month.to_string(),
                l.periods_text(),
                l.amount().to_string(),
            ])?;
        }
        out.flush()?;
        Ok(())
    };
    write(&mut out).map_err(|_| Page::internal())?;
    let body = out.into_inner().map_err(|_| Page::internal())?;
    let name = v
        .invoice
        .number
        .clone()
        .unwrap_or_else(|| format!("invoice-{}", v.invoice.id));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body))
}

pub struct SoFarLine {
    pub location: String,
    pub item: &'static str,
    pub arithmetic: String,
    pub periods: String,
    pub amount: crate::money::Money,
}

#[derive(Template)]
#[template(path = "portal/this_month.html")]
struct ThisMonthPage {
    email: String,
    csrf: String,
    month: String,
    lines: Vec<SoFarLine>,
    total: crate::money::Money,
}

/// The charges that would be billed if the month ended now.
async fn this_month(state: web::Data<AppState>, member: Member) -> PageResult {
    let account = member.account();
    let (month, charges, names) = state
        .db(move |c| invoices::so_far(c, account, Utc::now()))
        .await?;
    let lines = charges
        .as_ref()
        .map(|c| {
            c.lines
                .iter()
                .map(|l| SoFarLine {
                    location: names.get(&l.location.0).cloned().unwrap_or_default(),
                    item: l.item.as_str(),
                    arithmetic: format!(
                        "{}/{} × ${} = ${}",
                        l.days, l.days_in_month, l.monthly_price, l.amount
                    ),
                    periods: l
                        .periods
                        .iter()
                        .map(|(a, b)| {
                            if a == b {
                                a.to_string()
                            } else {
                                format!("{a} to {b}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    amount: l.amount,
                })
                .collect()
        })
        .unwrap_or_default();
    let total = charges.map_or(crate::money::Money::ZERO, |c| c.total);
    html(ThisMonthPage {
        email: member.user.email.clone(),
        csrf: member.csrf.clone(),
        month: month.to_string(),
        lines,
        total,
    })
}

pub struct KeyRow {
    pub key: keys::Key,
    pub developer: String,
    pub location: String,
    pub tier: &'static str,
    /// The tier's monthly price for this practice today (and add-ons).
    pub price: String,
    /// Requests answered in the last 30 days: allowed, refused.
    pub allowed: i64,
    pub refused: i64,
}

#[derive(Template)]
#[template(path = "portal/keys.html")]
struct KeysPage {
    email: String,
    csrf: String,
    keys: Vec<KeyRow>,
    error: Option<String>,
}

async fn render_keys(state: &AppState, member: &Member, error: Option<String>) -> PageResult {
    let account = member.account();
    let rows = state
        .db(move |c| {
            let locations = accounts::locations(c, account)?;
            let book = crate::store::prices::book(c, Some(account))?;
            let tz = accounts::get(c, account)?.tz();
            let today = crate::calendar::local_date(Utc::now(), tz);
            let since = Utc::now().date_naive() - chrono::Duration::days(29);
            let keys = keys::list_for_account(c, account)?;
            let ids: Vec<i64> = keys.iter().map(|k| k.id.0).collect();
            let usage = crate::store::gate::usage_totals(c, &ids, since)?;
            let developers: std::collections::HashMap<i64, String> =
                developers::names(c)?.into_iter().collect();
            let mut rows = Vec::new();
            for key in keys {
                let developer = developers
                    .get(&key.developer_id.0)
                    .cloned()
                    .unwrap_or_default();
                let location = key
                    .location_id
                    .and_then(|l| {
                        locations
                            .iter()
                            .find(|x| x.id == l.0)
                            .map(|x| x.name.clone())
                    })
                    .unwrap_or_else(|| "unassigned".into());
                let tier = Tier::of(key.permissions);
                let money = |item| {
                    book.monthly(item, today)
                        .map_or("no price".to_owned(), |m| format!("${m}"))
                };
                let mut price = money(crate::policy::Item::Tier(tier));
                for add_on in crate::policy::AddOn::of(key.permissions) {
                    price.push_str(&format!(
                        " + {} {}",
                        add_on,
                        money(crate::policy::Item::AddOn(add_on))
                    ));
                }
                let u = usage.get(&key.id.0).copied().unwrap_or_default();
                let (allowed, refused) = (u.allowed, u.denied + u.throttled + u.unauthorized);
                rows.push(KeyRow {
                    tier: tier.as_str(),
                    key,
                    developer,
                    location,
                    price,
                    allowed,
                    refused,
                });
            }
            Ok(rows)
        })
        .await?;
    html(KeysPage {
        email: member.user.email.clone(),
        csrf: member.csrf.clone(),
        keys: rows,
        error,
    })
}

async fn key_list(state: web::Data<AppState>, member: Member) -> PageResult {
    render_keys(&state, &member, None).await
}

/// The practice enables or disables its own key (as the customer): billing follows.
async fn key_status(
    state: web::Data<AppState>,
    member: Member,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    let form = member.form(&body)?;
    let id = KeyId(id.into_inner());
    let key = state
        .db(move |c| keys::get(c, id))
        .await
        .map_err(|_| Page::not_found())?;
    if key.account_id != member.account() {
        return Err(Page::not_found());
    }
    let change = match form.get("action") {
        Some("enable") => Change::Enabled,
        Some("disable") => Change::Disabled(DisabledBy::Customer),
        _ => return render_keys(&state, &member, Some("Choose enable or disable.".into())).await,
    };
    if change == Change::Enabled
        && matches!(
            key.status,
            KeyStatus::Disabled(DisabledBy::Staff | DisabledBy::Developer)
        )
    {
        return render_keys(
            &state,
            &member,
            Some(
                "This key was disabled by the vendor or the developer; contact them to enable it."
                    .into(),
            ),
        )
        .await;
    }
    let actor = Actor::portal(&member.user.email);
    match state
        .db(move |c| keys::change(c, id, change, None, "", &actor, Utc::now()))
        .await
    {
        Ok(_) => {
            state.refresh_keys(vec![id.0]).await?;
            see_other("/portal/keys")
        }
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            render_keys(&state, &member, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
