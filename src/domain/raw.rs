//! A call's provider record as it came ([`NewCall::raw`](super::NewCall)).
//!
//! Usually a JSON object. A CSV row is kept as its header's names and its
//! fields until something reads it as JSON: an import only ever encodes
//! its rows for storage (`store::raw`), and building a JSON map of every
//! row (a key and a value allocated, hashed and freed for each field) was
//! a tenth of an import's CPU. Read as JSON (through `Deref`), a row is
//! the object its header and fields make, built once on first use.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

/// The most JSON text a call's provider record may take: 64 KiB. A record
/// is kept with its call and read back with it, so it must stay small.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// A call's provider record: JSON, or a CSV row. Reads as a JSON [`Value`].
#[derive(Clone)]
pub enum Raw {
    Json(Value),
    Row(RawRow),
}

/// A CSV row: the header's names (shared by every row of a file) and the
/// row's fields, one text after another.
#[derive(Clone)]
pub struct RawRow {
    names: Header,
    text: String,
    /// Where each field ends in `text`.
    ends: Vec<u32>,
    /// The row as a JSON object, once asked for.
    json: OnceLock<Value>,
}

/// A CSV header's column names, shared by the rows of one file.
#[derive(Debug, Clone)]
pub struct Header {
    names: Arc<[String]>,
    /// No name appears twice: the row's fields are its JSON object's entries
    /// one for one (a repeated name keeps one entry, its last field).
    unique: bool,
}

impl Header {
    pub fn new(names: &[String]) -> Self {
        let mut seen: Vec<&str> = names.iter().map(String::as_str).collect();
        seen.sort_unstable();
        let unique = seen.windows(2).all(|w| w[0] != w[1]);
        Header {
            names: names.into(),
            unique,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl RawRow {
    /// The row whose fields are `fields`, one a name of `names`.
    pub fn new<'a>(names: &Header, fields: impl IntoIterator<Item = &'a str>) -> Self {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(names.len());
        for f in fields {
            text.push_str(f);
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        RawRow {
            names: names.clone(),
            text,
            ends,
            json: OnceLock::new(),
        }
    }

    /// `(name, field)` in column order, when every name is unique (the
    /// row's JSON object's entries, in order); `None` otherwise.
    pub fn entries(&self) -> Option<impl Iterator<Item = (&str, &str)>> {
        self.names.unique.then(|| self.pairs())
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        self.names
            .names
            .iter()
            .zip(starts.zip(self.ends.iter().copied()))
            .map(|(name, (a, b))| {
                (
                    name.as_str(),
                    self.text.get(a as usize..b as usize).unwrap_or(""),
                )
            })
    }

    fn to_value(&self) -> Value {
        Value::Object(
            self.pairs()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect::<Map<String, Value>>(),
        )
    }

    fn has_nul(&self) -> bool {
        self.text.contains('\0') || self.names.names.iter().any(|n| n.contains('\0'))
    }

    /// The most JSON text the row's object can take: every character
    /// escaped as `\u00XX`, every entry kept with its quotes, colon and comma.
    fn json_len_bound(&self) -> usize {
        let names: usize = self.names.names.iter().map(|n| 6 * n.len() + 6).sum();
        2 + names + 6 * self.text.len()
    }
}

impl Raw {
    /// The record as a JSON value, taken.
    pub fn into_value(self) -> Value {
        match self {
            Raw::Json(v) => v,
            Raw::Row(mut r) => r.json.take().unwrap_or_else(|| r.to_value()),
        }
    }

    /// Whether it is a JSON object (a row always is), without building one.
    pub fn is_object(&self) -> bool {
        match self {
            Raw::Json(v) => v.is_object(),
            Raw::Row(_) => true,
        }
    }

    /// Whether its JSON text takes at most `limit` bytes. Counting stops
    /// past the limit, and a CSV row well under it is not written out.
    pub fn json_fits(&self, limit: usize) -> bool {
        if let Raw::Row(r) = self
            && r.json_len_bound() <= limit
        {
            return true;
        }
        let mut counter = Counter { n: 0, limit };
        serde_json::to_writer(&mut counter, &**self).is_ok()
    }

    /// Whether any text or name in it holds U+0000.
    pub fn has_nul(&self) -> bool {
        match self {
            Raw::Json(v) => json_has_nul(v),
            Raw::Row(r) => r.has_nul(),
        }
    }
}

/// A writer that only counts, and fails once past its limit.
struct Counter {
    n: usize,
    limit: usize,
}

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.n += buf.len();
        if self.n > self.limit {
            return Err(io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether any string or key in `v` holds U+0000.
fn json_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

impl Deref for Raw {
    type Target = Value;

    fn deref(&self) -> &Value {
        match self {
            Raw::Json(v) => v,
            Raw::Row(r) => r.json.get_or_init(|| r.to_value()),
        }
    }
}

impl From<Value> for Raw {
    fn from(v: Value) -> Self {
        Raw::Json(v)
    }
}

impl PartialEq for Raw {
    fn eq(&self, other: &Raw) -> bool {
        match (self, other) {
            (Raw::Row(a), Raw::Row(b)) if Arc::ptr_eq(&a.names.names, &b.names.names) => {
                a.names.unique && a.text == b.text && a.ends == b.ends || **self == **other
            }
            _ => **self == **other,
        }
    }
}

impl PartialEq<Value> for Raw {
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Header {
        Header::new(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_row_reads_as_the_object_its_header_and_fields_make() {
        let h = header(&["Call SID", "Price", ""]);
        let raw = Raw::Row(RawRow::new(&h, ["a-1", "", "x\"y"]));
        let want = serde_json::json!({"Call SID": "a-1", "Price": "", "": "x\"y"});
        assert_eq!(*raw, want);
        assert_eq!(raw["Call SID"], "a-1");
        assert!(raw.is_object() && !raw.has_nul());
        assert_eq!(
            raw.clone(),
            Raw::Json(want.clone()),
            "a row equals its JSON form"
        );
        assert_eq!(raw.into_value(), want);
        let row = RawRow::new(&h, ["a", "b", "c"]);
        let entries: Vec<_> = row.entries().unwrap().collect();
        assert_eq!(entries, [("Call SID", "a"), ("Price", "b"), ("", "c")]);
    }

    #[test]
    fn a_repeated_name_keeps_its_last_field_as_json_does() {
        let h = header(&["a", "b", "a"]);
        let row = RawRow::new(&h, ["1", "2", "3"]);
        assert!(row.entries().is_none(), "entries would not be the object's");
        assert_eq!(
            *Raw::Row(row),
            serde_json::from_str::<Value>(r#"{"a":"1","b":"2","a":"3"}"#).unwrap()
        );
    }

    #[test]
    fn the_size_is_that_of_the_json_text() {
        let v = serde_json::json!({"k": "x\"y", "n": [1, 2]});
        let len = v.to_string().len();
        let raw = Raw::from(v);
        assert!(raw.json_fits(len));
        assert!(!raw.json_fits(len - 1));

        let h = header(&["a", "b"]);
        let row = Raw::Row(RawRow::new(&h, ["x\u{1}", "y"]));
        let len = row.to_string().len();
        assert!(row.json_fits(len), "{row}");
        assert!(!row.json_fits(len - 1), "{row}");
        for fields in [["", ""], ["\u{1}\u{1f}", "\"\\"], ["é ✓", "\n\t"]] {
            for names in [["a", "b"], ["\u{0}", "\""], ["", ""]] {
                let r = RawRow::new(&header(&names), fields);
                let len = Raw::Row(r.clone()).to_string().len();
                assert!(r.json_len_bound() >= len, "{names:?} {fields:?}");
            }
        }
        let big = "z".repeat(MAX_RAW_BYTES);
        assert!(!Raw::Row(RawRow::new(&h, [big.as_str(), ""])).json_fits(MAX_RAW_BYTES));
    }

    #[test]
    fn nul_anywhere_is_found() {
        let h = header(&["a"]);
        assert!(Raw::Row(RawRow::new(&h, ["x\0"])).has_nul());
        assert!(Raw::Row(RawRow::new(&header(&["a\0"]), ["x"])).has_nul());
        assert!(Raw::from(serde_json::json!({"k": ["\0"]})).has_nul());
        assert!(!Raw::from(serde_json::json!({"k": ["x"]})).has_nul());
    }
}
