//! Bearer-token authentication of staff for the JSON API, and role checks.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::store::audit::Actor;
use crate::store::staff::{self, Role, Staff};
use crate::web::AppState;

/// The staff member behind the request's bearer token.
pub struct ApiStaff {
    pub staff: Staff,
    pub actor: Actor,
}

impl ApiStaff {
    /// The one guard call at the top of a handler: 403 unless the role allows.
    pub fn require(&self, needed: Role) -> Result<&Self, ApiError> {
        if self.staff.role().allows(needed) {
            Ok(self)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {needed} role; {} has {}",
                self.staff.email,
                self.staff.role()
            )))
        }
    }
}

impl FromRequest for ApiStaff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::unauthorized("no application state"))?;
            let token = token.ok_or_else(|| {
                ApiError::unauthorized("send Authorization: Bearer {staff token}")
            })?;
            if token.is_empty() || token.len() > 128 {
                return Err(ApiError::unauthorized("invalid token"));
            }
            let found = state.db(move |conn| staff::by_token(conn, &token)).await?;
            let (staff, token_id) =
                found.ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))?;
            let actor = Actor::staff_token(&staff.email, token_id);
            Ok(ApiStaff { staff, actor })
        })
    }
}
