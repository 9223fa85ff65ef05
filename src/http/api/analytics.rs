//! `/api/analytics/*`: figures for the lines a filter and the user's access
//! allow, over a period in a timezone.

use axum::Json;
use axum::extract::State;

use crate::analytics::{self, Dashboard};
use crate::domain::{LineFilter, Period, parse_timezone};
use crate::http::AppState;
use crate::http::access;
use crate::http::error::ApiResult;
use crate::http::extract::{AuthUser, QueryPairs};
use crate::store::LineScope;

/// Query parameters every analytics view takes besides the line filters.
pub const VIEW_PARAMS: &[&str] = &["from", "to", "tz"];

/// What a view asks for: the lines, the period (when one applies), and the
/// remaining parameters for the endpoint's own use.
pub struct View {
    pub scope: LineScope,
    pub period: Option<Period>,
    pub rest: QueryPairs,
}

/// Reads the line filters, `from`/`to`/`tz` and checks that nothing else
/// was given but `extra`. With `default_today` a missing period is today.
pub async fn read_view(
    state: &AppState,
    user: &AuthUser,
    q: QueryPairs,
    extra: &[&str],
    default_today: bool,
) -> ApiResult<View> {
    let (filter, rest) = LineFilter::take_from(q.0, state.region)?;
    let rest = QueryPairs(rest);
    let known: Vec<&str> = VIEW_PARAMS.iter().chain(extra).copied().collect();
    rest.only(&known)?;
    let (tz, tz_name) = match rest.get("tz") {
        Some(name) => (parse_timezone("tz", name)?, name.trim().to_string()),
        None => (state.tz.clone(), state.tz_name.clone()),
    };
    let (from, to) = (rest.get("from"), rest.get("to"));
    let period = if from.is_some() || to.is_some() || default_today {
        Some(Period::parse(
            from,
            to,
            &tz,
            &tz_name,
            jiff::Timestamp::now(),
        )?)
    } else {
        None
    };
    let scope = access::scope(state, user, &filter).await?;
    Ok(View {
        scope,
        period,
        rest,
    })
}

/// `GET /api/analytics/dashboard`.
pub async fn dashboard(
    State(state): State<AppState>,
    user: AuthUser,
    q: QueryPairs,
) -> ApiResult<Json<Dashboard>> {
    let view = read_view(&state, &user, q, &[], true).await?;
    let period = view.period.expect("dashboard periods default to today");
    let d = analytics::dashboard(
        state.store.as_ref(),
        &view.scope,
        &period,
        jiff::Timestamp::now(),
    )
    .await?;
    Ok(Json(d))
}
