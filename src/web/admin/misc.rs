//! Dashboard, developers, the policy tester and the audit log.

use actix_web::web;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::{html, Admin, Nav, PageResult};
use crate::calendar::Month;
use crate::gate::{judge_state, Verdict};
use crate::money::Money;
use crate::policy::{self, Item, Mode, Request, Rule, Tier};
use crate::store::staff::Role;
use crate::store::{audit, developers, keys, prices, reports};
use crate::validate;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(dashboard))
        .route("/", web::get().to(dashboard))
        .route("/developers", web::get().to(developers_page))
        .route("/developers", web::post().to(create_developer))
        .route("/policy", web::get().to(policy_tester))
        .route("/audit", web::get().to(audit_page))
        .route("/staff", web::get().to(staff_page))
        .route("/staff", web::post().to(add_staff))
        .route("/staff/token", web::post().to(issue_token));
}

#[derive(Template)]
#[template(path = "admin/staff.html")]
struct StaffPage {
    nav: Nav,
    members: Vec<crate::store::staff::Staff>,
    /// A password or token just created (shown once), and for whom.
    secret: Option<(String, &'static str, String)>,
    error: Option<String>,
}

async fn render_staff(
    admin: &Admin,
    state: &AppState,
    secret: Option<(String, &'static str, String)>,
    error: Option<String>,
) -> PageResult {
    let members = state.db(crate::store::staff::list).await?;
    html(StaffPage {
        nav: admin.nav("staff"),
        members,
        secret,
        error,
    })
}

async fn staff_page(admin: Admin, state: web::Data<AppState>) -> PageResult {
    admin.require(Role::Admin)?;
    render_staff(&admin, &state, None, None).await
}

async fn add_staff(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Admin)?;
    let form = admin.form(&body)?;
    let email = validate::email("email", form.get("email").unwrap_or_default());
    let role = Role::parse(form.get("role").unwrap_or_default());
    let (email, role) = match (email, role) {
        (Ok(e), Some(r)) => (e, r),
        (Err(e), _) => return render_staff(&admin, &state, None, Some(e.to_string())).await,
        (_, None) => {
            return render_staff(&admin, &state, None, Some("Choose a role.".into())).await
        }
    };
    let actor = admin.actor.clone();
    let e = email.clone();
    match state
        .db(move |c| crate::store::staff::add(c, &e, role, &actor, Utc::now()))
        .await
    {
        Ok((_, password)) => {
            render_staff(&admin, &state, Some((email, "password", password)), None).await
        }
        Err(e @ crate::error::Error::Conflict { .. }) => {
            render_staff(&admin, &state, None, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn issue_token(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Admin)?;
    let form = admin.form(&body)?;
    let email = form.get("email").unwrap_or_default().to_owned();
    let actor = admin.actor.clone();
    let e = email.clone();
    let token = state
        .db(move |c| crate::store::staff::issue_token(c, &e, &actor, Utc::now()))
        .await?;
    render_staff(&admin, &state, Some((email, "API token", token)), None).await
}

pub struct TierRow {
    pub tier: &'static str,
    pub locations: i64,
    pub price: Money,
    pub revenue: Money,
    /// The tier's segment of the tier-mix bar: x offset and width, of 600.
    pub x: i64,
    pub width: i64,
}

pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub label: String,
    pub amount: Money,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard {
    nav: Nav,
    billable_locations: i64,
    mrr: Money,
    tiers: Vec<TierRow>,
    bars: Vec<Bar>,
    failed_emails: i64,
    drafts: i64,
    disputes: Vec<crate::store::disputes::Dispute>,
    failed_list: Vec<crate::store::outbox::OutboxRow>,
}

async fn dashboard(admin: Admin, state: web::Data<AppState>) -> PageResult {
    let today = Utc::now().date_naive();
    let this_month = Month::of(today);
    let mut first = this_month;
    for _ in 0..11 {
        first = first.prev();
    }
    let from = first.to_string();
    let (mix, months, failed, drafts, book, disputes, failed_list) = state
        .db(move |c| {
            Ok((
                reports::tier_mix(c)?,
                reports::invoiced_by_month(c, &from)?,
                reports::failed_emails(c)?,
                reports::draft_invoices(c)?,
                prices::book(c, None)?,
                crate::store::disputes::open_disputes(c)?,
                reports::failed_email_list(c, 20)?,
            ))
        })
        .await?;
    let tiers: Vec<TierRow> = Tier::ALL
        .into_iter()
        .map(|t| {
            let locations = mix.get(&t).copied().unwrap_or(0);
            let price = book.monthly(Item::Tier(t), today).unwrap_or(Money::ZERO);
            TierRow {
                tier: t.as_str(),
                locations,
                price,
                revenue: Money::from_cents(price.cents() * locations),
                x: 0,
                width: 0,
            }
        })
        .collect();
    // The tier mix as one bar: each tier's share of billable locations.
    let mut tiers = tiers;
    let all: i64 = tiers.iter().map(|t| t.locations).sum();
    let mut x = 0;
    for t in &mut tiers {
        t.x = x;
        t.width = (t.locations * 600).checked_div(all).unwrap_or(0);
        x += t.width;
    }
    let mrr = tiers.iter().map(|t| t.revenue).sum();
    let billable_locations = tiers.iter().map(|t| t.locations).sum();
    // Twelve bars, scaled to the largest month.
    let totals: Vec<(Month, i64)> = std::iter::successors(Some(first), |m| Some(m.next()))
        .take(12)
        .map(|m| {
            (
                m,
                months
                    .iter()
                    .find(|(k, _)| *k == m.to_string())
                    .map_or(0, |(_, v)| *v),
            )
        })
        .collect();
    let max = totals.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let bars = totals
        .iter()
        .enumerate()
        .map(|(i, (m, cents))| {
            let height = cents * 140 / max;
            Bar {
                x: 10 + i as i64 * 50,
                y: 150 - height,
                height,
                label: format!("{:02}/{}", m.month(), m.year() % 100),
                amount: Money::from_cents(*cents),
            }
        })
        .collect();
    html(Dashboard {
        nav: admin.nav("dashboard"),
        billable_locations,
        mrr,
        tiers,
        bars,
        failed_emails: failed,
        drafts,
        disputes,
        failed_list,
    })
}

#[derive(Template)]
#[template(path = "admin/developers.html")]
struct DevelopersPage {
    nav: Nav,
    developers: Vec<developers::Developer>,
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn developers_page(admin: Admin, state: web::Data<AppState>) -> PageResult {
    admin.require(Role::Support)?;
    let list = state.db(|c| developers::list(c, 500, 0)).await?;
    html(DevelopersPage {
        nav: admin.nav("developers"),
        developers: list,
        created: None,
        error: None,
    })
}

async fn create_developer(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let input = (|| {
        Ok::<_, crate::error::Error>(developers::NewDeveloper {
            name: validate::name("name", form.get("name").unwrap_or_default())?,
            email: validate::email("email", form.get("email").unwrap_or_default())?,
        })
    })();
    let list_again = |created, error| {
        let state = state.clone();
        let nav = admin.nav("developers");
        async move {
            let list = state.db(|c| developers::list(c, 500, 0)).await?;
            html(DevelopersPage {
                nav,
                developers: list,
                created,
                error,
            })
        }
    };
    match input {
        Err(e) => list_again(None, Some(e.to_string())).await,
        Ok(input) => {
            let actor = admin.actor.clone();
            let (dev, key) = state
                .db(move |c| developers::create(c, input, &actor, Utc::now()))
                .await?;
            state
                .gate
                .index
                .add_developers(std::slice::from_ref(&dev.key_hash));
            // The key is shown once, on this answer only.
            list_again(Some((dev.name, key)), None).await
        }
    }
}

#[derive(Deserialize)]
struct PolicyQuery {
    request: Option<String>,
    key: Option<String>,
    mode: Option<String>,
}

pub struct PolicyAnswer {
    pub permission: String,
    pub why: String,
    pub verdict: Option<(bool, String)>,
}

#[derive(Template)]
#[template(path = "admin/policy.html")]
struct PolicyPage {
    nav: Nav,
    request: String,
    key: String,
    mode: String,
    answer: Option<PolicyAnswer>,
    error: Option<String>,
}

/// Which permission does a request need, and why; and would this key pass? Uses the
/// gate's own evaluation without touching the key's throttle or usage.
async fn policy_tester(
    admin: Admin,
    state: web::Data<AppState>,
    q: web::Query<PolicyQuery>,
) -> PageResult {
    admin.require(Role::Support)?;
    let request = q.request.clone().unwrap_or_default();
    let key = q.key.clone().unwrap_or_default();
    let mode = q.mode.clone().unwrap_or_else(|| "remote".into());
    let mut page = PolicyPage {
        nav: admin.nav("policy"),
        request: request.clone(),
        key: key.clone(),
        mode: mode.clone(),
        answer: None,
        error: None,
    };
    if request.trim().is_empty() {
        return html(page);
    }
    let parsed = match Request::parse_line(&request) {
        Ok(r) => r,
        Err(e) => {
            page.error = Some(format!("Malformed request: {e}."));
            return html(page);
        }
    };
    let (permission, rule) = policy::required_permission(&parsed);
    let why = match rule {
        Rule::Entry(e) => format!(
            "the permission table lists “{}” under {}",
            e.label(),
            e.permission
        ),
        Rule::Fallback if parsed.verb == policy::Verb::Get => {
            "no table entry names it; every other GET needs ReadAll".into()
        }
        Rule::Fallback => {
            "no table entry names it; every other non-GET method needs AllOthers".into()
        }
    };
    let mut answer = PolicyAnswer {
        permission: permission.to_string(),
        why,
        verdict: None,
    };
    if let Some(id) = key
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|_| !key.trim().is_empty())
    {
        let found = state.db(move |c| keys::get(c, crate::ids::KeyId(id))).await;
        match found {
            Ok(k) => {
                // The stored state, judged by the gate's own rules.
                let mode = Mode::parse(&mode).unwrap_or_default();
                let location = k.location_id.map(|l| l.0);
                let verdict = match judge_state(k.status, location, k.permissions, &parsed, mode) {
                    Ok(a) => (
                        true,
                        format!(
                            "204: allowed by {} (largest page {})",
                            a.permission, a.max_limit
                        ),
                    ),
                    Err(Verdict::Unauthorized(why)) => {
                        (false, format!("401: {why} (status {})", k.status))
                    }
                    Err(Verdict::Forbidden(p)) => {
                        (false, format!("403: the key lacks the {p} permission"))
                    }
                    Err(other) => (false, format!("{other:?}")),
                };
                answer.verdict = Some(verdict);
            }
            Err(_) => page.error = Some(format!("There is no key {id}.")),
        }
    }
    page.answer = Some(answer);
    html(page)
}

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    object: Option<String>,
    from: Option<String>,
    until: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    rows: Vec<audit::AuditRow>,
    actor: String,
    object: String,
    from: String,
    until: String,
    page: i64,
    more: bool,
    error: Option<String>,
}

async fn audit_page(
    admin: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> PageResult {
    admin.require(Role::Admin)?;
    let page = q.page.unwrap_or(1).max(1);
    let mut error = None;
    let date = |s: &Option<String>| -> Option<chrono::NaiveDateTime> {
        s.as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| validate::date("date", s).ok())
            .map(|d| d.and_hms_opt(0, 0, 0).unwrap())
    };
    let (from, until) = (
        date(&q.from),
        date(&q.until).map(|d| d + chrono::Duration::days(1)),
    );
    if q.from
        .as_deref()
        .is_some_and(|s| !s.is_empty() && from.is_none())
    {
        error = Some("Dates look like 2026-03-01.".to_owned());
    }
    let filter = audit::Filter {
        actor: q.actor.clone().filter(|s| !s.trim().is_empty()),
        object_type: q.object.clone().filter(|s| !s.trim().is_empty()),
        object_id: None,
        from,
        until,
    };
    let mut rows = state
        .db(move |c| audit::list(c, &filter, 51, (page - 1) * 50))
        .await?;
    let more = rows.len() > 50;
    rows.truncate(50);
    html(AuditPage {
        nav: admin.nav("audit"),
        rows,
        actor: q.actor.clone().unwrap_or_default(),
        object: q.object.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        until: q.until.clone().unwrap_or_default(),
        page,
        more,
        error,
    })
}
