//! Storefront: a server-rendered shop that sells through Stripe.
//!
//! `startup::Application` builds everything from a `config::Config`; `cli` is the binary's entry.

pub mod accounts;
pub mod admin;
pub mod balance;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod digital;
pub mod error;
pub mod health;
pub mod installation;
pub mod instances;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod money;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod reconcile;
pub mod recovery;
pub mod refund_policy;
pub mod schema;
pub mod shipping;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod stripe_doctor;
pub mod stripe_ids;
pub mod stripe_setup;
pub mod subscriptions;
pub mod web;
pub mod webhooks;
