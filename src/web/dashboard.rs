//! `/`: the dashboard — the line dropdown, the period picker, metric cards,
//! the calls-over-time chart and the top flows, for the selection in the URL.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use maud::{Markup, html};

use super::chart;
use super::format::{count, duration, percent, phone};
use super::layout::{Nav, PageError, empty, shell};
use super::selection::{
    LineChoice, Selection, default_line, line_select, period_fields, visible_groups, visible_lines,
};
use super::session::Viewer;
use crate::analytics::views::{self, Interval};
use crate::analytics::{self, Dashboard};
use crate::http::AppState;
use crate::http::access;
use crate::http::api::phone_numbers::label;
use crate::http::extract::QueryPairs;
use crate::store::{GroupRow, PhoneNumberRow};

/// What the selected lines are called in the heading.
pub fn title_of(
    line: &LineChoice,
    lines: &[PhoneNumberRow],
    groups: &[GroupRow],
) -> (String, String) {
    match line {
        LineChoice::All => ("All phone numbers".into(), format!("{} lines", lines.len())),
        LineChoice::Number(n) => match lines.iter().find(|l| l.number == n.as_str()) {
            Some(l)
                if l.friendly_name
                    .as_deref()
                    .is_some_and(|s| !s.trim().is_empty()) =>
            {
                (label(l), n.human())
            }
            _ => (n.human(), "Not a registered line".into()),
        },
        LineChoice::Group(id) => match groups.iter().find(|g| g.id == *id) {
            Some(g) => (
                g.name.clone(),
                format!("Group of {} lines", g.phone_number_ids.len()),
            ),
            None => (format!("Group {id}"), String::new()),
        },
    }
}

struct Card {
    metric: &'static str,
    label: &'static str,
    value: String,
    raw: String,
    hint: String,
}

fn cards(d: &Dashboard, sel: &Selection) -> Vec<Card> {
    let today_hint = if sel.kind == super::selection::PeriodKind::Today {
        "So far today".to_string()
    } else {
        "Since midnight".to_string()
    };
    vec![
        Card {
            metric: "callsToday",
            label: "Calls today",
            value: count(d.calls_today),
            raw: d.calls_today.to_string(),
            hint: if d.active_calls > 0 {
                format!("{} live now", count(d.active_calls))
            } else {
                today_hint
            },
        },
        Card {
            metric: "calls",
            label: "Calls",
            value: count(d.calls),
            raw: d.calls.to_string(),
            hint: "In the period".into(),
        },
        Card {
            metric: "answered",
            label: "Answered",
            value: count(d.answered),
            raw: d.answered.to_string(),
            hint: "Completed calls".into(),
        },
        Card {
            metric: "missed",
            label: "Missed",
            value: count(d.missed),
            raw: d.missed.to_string(),
            hint: format!("{} abandoned", count(d.abandoned_calls)),
        },
        Card {
            metric: "successRate",
            label: "Success rate",
            value: percent(d.success_rate),
            raw: d.success_rate.to_string(),
            hint: "Answered ÷ calls".into(),
        },
        Card {
            metric: "avgCallDuration",
            label: "Avg talk time",
            value: duration(d.avg_call_duration),
            raw: d.avg_call_duration.to_string(),
            hint: format!("{} in total", duration(d.total_talk_seconds as f64)),
        },
        Card {
            metric: "uniqueCallers",
            label: "Unique callers",
            value: count(d.unique_callers),
            raw: d.unique_callers.to_string(),
            hint: "Distinct numbers".into(),
        },
    ]
}

/// The selection form shared by the dashboard and the calls page.
pub fn filters(
    action: &str,
    sel: &Selection,
    state: &AppState,
    lines: &[PhoneNumberRow],
    groups: &[GroupRow],
) -> Markup {
    html! {
        form.filters method="get" action=(action) data-filters {
            div.field.field-line {
                label for="f-line" { "Phone number" }
                (line_select("f-line", &sel.line, lines, groups))
            }
            (period_fields(sel, state))
            div.field.field-apply {
                button.btn.btn-primary type="submit" { "Apply" }
            }
        }
    }
}

/// `GET /`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, q: QueryPairs) -> Response {
    match render(&state, &viewer, q).await {
        Ok(m) => m.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn render(state: &AppState, viewer: &Viewer, q: QueryPairs) -> Result<Markup, PageError> {
    let now = Timestamp::now();
    let default = default_line(state, &viewer.user).await;
    let sel = Selection::read(state, &q.0, || default, now)?;
    let scope = access::scope(state, &viewer.user, &sel.line.filter()).await?;
    let lines = visible_lines(state, &viewer.user, false).await?;
    let groups = visible_groups(state, &viewer.user, &lines).await?;
    let interval = if sel.single_day() {
        Interval::Hour
    } else {
        Interval::Day
    };
    let store = state.store.as_ref();
    let (d, ts) = tokio::try_join!(
        async {
            analytics::dashboard(store, &scope, &sel.period, now)
                .await
                .map_err(PageError::from)
        },
        async {
            views::timeseries(store, &scope, &sel.period, interval)
                .await
                .map_err(PageError::from)
        },
    )?;
    let (title, subtitle) = title_of(&sel.line, &lines, &groups);
    let query = sel.query();
    let body = html! {
        div.page-head {
            div.page-title {
                h1 { (title) }
                p.muted {
                    @if !subtitle.is_empty() { span { (subtitle) } span.dot { "·" } }
                    span { (sel.label()) }
                    span.dot { "·" }
                    span { (sel.tz_name.replace('_', " ")) }
                }
            }
            (filters("/", &sel, state, &lines, &groups))
        }
        section.cards id="cards" aria-label="Figures"
            data-from=(sel.period.from.to_string()) data-to=(sel.period.to.to_string()) data-tz=(sel.tz_name) {
            @for c in cards(&d, &sel) {
                div.metric data-metric=(c.metric) data-value=(c.raw) {
                    span.metric-label { (c.label) }
                    span.metric-value { (c.value) }
                    span.metric-hint { (c.hint) }
                }
            }
        }
        @if d.calls == 0 {
            section.card {
                (empty("No calls in this period", "Try a longer period or another line."))
            }
        } @else {
            section.card {
                div.card-head {
                    h2 { "Calls over time" }
                    span.muted { @if sel.single_day() { "Per hour" } @else { "Per day" } }
                }
                (chart::calls_over_time(&ts, &sel.period.tz, sel.single_day()))
            }
            div.grid-2 {
                section.card {
                    div.card-head { h2 { "Top flows" } span.muted { "Share of the period's calls" } }
                    @if d.top_flows.is_empty() {
                        (empty("No IVR flows in this period", "These calls did not pass through a flow."))
                    } @else {
                        div.table-wrap {
                            table.table id="top-flows" {
                                thead { tr {
                                    th scope="col" { "Flow" }
                                    th.num scope="col" { "Calls" }
                                    th.num scope="col" { "Success" }
                                } }
                                tbody {
                                    @for f in &d.top_flows {
                                        @let share = if d.calls > 0 { f.call_count as f64 * 100.0 / d.calls as f64 } else { 0.0 };
                                        tr {
                                            td {
                                                div.flow-name { (f.flow_name) }
                                                // An SVG bar: its width is an attribute, which the
                                                // Content-Security-Policy allows where an inline style is not.
                                                svg.share aria-hidden="true" viewBox="0 0 100 4" preserveAspectRatio="none" {
                                                    rect width=(format!("{share:.1}")) height="4" {}
                                                }
                                            }
                                            td.num { (count(f.call_count)) }
                                            td.num { (percent(f.success_rate)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section.card {
                    div.card-head { h2 { "At a glance" } }
                    dl.facts {
                        div { dt { "Live calls now" } dd { (count(d.active_calls)) } }
                        div { dt { "Abandoned (caller hung up)" } dd { (count(d.abandoned_calls)) } }
                        div { dt { "Failed" } dd { (count(d.failed_calls)) } }
                        div { dt { "Total talk time" } dd { (duration(d.total_talk_seconds as f64)) } }
                        @if let LineChoice::Number(n) = &sel.line {
                            div { dt { "Number" } dd { (phone(n.as_str())) } }
                        }
                    }
                    div.card-actions {
                        a.btn.btn-secondary href={ "/calls?" (query) } { "View these calls" }
                        a.btn.btn-ghost href={ "/calls.csv?" (query) } download { "Download CSV" }
                    }
                }
            }
        }
    };
    Ok(shell("Dashboard", viewer, Nav::Dashboard, &query, body))
}
