//! Server-rendered pages (askama templates under `templates/`).

use actix_web::HttpResponse;
use askama::Template;
use askama_web::WebTemplate;

use crate::policy::{self, Tier};

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(SCRIPT)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

pub struct TierRow {
    pub name: &'static str,
    pub price: String,
    pub throttle: String,
    pub unlocked_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    pub tiers: Vec<TierRow>,
    pub table_entries: usize,
}

pub async fn home() -> HomePage {
    let tiers = Tier::ALL
        .into_iter()
        .map(|tier| {
            let unlocked = tier.unlocked_by();
            TierRow {
                name: tier.as_str(),
                price: tier.default_list_price().to_string(),
                throttle: policy::describe_interval(policy::remote_throttle(unlocked)),
                unlocked_by: if unlocked.is_empty() {
                    "no permission".into()
                } else {
                    unlocked.names().join(", ")
                },
            }
        })
        .collect();
    HomePage {
        tiers,
        table_entries: policy::Table::global().entries().len(),
    }
}
