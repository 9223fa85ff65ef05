//! Call records: the statuses, directions and providers we know, and
//! [`NewCall`], the validated record every way in produces.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::raw::MAX_RAW_BYTES;
use super::{E164, Invalid, Raw, Region};

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Result<Self, Invalid> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(Invalid::new(
                    $field,
                    format!("'{}' is not one of {}", s, [$($text),+].join(", ")),
                )) }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// For the API document: one of the texts.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_enum!(
    /// Where a call record came from.
    Provider, "provider" {
        Exotel = "exotel",
        Twilio = "twilio",
        Manual = "manual",
        Csv = "csv",
    }
);

text_enum!(
    /// Seen from the business line: a customer called in, or the business called out.
    CallDirection, "direction" {
        Inbound = "inbound",
        Outbound = "outbound",
    }
);

text_enum!(
    /// The state of a call as the provider reports it.
    CallStatus, "status" {
        Completed = "completed",
        Busy = "busy",
        NoAnswer = "no-answer",
        Failed = "failed",
        Canceled = "canceled",
        InProgress = "in-progress",
        Ringing = "ringing",
        Queued = "queued",
    }
);

impl CallStatus {
    /// Answered: the call connected and ended normally.
    pub fn is_answered(self) -> bool {
        self == CallStatus::Completed
    }

    /// A status that, for an inbound call, means the caller was not served.
    pub fn is_missed_kind(self) -> bool {
        matches!(
            self,
            CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed | CallStatus::Canceled
        )
    }

    /// How telling a status is when two reports of one call disagree: any
    /// final status beats a live one; `completed` beats every other end; a
    /// specific end (the caller hung up, the line was busy) beats the
    /// generic `no-answer`, which beats `failed`; among live ones, the
    /// furthest along wins.
    pub fn precedence(self) -> u8 {
        match self {
            CallStatus::Queued => 0,
            CallStatus::Ringing => 1,
            CallStatus::InProgress => 2,
            CallStatus::Failed => 3,
            CallStatus::NoAnswer => 4,
            CallStatus::Busy => 5,
            CallStatus::Canceled => 6,
            CallStatus::Completed => 7,
        }
    }

    /// Still going on: ringing, queued or in progress.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            CallStatus::Ringing | CallStatus::Queued | CallStatus::InProgress
        )
    }
}

/// The longest talk time we accept for one call: a week.
pub const MAX_DURATION_SECONDS: i64 = 7 * 24 * 3600;
const MAX_ID_LEN: usize = 128;

/// A validated call record, ready to store. Every way in (the JSON API, the
/// provider formats, CSV, the demo generator) builds one of these.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCall {
    pub provider: Provider,
    pub provider_call_id: String,
    pub phone_number: E164,
    /// E.164 when the party's number parses, otherwise as given (`anonymous`).
    pub other_party: Option<String>,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub duration_seconds: i64,
    pub flow_id: Option<String>,
    pub flow_name: Option<String>,
    pub recording_url: Option<String>,
    /// The provider's original fields.
    pub raw: Raw,
}

const CALL_FIELDS: &[&str] = &[
    "provider",
    "providerCallId",
    "phoneNumber",
    "otherParty",
    "direction",
    "status",
    "startedAt",
    "endedAt",
    "durationSeconds",
    "flowId",
    "flowName",
    "recordingUrl",
    "raw",
];

impl NewCall {
    /// PostgreSQL cannot store U+0000 in text, so a call holding one is
    /// refused on both engines, naming the field.
    pub fn without_nul(self) -> Result<NewCall, Vec<Invalid>> {
        let texts = [
            ("providerCallId", Some(&self.provider_call_id)),
            ("otherParty", self.other_party.as_ref()),
            ("flowId", self.flow_id.as_ref()),
            ("flowName", self.flow_name.as_ref()),
            ("recordingUrl", self.recording_url.as_ref()),
        ];
        let mut errs: Vec<Invalid> = texts
            .iter()
            .filter(|(_, v)| v.is_some_and(|s| s.contains('\0')))
            .map(|(field, _)| Invalid::new(*field, "must not contain a NUL character (\\u0000)"))
            .collect();
        if errs.is_empty() && self.raw.has_nul() {
            errs.push(Invalid::new(
                "raw",
                "must not contain a NUL character (\\u0000)",
            ));
        }
        if errs.is_empty() { Ok(self) } else { Err(errs) }
    }
    /// Reads one item of the `calls` JSON shape, reporting every
    /// bad field, not just the first.
    pub fn from_json(item: &Value, region: Region) -> Result<NewCall, Vec<Invalid>> {
        Self::validated(item, None, region)
    }

    /// [`NewCall::from_json`] of a value the caller gives away: its `raw`
    /// object moves into the call instead of being copied (a bulk import
    /// builds one for every record).
    pub fn from_json_owned(mut item: Value, region: Region) -> Result<NewCall, Vec<Invalid>> {
        let raw = match item.as_object_mut().and_then(|o| o.remove("raw")) {
            Some(v @ Value::Object(_)) => Some(v),
            // Not an object: back where it was, for the error to name it.
            Some(v) => {
                if let Some(o) = item.as_object_mut() {
                    o.insert("raw".into(), v);
                }
                None
            }
            None => None,
        };
        Self::validated(&item, raw, region)
    }

    /// A JSON item's validation; `raw`, when given, is its `raw` object,
    /// already taken out of `item`.
    fn validated(
        item: &Value,
        raw: Option<Value>,
        region: Region,
    ) -> Result<NewCall, Vec<Invalid>> {
        let Some(obj) = item.as_object() else {
            return Err(vec![Invalid::new(
                "",
                format!("a call must be a JSON object, got {}", kind(item)),
            )]);
        };
        Self::from_fields(obj, || raw.unwrap_or_else(|| item.clone()).into(), region)
    }

    /// The one validation of a call record, from its fields in the `calls`
    /// shape (a JSON object, or a provider adapter's draft of one). Its
    /// `raw` is the `raw` field, or else what `whole` gives: the `raw`
    /// object kept apart, or the record as it came.
    pub fn from_fields(
        obj: &impl CallFields,
        whole: impl FnOnce() -> Raw,
        region: Region,
    ) -> Result<NewCall, Vec<Invalid>> {
        let mut errs = Vec::new();
        for key in obj.names() {
            if !CALL_FIELDS.contains(&key) {
                errs.push(Invalid::new(key, format!("unknown field '{key}'")));
            }
        }
        macro_rules! take {
            ($r:expr) => {
                $r.map_err(|e| errs.push(e)).ok()
            };
        }

        let provider = take!(opt_text(obj, "provider").and_then(|v| match v {
            Some(s) => Provider::parse(s),
            None => Ok(Provider::Manual),
        }));
        let provider_call_id = take!(
            id_text(obj, "providerCallId")
                .and_then(|v| { v.ok_or_else(|| Invalid::new("providerCallId", "is required")) })
        );
        let phone_number = take!(opt_text(obj, "phoneNumber").and_then(|v| match v {
            Some(s) => E164::parse("phoneNumber", s, region),
            None => Err(Invalid::new("phoneNumber", "is required")),
        }));
        let other_party =
            take!(opt_text(obj, "otherParty").map(|v| v.map(|s| other_party(s, region))));
        let direction = take!(required_text(obj, "direction").and_then(CallDirection::parse));
        let status = take!(required_text(obj, "status").and_then(CallStatus::parse));
        let started_at =
            take!(required_text(obj, "startedAt").and_then(|s| instant("startedAt", s)));
        let ended_at = take!(
            opt_text(obj, "endedAt").and_then(|v| v.map(|s| instant("endedAt", s)).transpose())
        );
        let duration = take!(duration(obj));
        let flow_id = take!(id_text(obj, "flowId"));
        let flow_name = take!(opt_text(obj, "flowName").map(|v| v.map(str::to_string)));
        let recording_url = take!(opt_text(obj, "recordingUrl").map(|v| v.map(str::to_string)));
        let raw = match obj.field("raw") {
            None | Some(Value::Null) => Some(whole()),
            Some(v @ Value::Object(_)) => Some(v.clone().into()),
            Some(v) => take!(Err(Invalid::new(
                "raw",
                format!("must be an object, got {}", kind(v)),
            ))),
        };
        if raw.as_ref().is_some_and(|r| !r.json_fits(MAX_RAW_BYTES)) {
            errs.push(Invalid::new(
                "raw",
                format!(
                    "is more than {} KiB of JSON text (at most {MAX_RAW_BYTES} bytes)",
                    MAX_RAW_BYTES / 1024
                ),
            ));
        }
        if let (Some(s), Some(Some(e))) = (started_at, ended_at)
            && e < s
        {
            errs.push(Invalid::new(
                "endedAt",
                format!("'{e}' is before startedAt '{s}'"),
            ));
        }
        if let (Some(None), Some(Some(_))) = (&flow_id, &flow_name) {
            errs.push(Invalid::new("flowName", "needs a flowId"));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(NewCall {
            provider: provider.unwrap(),
            provider_call_id: provider_call_id.unwrap(),
            phone_number: phone_number.unwrap(),
            other_party: other_party.unwrap(),
            direction: direction.unwrap(),
            status: status.unwrap(),
            started_at: started_at.unwrap(),
            ended_at: ended_at.unwrap(),
            duration_seconds: duration.unwrap(),
            flow_id: flow_id.unwrap(),
            flow_name: flow_name.unwrap(),
            recording_url: recording_url.unwrap(),
            raw: raw.unwrap(),
        })
    }
}

impl NewCall {
    /// Folds another report of the same call (a later callback, a re-sent
    /// record) into this one, so that several reports arriving in any order
    /// build one record, and a repeat changes nothing:
    ///
    /// - a final status beats a live one, and between two of a kind the more
    ///   telling one wins ([`CallStatus::precedence`]), whatever the order;
    /// - talk time is the longest reported, the start the earliest and the
    ///   end the latest;
    /// - fields the other report leaves empty keep their value;
    /// - `raw` keeps every field either report carried, unless together
    ///   they pass [`MAX_RAW_BYTES`]: then it is the later report's alone.
    pub fn merge(self, other: NewCall) -> NewCall {
        let status = if self.status.precedence() >= other.status.precedence() {
            self.status
        } else {
            other.status
        };
        let raw = match (self.raw.into_value(), other.raw.into_value()) {
            (Value::Object(mut a), Value::Object(b)) => {
                a.extend(b.clone());
                let both = Raw::from(Value::Object(a));
                if both.json_fits(MAX_RAW_BYTES) {
                    both.into_value()
                } else {
                    Value::Object(b)
                }
            }
            (_, b) => b,
        };
        NewCall {
            provider: other.provider,
            provider_call_id: other.provider_call_id,
            phone_number: other.phone_number,
            other_party: other.other_party.or(self.other_party),
            direction: other.direction,
            status,
            started_at: self.started_at.min(other.started_at),
            ended_at: match (self.ended_at, other.ended_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            duration_seconds: self.duration_seconds.max(other.duration_seconds),
            flow_id: other.flow_id.or(self.flow_id),
            flow_name: other.flow_name.or(self.flow_name),
            recording_url: other.recording_url.or(self.recording_url),
            raw: raw.into(),
        }
    }
}

/// The other party as stored: E.164 when it is a valid number, else the text
/// as given (withheld numbers, SIP URIs).
pub fn other_party(s: &str, region: Region) -> String {
    E164::parse("otherParty", s, region)
        .map(E164::into_string)
        .unwrap_or_else(|_| s.trim().chars().take(64).collect())
}

/// Parses an RFC 3339 instant; stored to the second (fractions are dropped).
pub fn instant(field: &str, s: &str) -> Result<Timestamp, Invalid> {
    let t: Timestamp = s.trim().parse().map_err(|_| {
        Invalid::new(
            field,
            format!("'{s}' is not an RFC 3339 instant such as 2026-01-16T03:35:12Z"),
        )
    })?;
    Timestamp::from_second(t.as_second())
        .map_err(|_| Invalid::new(field, format!("'{s}' is out of range")))
}

/// What kind of JSON value this is, for error messages ("a string").
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fields of a record in the `calls` shape, as [`NewCall::from_fields`]
/// reads them: a JSON object's, or those a provider adapter sets directly
/// (a bulk import skips building an object a record).
pub trait CallFields {
    fn field(&self, name: &str) -> Option<&Value>;
    /// Every field's name, for the check against unknown fields.
    fn names(&self) -> impl Iterator<Item = &str>;
}

impl CallFields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.keys().map(String::as_str)
    }
}

fn opt_text<'a>(obj: &'a impl CallFields, field: &str) -> Result<Option<&'a str>, Invalid> {
    match obj.field(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > 2048 => {
            Err(Invalid::new(field, "is longer than 2048 characters"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(v) => Err(Invalid::new(
            field,
            format!("must be a string, got {} ({v})", kind(v)),
        )),
    }
}

fn required_text<'a>(obj: &'a impl CallFields, field: &str) -> Result<&'a str, Invalid> {
    opt_text(obj, field)?.ok_or_else(|| Invalid::new(field, "is required"))
}

/// An identifier that providers send as a string or a number.
fn id_text(obj: &impl CallFields, field: &str) -> Result<Option<String>, Invalid> {
    let v = match obj.field(field) {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_text(obj, field)?.map(str::to_string),
    };
    match v {
        Some(s) if s.len() > MAX_ID_LEN => Err(Invalid::new(
            field,
            format!("is longer than {MAX_ID_LEN} characters"),
        )),
        other => Ok(other),
    }
}

fn duration(obj: &impl CallFields) -> Result<i64, Invalid> {
    let field = "durationSeconds";
    let n = match obj.field(field) {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            Invalid::new(field, format!("'{n}' is not a whole number of seconds"))
        })?,
        Some(v) => {
            return Err(Invalid::new(
                field,
                format!("must be a whole number of seconds, got {} ({v})", kind(v)),
            ));
        }
    };
    if !(0..=MAX_DURATION_SECONDS).contains(&n) {
        return Err(Invalid::new(
            field,
            format!("'{n}' must be between 0 and {MAX_DURATION_SECONDS}"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"provider": "manual", "providerCallId": "c-1001", "phoneNumber": "+919876543210",
            "otherParty": "09812345678", "direction": "inbound", "status": "completed",
            "startedAt": "2026-01-16T03:35:12.900Z", "endedAt": "2026-01-16T03:39:17Z",
            "durationSeconds": 198, "flowId": 231, "flowName": "Support menu", "recordingUrl": null})
    }

    #[test]
    fn reads_the_calls_shape() {
        let c = NewCall::from_json(&good(), Region::default()).unwrap();
        assert_eq!(c.provider, Provider::Manual);
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.started_at.to_string(), "2026-01-16T03:35:12Z");
        assert_eq!(c.flow_id.as_deref(), Some("231"));
        assert_eq!(c.duration_seconds, 198);
    }

    #[test]
    fn reports_every_bad_field() {
        let mut v = good();
        v["phoneNumber"] = json!("12");
        v["status"] = json!("done");
        v["durationSeconds"] = json!(-1);
        v["colour"] = json!("red");
        let errs = NewCall::from_json(&v, Region::default()).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["phoneNumber", "status", "durationSeconds", "colour"] {
            assert!(fields.contains(&f), "{fields:?}");
        }
        assert!(errs.iter().any(|e| e.message.contains("'done'")));
    }

    #[test]
    fn withheld_numbers_are_kept_as_given() {
        assert_eq!(other_party("anonymous", Region::default()), "anonymous");
    }

    #[test]
    fn reports_merge_in_any_order_and_repeats_change_nothing() {
        let ringing = NewCall::from_json(&json!({"providerCallId": "x", "phoneNumber": "+919876543210",
            "direction": "inbound", "status": "ringing", "startedAt": "2026-01-16T03:35:00Z", "flowId": "7"}), Region::default()).unwrap();
        let done = NewCall::from_json(
            &json!({"providerCallId": "x", "phoneNumber": "+919876543210",
            "direction": "inbound", "status": "completed", "startedAt": "2026-01-16T03:35:10Z",
            "endedAt": "2026-01-16T03:39:00Z", "durationSeconds": 200}),
            Region::default(),
        )
        .unwrap();
        let a = ringing.clone().merge(done.clone());
        let b = done.clone().merge(ringing.clone());
        for m in [&a, &b] {
            assert_eq!(m.status, CallStatus::Completed);
            assert_eq!(m.duration_seconds, 200);
            assert_eq!(m.started_at.to_string(), "2026-01-16T03:35:00Z");
            assert_eq!(m.flow_id.as_deref(), Some("7"));
        }
        assert_eq!(a.clone().merge(done.clone()).status, a.status);
        assert_eq!(a.clone().merge(done).duration_seconds, a.duration_seconds);
        let mut no_answer = ringing.clone();
        no_answer.status = CallStatus::NoAnswer;
        assert_eq!(
            no_answer.clone().merge(a.clone()).status,
            CallStatus::Completed
        );
        assert_eq!(a.merge(no_answer).status, CallStatus::Completed);
    }

    #[test]
    fn raw_is_at_most_64_kib_and_merging_keeps_it_so() {
        // `{"k":"…"}`: 8 bytes around the text.
        let with_raw = |key: &str, bytes: usize| {
            let mut v = good();
            v["raw"] = json!({ key: "x".repeat(bytes - 8) });
            v
        };
        assert!(NewCall::from_json(&with_raw("k", MAX_RAW_BYTES), Region::default()).is_ok());
        let errs =
            NewCall::from_json(&with_raw("k", MAX_RAW_BYTES + 1), Region::default()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "raw");
        assert!(errs[0].message.contains("64 KiB"), "{errs:?}");
        let owned = NewCall::from_json_owned(with_raw("k", MAX_RAW_BYTES + 1), Region::default())
            .unwrap_err();
        assert_eq!(owned, errs);

        // Two reports whose fields together pass the limit keep the later's.
        let first = NewCall::from_json(&with_raw("a", 40_000), Region::default()).unwrap();
        let later = NewCall::from_json(&with_raw("b", 40_000), Region::default()).unwrap();
        let merged = first.clone().merge(later.clone());
        assert_eq!(merged.raw, later.raw);
        let small = NewCall::from_json(&with_raw("c", 100), Region::default()).unwrap();
        let merged = first.merge(small);
        assert!(merged.raw.get("a").is_some() && merged.raw.get("c").is_some());
    }

    #[test]
    fn statuses_round_trip() {
        for s in CallStatus::ALL {
            assert_eq!(CallStatus::parse(s.as_str()).unwrap(), *s);
        }
        assert!(CallStatus::Canceled.is_missed_kind() && !CallStatus::Completed.is_missed_kind());
    }
}
