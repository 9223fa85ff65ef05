//! What an analytics page shows, read from its URL so that every view can
//! be bookmarked and shared: the line (`phoneNumber=+91…`, `all`, or
//! `group:<id>`), the period (`period=today|7d|30d|90d|custom` with
//! `from`/`to` dates, both days included) and the timezone (`tz`).

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use maud::{Markup, html};

use crate::domain::period::{MAX_PERIOD_DAYS, start_of_day};
use crate::domain::{E164, Invalid, LineFilter, Period, Region, parse_timezone};
use crate::http::AppState;
use crate::http::access::may_see;
use crate::http::extract::AuthUser;
use crate::store::{GroupRow, PhoneNumberRow};

/// Timezones offered in the picker (the configured one and the one in the
/// URL are added when missing).
pub const TIMEZONES: &[&str] = &[
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dubai",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Africa/Nairobi",
];

/// Which lines a page covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineChoice {
    All,
    Number(E164),
    Group(i64),
}

impl LineChoice {
    /// The value of the line dropdown for this choice.
    pub fn value(&self) -> String {
        match self {
            LineChoice::All => "all".into(),
            LineChoice::Number(n) => n.as_str().to_string(),
            LineChoice::Group(id) => format!("group:{id}"),
        }
    }

    /// Reads a dropdown value: `all`, `group:<id>` or a phone number.
    pub fn parse(value: &str, region: Region) -> Result<LineChoice, Invalid> {
        let v = value.trim_end();
        if v.trim().eq_ignore_ascii_case("all") {
            return Ok(LineChoice::All);
        }
        if let Some(id) = v.trim().strip_prefix("group:") {
            return id
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(LineChoice::Group)
                .ok_or_else(|| Invalid::new("phoneNumber", format!("'{v}' names no group")));
        }
        E164::parse("phoneNumber", v, region).map(LineChoice::Number)
    }

    pub fn filter(&self) -> LineFilter {
        match self {
            LineChoice::All => LineFilter::default(),
            LineChoice::Number(n) => LineFilter {
                numbers: Some(vec![n.clone()]),
                ..Default::default()
            },
            LineChoice::Group(id) => LineFilter {
                group_id: Some(*id),
                ..Default::default()
            },
        }
    }
}

/// The line preselected when the URL names none: the primary line, when it
/// is active and the user may see it.
pub async fn default_line(state: &AppState, user: &AuthUser) -> LineChoice {
    match state.store.primary_phone_number().await {
        Ok(Some(p)) if p.is_active && may_see(user, &p) => {
            match E164::parse("phoneNumber", &p.number, state.region) {
                Ok(n) => LineChoice::Number(n),
                Err(_) => LineChoice::All,
            }
        }
        _ => LineChoice::All,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Today,
    Days(i64),
    Custom,
}

impl PeriodKind {
    pub const CHOICES: [(PeriodKind, &'static str); 5] = [
        (PeriodKind::Today, "Today"),
        (PeriodKind::Days(7), "Last 7 days"),
        (PeriodKind::Days(30), "Last 30 days"),
        (PeriodKind::Days(90), "Last 90 days"),
        (PeriodKind::Custom, "Custom dates"),
    ];

    pub fn value(self) -> String {
        match self {
            PeriodKind::Today => "today".into(),
            PeriodKind::Days(n) => format!("{n}d"),
            PeriodKind::Custom => "custom".into(),
        }
    }

    fn parse(s: &str) -> Result<PeriodKind, Invalid> {
        match s.trim() {
            "today" => Ok(PeriodKind::Today),
            "7d" => Ok(PeriodKind::Days(7)),
            "30d" => Ok(PeriodKind::Days(30)),
            "90d" => Ok(PeriodKind::Days(90)),
            "custom" => Ok(PeriodKind::Custom),
            other => Err(Invalid::new(
                "period",
                format!("'{other}' is not one of today, 7d, 30d, 90d, custom"),
            )),
        }
    }
}

/// The line, period and timezone of a page.
#[derive(Debug, Clone)]
pub struct Selection {
    pub line: LineChoice,
    pub kind: PeriodKind,
    /// The first and the last day shown (both included), in `tz`.
    pub first_day: Date,
    pub last_day: Date,
    pub tz_name: String,
    pub period: Period,
}

fn get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn day(field: &str, s: &str) -> Result<Date, Invalid> {
    s.trim().parse::<Date>().map_err(|_| {
        Invalid::new(
            field,
            format!("'{}' is not a date such as 2026-01-31", s.trim()),
        )
    })
}

impl Selection {
    /// Reads the selection from a query string; `line` is used when the
    /// URL names no line (`phoneNumber` or `groupId`).
    pub fn read(
        state: &AppState,
        q: &[(String, String)],
        line: impl FnOnce() -> LineChoice,
        now: Timestamp,
    ) -> Result<Selection, Invalid> {
        let line = match (get(q, "phoneNumber"), get(q, "groupId")) {
            (Some(v), _) => LineChoice::parse(v, state.region)?,
            (None, Some(g)) => LineChoice::parse(&format!("group:{}", g.trim()), state.region)
                .map_err(|_| Invalid::new("groupId", format!("'{g}' is not a group id")))?,
            (None, None) => line(),
        };
        Self::read_period(state, q, line, now)
    }

    /// Reads only the period and timezone; the line is given.
    pub fn read_period(
        state: &AppState,
        q: &[(String, String)],
        line: LineChoice,
        now: Timestamp,
    ) -> Result<Selection, Invalid> {
        let (tz, tz_name) = match get(q, "tz") {
            Some(name) => (parse_timezone("tz", name)?, name.trim().to_string()),
            None => (state.tz.clone(), state.tz_name.clone()),
        };
        let (from, to) = (get(q, "from"), get(q, "to"));
        let kind = match get(q, "period") {
            Some(p) => PeriodKind::parse(p)?,
            None if from.is_some() || to.is_some() => PeriodKind::Custom,
            None => PeriodKind::Days(7),
        };
        let today = now.to_zoned_datetime(tz.clone()).date();
        let (first_day, last_day) = match kind {
            PeriodKind::Today => (today, today),
            PeriodKind::Days(n) => (today.checked_sub((n - 1).days()).unwrap_or(today), today),
            PeriodKind::Custom => {
                let first = match from {
                    Some(f) => day("from", f)?,
                    None => return Err(Invalid::new("from", "choose the first day of the period")),
                };
                let last = match to {
                    Some(t) => day("to", t)?,
                    None => today.max(first),
                };
                if last < first {
                    return Err(Invalid::new(
                        "to",
                        format!("'{last}' is before the first day '{first}'"),
                    ));
                }
                if (last - first).get_days() as i64 >= MAX_PERIOD_DAYS {
                    return Err(Invalid::new(
                        "to",
                        format!("the period is longer than {MAX_PERIOD_DAYS} days"),
                    ));
                }
                (first, last)
            }
        };
        let end = last_day
            .checked_add(1.day())
            .map_err(|_| Invalid::new("to", format!("'{last_day}' is too far in the future")))?;
        let period = Period {
            from: start_of_day(first_day, &tz),
            to: start_of_day(end, &tz),
            tz,
            tz_name: tz_name.clone(),
        };
        Ok(Selection {
            line,
            kind,
            first_day,
            last_day,
            tz_name,
            period,
        })
    }

    /// Whether the period is one day (the chart then shows hours).
    pub fn single_day(&self) -> bool {
        self.first_day == self.last_day
    }

    /// The period and timezone as query pairs.
    pub fn period_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![("period", self.kind.value())];
        if self.kind == PeriodKind::Custom {
            v.push(("from", self.first_day.to_string()));
            v.push(("to", self.last_day.to_string()));
        }
        v.push(("tz", self.tz_name.clone()));
        v
    }

    /// The whole selection as a query string (no `?`).
    pub fn query(&self) -> String {
        let mut pairs = vec![("phoneNumber", self.line.value())];
        pairs.extend(self.period_pairs());
        encode(&pairs)
    }

    /// The period as people read it: `10 – 16 Jan 2026`.
    pub fn label(&self) -> String {
        super::format::date_range(self.first_day, self.last_day)
    }

    /// The timezone choices, with the configured and the selected one.
    pub fn timezones(&self, state: &AppState) -> Vec<String> {
        let mut v: Vec<String> = TIMEZONES.iter().map(|s| s.to_string()).collect();
        for extra in [&state.tz_name, &self.tz_name] {
            if !v.contains(extra) {
                v.insert(0, extra.clone());
            }
        }
        v
    }
}

/// `k=v&…`, form-encoded.
pub fn encode(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The line dropdown: "All phone numbers", then every active line the user
/// may see by label, then groups (value `group:<id>`).
pub fn line_select(
    id: &str,
    selected: &LineChoice,
    lines: &[PhoneNumberRow],
    groups: &[GroupRow],
) -> Markup {
    let sel = selected.value();
    html! {
        select id=(id) name="phoneNumber" data-autosubmit {
            option value="all" selected[sel == "all"] { "All phone numbers" }
            @if !lines.is_empty() {
                optgroup label="Lines" {
                    @for l in lines {
                        option value=(l.number) selected[sel == l.number] {
                            (crate::http::api::phone_numbers::label(l))
                            @if l.is_primary { " (primary)" }
                        }
                    }
                }
            }
            @if !groups.is_empty() {
                optgroup label="Groups" {
                    @for g in groups {
                        @let v = format!("group:{}", g.id);
                        option value=(v) selected[sel == v] { (g.name) }
                    }
                }
            }
        }
    }
}

/// The period picker, the custom dates and the timezone select.
pub fn period_fields(sel: &Selection, state: &AppState) -> Markup {
    html! {
        div.field {
            label for="f-period" { "Period" }
            select id="f-period" name="period" data-autosubmit data-period {
                @for (k, label) in PeriodKind::CHOICES {
                    option value=(k.value()) selected[k == sel.kind] { (label) }
                }
            }
        }
        div.field.custom-date data-custom {
            label for="f-from" { "From" }
            input type="date" id="f-from" name="from" value=(sel.first_day.to_string());
        }
        div.field.custom-date data-custom {
            label for="f-to" { "To" }
            input type="date" id="f-to" name="to" value=(sel.last_day.to_string());
        }
        div.field {
            label for="f-tz" { "Timezone" }
            select id="f-tz" name="tz" data-autosubmit {
                @for z in sel.timezones(state) {
                    option value=(z) selected[z == sel.tz_name] { (z.replace('_', " ")) }
                }
            }
        }
    }
}

/// The lines a user may see, active ones only unless `inactive`.
pub async fn visible_lines(
    state: &AppState,
    user: &AuthUser,
    inactive: bool,
) -> Result<Vec<PhoneNumberRow>, crate::store::StoreError> {
    Ok(state
        .store
        .list_phone_numbers(inactive)
        .await?
        .into_iter()
        .filter(|l| may_see(user, l))
        .collect())
}

/// Groups with at least one line the user may see, members narrowed to those.
pub async fn visible_groups(
    state: &AppState,
    user: &AuthUser,
    visible: &[PhoneNumberRow],
) -> Result<Vec<GroupRow>, crate::store::StoreError> {
    let sees_all = user.role.sees_all_lines();
    Ok(state
        .store
        .list_groups()
        .await?
        .into_iter()
        .filter_map(|mut g| {
            if !sees_all {
                g.phone_number_ids
                    .retain(|id| visible.iter().any(|l| l.id == *id));
                if g.phone_number_ids.is_empty() {
                    return None;
                }
            }
            Some(g)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_choices_round_trip() {
        let r = Region::default();
        assert_eq!(LineChoice::parse("all", r).unwrap(), LineChoice::All);
        assert_eq!(
            LineChoice::parse("group:3", r).unwrap(),
            LineChoice::Group(3)
        );
        let n = LineChoice::parse(" 919876543210", r).unwrap();
        assert_eq!(n.value(), "+919876543210");
        let e = LineChoice::parse("12", r).unwrap_err();
        assert_eq!(e.field, "phoneNumber");
        assert!(LineChoice::parse("group:x", r).is_err());
    }
}
