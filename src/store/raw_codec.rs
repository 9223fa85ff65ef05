//! How a call's `raw` (the provider's original fields) is kept in the
//! `calls.raw` column: as its JSON text, less what the row already holds.
//!
//! A file in linewise's own CSV shape, or a `POST /api/calls` item, carries
//! fields the row stores as they came: `"providerCallId": "b-1"` is the
//! `provider_call_id` column, `"startedAt": "2026-01-01T00:00:00Z"` is
//! `started_at` written out. Kept twice, they were more than half the bytes
//! of such a row, and SQLite's insert cost grows with the bytes.
//!
//! So a string field whose name is a `calls` field name (exactly, as
//! [`FIELDS`] spells it) and whose text is what that column holds, written
//! as [`column_text`] writes it, is left out of the text and named by its
//! letter instead. Such a value is stored as `=` (never the start of JSON),
//! one letter per original field in order (`.` for each field kept), then
//! the JSON object of the fields kept:
//!
//! ```text
//! {"providerCallId":"b-1","phoneNumber":"+919876543012","Price":"2.5"}
//! =pn.{"Price":"2.5"}
//! ```
//!
//! [`decode`] puts the left-out fields back from the row's columns, in their
//! places: the call read back has the very `raw` it was stored with (same
//! fields, same order, same text). A value with nothing to leave out is
//! stored as plain JSON, as before; both forms read back alike.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{StoreError, StoreResult};
use crate::domain::{NewCall, Raw};

/// The fields that may be left out: letter, name.
const FIELDS: [(u8, &str); 10] = [
    (b'p', "providerCallId"),
    (b'n', "phoneNumber"),
    (b'o', "otherParty"),
    (b'd', "direction"),
    (b's', "status"),
    (b'S', "startedAt"),
    (b'E', "endedAt"),
    (b'D', "durationSeconds"),
    (b'f', "flowId"),
    (b'r', "recordingUrl"),
];

/// Marks the compact form.
const MARK: char = '=';
/// A field kept in the JSON part.
const KEPT: u8 = b'.';

/// The text of the column a letter names, as a CSV or JSON field would
/// carry it; `None` when the column is empty. Text columns are borrowed:
/// every field of every call written is compared with one.
fn column_text(c: &NewCall, letter: u8) -> Option<Cow<'_, str>> {
    match letter {
        b'p' => Some(Cow::Borrowed(c.provider_call_id.as_str())),
        b'n' => Some(Cow::Borrowed(c.phone_number.as_str())),
        b'o' => c.other_party.as_deref().map(Cow::Borrowed),
        b'd' => Some(Cow::Borrowed(c.direction.as_str())),
        b's' => Some(Cow::Borrowed(c.status.as_str())),
        // As stored: to the second.
        b'S' => Some(Cow::Owned(whole_seconds(c.started_at))),
        b'E' => c.ended_at.map(|t| Cow::Owned(whole_seconds(t))),
        b'D' => Some(Cow::Owned(c.duration_seconds.to_string())),
        b'f' => c.flow_id.as_deref().map(Cow::Borrowed),
        b'r' => c.recording_url.as_deref().map(Cow::Borrowed),
        _ => None,
    }
}

/// An instant as the row keeps it (to the second), in RFC 3339.
fn whole_seconds(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second()).map_or_else(|_| t.to_string(), |t| t.to_string())
}

/// Whether `value` of field `name` is what the row's column holds: its letter.
fn same_as_column(c: &NewCall, name: &str, value: &Value) -> Option<u8> {
    let Value::String(text) = value else {
        return None;
    };
    same_text(c, name, text)
}

/// Whether text `text` of field `name` is what the row's column holds.
fn same_text(c: &NewCall, name: &str, text: &str) -> Option<u8> {
    let (letter, _) = FIELDS.iter().find(|(_, n)| *n == name)?;
    let column = column_text(c, *letter)?;
    (column == text).then_some(*letter)
}

/// The text `c.raw` is stored as, in the row `c` is written as.
pub(super) fn encode(c: &NewCall) -> String {
    if let Raw::Row(row) = &c.raw
        && let Some(entries) = row.entries()
    {
        return encode_entries(c, entries);
    }
    let Value::Object(fields) = &*c.raw else {
        return c.raw.to_string();
    };
    let letters: Vec<u8> = fields
        .iter()
        .map(|(name, value)| same_as_column(c, name, value).unwrap_or(KEPT))
        .collect();
    if letters.iter().all(|l| *l == KEPT) {
        return c.raw.to_string();
    }
    let kept: Map<String, Value> = fields
        .iter()
        .zip(&letters)
        .filter(|(_, l)| **l == KEPT)
        .map(|((k, v), _)| (k.clone(), v.clone()))
        .collect();
    let mut out = String::with_capacity(letters.len() + 2);
    out.push(MARK);
    out.extend(letters.iter().map(|l| char::from(*l)));
    out.push_str(&Value::Object(kept).to_string());
    out
}

/// [`encode`] of a CSV row's fields (`(name, text)`, names unique) without
/// building its JSON object: the same text, as `csv_rows_encode_as_their_json_does` holds.
fn encode_entries<'a>(c: &NewCall, entries: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut letters = String::new();
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for (name, text) in entries {
        match same_text(c, name, text) {
            Some(l) => letters.push(char::from(l)),
            None => {
                letters.push(char::from(KEPT));
                kept.push((name, text));
            }
        }
    }
    let json = serde_json::to_string(&Kept(&kept)).unwrap_or_else(|_| "{}".into());
    if letters.bytes().all(|l| l == KEPT) {
        return json;
    }
    let mut out = String::with_capacity(1 + letters.len() + json.len());
    out.push(MARK);
    out.push_str(&letters);
    out.push_str(&json);
    out
}

/// Text fields, written as the JSON object they make.
struct Kept<'a>(&'a [(&'a str, &'a str)]);

impl serde::Serialize for Kept<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `raw` back from its stored `text` and the rest of the row, `row`.
pub(super) fn decode(text: &str, row: &NewCall) -> StoreResult<Value> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a call's raw fields: {what}"));
    let Some(compact) = text.strip_prefix(MARK) else {
        return serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()));
    };
    let split = compact.find('{').ok_or_else(|| corrupt("no object"))?;
    let (letters, json) = compact.split_at(split);
    let kept: Map<String, Value> =
        serde_json::from_str(json).map_err(|e| corrupt(&e.to_string()))?;
    let mut kept = kept.into_iter();
    let mut fields = Map::with_capacity(letters.len());
    for letter in letters.bytes() {
        if letter == KEPT {
            let (k, v) = kept
                .next()
                .ok_or_else(|| corrupt("a kept field is missing"))?;
            fields.insert(k, v);
            continue;
        }
        let (_, name) = FIELDS
            .iter()
            .find(|(l, _)| *l == letter)
            .ok_or_else(|| corrupt("an unknown field letter"))?;
        let value = column_text(row, letter)
            .map(Cow::into_owned)
            .ok_or_else(|| corrupt("a left-out field's column is empty"))?;
        fields.insert((*name).to_string(), Value::String(value));
    }
    if kept.next().is_some() {
        return Err(corrupt("more fields kept than named"));
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallDirection, CallStatus, E164, Provider};
    use proptest::prelude::*;
    use serde_json::json;

    fn call(raw: Value) -> NewCall {
        NewCall {
            provider: Provider::Csv,
            provider_call_id: "b-1".into(),
            phone_number: E164::from_stored("+919876543012".into()),
            other_party: Some("+919812000001".into()),
            direction: CallDirection::Inbound,
            status: CallStatus::NoAnswer,
            started_at: jiff::Timestamp::from_second(1_767_225_600).unwrap(),
            ended_at: Some(jiff::Timestamp::from_second(1_767_225_925).unwrap()),
            duration_seconds: 0,
            flow_id: Some("205".into()),
            flow_name: None,
            recording_url: None,
            raw: raw.into(),
        }
    }

    /// Stored and read back: the same fields, in the same order, as text.
    fn round_trip(c: &NewCall) -> String {
        let text = encode(c);
        let mut row = c.clone();
        row.raw = Value::Null.into();
        decode(&text, &row).unwrap().to_string()
    }

    #[test]
    fn what_the_row_holds_is_left_out_and_put_back_in_place() {
        let c = call(json!({
            "providerCallId": "b-1", "Price": "2.5", "phoneNumber": "+919876543012",
            "otherParty": "+919812000001", "direction": "inbound",
            "status": "completed", "startedAt": "2026-01-01T00:00:00Z",
            "endedAt": "2026-01-01T00:05:25Z", "durationSeconds": "0",
            "flowId": "205", "recordingUrl": ""
        }));
        let text = encode(&c);
        // The status differs (a completed call nobody answered), the price is
        // no column, the recording URL is empty: those three are kept.
        assert_eq!(
            text,
            r#"=p.nod.SEDf.{"Price":"2.5","status":"completed","recordingUrl":""}"#
        );
        assert_eq!(round_trip(&c), c.raw.to_string());
    }

    #[test]
    fn values_that_differ_from_the_row_are_kept_as_they_came() {
        for raw in [
            json!({"startedAt": "2026-01-01T05:30:00+05:30"}),
            json!({"phoneNumber": "09876543012"}),
            json!({"PhoneNumber": "+919876543012"}),
            json!({"durationSeconds": 0}),
            json!({"direction": "Inbound"}),
            json!({"flowId": 205}),
            json!({}),
            json!({"source": "linewise demo"}),
        ] {
            let c = call(raw);
            assert_eq!(
                encode(&c),
                c.raw.to_string(),
                "plain JSON: nothing to leave out"
            );
            assert_eq!(round_trip(&c), c.raw.to_string());
        }
        let c = call(json!("not an object"));
        assert_eq!(round_trip(&c), "\"not an object\"");
    }

    #[test]
    fn damage_is_reported_not_guessed() {
        let row = call(Value::Null);
        for text in ["=p", "=x{}", "=p.{}", "=p{\"a\":\"1\"}", "=r{}", "{"] {
            assert!(
                matches!(decode(text, &row), Err(StoreError::Corrupt(_))),
                "{text}"
            );
        }
    }

    proptest! {
        /// Any mix of fields, in any order, equal to the row or not, reads
        /// back as it was given.
        #[test]
        fn any_raw_reads_back_as_given(
            picks in proptest::collection::vec((0usize..14, any::<bool>(), 0u8..4), 0..16)
        ) {
            let c0 = call(Value::Null);
            let names = ["providerCallId", "phoneNumber", "otherParty", "direction", "status",
                "startedAt", "endedAt", "durationSeconds", "flowId", "recordingUrl",
                "Price", "=", "", "{"];
            let mut raw = Map::new();
            for (i, same, kind) in picks {
                let name = names[i];
                let same_text = FIELDS.iter().find(|(_, n)| *n == name).and_then(|(l, _)| column_text(&c0, *l).map(Cow::into_owned));
                let value = match (same, same_text, kind) {
                    (true, Some(t), _) => Value::String(t),
                    (_, _, 0) => json!(null),
                    (_, _, 1) => json!(7),
                    (_, _, 2) => json!({"a": [1, "=p{"]}),
                    _ => Value::String(format!("x{name}")),
                };
                raw.insert(name.to_string(), value);
            }
            let c = call(Value::Object(raw));
            prop_assert_eq!(round_trip(&c), c.raw.to_string());
        }

        /// A CSV row (kept as its header and fields) is stored as the text
        /// its JSON object would be, and reads back as that object: any
        /// names, repeated or not, any fields equal to the row or not.
        #[test]
        fn csv_rows_encode_as_their_json_does(
            picks in proptest::collection::vec((0usize..15, any::<bool>(), 0u8..3), 0..16)
        ) {
            let c0 = call(Value::Null);
            let names = ["providerCallId", "phoneNumber", "otherParty", "direction", "status",
                "startedAt", "endedAt", "durationSeconds", "flowId", "recordingUrl",
                "Price", "=", "", "{", "Call \"SID\"\n"];
            let mut header = Vec::new();
            let mut fields = Vec::new();
            for (i, same, kind) in picks {
                let name = names[i];
                let same_text = FIELDS.iter().find(|(_, n)| *n == name).and_then(|(l, _)| column_text(&c0, *l).map(Cow::into_owned));
                let text = match (same, same_text, kind) {
                    (true, Some(t), _) => t,
                    (_, _, 0) => String::new(),
                    (_, _, 1) => "2026-01-01T00:00:00+05:30 \"q\" \u{1F4DE}".into(),
                    _ => format!("x{name}"),
                };
                header.push(name.to_string());
                fields.push(text);
            }
            let h = crate::domain::raw::Header::new(&header);
            let mut c = c0.clone();
            c.raw = Raw::Row(crate::domain::raw::RawRow::new(&h, fields.iter().map(String::as_str)));
            let as_json = call(c.raw.clone().into_value());
            prop_assert_eq!(encode(&c), encode(&as_json));
            prop_assert_eq!(round_trip(&c), c.raw.to_string());
        }
    }
}
