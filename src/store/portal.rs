//! Practice admins: invitations and password resets by one-time link, sign-in, and
//! their sessions. Every link and session token is random; only its hash is stored.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::audit::{self, Actor};
use super::schema::{portal_sessions, portal_tokens, portal_users};
use super::{accounts, is_unique_violation, outbox, to_db, Db};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::mail::LinkEmail;
use crate::secrets;

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::days(7);
/// How long a password-reset link works.
pub const RESET_LIFETIME: Duration = Duration::hours(1);
/// How long a portal session lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = portal_users)]
pub struct PortalUser {
    pub id: i64,
    pub account_id: i64,
    pub email: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub created_at: NaiveDateTime,
}

fn new_token(
    conn: &mut Db,
    user: i64,
    purpose: &str,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = secrets::generate();
    diesel::insert_into(portal_tokens::table)
        .values((
            portal_tokens::token_hash.eq(secrets::hash(&token)),
            portal_tokens::portal_user_id.eq(user),
            portal_tokens::purpose.eq(purpose),
            portal_tokens::expires_at.eq(to_db(now + lifetime)),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Invites a practice admin (creating the user if new); returns the one-time link,
/// also emailed in the same transaction.
pub fn invite(
    conn: &mut Db,
    account: AccountId,
    email: &str,
    public_url: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(PortalUser, String)> {
    super::write(conn, |conn| {
        let acct = accounts::get(conn, account)?;
        let existing = portal_users::table
            .filter(portal_users::email.eq(email))
            .select(PortalUser::as_select())
            .first(conn)
            .optional()?;
        let user = match existing {
            Some(u) if u.account_id != account.0 => {
                return Err(Error::conflict(
                    "portal_user_exists",
                    format!("{email} is a portal user of another practice"),
                ))
            }
            Some(u) => u,
            None => {
                let id: i64 = diesel::insert_into(portal_users::table)
                    .values((
                        portal_users::account_id.eq(account.0),
                        portal_users::email.eq(email),
                        portal_users::created_at.eq(to_db(now)),
                    ))
                    .returning(portal_users::id)
                    .get_result(conn)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            Error::conflict("portal_user_exists", format!("{email} exists"))
                        } else {
                            e.into()
                        }
                    })?;
                portal_users::table
                    .find(id)
                    .select(PortalUser::as_select())
                    .first(conn)?
            }
        };
        let token = new_token(conn, user.id, "invite", INVITE_LIFETIME, now)?;
        let link = format!("{}/portal/invite/{token}", public_url.trim_end_matches('/'));
        let email_out = LinkEmail::invite(&acct.name, email, &link).render();
        outbox::enqueue(conn, &email_out, None, now)?;
        audit::record(
            conn,
            now,
            actor,
            "portal_user.invite",
            ("account", Some(account.0)),
            None::<&()>,
            Some(&serde_json::json!({"email": email})),
        )?;
        Ok((user, link))
    })
}

/// Uses a one-time link to set a password. Refused if unknown, used or expired.
pub fn redeem(
    conn: &mut Db,
    token: &str,
    purpose: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<PortalUser> {
    if password.chars().count() < 10 {
        return Err(Error::field("password", "must be at least 10 characters"));
    }
    let hash = secrets::hash_password(password);
    super::write(conn, |conn| {
        let found: Option<(i64, NaiveDateTime, Option<NaiveDateTime>)> = portal_tokens::table
            .filter(portal_tokens::token_hash.eq(secrets::hash(token)))
            .filter(portal_tokens::purpose.eq(purpose))
            .select((
                portal_tokens::portal_user_id,
                portal_tokens::expires_at,
                portal_tokens::used_at,
            ))
            .first(conn)
            .optional()?;
        let user = match found {
            Some((user, expires, None)) if expires > to_db(now) => user,
            Some((_, _, Some(_))) => {
                return Err(Error::invalid(
                    "link_used",
                    "this link has been used already",
                ))
            }
            Some(_) => {
                return Err(Error::invalid(
                    "link_expired",
                    "this link has expired; ask for a new one",
                ))
            }
            None => return Err(Error::invalid("link_invalid", "this link is not valid")),
        };
        diesel::update(
            portal_tokens::table.filter(portal_tokens::token_hash.eq(secrets::hash(token))),
        )
        .set(portal_tokens::used_at.eq(to_db(now)))
        .execute(conn)?;
        diesel::update(portal_users::table.find(user))
            .set(portal_users::password_hash.eq(&hash))
            .execute(conn)?;
        Ok(portal_users::table
            .find(user)
            .select(PortalUser::as_select())
            .first(conn)?)
    })
}

/// Emails a reset link if the address belongs to a portal user; says nothing either way.
pub fn request_reset(
    conn: &mut Db,
    email: &str,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    super::write(conn, |conn| {
        let user = portal_users::table
            .filter(portal_users::email.eq(email))
            .select(PortalUser::as_select())
            .first(conn)
            .optional()?;
        if let Some(user) = user {
            let token = new_token(conn, user.id, "reset", RESET_LIFETIME, now)?;
            let link = format!("{}/portal/reset/{token}", public_url.trim_end_matches('/'));
            let account = accounts::get(conn, AccountId(user.account_id))?;
            outbox::enqueue(
                conn,
                &LinkEmail::reset(&account.name, email, &link).render(),
                None,
                now,
            )?;
        }
        Ok(())
    })
}

pub fn verify_login(conn: &mut Db, email: &str, password: &str) -> Result<Option<PortalUser>> {
    let user = portal_users::table
        .filter(portal_users::email.eq(email.trim().to_ascii_lowercase()))
        .select(PortalUser::as_select())
        .first(conn)
        .optional()?;
    Ok(user.filter(|u| {
        u.password_hash
            .as_deref()
            .is_some_and(|h| secrets::verify_password(password, h))
    }))
}

pub fn for_account(conn: &mut Db, account: AccountId) -> Result<Vec<PortalUser>> {
    Ok(portal_users::table
        .filter(portal_users::account_id.eq(account.0))
        .order(portal_users::email)
        .select(PortalUser::as_select())
        .load(conn)?)
}

pub fn start_session(conn: &mut Db, user: i64, now: DateTime<Utc>) -> Result<String> {
    let token = secrets::generate();
    super::write(conn, |conn| {
        diesel::delete(portal_sessions::table.filter(portal_sessions::expires_at.lt(to_db(now))))
            .execute(conn)?;
        diesel::insert_into(portal_sessions::table)
            .values((
                portal_sessions::token_hash.eq(secrets::hash(&token)),
                portal_sessions::portal_user_id.eq(user),
                portal_sessions::csrf_token.eq(secrets::generate()),
                portal_sessions::created_at.eq(to_db(now)),
                portal_sessions::expires_at.eq(to_db(now + SESSION_LIFETIME)),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(token)
}

pub fn find_session(
    conn: &mut Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(PortalUser, String)>> {
    Ok(portal_sessions::table
        .inner_join(portal_users::table)
        .filter(portal_sessions::token_hash.eq(secrets::hash(token)))
        .filter(portal_sessions::expires_at.gt(to_db(now)))
        .select((PortalUser::as_select(), portal_sessions::csrf_token))
        .first(conn)
        .optional()?)
}

pub fn end_session(conn: &mut Db, token: &str) -> Result<()> {
    diesel::delete(
        portal_sessions::table.filter(portal_sessions::token_hash.eq(secrets::hash(token))),
    )
    .execute(conn)?;
    Ok(())
}
