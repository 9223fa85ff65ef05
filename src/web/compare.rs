//! `/compare`: several lines, or a group, side by side over a period, with
//! the change from the period of equal length before and a hint where the
//! sample is too small for the rate to mean much.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::{Timestamp, ToSpan};
use maud::{Markup, html};

use super::format::{
    change_percent, change_points, count, date_range, duration, percent, phone, trend,
};
use super::layout::{Nav, PageError, empty, shell};
use super::selection::{
    LineChoice, Selection, encode, period_fields, visible_groups, visible_lines,
};
use super::session::Viewer;
use crate::analytics::views::{self, CompareRow, LOW_SAMPLE};
use crate::domain::{E164, LineFilter};
use crate::http::AppState;
use crate::http::access;
use crate::http::extract::QueryPairs;
use crate::store::LineScope;

/// `GET /compare?phoneNumber=…&phoneNumber=…` or `?groupId=…`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, q: QueryPairs) -> Response {
    match render(&state, &viewer, q).await {
        Ok(m) => m.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render(state: &AppState, viewer: &Viewer, q: QueryPairs) -> Result<Markup, PageError> {
    let sel = Selection::read_period(state, &q.0, LineChoice::All, Timestamp::now())?;
    let lines = visible_lines(state, &viewer.user, false).await?;
    let groups = visible_groups(state, &viewer.user, &lines).await?;

    let group_id = match q.get("groupId").map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) => Some(g.parse::<i64>().map_err(|_| {
            crate::domain::Invalid::new("groupId", format!("'{g}' is not a group id"))
        })?),
        None => None,
    };
    let mut chosen: Vec<E164> = Vec::new();
    for v in
        q.0.iter()
            .filter(|(k, _)| k == "phoneNumber" || k == "phoneNumbers")
    {
        for part in v.1.split(',').filter(|p| !p.trim().is_empty()) {
            chosen.push(E164::parse("phoneNumber", part, state.region)?);
        }
    }
    chosen.sort();
    chosen.dedup();
    let explicit = !chosen.is_empty();
    let filter = match group_id {
        Some(id) => LineFilter {
            group_id: Some(id),
            ..Default::default()
        },
        None => {
            let numbers = if explicit {
                chosen.clone()
            } else {
                lines
                    .iter()
                    .filter_map(|l| E164::parse("phoneNumber", &l.number, state.region).ok())
                    .collect()
            };
            LineFilter {
                numbers: Some(numbers),
                ..Default::default()
            }
        }
    };
    let scope = access::scope(state, &viewer.user, &filter).await?;
    let numbers = match &scope {
        LineScope::Only(list) => list.clone(),
        LineScope::All => Vec::new(),
    };
    let comparison = if numbers.is_empty() {
        None
    } else {
        Some(views::compare(state.store.as_ref(), &scope, &sel.period, Some(numbers)).await?)
    };
    let days = (sel.last_day - sel.first_day).get_days() as i64 + 1;
    let prev_first = sel
        .first_day
        .checked_sub(days.days())
        .unwrap_or(sel.first_day);
    let prev_last = sel.first_day.checked_sub(1.day()).unwrap_or(sel.first_day);
    let checked =
        |n: &str| group_id.is_none() && (!explicit || chosen.iter().any(|c| c.as_str() == n));
    let carry = encode(&sel.period_pairs());

    let body = html! {
        div.page-head {
            div.page-title {
                h1 { "Compare lines" }
                p.muted { span { (sel.label()) } span.dot { "·" } span { "against " (date_range(prev_first, prev_last)) } }
            }
        }
        form.card.compare-form method="get" action="/compare" data-filters {
            fieldset.line-picks {
                legend { "Lines" }
                @if lines.is_empty() {
                    p.muted { "No active lines to compare." }
                }
                @for l in &lines {
                    label.pick {
                        input type="checkbox" name="phoneNumber" value=(l.number) checked[checked(&l.number)];
                        span { (crate::http::api::phone_numbers::label(l)) }
                    }
                }
            }
            div.filters {
                div.field {
                    label for="f-group" { "Or a group" }
                    select id="f-group" name="groupId" data-autosubmit {
                        option value="" selected[group_id.is_none()] { "Ticked lines" }
                        @for g in &groups {
                            option value=(g.id) selected[group_id == Some(g.id)] { (g.name) }
                        }
                    }
                }
                (period_fields(&sel, state))
                div.field.field-apply { button.btn.btn-primary type="submit" { "Compare" } }
            }
        }
        @match &comparison {
            None => section.card { (empty("Nothing to compare", "Tick some lines or choose a group.")) },
            Some(c) => section.card {
                div.card-head {
                    h2 { (count(c.rows.len() as i64)) " lines" }
                    span.muted { "Change against the " (days) @if days == 1 { " day" } @else { " days" } " before" }
                }
                div.table-wrap {
                    table.table.compare id="compare" {
                        thead { tr {
                            th scope="col" { "Line" }
                            th.num scope="col" { "Calls" }
                            th.num scope="col" { "Answered" }
                            th.num scope="col" { "Missed" }
                            th.num scope="col" { "Success rate" }
                            th.num scope="col" { "Avg talk time" }
                            th.num scope="col" { "Unique callers" }
                        } }
                        tbody { @for r in &c.rows { (row(r)) } }
                    }
                }
                p.footnote {
                    span.badge.badge-warn { "small sample" }
                    " fewer than " (LOW_SAMPLE) " calls: the success rate could easily be off; the range under it is its 95 % confidence interval."
                }
            },
        }
    };
    Ok(shell("Compare", viewer, Nav::Compare, &carry, body))
}

fn row(r: &CompareRow) -> Markup {
    let c = &r.current;
    let f = &c.figures;
    html! {
        tr data-number=(r.phone_number) {
            th scope="row" {
                div.cell-main { (r.label) }
                div.cell-sub.mono { (phone(&r.phone_number)) }
            }
            td.num data-label="Calls" {
                div.cell-main { (count(f.calls)) }
                div class={ "delta " (trend(r.change.calls)) } { (change_percent(r.change.calls)) }
            }
            td.num data-label="Answered" { (count(f.answered)) }
            td.num data-label="Missed" { (count(f.missed)) }
            td.num data-label="Success rate" {
                div.cell-main {
                    @if c.low_sample {
                        span.badge.badge-warn title={ "Only " (f.calls) " calls: the rate is uncertain" } { "small sample" } " "
                    }
                    (percent(f.success_rate))
                }
                @if let Some([lo, hi]) = c.success_rate_interval {
                    div.cell-sub { (format!("{lo:.0}–{hi:.0}%")) }
                }
                @if r.previous.figures.calls == 0 {
                    div.delta.flat { "new" }
                } @else {
                    div class={ "delta " (trend(Some(r.change.success_rate))) } { (change_points(r.change.success_rate)) }
                }
            }
            td.num data-label="Avg talk time" {
                div.cell-main { (duration(f.avg_call_duration)) }
                div class={ "delta " (trend(r.change.avg_call_duration)) } { (change_percent(r.change.avg_call_duration)) }
            }
            td.num data-label="Unique callers" { (count(c.unique_callers)) }
        }
    }
}
