//! Exotel: the Call Details JSON of the Calls API, and the live callbacks
//! (the passthru applet's GET and the API StatusCallback).
//!
//! Exotel writes times as naive local times in the account's timezone,
//! numbers in national form (`08047180000`), values as strings or numbers,
//! and calls a call whose caller only heard the IVR `completed`. The rules
//! here turn all of that into the canonical `calls` shape (`POST /api/calls`); the
//! CSV reader reuses them for Exotel's export columns.
//!
//! The provider-neutral pieces (the [`Draft`] of a call, the field
//! readers) are in `draft.rs`.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::IngestContext;
use super::draft::{Draft, Field, json_field, param_field, params_object, seconds};
use crate::domain::{CallDirection, CallStatus, Invalid, NewCall, Raw};

/// One item of Exotel's Call Details JSON (an element of `{"Calls": [...]}`,
/// or the value of `{"Call": {...}}`).
///
/// The business line is `PhoneNumberSid` (the ExoPhone), else `To` for an
/// inbound call and `From` for an outbound one. Talk time is
/// `Details.ConversationDuration`, else `Duration` for a completed call,
/// else 0; a `completed` call with no talk time is stored as `no-answer`.
pub fn call_from_details(item: &Value, ctx: &IngestContext) -> Result<NewCall, Vec<Invalid>> {
    let Some(obj) = item.as_object() else {
        return Err(vec![Invalid::new(
            "",
            format!(
                "an Exotel call must be a JSON object, got {}",
                crate::domain::call::kind(item)
            ),
        )]);
    };
    let details = obj.get("Details").and_then(Value::as_object);
    let mut talk = json_field(obj, &["ConversationDuration"]);
    if let Some(details) = details {
        let inner = json_field(details, &["ConversationDuration"]);
        if inner.value.is_some() {
            talk = Field {
                name: "Details.ConversationDuration",
                value: inner.value,
            };
        }
    }
    if talk.value.is_none() {
        talk.name = "Details.ConversationDuration";
    }
    let (flow_id, flow_name) = json_flow(obj);
    let fields = Fields {
        sid: json_field(obj, &["Sid", "CallSid"]),
        line: json_field(obj, &["PhoneNumberSid"]),
        from: json_field(obj, &["From"]),
        to: json_field(obj, &["To"]),
        direction: json_field(obj, &["Direction"]),
        status: json_field(obj, &["Status"]),
        start: json_field(obj, &["StartTime"]),
        end: json_field(obj, &["EndTime"]),
        talk,
        total: json_field(obj, &["Duration"]),
        recording_url: json_field(obj, &["RecordingUrl"]),
        flow_id,
        flow_name,
    };
    to_call(&fields, "exotel", item.clone().into(), ctx)
}

/// One Exotel live callback, as decoded key/value pairs: the passthru
/// applet's GET (CallSid, CallFrom, CallTo, Direction `incoming`,
/// DialCallStatus, DialCallDuration, StartTime, EndTime, CallType, flow_id,
/// digits, …) or the API StatusCallback (CallSid, Status, EventType,
/// PhoneNumberSid, From, To, Direction, StartTime, EndTime,
/// ConversationDuration, …).
///
/// Each callback maps to a whole call record; the store merges the several
/// callbacks one CallSid gets. The status is DialCallStatus, else
/// Status/CallStatus, else read from CallType (`completed`, `client-hangup`
/// → canceled, `call-attempt`/`incomplete` → no-answer), else `in-progress`
/// (a passthru in the middle of a flow). Talk time is ConversationDuration,
/// else DialCallDuration, else 0.
pub fn call_from_callback(
    params: &[(String, String)],
    ctx: &IngestContext,
) -> Result<NewCall, Vec<Invalid>> {
    let status = {
        let named = param_field(params, &["DialCallStatus", "Status", "CallStatus"]);
        if named.value.is_some() {
            named
        } else {
            let call_type = param_field(params, &["CallType"]);
            match call_type.value.as_deref().map(str::to_ascii_lowercase) {
                None => Field {
                    name: "Status",
                    value: Some(Cow::Borrowed("in-progress")),
                },
                Some(t) => Field {
                    name: call_type.name,
                    value: Some(match t.as_str() {
                        "completed" => Cow::Borrowed("completed"),
                        "client-hangup" => Cow::Borrowed("canceled"),
                        "call-attempt" | "incomplete" => Cow::Borrowed("no-answer"),
                        // Refused below, quoting the value.
                        _ => call_type.value.clone().unwrap_or_default(),
                    }),
                },
            }
        }
    };
    let mut talk = param_field(params, &["ConversationDuration", "DialCallDuration"]);
    if talk.value.is_none() {
        talk.name = "ConversationDuration";
    }
    let mut line = param_field(params, &["PhoneNumberSid", "CallTo"]);
    if line.value.is_none() {
        line.name = "PhoneNumberSid";
    }
    let fields = Fields {
        sid: param_field(params, &["CallSid"]),
        line,
        from: param_field(params, &["From", "CallFrom"]),
        to: param_field(params, &["To", "CallTo"]),
        direction: param_field(params, &["Direction"]),
        status,
        start: param_field(params, &["StartTime"]),
        end: param_field(params, &["EndTime"]),
        talk,
        total: Field::absent("Duration"),
        recording_url: param_field(params, &["RecordingUrl"]),
        flow_id: param_field(params, &["flow_id", "FlowId", "AppId"]),
        flow_name: param_field(params, &["flow_name", "FlowName", "AppName"]),
    };
    to_call(&fields, "exotel", params_object(params).into(), ctx)
}

/// Exotel's fields of one call, whatever carried them (Call Details JSON, a
/// callback, a row of Exotel's CSV export).
#[derive(Debug, Clone)]
pub(super) struct Fields<'a> {
    pub sid: Field<'a>,
    /// The ExoPhone when the record names it (PhoneNumberSid, CallTo).
    pub line: Field<'a>,
    pub from: Field<'a>,
    pub to: Field<'a>,
    pub direction: Field<'a>,
    pub status: Field<'a>,
    pub start: Field<'a>,
    pub end: Field<'a>,
    /// Talk time: ConversationDuration (or DialCallDuration).
    pub talk: Field<'a>,
    /// Duration: the talk time of a completed call that gives no `talk`.
    pub total: Field<'a>,
    pub recording_url: Field<'a>,
    pub flow_id: Field<'a>,
    pub flow_name: Field<'a>,
}

/// Exotel's rules, in one place: direction, business line and other party,
/// status, talk time (completed with none → no-answer), and naive local
/// times in `ctx.exotel_tz`.
pub(super) fn to_call(
    f: &Fields<'_>,
    provider: &str,
    raw: Raw,
    ctx: &IngestContext,
) -> Result<NewCall, Vec<Invalid>> {
    let mut d = Draft::new(provider);
    d.text("providerCallId", &f.sid);

    let direction = match f.direction.value.as_deref() {
        None => {
            d.refuse("direction", Invalid::new(f.direction.name, "is required"));
            None
        }
        Some(s) => match direction(s) {
            Some(dir) => {
                d.set("direction", dir.as_str(), f.direction.name);
                Some(dir)
            }
            None => {
                d.refuse(
                    "direction",
                    Invalid::new(
                        f.direction.name,
                        format!(
                            "'{s}' is not one of inbound, incoming, outbound-api, outbound-dial"
                        ),
                    ),
                );
                None
            }
        },
    };
    let (own, other) = match direction {
        Some(CallDirection::Inbound) => (Some(&f.to), Some(&f.from)),
        Some(CallDirection::Outbound) => (Some(&f.from), Some(&f.to)),
        None => (None, None),
    };
    match (&f.line.value, own) {
        (Some(_), _) => d.text("phoneNumber", &f.line),
        (None, Some(own)) => d.text("phoneNumber", own),
        // Which of From and To is ours depends on the direction refused above.
        (None, None) => d.skip("phoneNumber"),
    }
    if let Some(other) = other {
        d.text("otherParty", other);
    }

    let status = match f.status.value.as_deref() {
        None => {
            d.refuse("status", Invalid::new(f.status.name, "is required"));
            None
        }
        Some(s) => {
            let st = status(s);
            if st.is_none() {
                d.refuse(
                    "status",
                    Invalid::new(
                        f.status.name,
                        format!(
                            "'{s}' is not an Exotel call status (queued, ringing, in-progress, \
                             completed, failed, busy, no-answer, canceled)"
                        ),
                    ),
                );
            }
            st
        }
    };

    let talk = match (&f.talk.value, &f.total.value) {
        (Some(t), _) => seconds(f.talk.name, t).map(|n| (n, f.talk.name)),
        (None, Some(t)) if status == Some(CallStatus::Completed) => {
            seconds(f.total.name, t).map(|n| (n, f.total.name))
        }
        _ => Ok((0, f.talk.name)),
    };
    let talk = match talk {
        Ok((n, name)) => {
            d.set("durationSeconds", n, name);
            Some(n)
        }
        Err(e) => {
            d.refuse("durationSeconds", e);
            None
        }
    };
    if let Some(st) = status {
        // Completed with no talk time: the caller heard only the IVR, or nobody
        // picked up. Exotel's own status stays in `raw`.
        let st = if st == CallStatus::Completed && talk == Some(0) {
            CallStatus::NoAnswer
        } else {
            st
        };
        d.set("status", st.as_str(), f.status.name);
    }

    match f.start.value.as_deref() {
        None => d.refuse("startedAt", Invalid::new(f.start.name, "is required")),
        Some(s) => match local_time(f.start.name, s, &ctx.exotel_tz) {
            Ok(t) => d.set("startedAt", t.to_string(), f.start.name),
            Err(e) => d.refuse("startedAt", e),
        },
    }
    if let Some(s) = f.end.value.as_deref() {
        match local_time(f.end.name, s, &ctx.exotel_tz) {
            // Exotel writes the Unix epoch in local time (`1970-01-01 05:30:00`)
            // for a call that has not ended.
            Ok(t) if t.as_second() <= 0 => d.source("endedAt", f.end.name),
            Ok(t) => d.set("endedAt", t.to_string(), f.end.name),
            Err(_) if s.starts_with("0000-00-00") => d.source("endedAt", f.end.name),
            Err(e) => d.refuse("endedAt", e),
        }
    }

    d.text("recordingUrl", &f.recording_url);
    d.text("flowId", &f.flow_id);
    if f.flow_id.value.is_some() {
        d.text("flowName", &f.flow_name);
    }
    d.finish(raw, ctx.region)
}

/// Exotel's direction words: `inbound` / `incoming`, `outbound-api` /
/// `outbound-dial` (and the dashboard's `outgoing`).
pub(super) fn direction(s: &str) -> Option<CallDirection> {
    match s.trim().to_ascii_lowercase().as_str() {
        "inbound" | "incoming" => Some(CallDirection::Inbound),
        "outbound" | "outbound-api" | "outbound-dial" | "outgoing" => Some(CallDirection::Outbound),
        _ => None,
    }
}

/// Exotel's call statuses (either spelling of cancelled).
fn status(s: &str) -> Option<CallStatus> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "queued" => CallStatus::Queued,
        "ringing" => CallStatus::Ringing,
        "in-progress" | "in_progress" => CallStatus::InProgress,
        "completed" => CallStatus::Completed,
        "failed" => CallStatus::Failed,
        "busy" => CallStatus::Busy,
        "no-answer" | "no_answer" => CallStatus::NoAnswer,
        "canceled" | "cancelled" => CallStatus::Canceled,
        _ => return None,
    })
}

/// An Exotel time: naive `YYYY-MM-DD HH:MM:SS` in the account's timezone
/// (also with a `T`), or an RFC 3339 instant with its offset. Whole seconds.
pub(super) fn local_time(field: &str, s: &str, tz: &TimeZone) -> Result<Timestamp, Invalid> {
    let s = s.trim();
    let refuse = || {
        Invalid::new(
            field,
            format!(
                "'{s}' is not a time such as 2026-01-16 09:05:12 ({}) or 2026-01-16T03:35:12Z",
                tz.iana_name().unwrap_or("the Exotel timezone")
            ),
        )
    };
    let naive = DateTime::strptime("%Y-%m-%d %H:%M:%S", s)
        .or_else(|_| DateTime::strptime("%Y-%m-%dT%H:%M:%S", s));
    let t = match naive {
        Ok(dt) => dt
            .to_zoned_datetime(tz.clone())
            .map_err(|_| refuse())?
            .timestamp(),
        Err(_) => s.parse::<Timestamp>().map_err(|_| refuse())?,
    };
    Timestamp::from_second(t.as_second()).map_err(|_| refuse())
}

/// The flow (Exotel app) id and name of a Call Details item, when present.
fn json_flow(obj: &Map<String, Value>) -> (Field<'_>, Field<'_>) {
    let name_keys = &["FlowName", "flow_name", "AppName"];
    let id = json_field(obj, &["FlowId", "flow_id", "AppId"]);
    if id.value.is_some() {
        return (id, json_field(obj, name_keys));
    }
    match obj.get("App") {
        Some(Value::Object(app)) => (
            Field {
                name: "App.Id",
                value: json_field(app, &["Id", "Sid", "FlowId"]).value,
            },
            Field {
                name: "App.Name",
                value: json_field(app, &["Name"]).value,
            },
        ),
        Some(_) => (json_field(obj, &["App"]), json_field(obj, name_keys)),
        None => (id, json_field(obj, name_keys)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Provider;

    fn ctx() -> IngestContext {
        IngestContext::default()
    }

    fn fixture(text: &str, key: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(text).unwrap();
        v[key].as_array().unwrap().clone()
    }

    fn calls() -> Vec<Value> {
        fixture(
            include_str!("../../tests/fixtures/exotel_calls.json"),
            "Calls",
        )
    }

    fn call(sid: &str) -> (Value, NewCall) {
        let item = calls()
            .into_iter()
            .find(|c| c["Sid"] == sid)
            .unwrap_or_else(|| panic!("no call {sid} in the fixture"));
        let call = call_from_details(&item, &ctx()).unwrap();
        (item, call)
    }

    /// Callback parameters as the HTTP layer hands them over: query or form
    /// pairs, or a JSON body's fields (non-strings as JSON text).
    fn pairs(v: &Value) -> Vec<(String, String)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }

    fn callbacks() -> Vec<Vec<(String, String)>> {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/exotel_callbacks.json"))
                .unwrap();
        v.as_array().unwrap().iter().map(pairs).collect()
    }

    fn fields(errs: &[Invalid]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn every_call_in_the_fixture_parses() {
        let calls = calls();
        assert!(calls.len() >= 30);
        for item in &calls {
            let c = call_from_details(item, &ctx())
                .unwrap_or_else(|e| panic!("{}: {e:?}", item["Sid"]));
            assert_eq!(c.provider, Provider::Exotel);
            assert_eq!(c.provider_call_id, item["Sid"].as_str().unwrap());
            assert_eq!(&c.raw, item, "raw is the provider's record");
        }
    }

    #[test]
    fn ist_just_after_midnight_is_the_previous_utc_day() {
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c01");
        assert_eq!(item["StartTime"], "2026-01-16 00:10:00");
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:44:05Z");
        assert_eq!(c.direction, CallDirection::Inbound);
        assert_eq!(c.status, CallStatus::Completed);
        // Talk time is Details.ConversationDuration (221), not Duration ("245").
        assert_eq!(c.duration_seconds, 221);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.flow_id.as_deref(), Some("231"));
        assert_eq!(c.flow_name, None);
        assert!(
            c.recording_url
                .unwrap()
                .ends_with("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c01.mp3")
        );
    }

    #[test]
    fn the_same_naive_time_in_another_account_timezone() {
        let (item, _) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c01");
        let utc = IngestContext {
            exotel_tz: TimeZone::UTC,
            ..ctx()
        };
        let c = call_from_details(&item, &utc).unwrap();
        assert_eq!(c.started_at.to_string(), "2026-01-16T00:10:00Z");
    }

    #[test]
    fn completed_with_no_talk_time_is_no_answer_and_raw_keeps_exotels_status() {
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c02");
        assert_eq!(item["Duration"], 37, "a numeric Duration");
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.duration_seconds, 0);
        assert_eq!(c.raw["Status"], "completed");
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:28:30Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:29:07Z");
        // 919… (country code without '+') normalises too.
        assert_eq!(c.other_party.as_deref(), Some("+919812345679"));
    }

    #[test]
    fn string_and_numeric_durations() {
        // No Details: a completed call's Duration (a string) is its talk time.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c03");
        assert_eq!(item["Duration"], "95");
        assert!(item.get("Details").is_none());
        assert_eq!((c.status, c.duration_seconds), (CallStatus::Completed, 95));
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.other_party.as_deref(), Some("+919876543210"));
        // Numbers as JSON numbers: From, To, PhoneNumberSid, Duration, AppId.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c08");
        assert_eq!(item["Duration"], 61);
        assert_eq!(c.duration_seconds, 48);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919036012345"));
        assert_eq!(c.flow_id.as_deref(), Some("405"));
    }

    #[test]
    fn an_in_progress_call_with_null_and_empty_fields() {
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c04");
        assert!(item["EndTime"].is_null() && item["Duration"].is_null());
        assert_eq!(item["RecordingUrl"], "");
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);
        assert_eq!(c.duration_seconds, 0);
        assert_eq!(c.recording_url, None);
        assert_eq!(c.flow_id, None);
        assert_eq!(c.started_at.to_string(), "2026-01-16T05:32:07Z");
    }

    #[test]
    fn business_line_and_other_party() {
        // outbound-api: the ExoPhone is PhoneNumberSid; the customer is To.
        let (_, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c05");
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.other_party.as_deref(), Some("+919845012345"));
        assert_eq!(c.duration_seconds, 112);
        // outbound-dial with an empty PhoneNumberSid: the line is From.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c06");
        assert_eq!(item["PhoneNumberSid"], "");
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.status, CallStatus::Busy);
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        assert_eq!(c.other_party.as_deref(), Some("+919448012345"));
        // inbound with a null PhoneNumberSid: the line is To.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c07");
        assert!(item["PhoneNumberSid"].is_null());
        assert_eq!(c.status, CallStatus::Canceled);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+917012345678"));
    }

    #[test]
    fn statuses_flows_and_recordings() {
        let (_, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c09");
        assert_eq!(c.status, CallStatus::NoAnswer);
        let (_, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c10");
        assert_eq!(c.status, CallStatus::Failed);
        // "cancelled", and a bare ten-digit national number.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c11");
        assert_eq!(item["Status"], "cancelled");
        assert_eq!(c.status, CallStatus::Canceled);
        assert_eq!(c.other_party.as_deref(), Some("+916361234567"));
        // flow_id, and a null RecordingUrl.
        let (item, c) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c12");
        assert!(item["RecordingUrl"].is_null());
        assert_eq!(c.recording_url, None);
        assert_eq!(c.flow_id.as_deref(), Some("512"));
        assert_eq!(c.duration_seconds, 288);
    }

    #[test]
    fn an_app_object_gives_the_flow_id_and_name() {
        let (mut item, _) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c03");
        item["App"] = serde_json::json!({"Id": 77, "Name": "Billing"});
        let c = call_from_details(&item, &ctx()).unwrap();
        assert_eq!(c.flow_id.as_deref(), Some("77"));
        assert_eq!(c.flow_name.as_deref(), Some("Billing"));
    }

    #[test]
    fn bad_records_name_exotels_field_and_quote_the_value() {
        let bad = fixture(
            include_str!("../../tests/fixtures/exotel_calls_bad.json"),
            "Calls",
        );
        assert!(call_from_details(&bad[0], &ctx()).is_ok());
        assert!(call_from_details(&bad[4], &ctx()).is_ok());

        let errs = call_from_details(&bad[1], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["StartTime"]);
        assert!(errs[0].message.contains("'16/01/2026 10:05'"), "{errs:?}");

        let errs = call_from_details(&bad[2], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["Sid"]);

        let errs = call_from_details(&bad[3], &ctx()).unwrap_err();
        let f = fields(&errs);
        for want in ["Status", "Details.ConversationDuration", "PhoneNumberSid"] {
            assert!(f.contains(&want), "{errs:?}");
        }
        assert_eq!(f.len(), 3, "{errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("'done'")));
        assert!(errs.iter().any(|e| e.message.contains("'sixty'")));
        assert!(errs.iter().any(|e| e.message.contains("'12345'")));

        let errs = call_from_details(&Value::from("x"), &ctx()).unwrap_err();
        assert!(errs[0].message.contains("a string"));
    }

    #[test]
    fn an_end_before_the_start_is_refused_under_exotels_name() {
        let (mut item, _) = call("1f3a9c0e5b7d4e2a8c6b0d9e7f5a3c01");
        item["EndTime"] = "2026-01-15 23:00:00".into();
        let errs = call_from_details(&item, &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["EndTime"]);
    }

    #[test]
    fn local_times() {
        let ist = ctx().exotel_tz;
        let t = |s: &str| local_time("StartTime", s, &ist).map(|t| t.to_string());
        assert_eq!(t("2026-01-16 00:10:00").unwrap(), "2026-01-15T18:40:00Z");
        assert_eq!(t(" 2026-01-16T00:10:00 ").unwrap(), "2026-01-15T18:40:00Z");
        assert_eq!(
            t("2026-01-16T00:10:00+05:30").unwrap(),
            "2026-01-15T18:40:00Z"
        );
        assert_eq!(
            t("2026-01-15T18:40:00.750Z").unwrap(),
            "2026-01-15T18:40:00Z"
        );
        assert_eq!(t("1970-01-01 05:30:00").unwrap(), "1970-01-01T00:00:00Z");
        for bad in [
            "2026-02-30 10:00:00",
            "2026-01-16",
            "yesterday",
            "2026-01-16 24:00:00",
        ] {
            let e = t(bad).unwrap_err();
            assert_eq!(e.field, "StartTime");
            assert!(e.message.contains(&format!("'{bad}'")), "{e:?}");
        }
    }

    #[test]
    fn seconds_are_whole_numbers() {
        assert_eq!(seconds("d", "42"), Ok(42));
        assert_eq!(seconds("d", " 42.0 "), Ok(42));
        for bad in ["4.5", "sixty", "", "NaN"] {
            let e = seconds("d", bad).unwrap_err();
            assert!(e.message.contains(&format!("'{bad}'")));
        }
    }

    #[test]
    fn every_callback_in_the_fixture_parses() {
        let all = callbacks();
        assert!(all.len() >= 12);
        let mut sids: Vec<String> = Vec::new();
        for p in &all {
            let c = call_from_callback(p, &ctx()).unwrap_or_else(|e| panic!("{p:?}: {e:?}"));
            assert_eq!(c.provider, Provider::Exotel);
            assert_eq!(c.raw, params_object(p));
            if !sids.contains(&c.provider_call_id) {
                sids.push(c.provider_call_id);
            }
        }
        assert_eq!(sids.len(), 6, "several callbacks each for a few calls");
    }

    #[test]
    fn passthru_after_the_connect_applet() {
        let c = call_from_callback(&callbacks()[0], &ctx()).unwrap();
        assert_eq!(c.provider_call_id, "c0a1b2c3d4e5f60718293a4b5c6d7e01");
        assert_eq!(c.direction, CallDirection::Inbound);
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.duration_seconds, 221);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:44:05Z");
        assert_eq!(c.flow_id.as_deref(), Some("231"));
        assert!(c.recording_url.is_some());
        assert_eq!(c.raw["digits"], "\"2\"");
    }

    #[test]
    fn passthru_in_the_middle_of_a_flow() {
        let all = callbacks();
        // CallType call-attempt, EndTime the local epoch (not ended yet).
        let c = call_from_callback(&all[1], &ctx()).unwrap();
        assert_eq!(c.raw["EndTime"], "1970-01-01 05:30:00");
        assert_eq!(c.ended_at, None);
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.duration_seconds, 0);
        assert_eq!(c.recording_url, None);
        // No CallType or status at all: still in progress.
        let c = call_from_callback(&all[13], &ctx()).unwrap();
        assert_eq!(c.provider_call_id, "c0a1b2c3d4e5f60718293a4b5c6d7e01");
        assert_eq!(c.status, CallStatus::InProgress);
        // DialCallStatus no-answer.
        let c = call_from_callback(&all[3], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.other_party.as_deref(), Some("+919845012345"));
        assert_eq!(c.flow_id.as_deref(), Some("405"));
        // The caller hung up in the IVR, around midnight IST.
        let c = call_from_callback(&all[5], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::Canceled);
        assert_eq!(c.started_at.to_string(), "2026-01-16T18:29:50Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-16T18:30:20Z");
        assert_eq!(c.phone_number.as_str(), "+912261234500");
    }

    #[test]
    fn status_callbacks() {
        let all = callbacks();
        // terminal, from a JSON body: ConversationDuration was a number.
        let c = call_from_callback(&all[7], &ctx()).unwrap();
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.duration_seconds, 184);
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.other_party.as_deref(), Some("+919448012345"));
        assert_eq!(c.started_at.to_string(), "2026-01-16T04:50:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-16T04:53:14Z");
        assert!(c.raw["Legs"].as_str().unwrap().starts_with('['));
        // answered: in progress, EndTime empty.
        let c = call_from_callback(&all[8], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);
        // terminal, completed with no talk time.
        let c = call_from_callback(&all[10], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.raw["Status"], "completed");
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345679"));
        // RFC 3339 times and no PhoneNumberSid: the line is From.
        let c = call_from_callback(&all[11], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::Busy);
        assert_eq!(c.started_at.to_string(), "2026-01-16T06:30:05Z");
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        assert_eq!(c.other_party.as_deref(), Some("+919036012345"));
    }

    #[test]
    fn a_repeated_callback_gives_the_same_record() {
        let all = callbacks();
        assert_eq!(all[3], all[4]);
        assert_eq!(
            call_from_callback(&all[3], &ctx()),
            call_from_callback(&all[4], &ctx())
        );
    }

    #[test]
    fn bad_callbacks() {
        let v: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/exotel_callbacks_bad.json"
        ))
        .unwrap();
        let bad: Vec<_> = v.as_array().unwrap().iter().map(pairs).collect();
        let errs = call_from_callback(&bad[0], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["CallSid"]);
        let errs = call_from_callback(&bad[1], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["StartTime"]);
        assert!(errs[0].message.contains("'2026-01-16 25:61:00'"));
        let errs = call_from_callback(&bad[2], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["Direction"]);
        assert!(errs[0].message.contains("'sideways'"));
        let errs = call_from_callback(&[], &ctx()).unwrap_err();
        for want in ["CallSid", "Direction", "StartTime"] {
            assert!(fields(&errs).contains(&want), "{errs:?}");
        }
    }

    #[test]
    fn a_plus_turned_into_a_space_by_url_decoding() {
        let mut p = callbacks()[0].clone();
        for (k, v) in p.iter_mut() {
            if k == "CallFrom" || k == "From" {
                *v = " 919812345678".into();
            }
        }
        let c = call_from_callback(&p, &ctx()).unwrap();
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
    }
}
