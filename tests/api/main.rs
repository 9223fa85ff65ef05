//! The integration suite: every test gets a fresh database and a server on
//! port 0, and runs on SQLite and — when `LINEWISE_TEST_POSTGRES_URL` is set —
//! again on PostgreSQL (see `helpers::both!`).

mod helpers;

mod ingest;

mod access;
mod auth;
mod bad_input;
mod bench_small;
mod binary;
mod browser;
mod calls;
mod dashboard;
mod exposure;
mod faults;
mod groups;
mod hardening;
mod internet;
mod nodes;
mod openapi;
mod oracle;
mod phone_numbers;
mod process;
mod roles;
mod rollups;
mod views;
