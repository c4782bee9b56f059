//! keybill: the back-office for selling API access.
//!
//! Pure domain modules (no I/O): [`policy`], [`money`], [`calendar`], [`ledger`],
//! [`pricing`]. Around them: [`store`] (diesel, SQLite and PostgreSQL), [`web`]
//! (actix-web: pages, JSON API), [`cli`] and [`config`].

pub mod billing;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod gate;
pub mod ids;
pub mod ledger;
pub mod mail;
pub mod money;
pub mod policy;
pub mod pricing;
pub mod secrets;
pub mod store;
pub mod validate;
pub mod web;
