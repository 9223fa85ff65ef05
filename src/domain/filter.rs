//! Which lines a question is about: the dashboard's filters.

use super::{E164, Invalid, Region};

/// Narrowing of the lines an analytics question covers. Every given part
/// narrows further (they combine with AND); none given means every line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineFilter {
    /// `phoneNumber` and `phoneNumbers` together.
    pub numbers: Option<Vec<E164>>,
    /// `groupId`.
    pub group_id: Option<i64>,
    /// `metadata.KEY=VALUE` pairs.
    pub metadata: Vec<(String, String)>,
}

impl LineFilter {
    /// Takes the filter's own parameters out of a query string's pairs and
    /// returns the rest untouched.
    pub fn take_from(
        pairs: Vec<(String, String)>,
        region: Region,
    ) -> Result<(LineFilter, Vec<(String, String)>), Invalid> {
        let mut f = LineFilter::default();
        let mut rest = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "phoneNumber" => {
                    if !v.trim().is_empty() {
                        let n = E164::parse("phoneNumber", &v, region)?;
                        f.numbers.get_or_insert_with(Vec::new).push(n);
                    }
                }
                "phoneNumbers" => {
                    let list = f.numbers.get_or_insert_with(Vec::new);
                    for part in v.split(',').filter(|p| !p.trim().is_empty()) {
                        // ",+91…" arrives as ", 91…": the space is a '+'.
                        let part = if part.starts_with(' ') && !part.starts_with("  ") {
                            part.to_string()
                        } else {
                            part.trim().to_string()
                        };
                        list.push(E164::parse("phoneNumbers", &part, region)?);
                    }
                }
                "groupId" => {
                    let id = v
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| Invalid::new("groupId", format!("'{v}' is not a group id")))?;
                    f.group_id = Some(id);
                }
                _ => {
                    if let Some(key) = k.strip_prefix("metadata.") {
                        if key.is_empty() {
                            return Err(Invalid::new(k.clone(), "names no metadata key"));
                        }
                        f.metadata.push((key.to_string(), v));
                    } else {
                        rest.push((k, v));
                    }
                }
            }
        }
        if let Some(list) = &mut f.numbers {
            list.sort();
            list.dedup();
        }
        Ok((f, rest))
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_none() && self.group_id.is_none() && self.metadata.is_empty()
    }
}

/// Whether a line's metadata (a JSON object) has every given `key = value`.
/// Values compare as text, so `metadata.floor=3` matches `{"floor": 3}`.
pub fn metadata_matches(metadata: &serde_json::Value, wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, want)| match metadata.get(k) {
        Some(serde_json::Value::String(s)) => s == want,
        Some(serde_json::Value::Null) | None => false,
        Some(other) => other.to_string().as_str() == want.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn a_plus_that_became_a_space_is_read_back() {
        let (f, rest) =
            LineFilter::take_from(pairs("phoneNumber=+919876543210&tz=UTC"), Region::default())
                .unwrap();
        assert_eq!(f.numbers.unwrap()[0].as_str(), "+919876543210");
        assert_eq!(rest, vec![("tz".to_string(), "UTC".to_string())]);
        let (f, _) = LineFilter::take_from(
            pairs("phoneNumbers=+919876543210,+919876543211&metadata.region=north"),
            Region::default(),
        )
        .unwrap();
        assert_eq!(f.numbers.unwrap().len(), 2);
        assert_eq!(f.metadata, vec![("region".into(), "north".into())]);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let e = LineFilter::take_from(pairs("phoneNumber=12"), Region::default()).unwrap_err();
        assert_eq!(e.field, "phoneNumber");
        let e = LineFilter::take_from(pairs("groupId=x"), Region::default()).unwrap_err();
        assert_eq!(e.field, "groupId");
    }

    #[test]
    fn metadata_compares_as_text() {
        let m = serde_json::json!({"department": "sales", "floor": 3});
        assert!(metadata_matches(
            &m,
            &[("department".into(), "sales".into())]
        ));
        assert!(metadata_matches(&m, &[("floor".into(), "3".into())]));
        assert!(!metadata_matches(
            &m,
            &[("department".into(), "support".into())]
        ));
    }
}
