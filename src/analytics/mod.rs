//! Metric definitions: every figure linewise reports is defined here, once,
//! on top of raw counts the store takes over call records. What a single
//! call adds to those counts is written in one place,
//! [`CallCounts::of`](crate::store::CallCounts::of); the store keeps them
//! pre-aggregated ([`crate::store::rollup`]).
//!
//! | figure | definition |
//! |---|---|
//! | `calls` | calls whose `startedAt` lies in the period, any status |
//! | `answered` (`completedCalls`) | those with status `completed` |
//! | `missed` (`missedCalls`) | inbound ones `no-answer`, `busy`, `failed` or `canceled` |
//! | `abandonedCalls` | inbound `canceled` ones (part of missed) |
//! | `failedCalls` | `failed` ones, any direction |
//! | `totalTalkSeconds` | sum of `durationSeconds` of answered calls |
//! | `avgCallDuration` | `totalTalkSeconds ÷ answered` (0 when none), 2 decimals |
//! | `successRate` | `answered ÷ calls × 100` (0 when no calls), 2 decimals |
//! | `uniqueCallers` | distinct `otherParty` values among the period's calls |
//! | `callsToday` | calls that started today in the period's timezone |
//! | `activeCalls` | `ringing`/`queued`/`in-progress` calls started in the last 4 hours |
//! | `topFlows` | the five flows with most calls in the period, ties by name |

pub mod views;

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::Period;
use crate::store::{CallCounts, FlowCounts, LineScope, Store, StoreResult};

/// How far back a ringing or in-progress call still counts as active.
pub const ACTIVE_WINDOW_SECONDS: i64 = 4 * 3600;
/// How many flows the dashboard ranks.
pub const TOP_FLOWS: i64 = 5;

/// Rounds a figure to two decimals, as every rate and average is reported.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `part ÷ whole × 100`, 0 when `whole` is 0, two decimals.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

/// `total ÷ n`, 0 when `n` is 0, two decimals.
pub fn mean(total: i64, n: i64) -> f64 {
    if n == 0 {
        0.0
    } else {
        round2(total as f64 / n as f64)
    }
}

/// The period as answers echo it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PeriodView {
    pub from: String,
    pub to: String,
    pub tz: String,
}

impl From<&Period> for PeriodView {
    fn from(p: &Period) -> Self {
        PeriodView {
            from: p.from.to_string(),
            to: p.to.to_string(),
            tz: p.tz_name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopFlow {
    pub flow_id: String,
    pub flow_name: String,
    pub call_count: i64,
    pub success_rate: f64,
}

impl From<FlowCounts> for TopFlow {
    fn from(f: FlowCounts) -> Self {
        TopFlow {
            success_rate: percent(f.answered, f.calls),
            flow_id: f.flow_id,
            flow_name: f.flow_name,
            call_count: f.calls,
        }
    }
}

/// `GET /api/analytics/dashboard`: the long-standing fields first, then the rest.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub calls_today: i64,
    pub avg_call_duration: f64,
    pub success_rate: f64,
    pub top_flows: Vec<TopFlow>,
    pub completed_calls: i64,
    pub missed_calls: i64,
    pub abandoned_calls: i64,
    pub failed_calls: i64,
    pub active_calls: i64,
    pub period: PeriodView,
    pub calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub unique_callers: i64,
    pub total_talk_seconds: i64,
}

impl Dashboard {
    fn from_parts(
        c: CallCounts,
        calls_today: i64,
        active_calls: i64,
        top_flows: Vec<FlowCounts>,
        period: &Period,
    ) -> Self {
        Dashboard {
            calls_today,
            avg_call_duration: mean(c.talk_seconds, c.answered),
            success_rate: percent(c.answered, c.calls),
            top_flows: top_flows.into_iter().map(TopFlow::from).collect(),
            completed_calls: c.answered,
            missed_calls: c.missed,
            abandoned_calls: c.abandoned,
            failed_calls: c.failed,
            active_calls,
            period: period.into(),
            calls: c.calls,
            answered: c.answered,
            missed: c.missed,
            unique_callers: c.unique_callers,
            total_talk_seconds: c.talk_seconds,
        }
    }
}

/// Computes the dashboard for the lines in `scope` over `period`, as of `now`.
pub async fn dashboard(
    store: &dyn Store,
    scope: &LineScope,
    period: &Period,
    now: Timestamp,
) -> StoreResult<Dashboard> {
    let (from, to) = period.second_bounds();
    let (today_from, today_to) = Period::today(&period.tz, &period.tz_name, now).second_bounds();
    let today_is_the_period = (today_from, today_to) == (from, to);
    let (counts, today, active, flows) = tokio::try_join!(
        store.call_counts(scope, from, to),
        async {
            if today_is_the_period {
                Ok(None)
            } else {
                store
                    .call_counts(scope, today_from, today_to)
                    .await
                    .map(Some)
            }
        },
        store.live_calls(scope, now.as_second() - ACTIVE_WINDOW_SECONDS),
        store.top_flows(scope, from, to, TOP_FLOWS),
    )?;
    let today = today.unwrap_or(counts);
    Ok(Dashboard::from_parts(
        counts,
        today.calls,
        active,
        flows,
        period,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_zero_without_calls_and_rounded_otherwise() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(mean(0, 0), 0.0);
        assert_eq!(mean(147, 2), 73.5);
    }
}
