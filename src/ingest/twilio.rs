//! Twilio: the Call resource JSON (for import) and the status callback form
//! (live), plus the `X-Twilio-Signature` check that guards the callback.
//!
//! Twilio writes numbers in E.164 and times in RFC 2822
//! (`Tue, 31 Aug 2010 20:36:28 +0000`). The business line is `To` for an
//! inbound call and `From` for an outbound one (`outbound-api`,
//! `outbound-dial`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use jiff::fmt::rfc2822::DateTimeParser;
use serde_json::Value;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::IngestContext;
use super::draft::{Draft, Field, json_field, param_field, params_object, seconds};
use crate::domain::{CallDirection, CallStatus, Invalid, NewCall};

/// RFC 2822, not insisting that the weekday matches the date.
static RFC2822: DateTimeParser = DateTimeParser::new().relaxed_weekday(true);

/// One Twilio Call resource (an element of `{"calls": [...]}` or a single
/// call): sid, from, to, direction, status, start_time, end_time, duration.
/// A call not yet started (`start_time` null) starts at `date_created`.
pub fn call_from_resource(item: &Value, ctx: &IngestContext) -> Result<NewCall, Vec<Invalid>> {
    let Some(obj) = item.as_object() else {
        return Err(vec![Invalid::new(
            "",
            "a Twilio call must be a JSON object",
        )]);
    };
    let mut d = Draft::new("twilio");
    d.text("providerCallId", &json_field(obj, &["sid"]));
    let from = json_field(obj, &["from"]);
    let to = json_field(obj, &["to"]);
    let dir = read_direction(&mut d, &json_field(obj, &["direction"]));
    parties(&mut d, dir, &from, &to);
    if let Some(st) = read_status(&mut d, &json_field(obj, &["status"])) {
        d.set("status", st.as_str(), "status");
    }

    let mut start = json_field(obj, &["start_time"]);
    if start.value.is_none() {
        start = json_field(obj, &["date_created"]);
        if start.value.is_none() {
            start.name = "start_time";
        }
    }
    match start.value.as_deref() {
        None => d.refuse("startedAt", Invalid::new(start.name, "is required")),
        Some(s) => match time(start.name, s) {
            Ok(t) => d.set("startedAt", t.to_string(), start.name),
            Err(e) => d.refuse("startedAt", e),
        },
    }
    let end = json_field(obj, &["end_time"]);
    if let Some(s) = end.value.as_deref() {
        match time(end.name, s) {
            Ok(t) => d.set("endedAt", t.to_string(), end.name),
            Err(e) => d.refuse("endedAt", e),
        }
    }
    read_duration(&mut d, &json_field(obj, &["duration"]));
    d.finish(item.clone().into(), ctx.region)
}

/// One Twilio status callback (the form Twilio POSTs): CallSid, From, To,
/// Direction, CallStatus, CallDuration, Timestamp (the event's time),
/// RecordingUrl, …
///
/// The call started `CallDuration` seconds before `Timestamp` (at
/// `Timestamp` when no duration is given, now when no Timestamp is); a call
/// in a final state ended at `Timestamp`.
pub fn call_from_callback(
    params: &[(String, String)],
    ctx: &IngestContext,
) -> Result<NewCall, Vec<Invalid>> {
    let mut d = Draft::new("twilio");
    d.text("providerCallId", &param_field(params, &["CallSid"]));
    let from = param_field(params, &["From", "Caller"]);
    let to = param_field(params, &["To", "Called"]);
    let dir = read_direction(&mut d, &param_field(params, &["Direction"]));
    parties(&mut d, dir, &from, &to);
    let status = read_status(&mut d, &param_field(params, &["CallStatus"]));
    if let Some(st) = status {
        d.set("status", st.as_str(), "CallStatus");
    }
    let talk = read_duration(&mut d, &param_field(params, &["CallDuration"]));

    let stamp = param_field(params, &["Timestamp"]);
    let event = match stamp.value.as_deref() {
        None => Some(Timestamp::now()),
        Some(s) => match time(stamp.name, s) {
            Ok(t) => Some(t),
            Err(e) => {
                d.refuse("startedAt", e);
                d.skip("endedAt");
                None
            }
        },
    };
    if let Some(event) = event {
        let started = match talk {
            Some(n) if n > 0 => {
                Timestamp::from_second(event.as_second().saturating_sub(n)).unwrap_or(event)
            }
            _ => event,
        };
        d.set("startedAt", started.to_string(), stamp.name);
        if status.is_some_and(|s| !s.is_live()) {
            d.set("endedAt", event.to_string(), stamp.name);
        }
    }
    d.text("recordingUrl", &param_field(params, &["RecordingUrl"]));
    d.finish(params_object(params).into(), ctx.region)
}

/// Twilio's `X-Twilio-Signature` for a form POST: base64 of the HMAC-SHA1,
/// keyed with the auth token, of the full URL followed by every parameter's
/// name and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the right signature, compared in constant time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    let expected = signature(auth_token, url, params);
    expected.as_bytes().ct_eq(given.trim().as_bytes()).into()
}

/// Twilio's directions: `inbound`, `outbound-api`, `outbound-dial`.
fn direction(s: &str) -> Option<CallDirection> {
    match s.trim().to_ascii_lowercase().as_str() {
        "inbound" => Some(CallDirection::Inbound),
        "outbound-api" | "outbound-dial" | "outbound" => Some(CallDirection::Outbound),
        _ => None,
    }
}

/// Twilio's call statuses (`initiated`, a callback's first event, is queued).
fn status(s: &str) -> Option<CallStatus> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "queued" | "initiated" => CallStatus::Queued,
        "ringing" => CallStatus::Ringing,
        "in-progress" | "answered" => CallStatus::InProgress,
        "completed" => CallStatus::Completed,
        "busy" => CallStatus::Busy,
        "failed" => CallStatus::Failed,
        "no-answer" => CallStatus::NoAnswer,
        "canceled" | "cancelled" => CallStatus::Canceled,
        _ => return None,
    })
}

fn read_direction<'a>(d: &mut Draft<'a>, f: &Field<'a>) -> Option<CallDirection> {
    let Some(s) = f.value.as_deref() else {
        d.refuse("direction", Invalid::new(f.name, "is required"));
        return None;
    };
    match direction(s) {
        Some(dir) => {
            d.set("direction", dir.as_str(), f.name);
            Some(dir)
        }
        None => {
            d.refuse(
                "direction",
                Invalid::new(
                    f.name,
                    format!("'{s}' is not one of inbound, outbound-api, outbound-dial"),
                ),
            );
            None
        }
    }
}

/// The business line is `to` for an inbound call, `from` for an outbound one.
fn parties<'a>(d: &mut Draft<'a>, dir: Option<CallDirection>, from: &Field<'a>, to: &Field<'a>) {
    match dir {
        Some(CallDirection::Inbound) => {
            d.text("phoneNumber", to);
            d.text("otherParty", from);
        }
        Some(CallDirection::Outbound) => {
            d.text("phoneNumber", from);
            d.text("otherParty", to);
        }
        // Which number is ours depends on the direction refused already.
        None => d.skip("phoneNumber"),
    }
}

fn read_status<'a>(d: &mut Draft<'a>, f: &Field<'a>) -> Option<CallStatus> {
    let Some(s) = f.value.as_deref() else {
        d.refuse("status", Invalid::new(f.name, "is required"));
        return None;
    };
    let st = status(s);
    if st.is_none() {
        d.refuse(
            "status",
            Invalid::new(
                f.name,
                format!(
                    "'{s}' is not a Twilio call status (queued, ringing, in-progress, canceled, \
                     completed, failed, busy, no-answer)"
                ),
            ),
        );
    }
    st
}

/// Sets durationSeconds from a Twilio duration (`"15"`, 15, or absent: 0).
fn read_duration<'a>(d: &mut Draft<'a>, f: &Field<'a>) -> Option<i64> {
    let n = match f.value.as_deref().map(|s| seconds(f.name, s)) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            d.refuse("durationSeconds", e);
            return None;
        }
    };
    d.set("durationSeconds", n, f.name);
    Some(n)
}

/// A Twilio time: RFC 2822 (`Tue, 31 Aug 2010 20:36:28 +0000`), or RFC 3339.
fn time(field: &str, s: &str) -> Result<Timestamp, Invalid> {
    let t = RFC2822
        .parse_timestamp(s)
        .or_else(|_| s.parse::<Timestamp>())
        .map_err(|_| {
            Invalid::new(
                field,
                format!("'{s}' is not an RFC 2822 time such as Tue, 31 Aug 2010 20:36:28 +0000"),
            )
        })?;
    Timestamp::from_second(t.as_second())
        .map_err(|_| Invalid::new(field, format!("'{s}' is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Provider;

    fn ctx() -> IngestContext {
        IngestContext::default()
    }

    fn resources(text: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(text).unwrap();
        v["calls"].as_array().unwrap().clone()
    }

    fn calls() -> Vec<Value> {
        resources(include_str!("../../tests/fixtures/twilio_calls.json"))
    }

    fn call(sid: &str) -> (Value, NewCall) {
        let item = calls()
            .into_iter()
            .find(|c| c["sid"] == sid)
            .unwrap_or_else(|| panic!("no call {sid} in the fixture"));
        let call = call_from_resource(&item, &ctx()).unwrap();
        (item, call)
    }

    fn callbacks() -> Vec<Vec<(String, String)>> {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/twilio_callbacks.json"))
                .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| {
                o.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .collect()
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fields(errs: &[Invalid]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    /// Twilio's own example from its webhook security documentation: token
    /// `12345`, this URL, and these parameters with `caller` as Caller and From.
    fn example(caller: &str) -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ])
    }
    const EXAMPLE_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn signature_matches_twilios_published_examples() {
        // The example as Twilio's security page gives it today.
        assert_eq!(
            signature("12345", EXAMPLE_URL, &example("+12349013030")),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        // The earlier edition of the same example (twilio-python's test vector):
        // the signature `RSOYDt4T1cUTdK1PDd93/VVr8B8=` belongs to +14158675309.
        assert_eq!(
            signature("12345", EXAMPLE_URL, &example("+14158675309")),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        // The parameters are sorted by name, whatever order they came in.
        let mut shuffled = example("+14158675309");
        shuffled.reverse();
        assert_eq!(
            signature("12345", EXAMPLE_URL, &shuffled),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn verify_accepts_only_the_right_signature() {
        let ok = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let params = example("+14158675309");
        assert!(verify_signature("12345", EXAMPLE_URL, &params, ok));
        assert!(!verify_signature("12346", EXAMPLE_URL, &params, ok));
        assert!(!verify_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            ok
        ));
        assert!(!verify_signature(
            "12345",
            EXAMPLE_URL,
            &example("+12349013030"),
            ok
        ));
        let mut tampered = params.clone();
        tampered[2].1 = "1235".into();
        assert!(!verify_signature("12345", EXAMPLE_URL, &tampered, ok));
        assert!(!verify_signature("12345", EXAMPLE_URL, &params, ""));
        assert!(!verify_signature(
            "12345",
            EXAMPLE_URL,
            &params,
            "RSOYDt4T1cUTdK1PDd93"
        ));
    }

    #[test]
    fn every_call_in_the_fixture_parses() {
        let calls = calls();
        assert!(calls.len() >= 30);
        for item in &calls {
            let c = call_from_resource(item, &ctx())
                .unwrap_or_else(|e| panic!("{}: {e:?}", item["sid"]));
            assert_eq!(c.provider, Provider::Twilio);
            assert_eq!(c.provider_call_id, item["sid"].as_str().unwrap());
            assert_eq!(&c.raw, item);
        }
    }

    #[test]
    fn an_inbound_call_with_a_string_duration() {
        let (item, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f0");
        assert_eq!(item["duration"], "221");
        assert_eq!(item["start_time"], "Thu, 15 Jan 2026 18:40:00 +0000");
        assert_eq!(c.direction, CallDirection::Inbound);
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.duration_seconds, 221);
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:43:41Z");
        // Inbound: the business line is `to`.
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.flow_id, None);
        assert_eq!(c.recording_url, None);
    }

    #[test]
    fn an_outbound_call_with_a_numeric_duration() {
        let (item, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f1");
        assert_eq!(item["duration"], 184);
        assert_eq!(c.duration_seconds, 184);
        assert_eq!(c.direction, CallDirection::Outbound);
        // Outbound: the business line is `from`.
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919845012345"));
    }

    #[test]
    fn a_queued_call_starts_at_date_created() {
        let (item, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f2");
        assert!(item["start_time"].is_null() && item["duration"].is_null());
        assert_eq!(c.status, CallStatus::Queued);
        assert_eq!(c.started_at.to_string(), "2026-01-16T05:10:00Z");
        assert_eq!(c.ended_at, None);
        assert_eq!(c.duration_seconds, 0);
    }

    #[test]
    fn live_missed_and_withheld() {
        let (_, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f3");
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        // outbound-dial (a <Dial> child leg): the line is `from`.
        let (_, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f4");
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        assert_eq!(c.other_party.as_deref(), Some("+917012345678"));
        // A withheld caller is kept as given.
        let (_, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f5");
        assert_eq!(c.other_party.as_deref(), Some("+266696687"));
        let (_, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f6");
        assert_eq!(c.status, CallStatus::Canceled);
        // An empty duration is no talk time.
        let (item, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f7");
        assert_eq!(item["duration"], "");
        assert_eq!((c.status, c.duration_seconds), (CallStatus::Busy, 0));
        let (_, c) = call("CA0e1d2c3b4a5f60718293a4b5c6d7e8f8");
        assert_eq!(c.status, CallStatus::Failed);
        assert_eq!(c.other_party.as_deref(), Some("+12125550182"));
    }

    #[test]
    fn bad_resources_name_twilios_field() {
        let bad = resources(include_str!("../../tests/fixtures/twilio_calls_bad.json"));
        let errs = call_from_resource(&bad[0], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["start_time"]);
        assert!(errs[0].message.contains("'31/08/2010 20:36'"));
        let errs = call_from_resource(&bad[1], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["sid"]);
        let errs = call_from_resource(&bad[2], &ctx()).unwrap_err();
        assert_eq!(fields(&errs), ["status", "from"], "{errs:?}");
        assert!(errs[0].message.contains("'exploded'"));
        assert!(errs[1].message.contains("'+91123'"));
    }

    #[test]
    fn callback_start_is_the_timestamp_less_the_duration() {
        let all = callbacks();
        let c = call_from_callback(&all[0], &ctx()).unwrap();
        assert_eq!(c.provider, Provider::Twilio);
        assert_eq!(c.provider_call_id, "CA7b1c2d3e4f5a6b7c8d9e0f1a2b3c4d01");
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.duration_seconds, 245);
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:44:05Z");
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert!(c.recording_url.unwrap().contains("/Recordings/RE"));
        assert_eq!(c.raw["SequenceNumber"], "3");
    }

    #[test]
    fn earlier_callbacks_of_the_same_call() {
        let all = callbacks();
        let c = call_from_callback(&all[1], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::Queued, "initiated");
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:39:52Z");
        assert_eq!((c.ended_at, c.duration_seconds), (None, 0));
        let c = call_from_callback(&all[3], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);
        // A missed inbound call: CallDuration 0, it ended at the Timestamp.
        let c = call_from_callback(&all[5], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.direction, CallDirection::Inbound);
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.started_at.to_string(), "2026-01-16T04:15:30Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-16T04:15:30Z");
        // busy with no CallDuration.
        let c = call_from_callback(&all[6], &ctx()).unwrap();
        assert_eq!(c.status, CallStatus::Busy);
        assert_eq!(c.started_at.to_string(), "2026-01-16T06:00:09Z");
        for p in &all {
            call_from_callback(p, &ctx()).unwrap();
        }
    }

    #[test]
    fn a_callback_without_a_timestamp_is_now() {
        let before = Timestamp::now().as_second() - 1;
        let c = call_from_callback(
            &p(&[
                ("CallSid", "CA1"),
                ("From", "+919812345678"),
                ("To", "+918047180000"),
                ("Direction", "inbound"),
                ("CallStatus", "ringing"),
            ]),
            &ctx(),
        )
        .unwrap();
        assert!(c.started_at.as_second() >= before);
        assert!(c.started_at.as_second() <= Timestamp::now().as_second());
        assert_eq!(c.status, CallStatus::Ringing);
    }

    #[test]
    fn bad_callbacks_name_twilios_field() {
        let errs = call_from_callback(
            &p(&[
                ("From", "+919812345678"),
                ("To", "+918047180000"),
                ("Direction", "inbound"),
                ("CallStatus", "completed"),
                ("CallDuration", "ten"),
                ("Timestamp", "yesterday"),
            ]),
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errs),
            ["CallDuration", "Timestamp", "CallSid"],
            "{errs:?}"
        );
        assert!(errs[0].message.contains("'ten'"));
        assert!(errs[1].message.contains("'yesterday'"));
    }
}
