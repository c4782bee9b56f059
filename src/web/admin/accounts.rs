//! Practices (accounts): list, create, and the detail page with locations, keys,
//! prices and invoices.

use actix_web::web;
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::keys::{permission_groups, PermissionGroup};
use super::{html, see_other, Admin, Form, Nav, Page, PageResult};
use crate::error::Error;
use crate::ids::{AccountId, DeveloperId};
use crate::money::Money;
use crate::policy::{Item, PermissionSet, Tier};
use crate::store::staff::Role;
use crate::store::{accounts, developers, invoices, keys, prices};
use crate::validate;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::get().to(list))
        .route("/accounts", web::post().to(create))
        .route("/accounts/{id}", web::get().to(detail))
        .route("/accounts/{id}/locations", web::post().to(add_location))
        .route("/accounts/{id}/keys", web::post().to(add_key))
        .route("/accounts/{id}/prices", web::post().to(set_price))
        .route(
            "/accounts/{id}/portal-users",
            web::post().to(invite_portal_user),
        );
}

const PAGE: i64 = 50;

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct ListPage {
    nav: Nav,
    accounts: Vec<accounts::Account>,
    q: String,
    sort: String,
    page: i64,
    pages: i64,
    total: i64,
    error: Option<String>,
    form_name: String,
    form_email: String,
    form_zone: String,
}

async fn render_list(
    admin: &Admin,
    state: &AppState,
    q: &ListQuery,
    error: Option<String>,
    form: Option<&Form>,
) -> PageResult {
    let search = q.q.clone().unwrap_or_default();
    let sort_name = q.sort.clone().unwrap_or_else(|| "name".into());
    let sort = match sort_name.as_str() {
        "newest" => accounts::Sort::Newest,
        "id" => accounts::Sort::Id,
        _ => accounts::Sort::Name,
    };
    let page = q.page.unwrap_or(1).max(1);
    let s = search.clone();
    let (rows, total) = state
        .db(move |c| accounts::list(c, Some(&s), sort, PAGE, (page - 1) * PAGE))
        .await?;
    let field = |n: &str| form.and_then(|f| f.get(n)).unwrap_or_default().to_owned();
    html(ListPage {
        nav: admin.nav("accounts"),
        accounts: rows,
        q: search,
        sort: sort_name,
        page,
        pages: ((total + PAGE - 1) / PAGE).max(1),
        total,
        error,
        form_name: field("name"),
        form_email: field("billing_email"),
        form_zone: form.map_or("America/Chicago".to_owned(), |f| {
            f.get("time_zone").unwrap_or_default().to_owned()
        }),
    })
}

async fn list(admin: Admin, state: web::Data<AppState>, q: web::Query<ListQuery>) -> PageResult {
    admin.require(Role::Support)?;
    render_list(&admin, &state, &q, None, None).await
}

async fn create(admin: Admin, state: web::Data<AppState>, body: web::Bytes) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let input = (|| {
        Ok::<_, Error>(accounts::NewAccount {
            name: validate::name("name", form.get("name").unwrap_or_default())?,
            billing_email: validate::email(
                "billing email",
                form.get("billing_email").unwrap_or_default(),
            )?,
            time_zone: validate::time_zone(form.get("time_zone").unwrap_or_default())?,
        })
    })();
    match input {
        Err(e) => {
            let q = ListQuery {
                q: None,
                sort: None,
                page: None,
            };
            let mut page =
                render_list(&admin, &state, &q, Some(e.to_string()), Some(&form)).await?;
            *page.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Ok(input) => {
            let actor = admin.actor.clone();
            let account = state
                .db(move |c| accounts::create(c, input, &actor, Utc::now()))
                .await?;
            see_other(&format!("/admin/accounts/{}", account.id))
        }
    }
}

pub struct PriceRow {
    pub item: String,
    pub price: Money,
    pub from: String,
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct DetailPage {
    nav: Nav,
    account: accounts::Account,
    locations: Vec<accounts::Location>,
    keys: Vec<(keys::Key, &'static str, String)>,
    developers: Vec<developers::Developer>,
    prices: Vec<PriceRow>,
    invoices: Vec<invoices::InvoiceRow>,
    portal_users: Vec<crate::store::portal::PortalUser>,
    invite_link: Option<String>,
    groups: Vec<PermissionGroup>,
    items: Vec<&'static str>,
    error: Option<String>,
}

async fn render_detail(
    admin: &Admin,
    state: &AppState,
    id: AccountId,
    error: Option<String>,
    invite_link: Option<String>,
) -> PageResult {
    let (account, locations, keys, developers, own, invoices, portal_users) = state
        .db(move |c| {
            let account = accounts::get(c, id)?;
            let filter = invoices::Filter {
                account: Some(id),
                ..Default::default()
            };
            Ok((
                account,
                accounts::locations(c, id)?,
                keys::list_for_account(c, id)?,
                developers::list(c, 500, 0)?,
                prices::list_for_account(c, id)?,
                invoices::list(c, &filter, 24, 0)?,
                crate::store::portal::for_account(c, id)?,
            ))
        })
        .await?;
    let names: std::collections::HashMap<i64, String> =
        locations.iter().map(|l| (l.id, l.name.clone())).collect();
    let keys = keys
        .into_iter()
        .map(|k| {
            let location = k
                .location_id
                .and_then(|l| names.get(&l.0).cloned())
                .unwrap_or_else(|| "unassigned".into());
            let tier = Tier::of(k.permissions).as_str();
            (k, tier, location)
        })
        .collect();
    let prices = own
        .iter()
        .map(|p| PriceRow {
            item: p.item.clone(),
            price: Money::from_cents(p.monthly_price_cents),
            from: p.effective_from.to_string(),
        })
        .collect();
    html(DetailPage {
        nav: admin.nav("accounts"),
        account,
        locations,
        keys,
        developers,
        prices,
        invoices,
        portal_users,
        invite_link,
        groups: permission_groups(PermissionSet::EMPTY.with(crate::policy::Permission::ReadAll)),
        items: Item::ALL.iter().map(|i| i.as_str()).collect(),
        error,
    })
}

async fn detail(admin: Admin, state: web::Data<AppState>, id: web::Path<i64>) -> PageResult {
    admin.require(Role::Support)?;
    render_detail(&admin, &state, AccountId(id.into_inner()), None, None).await
}

/// Runs a change; on refusal shows the page again with the reason.
async fn or_show(
    admin: &Admin,
    state: &AppState,
    id: AccountId,
    result: Result<(), Error>,
) -> PageResult {
    match result {
        Ok(()) => see_other(&format!("/admin/accounts/{id}")),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            let mut page = render_detail(admin, state, id, Some(e.to_string()), None).await?;
            *page.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(Page::from(e)),
    }
}

async fn add_location(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let id = AccountId(id.into_inner());
    let actor = admin.actor.clone();
    let name = validate::name("location name", form.get("name").unwrap_or_default());
    let result = match name {
        Err(e) => Err(e),
        Ok(name) => {
            state
                .db(move |c| accounts::create_location(c, id, name, &actor, Utc::now()).map(|_| ()))
                .await
        }
    };
    or_show(&admin, &state, id, result).await
}

async fn add_key(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let account = AccountId(id.into_inner());
    let tz = state.db(move |c| accounts::get(c, account)).await?.tz();
    let input = (|| {
        let developer = form
            .value("developer_id")
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| Error::field("developer", "choose a developer"))?;
        Ok::<_, Error>(keys::NewKey {
            account,
            developer: DeveloperId(developer),
            permissions: PermissionSet::parse_names(form.all("permissions"))
                .map_err(|e| Error::invalid("unknown_permission", e.to_string()))?,
            label: validate::label("label", form.get("label").unwrap_or_default())?,
            effective_at: super::keys::effective_at(&form, tz)?,
        })
    })();
    let actor = admin.actor.clone();
    let created = match input {
        Err(e) => Err(e),
        Ok(input) => {
            state
                .db(move |c| keys::create(c, input, &actor, Utc::now()))
                .await
        }
    };
    match created {
        Ok((key, secret)) => {
            state.refresh_keys(vec![key.id.0]).await?;
            super::keys::show(&admin, &state, key.id, None, Some(secret), None).await
        }
        Err(e) => or_show(&admin, &state, account, Err(e)).await,
    }
}

async fn set_price(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Billing)?;
    let form = admin.form(&body)?;
    let account = AccountId(id.into_inner());
    let change = parse_price(&form);
    let actor = admin.actor.clone();
    let result = match change {
        Err(e) => Err(e),
        Ok(change) => {
            state
                .db(move |c| {
                    prices::set_account_price(c, account, change, &actor, Utc::now()).map(|_| ())
                })
                .await
        }
    };
    or_show(&admin, &state, account, result).await
}

/// Invites a practice admin to the portal; the link is emailed, and shown once here.
async fn invite_portal_user(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> PageResult {
    admin.require(Role::Support)?;
    let form = admin.form(&body)?;
    let account = AccountId(id.into_inner());
    let email = match validate::email("email", form.get("email").unwrap_or_default()) {
        Ok(e) => e,
        Err(e) => return or_show(&admin, &state, account, Err(e)).await,
    };
    let (actor, url) = (admin.actor.clone(), state.config.public_url());
    match state
        .db(move |c| crate::store::portal::invite(c, account, &email, &url, &actor, Utc::now()))
        .await
    {
        Ok((_, link)) => render_detail(&admin, &state, account, None, Some(link)).await,
        Err(e) => or_show(&admin, &state, account, Err(e)).await,
    }
}

/// A price form: item, monthly price, effective from.
pub fn parse_price(form: &Form) -> Result<prices::PriceChange, Error> {
    let item: Item = form
        .get("item")
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::policy::UnknownItem| Error::field("item", e))?;
    let monthly: Money = form
        .get("monthly_price")
        .unwrap_or_default()
        .parse()
        .map_err(|e| Error::field("monthly price", e))?;
    if monthly.is_negative() {
        return Err(Error::field("monthly price", "must not be negative"));
    }
    let from = validate::date(
        "effective from",
        form.get("effective_from").unwrap_or_default(),
    )?;
    Ok(prices::PriceChange {
        item,
        monthly,
        from,
    })
}
