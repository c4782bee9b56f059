//! The staff JSON API under `/api/v1` (CONTRACT section 6).

mod auth;
mod billing;
pub mod error;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use self::auth::ApiStaff;
use self::error::ApiError;
use super::AppState;
use crate::calendar::local_date;
use crate::error::Error;
use crate::ids::{AccountId, DeveloperId, KeyId, LocationId};
use crate::ledger::{Change, DisabledBy};
use crate::money::Money;
use crate::policy::{self, AddOn, Item, PermissionSet, Tier};
use crate::store::staff::Role;
use crate::store::{accounts, audit, developers, keys, prices};
use crate::validate;

type ApiResult = Result<HttpResponse, ApiError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .content_type_required(false)
            .limit(64 * 1024)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(|e: PathError, _| {
        ApiError::not_found(format!("no such object: {e}")).into()
    }))
    .app_data(
        web::QueryConfig::default().error_handler(|e: QueryPayloadError, _| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            )
            .into()
        }),
    )
    .service(
        web::scope("/api/v1")
            .route("/developers", web::post().to(create_developer))
            .route("/developers", web::get().to(list_developers))
            .route("/developers/{id}", web::get().to(get_developer))
            .route("/accounts", web::post().to(create_account))
            .route("/accounts", web::get().to(list_accounts))
            .route("/accounts/{id}", web::get().to(get_account))
            .route("/accounts/{id}/locations", web::post().to(create_location))
            .route("/accounts/{id}/locations", web::get().to(list_locations))
            .route("/accounts/{id}/keys", web::get().to(list_account_keys))
            .route("/accounts/{id}/prices", web::put().to(set_account_price))
            .route("/accounts/{id}/prices", web::get().to(list_account_prices))
            .route("/keys", web::post().to(create_key))
            .route("/keys/{id}", web::get().to(get_key))
            .route("/keys/{id}/events", web::get().to(key_events))
            .route("/keys/{id}/state", web::get().to(key_state))
            .route("/keys/{id}/usage", web::get().to(key_usage))
            .route("/keys/{id}/permissions", web::put().to(set_permissions))
            .route("/keys/{id}/location", web::put().to(set_location))
            .route("/keys/{id}/enable", web::post().to(enable_key))
            .route("/keys/{id}/disable", web::post().to(disable_key))
            .route("/quote", web::get().to(quote))
            .route("/price-book", web::post().to(set_list_price))
            .route("/price-book", web::get().to(list_price_book))
            .route("/audit", web::get().to(list_audit))
            .configure(billing::routes)
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(ApiError::not_found(format!(
                    "no route {} {}",
                    req.method(),
                    req.path()
                )))
            })),
    );
}

/// Unparseable JSON is 400; JSON of the wrong shape (a missing field, a number where a
/// string belongs) is 422 `validation_failed`, naming the field.
fn json_error(e: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &e {
        JsonPayloadError::Deserialize(de) if de.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            de.to_string(),
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is too large",
            )
        }
        _ => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
    };
    api.into()
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A page of a list: `?limit=` (1..=500, default 100) and `?offset=`.
#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl Page {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(100);
        let offset = self.offset.unwrap_or(0);
        if !(1..=500).contains(&limit) || offset < 0 {
            return Err(
                Error::field("limit/offset", "limit must be 1..500 and offset at least 0").into(),
            );
        }
        Ok((limit, offset))
    }
}

fn optional_instant(field: &str, raw: &Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
    raw.as_deref()
        .map(|s| validate::instant(field, s))
        .transpose()
}

fn permissions(names: &[String]) -> Result<PermissionSet, Error> {
    PermissionSet::parse_names(names)
        .map_err(|e| Error::invalid("unknown_permission", e.to_string()))
}

// ---- developers ----

#[derive(Deserialize)]
struct DeveloperBody {
    name: String,
    email: String,
}

fn developer_json(d: &developers::Developer) -> Value {
    json!({ "id": d.id, "name": d.name, "email": d.email, "key_prefix": d.key_prefix,
            "created_at": d.created_at.and_utc().to_rfc3339() })
}

async fn create_developer(
    who: ApiStaff,
    state: web::Data<AppState>,
    body: web::Json<DeveloperBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let input = developers::NewDeveloper {
        name: validate::name("name", &body.name)?,
        email: validate::email("email", &body.email)?,
    };
    let actor = who.actor.clone();
    let (dev, key) = state
        .db(move |c| developers::create(c, input, &actor, now()))
        .await?;
    state
        .gate
        .index
        .add_developers(std::slice::from_ref(&dev.key_hash));
    let mut answer = developer_json(&dev);
    answer["developer_key"] = json!(key);
    Ok(HttpResponse::Created().json(answer))
}

async fn list_developers(
    who: ApiStaff,
    state: web::Data<AppState>,
    page: web::Query<Page>,
) -> ApiResult {
    who.require(Role::Support)?;
    let (limit, offset) = page.bounds()?;
    let list = state
        .db(move |c| developers::list(c, limit, offset))
        .await?;
    Ok(HttpResponse::Ok().json(list.iter().map(developer_json).collect::<Vec<_>>()))
}

async fn get_developer(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Support)?;
    let id = DeveloperId(id.into_inner());
    let dev = state.db(move |c| developers::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(developer_json(&dev)))
}

// ---- accounts and locations ----

#[derive(Deserialize)]
struct AccountBody {
    name: String,
    billing_email: String,
    time_zone: String,
}

fn account_json(a: &accounts::Account) -> Value {
    json!({ "id": a.id, "name": a.name, "billing_email": a.billing_email, "time_zone": a.time_zone,
            "created_at": a.created_at.and_utc().to_rfc3339() })
}

async fn create_account(
    who: ApiStaff,
    state: web::Data<AppState>,
    body: web::Json<AccountBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let input = accounts::NewAccount {
        name: validate::name("name", &body.name)?,
        billing_email: validate::email("billing_email", &body.billing_email)?,
        time_zone: validate::time_zone(&body.time_zone)?,
    };
    let actor = who.actor.clone();
    let account = state
        .db(move |c| accounts::create(c, input, &actor, now()))
        .await?;
    Ok(HttpResponse::Created().json(account_json(&account)))
}

#[derive(Deserialize)]
struct AccountQuery {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_accounts(
    who: ApiStaff,
    state: web::Data<AppState>,
    query: web::Query<AccountQuery>,
) -> ApiResult {
    who.require(Role::Support)?;
    let (limit, offset) = Page {
        limit: query.limit,
        offset: query.offset,
    }
    .bounds()?;
    let search = query.q.clone();
    let (rows, total) = state
        .db(move |c| accounts::list(c, search.as_deref(), accounts::Sort::Name, limit, offset))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(rows.iter().map(account_json).collect::<Vec<_>>()))
}

async fn get_account(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Support)?;
    let id = AccountId(id.into_inner());
    let account = state.db(move |c| accounts::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

#[derive(Deserialize)]
struct LocationBody {
    name: String,
}

fn location_json(l: &accounts::Location) -> Value {
    json!({ "id": l.id, "account_id": l.account_id, "name": l.name })
}

async fn create_location(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<LocationBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let account = AccountId(id.into_inner());
    let name = validate::name("name", &body.name)?;
    let actor = who.actor.clone();
    let location = state
        .db(move |c| accounts::create_location(c, account, name, &actor, now()))
        .await?;
    Ok(HttpResponse::Created().json(location_json(&location)))
}

async fn list_locations(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> ApiResult {
    who.require(Role::Support)?;
    let account = AccountId(id.into_inner());
    let list = state
        .db(move |c| {
            accounts::get(c, account)?;
            accounts::locations(c, account)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list.iter().map(location_json).collect::<Vec<_>>()))
}

// ---- keys ----

/// A key as the API shows it: the stored state plus what the policy derives from it.
pub fn key_json(k: &keys::Key) -> Value {
    json!({
        "id": k.id,
        "account_id": k.account_id,
        "developer_id": k.developer_id,
        "location_id": k.location_id,
        "permissions": k.permissions.names(),
        "status": k.status.as_str(),
        "tier": Tier::of(k.permissions).as_str(),
        "add_ons": AddOn::of(k.permissions).map(AddOn::as_str).collect::<Vec<_>>(),
        "throttle_ms": policy::remote_throttle(k.permissions).as_millis() as u64,
        "label": k.label,
        "key_prefix": k.key_prefix,
        "created_at": k.created_at.to_rfc3339(),
        "updated_at": k.updated_at.to_rfc3339(),
    })
}

#[derive(Deserialize)]
struct KeyBody {
    account_id: i64,
    developer_id: i64,
    permissions: Vec<String>,
    label: Option<String>,
    effective_at: Option<String>,
}

async fn create_key(
    who: ApiStaff,
    state: web::Data<AppState>,
    body: web::Json<KeyBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let input = keys::NewKey {
        account: AccountId(body.account_id),
        developer: DeveloperId(body.developer_id),
        permissions: permissions(&body.permissions)?,
        label: validate::label("label", body.label.as_deref().unwrap_or(""))?,
        effective_at: optional_instant("effective_at", &body.effective_at)?,
    };
    let actor = who.actor.clone();
    let (key, secret) = state
        .db(move |c| keys::create(c, input, &actor, now()))
        .await?;
    state.refresh_keys(vec![key.id.0]).await?;
    let mut answer = key_json(&key);
    answer["customer_key"] = json!(secret);
    Ok(HttpResponse::Created().json(answer))
}

async fn get_key(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Support)?;
    let id = KeyId(id.into_inner());
    let key = state.db(move |c| keys::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(key_json(&key)))
}

async fn list_account_keys(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> ApiResult {
    who.require(Role::Support)?;
    let account = AccountId(id.into_inner());
    let list = state
        .db(move |c| {
            accounts::get(c, account)?;
            keys::list_for_account(c, account)
        })
        .await?;
    Ok(HttpResponse::Ok().json(list.iter().map(key_json).collect::<Vec<_>>()))
}

async fn key_events(who: ApiStaff, state: web::Data<AppState>, id: web::Path<i64>) -> ApiResult {
    who.require(Role::Support)?;
    let id = KeyId(id.into_inner());
    let events = state
        .db(move |c| {
            keys::get(c, id)?;
            keys::events(c, id)
        })
        .await?;
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "kind": e.kind,
                "effective_at": e.effective_at.and_utc().to_rfc3339(),
                "recorded_at": e.recorded_at.and_utc().to_rfc3339(),
                "permissions": e.permissions.as_deref().map(|p| p.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>()),
                "location_id": e.location_id, "disabled_by": e.disabled_by, "actor": e.actor, "note": e.note,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
struct UsageQuery {
    days: Option<i64>,
}

/// `GET /keys/{id}/usage?days=30`: check-endpoint answers per UTC day, newest first.
async fn key_usage(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<UsageQuery>,
) -> ApiResult {
    who.require(Role::Support)?;
    let id = KeyId(id.into_inner());
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(Error::field("days", "must be 1..366").into());
    }
    let since = now().date_naive() - chrono::Duration::days(days - 1);
    let rows = state
        .db(move |c| {
            keys::get(c, id)?;
            crate::store::gate::usage(c, id, since)
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(|(day, u)| json!({"day": day.to_string(), "allowed": u.allowed, "denied": u.denied, "throttled": u.throttled, "unauthorized": u.unauthorized}))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Deserialize)]
struct StateQuery {
    at: String,
}

/// `GET /keys/{id}/state?at=RFC3339`: the key as it was at that instant.
async fn key_state(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<StateQuery>,
) -> ApiResult {
    who.require(Role::Support)?;
    let id = KeyId(id.into_inner());
    let at = validate::instant("at", &query.at)?;
    let found = state.db(move |c| keys::state_at(c, id, at)).await?;
    Ok(HttpResponse::Ok().json(match found {
        None => json!({ "key_id": id, "at": at.to_rfc3339(), "exists": false }),
        Some(s) => json!({
            "key_id": id, "at": at.to_rfc3339(), "exists": true,
            "permissions": s.permissions.names(), "status": s.status.as_str(),
            "location_id": s.location, "billable": s.billable(),
            "tier": Tier::of(s.permissions).as_str(),
        }),
    }))
}

async fn change_key(
    who: ApiStaff,
    state: &AppState,
    id: i64,
    change: Change,
    effective_at: &Option<String>,
    note: String,
) -> ApiResult {
    let id = KeyId(id);
    let at = optional_instant("effective_at", effective_at)?;
    let actor = who.actor.clone();
    let key = state
        .db(move |c| keys::change(c, id, change, at, &note, &actor, now()))
        .await?;
    state.refresh_keys(vec![key.id.0]).await?;
    Ok(HttpResponse::Ok().json(key_json(&key)))
}

#[derive(Deserialize)]
struct PermissionsBody {
    permissions: Vec<String>,
    effective_at: Option<String>,
    note: Option<String>,
}

async fn set_permissions(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PermissionsBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let set = permissions(&body.permissions)?;
    let note = validate::label("note", body.note.as_deref().unwrap_or(""))?;
    change_key(
        who,
        &state,
        id.into_inner(),
        Change::PermissionsSet(set),
        &body.effective_at,
        note,
    )
    .await
}

#[derive(Deserialize)]
struct LocationChangeBody {
    // Present and null means "unassign"; absent is an error.
    #[serde(default, deserialize_with = "present")]
    location_id: Option<Option<i64>>,
    effective_at: Option<String>,
    note: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

async fn set_location(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<LocationChangeBody>,
) -> ApiResult {
    who.require(Role::Support)?;
    let location = body.location_id.ok_or_else(|| {
        Error::field(
            "location_id",
            "is required (a location id, or null to unassign)",
        )
    })?;
    let note = validate::label("note", body.note.as_deref().unwrap_or(""))?;
    let change = Change::LocationSet(location.map(LocationId));
    change_key(
        who,
        &state,
        id.into_inner(),
        change,
        &body.effective_at,
        note,
    )
    .await
}

#[derive(Deserialize, Default)]
struct ToggleBody {
    effective_at: Option<String>,
    by: Option<String>,
    note: Option<String>,
}

/// The enable/disable bodies are optional: an empty body means "now".
fn toggle_body(body: &web::Bytes) -> Result<ToggleBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ToggleBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            )
        } else {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
    })
}

async fn enable_key(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult {
    who.require(Role::Support)?;
    let body = toggle_body(&body)?;
    let note = validate::label("note", body.note.as_deref().unwrap_or(""))?;
    change_key(
        who,
        &state,
        id.into_inner(),
        Change::Enabled,
        &body.effective_at,
        note,
    )
    .await
}

async fn disable_key(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> ApiResult {
    who.require(Role::Support)?;
    let body = toggle_body(&body)?;
    let by = match body.by.as_deref() {
        None => DisabledBy::Staff,
        Some(s) => DisabledBy::parse(s)
            .ok_or_else(|| Error::field("by", "must be customer, developer or staff"))?,
    };
    let note = validate::label("note", body.note.as_deref().unwrap_or(""))?;
    change_key(
        who,
        &state,
        id.into_inner(),
        Change::Disabled(by),
        &body.effective_at,
        note,
    )
    .await
}

// ---- quote and prices ----

#[derive(Deserialize)]
struct QuoteQuery {
    permissions: Option<String>,
    account_id: Option<i64>,
}

async fn quote(
    who: ApiStaff,
    state: web::Data<AppState>,
    query: web::Query<QuoteQuery>,
) -> ApiResult {
    who.require(Role::Support)?;
    let set: PermissionSet = query.permissions.as_deref().unwrap_or("").parse().map_err(
        |e: policy::UnknownPermission| Error::invalid("unknown_permission", e.to_string()),
    )?;
    let tier = Tier::of(set);
    let account = query.account_id.map(AccountId);
    let (price, add_ons) = state
        .db(move |c| {
            let (book, today) = match account {
                Some(a) => {
                    let acc = accounts::get(c, a)?;
                    (prices::book(c, Some(a))?, local_date(now(), acc.tz()))
                }
                None => (prices::book(c, None)?, now().date_naive()),
            };
            let price = book.monthly(Item::Tier(tier), today);
            let add_ons: Vec<Value> = AddOn::of(set)
                .map(|a| json!({ "item": a.as_str(), "monthly_price": book.monthly(Item::AddOn(a), today) }))
                .collect();
            Ok((price, add_ons))
        })
        .await?;
    let add_on_names: Vec<&str> = AddOn::of(set).map(AddOn::as_str).collect();
    Ok(HttpResponse::Ok().json(json!({
        "permissions": set.names(),
        "tier": tier.as_str(),
        "monthly_price": price,
        "throttle_ms": policy::remote_throttle(set).as_millis() as u64,
        "add_ons": add_on_names,
        "add_on_prices": add_ons,
    })))
}

#[derive(Deserialize)]
struct PriceBody {
    item: String,
    monthly_price: Value,
    effective_from: String,
}

impl PriceBody {
    fn validate(&self) -> Result<prices::PriceChange, Error> {
        let item: Item = self
            .item
            .parse()
            .map_err(|e: policy::UnknownItem| Error::field("item", e))?;
        let monthly: Money = match &self.monthly_price {
            Value::String(s) => s.parse().map_err(|e| Error::field("monthly_price", e))?,
            _ => {
                return Err(Error::field(
                    "monthly_price",
                    "must be a string like \"15.00\"",
                ))
            }
        };
        if monthly.is_negative() {
            return Err(Error::field("monthly_price", "must not be negative"));
        }
        if monthly.cents() > 100_000_000 {
            return Err(Error::field("monthly_price", "must be at most 1000000.00"));
        }
        let from = validate::date("effective_from", &self.effective_from)?;
        Ok(prices::PriceChange {
            item,
            monthly,
            from,
        })
    }
}

fn price_json(item: &str, cents: i64, from: chrono::NaiveDate, account: Option<i64>) -> Value {
    let mut v = json!({ "item": item, "monthly_price": Money::from_cents(cents), "effective_from": from.to_string() });
    if let Some(a) = account {
        v["account_id"] = json!(a);
    }
    v
}

async fn set_list_price(
    who: ApiStaff,
    state: web::Data<AppState>,
    body: web::Json<PriceBody>,
) -> ApiResult {
    who.require(Role::Billing)?;
    let change = body.validate()?;
    let actor = who.actor.clone();
    let row = state
        .db(move |c| prices::set_list_price(c, change, &actor, now()))
        .await?;
    Ok(HttpResponse::Created().json(price_json(
        &row.item,
        row.monthly_price_cents,
        row.effective_from,
        None,
    )))
}

async fn list_price_book(who: ApiStaff, state: web::Data<AppState>) -> ApiResult {
    who.require(Role::Support)?;
    let rows = state.db(prices::list_book).await?;
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(|r| price_json(&r.item, r.monthly_price_cents, r.effective_from, None))
            .collect::<Vec<_>>(),
    ))
}

async fn set_account_price(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PriceBody>,
) -> ApiResult {
    who.require(Role::Billing)?;
    let account = AccountId(id.into_inner());
    let change = body.validate()?;
    let actor = who.actor.clone();
    let row = state
        .db(move |c| prices::set_account_price(c, account, change, &actor, now()))
        .await?;
    Ok(HttpResponse::Ok().json(price_json(
        &row.item,
        row.monthly_price_cents,
        row.effective_from,
        Some(row.account_id),
    )))
}

async fn list_account_prices(
    who: ApiStaff,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> ApiResult {
    who.require(Role::Support)?;
    let account = AccountId(id.into_inner());
    let rows = state
        .db(move |c| {
            accounts::get(c, account)?;
            prices::list_for_account(c, account)
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        rows.iter()
            .map(|r| {
                price_json(
                    &r.item,
                    r.monthly_price_cents,
                    r.effective_from,
                    Some(r.account_id),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

// ---- audit ----

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    object_type: Option<String>,
    object_id: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_audit(
    who: ApiStaff,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> ApiResult {
    who.require(Role::Admin)?;
    let (limit, offset) = Page {
        limit: query.limit,
        offset: query.offset,
    }
    .bounds()?;
    let filter = audit::Filter {
        actor: query.actor.clone(),
        object_type: query.object_type.clone(),
        object_id: query.object_id,
        ..Default::default()
    };
    let rows = state
        .db(move |c| audit::list(c, &filter, limit, offset))
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let parse = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok());
            json!({ "id": r.id, "at": r.at.and_utc().to_rfc3339(), "actor": r.actor, "action": r.action,
                    "object_type": r.object_type, "object_id": r.object_id,
                    "before": parse(&r.before_json), "after": parse(&r.after_json) })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}
