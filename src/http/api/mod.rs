//! One file per resource: its handlers and its request/response shapes.

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod groups;
pub mod health;
pub mod import;
pub mod ingest_keys;
pub mod phone_numbers;
pub mod users;
pub mod webhooks;
