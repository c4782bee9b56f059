//! keybill: the back-office for selling API access.
//!
//! - [`policy`]: the permission table, request parsing, tiers, throttles (pure).
//! - [`money`]: the Money type and its one rounding rule (pure).
//! - [`web`]: the actix-web application.
//! - [`cli`] and [`config`]: the `keybill` command line and its settings.

pub mod cli;
pub mod config;
pub mod money;
pub mod policy;
pub mod web;
