//! Customer keys and their ledgers. Every change is an effective-dated event; the key
//! row keeps the fold of its ledger (the state now) for the gate and the lists.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::accounts::{self, Account};
use super::audit::{self, Actor};
use super::schema::{key_events, keys};
use super::{developers, from_db, prices, to_db, Db};
use crate::calendar::local_date;
use crate::error::{Error, Result};
use crate::ids::{AccountId, DeveloperId, KeyId, LocationId};
use crate::ledger::{self, Change, DisabledBy, Event, KeyState, KeyStatus};
use crate::policy::{AddOn, Item, PermissionSet};
use crate::secrets;
use crate::validate;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = keys)]
struct KeyRow {
    id: i64,
    account_id: i64,
    developer_id: i64,
    key_prefix: String,
    label: String,
    permissions: String,
    status: String,
    location_id: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A customer key as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub id: KeyId,
    pub account_id: AccountId,
    pub developer_id: DeveloperId,
    pub location_id: Option<LocationId>,
    #[serde(serialize_with = "ser_permissions")]
    pub permissions: PermissionSet,
    #[serde(serialize_with = "ser_status")]
    pub status: KeyStatus,
    pub label: String,
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn ser_permissions<S: serde::Serializer>(p: &PermissionSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.names())
}

fn ser_status<S: serde::Serializer>(st: &KeyStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.as_str())
}

impl TryFrom<KeyRow> for Key {
    type Error = Error;
    fn try_from(r: KeyRow) -> Result<Key> {
        Ok(Key {
            id: KeyId(r.id),
            account_id: AccountId(r.account_id),
            developer_id: DeveloperId(r.developer_id),
            location_id: r.location_id.map(LocationId),
            permissions: r
                .permissions
                .parse()
                .map_err(|e| Error::Internal(format!("key {}: stored permissions: {e}", r.id)))?,
            status: r.status.parse().map_err(Error::Internal)?,
            label: r.label,
            key_prefix: r.key_prefix,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// One event of a key's ledger as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = key_events)]
pub struct EventRow {
    pub id: i64,
    pub key_id: i64,
    pub kind: String,
    pub effective_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
    pub permissions: Option<String>,
    pub location_id: Option<i64>,
    pub disabled_by: Option<String>,
    pub actor: String,
    pub note: String,
}

impl EventRow {
    pub fn to_event(&self) -> Result<Event> {
        let bad = || Error::Internal(format!("key event {} is malformed", self.id));
        let perms = || -> Result<PermissionSet> {
            self.permissions
                .as_deref()
                .ok_or_else(bad)?
                .parse()
                .map_err(|_| bad())
        };
        let change = match self.kind.as_str() {
            "created" => Change::Created {
                permissions: perms()?,
            },
            "permissions_set" => Change::PermissionsSet(perms()?),
            "location_set" => Change::LocationSet(self.location_id.map(LocationId)),
            "enabled" => Change::Enabled,
            "disabled" => Change::Disabled(
                self.disabled_by
                    .as_deref()
                    .and_then(DisabledBy::parse)
                    .ok_or_else(bad)?,
            ),
            _ => return Err(bad()),
        };
        Ok(Event {
            at: from_db(self.effective_at),
            change,
        })
    }
}

/// Validated input for a new key.
pub struct NewKey {
    pub account: AccountId,
    pub developer: DeveloperId,
    pub permissions: PermissionSet,
    pub label: String,
    pub effective_at: Option<DateTime<Utc>>,
}

/// Refuses special permissions the account has no agreed price for on the local date
/// of `at` (422 `price_missing`).
fn ensure_add_ons_priced(
    conn: &mut Db,
    account: &Account,
    permissions: PermissionSet,
    at: DateTime<Utc>,
) -> Result<()> {
    let missing: Vec<AddOn> = AddOn::of(permissions).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let book = prices::book(conn, Some(AccountId(account.id)))?;
    let date = local_date(at, account.tz());
    for add_on in missing {
        if book.account_price(Item::AddOn(add_on), date).is_none() {
            return Err(Error::invalid(
                "price_missing",
                format!(
                    "account {} has no agreed price for the {} add-on on {date}; set one before granting {}",
                    account.id,
                    add_on,
                    add_on.permission()
                ),
            ));
        }
    }
    Ok(())
}

/// The instant of a change: now, or a back-dated instant that is neither in the future
/// nor inside a closed month.
fn effective_instant(
    conn: &mut Db,
    account: &Account,
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let at = validate::not_future(requested.unwrap_or(now), now)?;
    accounts::ensure_open_at(conn, account, at)?;
    Ok(super::from_db(to_db(at)))
}

/// Creates a key (status `pending`, no location); returns it with its secret.
pub fn create(
    conn: &mut Db,
    input: NewKey,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Key, String)> {
    let secret = secrets::generate();
    let key = super::write(conn, |conn| {
        let account = accounts::get(conn, input.account)?;
        developers::get(conn, input.developer)?;
        let at = effective_instant(conn, &account, input.effective_at, now)?;
        ensure_add_ons_priced(conn, &account, input.permissions, at)?;
        let id: i64 = diesel::insert_into(keys::table)
            .values((
                keys::account_id.eq(input.account.0),
                keys::developer_id.eq(input.developer.0),
                keys::key_hash.eq(secrets::hash(&secret)),
                keys::key_prefix.eq(secrets::prefix(&secret)),
                keys::label.eq(&input.label),
                keys::permissions.eq(input.permissions.to_string()),
                keys::status.eq(KeyStatus::Pending.as_str()),
                keys::version.eq(1),
                keys::created_at.eq(to_db(now)),
                keys::updated_at.eq(to_db(now)),
            ))
            .returning(keys::id)
            .get_result(conn)?;
        insert_event(
            conn,
            id,
            Change::Created {
                permissions: input.permissions,
            },
            at,
            actor,
            "",
            now,
        )?;
        let key = get(conn, KeyId(id))?;
        super::gate::record_change(conn, key.id, now)?;
        audit::record(
            conn,
            now,
            actor,
            "key.create",
            ("key", Some(key.id.0)),
            None::<&()>,
            Some(&key),
        )?;
        Ok(key)
    })?;
    Ok((key, secret))
}

fn insert_event(
    conn: &mut Db,
    key: i64,
    change: Change,
    at: DateTime<Utc>,
    actor: &Actor,
    note: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let (permissions, location, by) = match change {
        Change::Created { permissions } | Change::PermissionsSet(permissions) => {
            (Some(permissions.to_string()), None, None)
        }
        Change::LocationSet(l) => (None, l.map(|l| l.0), None),
        Change::Enabled => (None, None, None),
        Change::Disabled(by) => (None, None, Some(by.as_str())),
    };
    diesel::insert_into(key_events::table)
        .values((
            key_events::key_id.eq(key),
            key_events::kind.eq(change.kind()),
            key_events::effective_at.eq(to_db(at)),
            key_events::recorded_at.eq(to_db(now)),
            key_events::permissions.eq(permissions),
            key_events::location_id.eq(location),
            key_events::disabled_by.eq(by),
            key_events::actor.eq(actor.as_str()),
            key_events::note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the key's row lock for the rest of the transaction (PostgreSQL row lock;
/// SQLite's write transactions are serialized already), so changes to one key never
/// interleave, with any number of servers.
fn lock(conn: &mut Db, key: KeyId) -> Result<()> {
    let updated = diesel::update(keys::table.find(key.0))
        .set(keys::version.eq(keys::version + 1))
        .execute(conn)?;
    if updated == 0 {
        return Err(Error::not_found(format!("key {key}")));
    }
    Ok(())
}

/// Records a change to a key, effective now or back-dated, and returns the key as it
/// is afterwards. One transaction: lock, validate, append the event, refold the ledger
/// into the key row, audit.
pub fn change(
    conn: &mut Db,
    key: KeyId,
    change: Change,
    effective_at: Option<DateTime<Utc>>,
    note: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Key> {
    super::write(conn, |conn| {
        lock(conn, key)?;
        let before = get(conn, key)?;
        let account = accounts::get(conn, before.account_id)?;
        let at = effective_instant(conn, &account, effective_at, now)?;
        let history = events(conn, key)?;
        let created = history.first().map(|e| from_db(e.effective_at));
        if created.is_some_and(|c| at < c) {
            return Err(Error::invalid(
                "effective_before_creation",
                format!(
                    "effective_at {} is before the key was created",
                    at.to_rfc3339()
                ),
            ));
        }
        match change {
            Change::PermissionsSet(permissions) => {
                ensure_add_ons_priced(conn, &account, permissions, at)?
            }
            Change::LocationSet(Some(location)) => {
                let loc = accounts::location(conn, location)?;
                if loc.account_id != account.id {
                    return Err(Error::invalid(
                        "invalid_location",
                        format!("location {location} belongs to another account than key {key}"),
                    ));
                }
            }
            Change::Created { .. } => {
                return Err(Error::Internal("a key is created only once".into()))
            }
            _ => {}
        }
        insert_event(conn, key.0, change, at, actor, note, now)?;
        let state = refold(conn, key)?;
        diesel::update(keys::table.find(key.0))
            .set((
                keys::permissions.eq(state.permissions.to_string()),
                keys::status.eq(state.status.as_str()),
                keys::location_id.eq(state.location.map(|l| l.0)),
                keys::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?;
        let after = get(conn, key)?;
        super::gate::record_change(conn, key, now)?;
        audit::record(
            conn,
            now,
            actor,
            &format!("key.{}", change.kind()),
            ("key", Some(key.0)),
            Some(&before),
            Some(
                &serde_json::json!({ "key": &after, "effective_at": at.to_rfc3339(), "note": note }),
            ),
        )?;
        Ok(after)
    })
}

/// The state after the whole ledger (every event is at or before now).
fn refold(conn: &mut Db, key: KeyId) -> Result<KeyState> {
    let ledger = ledger_of(conn, key)?;
    ledger::fold(&ledger).ok_or_else(|| Error::Internal(format!("key {key} has no created event")))
}

pub fn get(conn: &mut Db, id: KeyId) -> Result<Key> {
    keys::table
        .find(id.0)
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("key {id}")))?
        .try_into()
}

/// The ledger as stored, in ledger order.
pub fn events(conn: &mut Db, key: KeyId) -> Result<Vec<EventRow>> {
    Ok(key_events::table
        .filter(key_events::key_id.eq(key.0))
        .order((key_events::effective_at.asc(), key_events::id.asc()))
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The ledger as the rules see it.
pub fn ledger_of(conn: &mut Db, key: KeyId) -> Result<Vec<Event>> {
    events(conn, key)?.iter().map(EventRow::to_event).collect()
}

/// What the key was at instant `at` (`None` before it was created).
pub fn state_at(conn: &mut Db, key: KeyId, at: DateTime<Utc>) -> Result<Option<KeyState>> {
    get(conn, key)?;
    Ok(ledger::state_at(&ledger_of(conn, key)?, at))
}

pub fn list_for_account(conn: &mut Db, account: AccountId) -> Result<Vec<Key>> {
    keys::table
        .filter(keys::account_id.eq(account.0))
        .order(keys::id.asc())
        .select(KeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Key::try_from)
        .collect()
}
