//! linewise: per-line call analytics for businesses that run many phone lines.
//!
//! # Layout
//!
//! Data flows one way: HTTP / CLI / demo → [`domain`] → [`store`].
//!
//! | where | what |
//! |---|---|
//! | `main.rs` | thin: parses the CLI, starts tracing, dispatches to [`cli`] |
//! | [`config`] | every setting, as a flag and a `LINEWISE_*` variable |
//! | [`cli`] | the commands: `serve`, `import`, `backup`, `call`, `demo`, `user add` |
//! | [`app`] | start-up: open the store, the JWT secret, the first admin |
//! | [`domain`] | pure, validated types: E.164 numbers, calls (and their provider record, [`domain::Raw`]), roles, periods, filters |
//! | [`store`] | the [`store::Store`] trait; SQLite and PostgreSQL from one SQL body; `migrations/<engine>/`; [`store::rollup`]: the pre-aggregated figures every analytics read uses, kept in the write's transaction; `store/callers.rs`: the caller ids behind exact distinct callers |
//! | [`analytics`] | every metric defined once, on counts the store takes |
//! | [`auth`] | Argon2id passwords and HS256 tokens |
//! | [`http`] | `server.rs` the accept loop (timeouts, connection caps), router (every route on one screen, with the security headers and CORS), one error enum, extractors, line access, the audit log, request logs and `/metrics`, `api/` a file per resource, `openapi.rs` the OpenAPI 3.1 document served at `/api/openapi.json` |
//! | [`ingest`] | provider formats (Exotel, Twilio, CSV) → domain calls, with `draft.rs` the record every adapter builds and the field readers they share; streamed bulk import; the webhook batcher |
//! | [`web`] | server-rendered pages: login, dashboard, compare, phone numbers and their groups, calls |
//! | [`demo`] | realistic generated traffic for a newcomer to explore |
//! | `tests/api/` | one integration binary: the same suite on SQLite and PostgreSQL |
//! | `.cargo/config.toml` | the options SQLite is compiled with (`LIBSQLITE3_FLAGS`: no allocation statistics, a 1 TiB mmap cap) |

/// Every program linked with linewise (the server, the CLI, tests and
/// benchmarks) allocates through mimalloc: the import and dashboard paths
/// make many small, short-lived allocations, and glibc's allocator spent a
/// quarter of an import's time (its free-list consolidation among them).
/// Built with `no_thp`: mimalloc no longer asks for transparent huge pages
/// on the memory it maps, which on a kernel that defragments for those
/// that ask (`defrag` = `madvise`, Debian's default) cost an import ~1 s of
/// system time a million calls in page faults on the writer's thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod analytics;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod store;
pub mod web;
