//! What every provider adapter shares: the [`Draft`] of a canonical call
//! record, validated as its JSON object would be and with errors named by
//! the provider's own fields, and the readers of provider values (trimmed
//! text, JSON strings or numbers, form parameters, whole seconds).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::domain::call::CallFields;
use crate::domain::{Invalid, NewCall, Raw, Region};

/// A provider field: the name it came in (for error messages) and its value,
/// `None` when absent, null or empty.
#[derive(Debug, Clone)]
pub(super) struct Field<'a> {
    pub name: &'a str,
    pub value: Option<Cow<'a, str>>,
}

impl<'a> Field<'a> {
    pub fn absent(name: &'a str) -> Self {
        Field { name, value: None }
    }
}

/// A canonical `calls` record under construction, validated as a JSON
/// object of the same fields would be ([`NewCall::from_fields`]) without
/// building one. It remembers which provider field each key came from, so
/// that the validation's errors name the provider's field, and which keys
/// were already refused here, so that one bad value is reported once.
pub(super) struct Draft<'a> {
    /// The object's fields in the order set (a key set again keeps its place).
    obj: Vec<(&'static str, Value)>,
    sources: Vec<(&'static str, &'a str)>,
    reported: Vec<&'static str>,
    errs: Vec<Invalid>,
}

impl CallFields for Vec<(&'static str, Value)> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| *k)
    }
}

impl<'a> Draft<'a> {
    pub fn new(provider: &str) -> Self {
        Draft {
            obj: vec![("provider", Value::String(provider.to_string()))],
            sources: Vec::new(),
            reported: Vec::new(),
            errs: Vec::new(),
        }
    }

    fn put(&mut self, key: &'static str, value: Value) {
        match self.obj.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.obj.push((key, value)),
        }
    }

    /// Sets `key` to `value`, read from the provider's field `source`.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>, source: &'a str) {
        self.put(key, value.into());
        self.source(key, source);
    }

    /// Sets `key` to the field's text when it has one; either way, errors
    /// about `key` (such as "is required") name the field.
    pub fn text(&mut self, key: &'static str, field: &Field<'a>) {
        if let Some(v) = &field.value {
            self.put(key, Value::String(v.to_string()));
        }
        self.source(key, field.name);
    }

    /// Errors about `key` name the provider's field `source`.
    pub fn source(&mut self, key: &'static str, source: &'a str) {
        self.sources.retain(|(k, _)| *k != key);
        self.sources.push((key, source));
    }

    /// Reports `err` for `key`, whose value could not be read.
    pub fn refuse(&mut self, key: &'static str, err: Invalid) {
        self.errs.push(err);
        self.skip(key);
    }

    /// Leaves `key` out without an error of its own (another error explains it).
    pub fn skip(&mut self, key: &'static str) {
        self.reported.push(key);
    }

    /// Validates through [`NewCall::from_fields`], with `raw` the provider's record.
    pub fn finish(mut self, raw: Raw, region: Region) -> Result<NewCall, Vec<Invalid>> {
        // The object itself is built only for a `raw` that is not one, for
        // the validation to name it.
        let checked = if raw.is_object() {
            NewCall::from_fields(&self.obj, || raw, region)
        } else {
            let mut obj: Map<String, Value> = self
                .obj
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            obj.insert("raw".into(), raw.into_value());
            NewCall::from_json_owned(Value::Object(obj), region)
        };
        match checked {
            Ok(call) if self.errs.is_empty() => Ok(call),
            Ok(_) => Err(self.errs),
            Err(more) => {
                for mut e in more {
                    if self.reported.contains(&e.field.as_str()) {
                        continue;
                    }
                    if let Some((_, src)) = self.sources.iter().find(|(k, _)| *k == e.field) {
                        e.field = (*src).to_string();
                    }
                    self.errs.push(e);
                }
                Err(self.errs)
            }
        }
    }
}

/// A provider's text: trimmed; `None` when empty or `null`.
pub(super) fn present(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && !s.eq_ignore_ascii_case("null")).then_some(s)
}

/// A JSON value as text: strings and numbers alike; `None` for null and empty.
pub(super) fn json_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => present(s).map(Cow::Borrowed),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// The first of `keys` with a value, matched exactly, then ignoring case.
pub(super) fn json_field<'a>(obj: &'a Map<String, Value>, keys: &[&'static str]) -> Field<'a> {
    for k in keys {
        if let Some((name, v)) = obj.get_key_value(*k)
            && let Some(value) = json_text(v)
        {
            return Field {
                name,
                value: Some(value),
            };
        }
    }
    for (name, v) in obj {
        if keys.iter().any(|k| k.eq_ignore_ascii_case(name))
            && let Some(value) = json_text(v)
        {
            return Field {
                name,
                value: Some(value),
            };
        }
    }
    Field::absent(keys[0])
}

/// The first of `keys` with a value, matched exactly, then ignoring case.
pub(super) fn param_field<'a>(params: &'a [(String, String)], keys: &[&'static str]) -> Field<'a> {
    for k in keys {
        if let Some((name, v)) = params.iter().find(|(name, _)| name == k)
            && let Some(value) = present(v)
        {
            return Field {
                name,
                value: Some(Cow::Borrowed(value)),
            };
        }
    }
    for (name, v) in params {
        if keys.iter().any(|k| k.eq_ignore_ascii_case(name))
            && let Some(value) = present(v)
        {
            return Field {
                name,
                value: Some(Cow::Borrowed(value)),
            };
        }
    }
    Field::absent(keys[0])
}

/// Callback parameters as a JSON object of strings (a repeated name keeps
/// its last value).
pub(super) fn params_object(params: &[(String, String)]) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A whole number of seconds, written `42`, `"42"` or `42.0`.
pub(super) fn seconds(field: &str, s: &str) -> Result<i64, Invalid> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => Ok(x as i64),
        _ => Err(Invalid::new(
            field,
            format!("'{s}' is not a whole number of seconds"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft<'a>(fields: &[(&'static str, &'a str, &'a str)]) -> Draft<'a> {
        let mut d = Draft::new("exotel");
        for (key, source, value) in fields {
            let f = Field {
                name: source,
                value: present(value).map(Cow::Borrowed),
            };
            d.text(key, &f);
        }
        d
    }

    /// A draft is validated as the JSON object of its fields would be: the
    /// same call when good, the same errors (named by the provider's field)
    /// when bad, and a `raw` that is not an object refused.
    #[test]
    fn a_draft_validates_as_its_json_object_would() {
        let good = [
            ("providerCallId", "Sid", "d-1"),
            ("phoneNumber", "To", "08041234567"),
            ("otherParty", "From", "09812345678"),
            ("direction", "Direction", "inbound"),
            ("status", "Status", "completed"),
            ("startedAt", "StartTime", "2026-01-16T10:00:00Z"),
            ("endedAt", "EndTime", "2026-01-16T10:01:00Z"),
        ];
        let raw = serde_json::json!({"Sid": "d-1", "Price": "2.5"});
        let mut obj = serde_json::json!({"provider": "exotel", "raw": raw});
        for (key, _, value) in good {
            obj[key] = Value::String(value.into());
        }
        let from_json = NewCall::from_json(&obj, Region::default()).unwrap();
        let from_draft = draft(&good)
            .finish(raw.clone().into(), Region::default())
            .unwrap();
        assert_eq!(from_draft, from_json);
        assert_eq!(from_draft.phone_number.as_str(), "+918041234567");
        assert_eq!(from_draft.raw, raw);

        let mut bad = good;
        bad[4].2 = "exploded";
        bad[5].2 = "yesterday";
        let errs = draft(&bad)
            .finish(raw.clone().into(), Region::default())
            .unwrap_err();
        let named: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["Status", "StartTime"], "{errs:?}");

        let errs = draft(&good)
            .finish(Value::String("x".into()).into(), Region::default())
            .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "raw");
        assert!(errs[0].message.contains("must be an object"), "{errs:?}");
    }
}
