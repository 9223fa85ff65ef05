//! `/calls`: the calls of the selection, newest first, a page at a time;
//! `/calls.csv`: the same calls as a streamed CSV download (cookie auth, so
//! a browser can fetch it; the API's export needs a Bearer token).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use maud::{Markup, html};

use super::dashboard::{filters, title_of};
use super::format::{count, duration, phone, when};
use super::layout::{Nav, PageError, empty, shell};
use super::selection::{Selection, default_line, encode, visible_groups, visible_lines};
use super::session::Viewer;
use crate::domain::Invalid;
use crate::http::AppState;
use crate::http::access;
use crate::http::api::analytics::csv_body;
use crate::http::api::phone_numbers::label;
use crate::http::extract::QueryPairs;
use crate::store::{CallQuery, CallRow};

/// Calls per page.
const PAGE: i64 = 50;

fn encode_cursor(started_at: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{started_at}:{id}"))
}

fn decode_cursor(s: &str) -> Result<(i64, i64), Invalid> {
    let bad = || Invalid::new("cursor", format!("'{s}' is not a page of this list"));
    let text = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

fn status_class(status: &str) -> &'static str {
    match status {
        "completed" => "badge-ok",
        "no-answer" | "busy" | "failed" | "canceled" => "badge-bad",
        "in-progress" | "ringing" | "queued" => "badge-live",
        _ => "badge-muted",
    }
}

/// `GET /calls`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, q: QueryPairs) -> Response {
    match render(&state, &viewer, q).await {
        Ok(m) => m.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render(state: &AppState, viewer: &Viewer, q: QueryPairs) -> Result<Markup, PageError> {
    let default = default_line(state, &viewer.user).await;
    let sel = Selection::read(state, &q.0, || default, Timestamp::now())?;
    let after = q
        .get("cursor")
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let scope = access::scope(state, &viewer.user, &sel.line.filter()).await?;
    let lines = visible_lines(state, &viewer.user, false).await?;
    let groups = visible_groups(state, &viewer.user, &lines).await?;
    let names: HashMap<String, String> = state
        .store
        .list_phone_numbers(true)
        .await?
        .iter()
        .map(|l| (l.number.clone(), label(l)))
        .collect();
    let mut rows = state
        .store
        .list_calls(
            &scope,
            &CallQuery {
                period: Some(sel.period.second_bounds()),
                after,
                limit: PAGE + 1,
            },
        )
        .await?;
    let next = if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last().map(|r| encode_cursor(r.started_at, r.id))
    } else {
        None
    };
    let (from, to) = sel.period.second_bounds();
    let total = state.store.call_counts(&scope, from, to).await?.calls;
    let (title, _) = title_of(&sel.line, &lines, &groups);
    let query = sel.query();
    let tz = &sel.period.tz;
    let body = html! {
        div.page-head {
            div.page-title {
                h1 { "Calls" }
                p.muted { span { (title) } span.dot { "·" } span { (sel.label()) } span.dot { "·" } span { (sel.tz_name.replace('_', " ")) } }
            }
            (filters("/calls", &sel, state, &lines, &groups))
        }
        section.card {
            div.card-head {
                h2 { (count(total)) @if total == 1 { " call" } @else { " calls" } span.muted.h2-sub { "newest first" } }
                a.btn.btn-secondary.btn-sm href={ "/calls.csv?" (query) } download id="csv" { "Download CSV" }
            }
            @if rows.is_empty() {
                (empty("No calls in this period", "Try a longer period or another line."))
            } @else {
                div.table-wrap {
                    table.table.calls id="calls" {
                        thead { tr {
                            th scope="col" { "Started" }
                            th scope="col" { "Line" }
                            th scope="col" { "Other party" }
                            th.hide-sm scope="col" { "Direction" }
                            th scope="col" { "Status" }
                            th.num scope="col" { "Talk time" }
                            th.hide-sm scope="col" { "Flow" }
                        } }
                        tbody {
                            @for c in &rows { (row(c, &names, tz)) }
                        }
                    }
                }
                nav.pager aria-label="Pages" {
                    @if after.is_some() {
                        a.btn.btn-ghost.btn-sm href={ "/calls?" (query) } { "← Newest" }
                    } @else { span {} }
                    span.muted { @if after.is_some() { "Older calls" } @else { "Showing the newest " (count(rows.len() as i64)) } }
                    @if let Some(n) = &next {
                        a.btn.btn-secondary.btn-sm rel="next" href={ "/calls?" (query) "&" (encode(&[("cursor", n.clone())])) } { "Older →" }
                    } @else { span {} }
                }
            }
        }
    };
    Ok(shell("Calls", viewer, Nav::Calls, &query, body))
}

fn row(c: &CallRow, names: &HashMap<String, String>, tz: &jiff::tz::TimeZone) -> Markup {
    let line = names
        .get(&c.phone_number)
        .cloned()
        .unwrap_or_else(|| phone(&c.phone_number));
    html! {
        tr {
            td.nowrap.c-when { (when(c.started_at, tz)) }
            td.c-line {
                div.cell-main { (line) }
                @if names.contains_key(&c.phone_number) { div.cell-sub.mono { (phone(&c.phone_number)) } }
                @else { div.cell-sub { "Not registered" } }
            }
            td.mono.nowrap.c-party { @match &c.other_party { Some(p) => (phone(p)), None => span.muted { "—" } } }
            td.hide-sm.c-dir { (if c.direction == "inbound" { "↙ Inbound" } else { "↗ Outbound" }) }
            td.c-status { span class={ "badge " (status_class(&c.status)) } { (c.status.replace('-', " ")) } }
            td.num.nowrap.c-talk { (duration(c.duration_seconds as f64)) }
            td.hide-sm.c-flow { @match &c.flow_name { Some(f) => (f), None => span.muted { "—" } } }
        }
    }
}

/// `GET /calls.csv`: every call of the selection, newest first, streamed.
pub async fn csv(State(state): State<AppState>, viewer: Viewer, q: QueryPairs) -> Response {
    let default = default_line(&state, &viewer.user).await;
    let sel = match Selection::read(&state, &q.0, || default, Timestamp::now()) {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let scope = match access::scope(&state, &viewer.user, &sel.line.filter()).await {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let period = Some(sel.period.second_bounds());
    let slot = match state.exports.claim(viewer.user.id) {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let body = csv_body(state.store.clone(), scope, period, slot);
    let filename = format!(
        "attachment; filename=\"linewise-calls-{}-{}.csv\"",
        sel.first_day, sel.last_day
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response()
}
