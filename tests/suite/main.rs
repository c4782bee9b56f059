//! keybill's black-box test suite: one binary, so it links once.
//! Tests that need a server spawn the real `keybill` binary on port 0.

mod admin;
mod api_accounts;
mod api_auth;
mod api_billing;
mod api_keys;
mod authz;
mod billing_props;
mod browser;
mod cli;
mod helpers;
mod mail;
mod policy_rules;
mod policy_table;
mod portal;
mod serve;
mod services;
mod webdriver;
