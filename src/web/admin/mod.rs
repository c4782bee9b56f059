//! The staff admin pages under `/admin`: server-rendered, every task without
//! JavaScript, forms with CSRF tokens, roles checked on every page and action.

mod accounts;
pub mod billing;
mod keys;
mod misc;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::Utc;

use crate::error::Error;
use crate::secrets;
use crate::store::audit::Actor;
use crate::store::sessions;
use crate::store::staff::{self, Role, Staff};
use crate::web::AppState;

pub const COOKIE: &str = "kb_session";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .configure(misc::routes)
            .configure(accounts::routes)
            .configure(keys::routes)
            .configure(billing::routes)
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(Page::not_found())
            })),
    );
}

/// The navigation, shared by every page's layout.
pub struct Nav {
    pub email: String,
    pub role: Role,
    pub csrf: String,
    pub active: &'static str,
}

impl Nav {
    pub fn billing(&self) -> bool {
        self.role.allows(Role::Billing)
    }

    pub fn admin(&self) -> bool {
        self.role.allows(Role::Admin)
    }
}

/// A signed-in staff member (the extractor redirects to sign-in otherwise).
pub struct Admin {
    pub staff: Staff,
    pub csrf: String,
    pub actor: Actor,
}

impl Admin {
    /// The guard at the top of a handler.
    pub fn require(&self, needed: Role) -> Result<&Self, Page> {
        if self.staff.role().allows(needed) {
            Ok(self)
        } else {
            Err(Page::new(
                StatusCode::FORBIDDEN,
                format!(
                    "This needs the {needed} role; you have {}.",
                    self.staff.role()
                ),
            ))
        }
    }

    pub fn nav(&self, active: &'static str) -> Nav {
        Nav {
            email: self.staff.email.clone(),
            role: self.staff.role(),
            csrf: self.csrf.clone(),
            active,
        }
    }

    /// The posted form, if its CSRF token is this session's.
    pub fn form(&self, body: &[u8]) -> Result<Form, Page> {
        Form::checked(body, &self.csrf)
    }
}

impl FromRequest for Admin {
    type Error = Page;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        let next = req
            .uri()
            .path_and_query()
            .map_or("/admin".to_owned(), |p| p.as_str().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(Page::internal)?;
            let sign_in = || Page::redirect(&format!("/admin/login?next={}", urlencode(&next)));
            let token = token.filter(|t| t.len() <= 64).ok_or_else(sign_in)?;
            let found = state
                .db(move |c| sessions::find(c, &token, Utc::now()))
                .await?;
            let (staff, csrf) = found.ok_or_else(sign_in)?;
            let actor = Actor::staff(&staff.email);
            Ok(Admin { staff, csrf, actor })
        })
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A refusal to show on a form: the message, and the field it is about (the input's
/// `name`), or `""` when it is about the form as a whole.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

impl Problem {
    /// Which field a refusal is about: `Error::field` messages start with the field's
    /// label; the coded refusals are recognised by their wording.
    pub fn parse(error: &Option<String>) -> Problem {
        let Some(message) = error.clone() else {
            return Problem::default();
        };
        let label = message
            .split_once(':')
            .map(|(label, _)| label)
            .unwrap_or("");
        let field = match label {
            "name" | "location name" => "name",
            "email" => "email",
            "billing email" => "billing_email",
            "label" => "label",
            "note" => "note",
            "effective time" => "effective_at",
            "monthly price" => "monthly_price",
            "effective from" => "effective_from",
            "item" => "item",
            "developer" => "developer_id",
            "disabled by" => "by",
            "amount" => "amount",
            "location" => "location_id",
            _ if message.contains("IANA time zone") => "time_zone",
            _ if message.starts_with("unknown permission")
                || message.contains("no agreed price") =>
            {
                "permissions"
            }
            _ if message.contains("in the future")
                || message.contains("before the key was created") =>
            {
                "effective_at"
            }
            _ if message.contains("belongs to another account") => "location_id",
            _ if message.contains("more than the balance") => "amount",
            _ => "",
        };
        Problem { field, message }
    }

    /// The message if it is about `field`.
    pub fn at(&self, field: &str) -> Option<&str> {
        (self.field == field && !self.message.is_empty()).then_some(self.message.as_str())
    }

    /// The message if it is about no single field.
    pub fn general(&self) -> Option<&str> {
        (self.field.is_empty() && !self.message.is_empty()).then_some(self.message.as_str())
    }
}

/// A posted form (`application/x-www-form-urlencoded`), repeated names kept.
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, Page> {
        serde_urlencoded::from_bytes(body)
            .map(Form)
            .map_err(|_| Page::new(StatusCode::BAD_REQUEST, "The form could not be read."))
    }

    /// Parses a form and refuses it (403) unless it carries the session's CSRF token.
    pub fn checked(body: &[u8], csrf: &str) -> Result<Form, Page> {
        let form = Form::parse(body)?;
        let sent = form.get("csrf").unwrap_or_default();
        if secrets::constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
            Ok(form)
        } else {
            Err(Page::new(
                StatusCode::FORBIDDEN,
                "The form expired or came from elsewhere (CSRF check failed). Reload the page and try again.",
            ))
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field, trimmed, `None` when absent or blank.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// An error shown as a page in the admin layout (or a redirect).
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    message: String,
    location: Option<String>,
}

impl Page {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Page {
        Page {
            status,
            message: message.into(),
            location: None,
        }
    }

    pub fn not_found() -> Page {
        Page::new(
            StatusCode::NOT_FOUND,
            "There is nothing here. It may have been removed, or the address is mistyped.",
        )
    }

    pub fn internal() -> Page {
        Page::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. It has been logged; try again.",
        )
    }

    pub fn redirect(to: &str) -> Page {
        Page {
            status: StatusCode::SEE_OTHER,
            message: String::new(),
            location: Some(to.to_owned()),
        }
    }
}

impl std::fmt::Display for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl ResponseError for Page {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(to) = &self.location {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.as_str()))
                .finish();
        }
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::TOO_MANY_REQUESTS => "Slow down",
            StatusCode::CONFLICT => "Not possible now",
            StatusCode::UNPROCESSABLE_ENTITY => "Check the form",
            _ => "Something went wrong",
        };
        let body = ErrorPage {
            status: self.status.as_u16(),
            title,
            message: &self.message,
        }
        .render()
        .unwrap_or_else(|_| self.message.clone());
        HttpResponse::build(self.status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

impl From<Error> for Page {
    fn from(e: Error) -> Page {
        match e {
            Error::Invalid { message, .. } => Page::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            Error::Conflict { message, .. } => Page::new(StatusCode::CONFLICT, message),
            Error::NotFound(_) | Error::Db(diesel::result::Error::NotFound) => Page::not_found(),
            other => {
                tracing::error!(error = %other, detail = ?other, "admin page failed");
                Page::internal()
            }
        }
    }
}

pub type PageResult = Result<HttpResponse, Page>;

/// Renders a page template.
pub fn html<T: Template>(page: T) -> PageResult {
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "template failed");
        Page::internal()
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// After a successful POST: back to a page (Post/Redirect/Get).
pub fn see_other(to: &str) -> PageResult {
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish())
}

// ---- sign-in ----

/// Failed sign-ins per email; after five within 15 minutes, each further attempt
/// must wait (doubling, up to 5 minutes).
#[derive(Default)]
pub struct LoginThrottle(Mutex<HashMap<String, (u32, Instant)>>);

impl LoginThrottle {
    pub fn wait(&self, email: &str) -> Option<Duration> {
        let map = self.0.lock().expect("login throttle");
        let (failures, last) = map.get(email)?;
        if *failures < 5 || last.elapsed() > Duration::from_secs(900) {
            return None;
        }
        let delay = Duration::from_secs((2u64 << (failures - 5).min(8)).min(300));
        delay.checked_sub(last.elapsed())
    }

    pub fn failed(&self, email: &str) {
        let mut map = self.0.lock().expect("login throttle");
        let entry = map.entry(email.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() > Duration::from_secs(900) {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = Instant::now();
    }

    pub fn succeeded(&self, email: &str) {
        self.0.lock().expect("login throttle").remove(email);
    }
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only local paths are followed after sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") => n.to_owned(),
        _ => "/admin".to_owned(),
    }
}

async fn login_page(q: web::Query<LoginQuery>) -> PageResult {
    html(LoginPage {
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
    })
}

async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    let form = Form::parse(&body)?;
    let email = form.value("email").unwrap_or_default().to_ascii_lowercase();
    let password = form.get("password").unwrap_or_default().to_owned();
    let next = safe_next(form.get("next"));
    let again = |error: &str, status: StatusCode| -> PageResult {
        let page = LoginPage {
            next: next.clone(),
            email: email.clone(),
            error: Some(error.to_owned()),
        };
        let body = page.render().map_err(|_| Page::internal())?;
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body))
    };
    if let Some(wait) = state.logins.wait(&email) {
        return again(
            &format!(
                "Too many failed attempts. Wait {} seconds and try again.",
                wait.as_secs().max(1)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let (e, p) = (email.clone(), password);
    let found = state.db(move |c| staff::verify_login(c, &e, &p)).await?;
    let Some(member) = found else {
        state.logins.failed(&email);
        return again("Unknown email or wrong password.", StatusCode::UNAUTHORIZED);
    };
    state.logins.succeeded(&email);
    let id = member.id;
    let token = state
        .db(move |c| sessions::start(c, id, Utc::now()))
        .await?;
    let secure = state.config.public_url().starts_with("https://")
        || req.connection_info().scheme() == "https";
    let cookie = Cookie::build(COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            sessions::LIFETIME.num_seconds(),
        ))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, next))
        .finish())
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Bytes,
) -> PageResult {
    admin.form(&body)?;
    if let Some(token) = req.cookie(COOKIE).map(|c| c.value().to_owned()) {
        state.db(move |c| sessions::end(c, &token)).await?;
    }
    let mut gone = Cookie::build(COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/admin/login"))
        .finish())
}
