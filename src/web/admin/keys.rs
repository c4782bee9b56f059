//! The key page: permissions (with a preview before saving), status, location, the
//! ledger as a timeline, and usage.

use actix_web::web;
use askama::Template;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{html, see_other, Admin, Form, Nav, Page, PageResult};
use crate::error::Error;
use crate::ids::{KeyId, LocationId};
use crate::ledger::{Change, DisabledBy};
use crate::money::Money;
use crate::policy::{self, AddOn, Item, PermissionSet, Tier};
use crate::store::gate::Usage;
use crate::store::staff::Role;
use crate::store::{accounts, developers, gate, keys, prices};
use crate::validate;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys/{id}", web::get().to(page))
        .route("/keys/{id}/permissions", web::post().to(permissions))
        .route("/keys/{id}/status", web::post().to(status))
        .route("/keys/{id}/location", web::post().to(location))
        .route("/keys/{id}/quote", web::get().to(quote_json));
}

/// Permissions grouped by the tier they unlock, each with whether it is ticked.
pub struct PermissionGroup {
    pub title: String,
    pub permissions: Vec<(&'static str, bool)>,
}

pub fn permission_groups(selected: PermissionSet) -> Vec<PermissionGroup> {
    let mut groups: Vec<PermissionGroup> = Tier::ALL
        .into_iter()
        .map(|t| PermissionGroup {
            title: format!(
                "{} · ${}/location/month",
                t.as_str(),
                t.default_list_price()
            ),
            permissions: t
                .unlocked_by()
                .iter()
                .map(|p| (p.as_str(), selected.contains(p)))
                .collect(),
        })
        .collect();
    groups.push(PermissionGroup {
        title: "add-ons · price agreed per practice".into(),
        permissions: AddOn::ALL
            .iter()
            .map(|a| (a.permission().as_str(), selected.contains(a.permission())))
            .collect(),
    });
    groups
}

/// What a permission set costs and allows, for the page and the preview.
#[derive(serde::Serialize)]
pub struct Quote {
    pub permissions: String,
    pub tier: &'static str,
    pub price: String,
    pub add_ons: Vec<(String, String)>,
    pub throttle: String,
}

pub struct Event {
    pub when: String,
    pub what: String,
    pub actor: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "admin/key.html")]
struct KeyPage {
    nav: Nav,
    key: keys::Key,
    account: accounts::Account,
    developer: String,
    location: String,
    /// The assigned location's id, 0 when unassigned (for the select).
    location_id: i64,
    locations: Vec<accounts::Location>,
    groups: Vec<PermissionGroup>,
    current: Quote,
    preview: Option<Quote>,
    secret: Option<String>,
    events: Vec<Event>,
    usage: Vec<(String, Usage)>,
    error: Option<String>,
}

fn quote(set: PermissionSet, book: &crate::pricing::PriceBook, today: chrono::NaiveDate) -> Quote {
    let tier = Tier::of(set);
    let money = |m: Option<Money>| m.map_or("no price".to_owned(), |m| format!("${m}"));
    Quote {
        permissions: if set.is_empty() {
            "none".into()
        } else {
            set.names().join(", ")
        },
        tier: tier.as_str(),
        price: money(book.monthly(Item::Tier(tier), today)),
        add_ons: AddOn::of(set)
            .map(|a| {
                (
                    a.as_str().to_owned(),
                    money(book.monthly(Item::AddOn(a), today)),
                )
            })
            .collect(),
        throttle: policy::describe_interval(policy::remote_throttle(set)),
    }
}

fn local(at: NaiveDateTime, tz: Tz) -> String {
    at.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Renders the key page (also after a failed or previewed change).
pub async fn show(
    admin: &Admin,
    state: &AppState,
    id: KeyId,
    preview: Option<PermissionSet>,
    secret: Option<String>,
    error: Option<String>,
) -> PageResult {
    let since = Utc::now().date_naive() - chrono::Duration::days(13);
    let (key, account, developer, locations, events, usage, book) = state
        .db(move |c| {
            let key = keys::get(c, id)?;
            let account = accounts::get(c, key.account_id)?;
            let developer = developers::get(c, key.developer_id)?.name;
            Ok((
                key.clone(),
                account,
                developer,
                accounts::locations(c, key.account_id)?,
                keys::events(c, id)?,
                gate::usage(c, id, since)?,
                prices::book(c, Some(key.account_id))?,
            ))
        })
        .await?;
    let tz = account.tz();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let name_of = |l: Option<i64>| {
        l.and_then(|l| locations.iter().find(|x| x.id == l).map(|x| x.name.clone()))
            .unwrap_or_else(|| "unassigned".into())
    };
    let events = events
        .iter()
        .rev()
        .map(|e| Event {
            when: local(e.effective_at, tz),
            what: match e.kind.as_str() {
                "created" => format!(
                    "created with {}",
                    e.permissions
                        .as_deref()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("no permissions")
                ),
                "permissions_set" => format!(
                    "permissions set to {}",
                    e.permissions
                        .as_deref()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("none")
                ),
                "location_set" => format!("assigned to {}", name_of(e.location_id)),
                "enabled" => "enabled".into(),
                "disabled" => format!(
                    "disabled by {}",
                    e.disabled_by.as_deref().unwrap_or("staff")
                ),
                other => other.to_owned(),
            },
            actor: e.actor.clone(),
            note: e.note.clone(),
        })
        .collect();
    let page = KeyPage {
        nav: admin.nav("accounts"),
        location: name_of(key.location_id.map(|l| l.0)),
        location_id: key.location_id.map_or(0, |l| l.0),
        groups: permission_groups(preview.unwrap_or(key.permissions)),
        current: quote(key.permissions, &book, today),
        preview: preview.map(|p| quote(p, &book, today)),
        key,
        account,
        developer,
        locations,
        secret,
        events,
        usage: usage.into_iter().map(|(d, u)| (d.to_string(), u)).collect(),
        error,
    };
    let failed = page.error.is_some();
    let mut response = html(page)?;
    if failed {
        *response.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

#[derive(serde::Deserialize)]
struct QuoteQuery {
    permissions: Option<String>,
}

/// The live preview's data: what a permission set would cost this key's practice.
async fn quote_json(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<QuoteQuery>,
) -> PageResult {
    admin.require(Role::Support)?;
    let set: PermissionSet = q.permissions.as_deref().unwrap_or("").parse().map_err(
        |e: crate::policy::UnknownPermission| {
            Page::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
            )
        },
    )?;
    let id = KeyId(id.into_inner());
    let (book, tz) = state
        .db(move |c| {
            let key = keys::get(c, id)?;
            let tz = accounts::get(c, key.account_id)?.tz();
            Ok((prices::book(c, Some(key.account_id))?, tz))
        })
        .await?;
    let today = Utc::now().with_timezone(&tz).date_naive();
    Ok(actix_web::HttpResponse::Ok().json(quote(set, &book, today)))
}

async fn page(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> PageResult {
    admin.require(Role::Support)?;
    show(&admin, &state, KeyId(id.into_inner()), None, None, None).await
}

/// The optional back-dating field: a local date and time in the practice's zone.
pub fn effective_at(form: &Form, tz: Tz) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(raw) = form.value("effective_at") else {
        return Ok(None);
    };
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| {
            Error::field(
                "effective time",
                format!("`{raw}` is not a date and time like 2026-03-01T09:00"),
            )
        })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| {
            Error::field(
                "effective time",
                format!("{raw} does not exist in {tz} (a daylight-saving gap)"),
            )
        })
}

/// Records a change and returns to the key page, or shows the page with the reason.
async fn apply(
    admin: &Admin,
    state: &AppState,
    id: KeyId,
    form: &Form,
    change: Result<Change, Error>,
) -> PageResult {
    let account_tz = state
        .db(move |c| {
            let key = keys::get(c, id)?;
            Ok(accounts::get(c, key.account_id)?.tz())
        })
        .await?;
    let note = validate::label("note", form.get("note").unwrap_or_default());
    let inputs = change.and_then(|c| Ok((c, effective_at(form, account_tz)?, note?)));
    let (change, at, note) = match inputs {
        Ok(v) => v,
        Err(e) => return show(admin, state, id, None, None, Some(e.to_string())).await,
    };
    let actor = admin.actor.clone();
    match state
        .db(move |c| keys::change(c, id, change, at, &note, &actor, Utc::now()))
        .await
    {
        Ok(_) => {
            state.refresh_keys(vec![id.0]).await?;
            see_other(&format!("/admin/keys/{id}"))
        }
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            show(admin, state, id, None, None, Some(e.to_string())).await
        }
        Err(e) => Err(Page::from(e)),
    }
}

async fn permissions(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let id = KeyId(id.into_inner());
    let set = PermissionSet::parse_names(form.all("permissions"))
        .map_err(|e| Error::invalid("unknown_permission", e.to_string()));
    if form.get("action") == Some("preview") {
        return match set {
            Ok(set) => show(&admin, &state, id, Some(set), None, None).await,
            Err(e) => show(&admin, &state, id, None, None, Some(e.to_string())).await,
        };
    }
    apply(&admin, &state, id, &form, set.map(Change::PermissionsSet)).await
}

async fn status(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let change = match form.get("action") {
        Some("enable") => Ok(Change::Enabled),
        Some("disable") => DisabledBy::parse(form.get("by").unwrap_or("staff"))
            .map(Change::Disabled)
            .ok_or_else(|| Error::field("disabled by", "must be customer, developer or staff")),
        _ => Err(Error::field("action", "enable or disable")),
    };
    apply(&admin, &state, KeyId(id.into_inner()), &form, change).await
}

async fn location(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let change = match form.value("location_id") {
        None => Ok(Change::LocationSet(None)),
        Some(v) => v
            .parse::<i64>()
            .map(|l| Change::LocationSet(Some(LocationId(l))))
            .map_err(|_| Error::field("location", "choose a location")),
    };
    apply(&admin, &state, KeyId(id.into_inner()), &form, change).await
}
