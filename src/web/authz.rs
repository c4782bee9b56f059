//! The check endpoint for the API gateway (CONTRACT section 7): `/authz` and the
//! nginx `auth_request` flavour `/authz/nginx`, any method.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};

use super::AppState;
use crate::gate::{CheckRequest, Verdict};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Every status of the contract.
    Plain,
    /// Only 2xx, 401 and 403, which nginx `auth_request` passes on; the reason for a 403
    /// is in `X-Keybill-Deny`.
    Nginx,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/authz/nginx", web::route().to(nginx))
        .route("/authz/nginx/{tail:.*}", web::route().to(nginx))
        .route("/authz", web::route().to(plain))
        .route("/authz/{tail:.*}", web::route().to(plain));
}

async fn plain(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state, Flavor::Plain, "/authz").await
}

async fn nginx(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state, Flavor::Nginx, "/authz/nginx").await
}

fn text(status: StatusCode, reason: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{reason}\n"))
}

/// A 403 for nginx, its real reason in `X-Keybill-Deny`.
fn denied(deny: &'static str) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(StatusCode::FORBIDDEN);
    b.insert_header(("X-Keybill-Deny", deny))
        .content_type("text/plain; charset=utf-8");
    b
}

async fn answer(req: &HttpRequest, state: &AppState, flavor: Flavor, prefix: &str) -> HttpResponse {
    let headers = req.headers();
    let value = |name: &str| headers.get(name).map(|v| v.to_str().map_err(|_| ()));
    // The client's request: from the gateway's headers, or (Envoy style) our own
    // method and raw URI after the prefix.
    let own_target;
    let (method, target) = match (value("X-Original-Method"), value("X-Original-URI")) {
        (Some(Ok(m)), Some(Ok(u))) => (m, u),
        (None, None) => {
            let raw = req.uri().path_and_query().map_or("", |pq| pq.as_str());
            own_target = raw.strip_prefix(prefix).unwrap_or("").to_owned();
            (req.method().as_str(), own_target.as_str())
        }
        _ => {
            return malformed(
                flavor,
                "malformed request: send both X-Original-Method and X-Original-URI",
            )
        }
    };
    let authorization = match value(header::AUTHORIZATION.as_str()) {
        Some(Err(())) => return malformed(flavor, "malformed Authorization header"),
        other => other.map(|v| v.unwrap_or_default()),
    };
    let mode = match value("X-Keybill-Mode") {
        Some(Err(())) => return malformed(flavor, "malformed X-Keybill-Mode"),
        other => other.map(|v| v.unwrap_or_default()),
    };
    let check = CheckRequest {
        authorization,
        method,
        target,
        mode,
    };
    match state.gate.check(&check).await {
        Verdict::Allow {
            key,
            permission,
            max_limit,
        } => HttpResponse::NoContent()
            .insert_header(("X-Keybill-Key", key.id.to_string()))
            .insert_header(("X-Keybill-Account", key.account_id.to_string()))
            .insert_header((
                "X-Keybill-Location",
                key.location_id.unwrap_or_default().to_string(),
            ))
            .insert_header(("X-Keybill-Permission", permission.as_str()))
            .insert_header(("X-Keybill-Max-Limit", max_limit.to_string()))
            .finish(),
        Verdict::Malformed(reason) => malformed(flavor, &reason),
        Verdict::Unauthorized(reason) => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "ODFHIR"))
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}\n")),
        Verdict::Forbidden(p) => {
            let reason = format!("the key lacks the {p} permission");
            match flavor {
                Flavor::Plain => text(StatusCode::FORBIDDEN, &reason),
                Flavor::Nginx => denied("permission").body(format!("{reason}\n")),
            }
        }
        Verdict::Throttled { retry_after } => {
            let reason = format!("throttled: retry after {retry_after} s");
            let mut b = match flavor {
                Flavor::Plain => HttpResponse::build(StatusCode::TOO_MANY_REQUESTS),
                Flavor::Nginx => denied("throttled"),
            };
            b.insert_header((header::RETRY_AFTER, retry_after.to_string()))
                .content_type("text/plain; charset=utf-8")
                .body(format!("{reason}\n"))
        }
    }
}

fn malformed(flavor: Flavor, reason: &str) -> HttpResponse {
    match flavor {
        Flavor::Plain => text(StatusCode::BAD_REQUEST, reason),
        Flavor::Nginx => denied("malformed").body(format!("{reason}\n")),
    }
}
