//! E.164 phone numbers: the one shape a number has once it is inside linewise.

use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, country};

use super::Invalid;

/// The region whose national numbers (`09876543210`) we read when no country
/// code is given, e.g. `IN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| {
                Invalid::new(
                    "defaultRegion",
                    format!("'{s}' is not an ISO 3166 region code such as IN or US"),
                )
            })
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(country::Id::IN)
    }
}

/// A valid phone number in E.164 form (`+919876543210`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Reads a number as people and providers write it: `+91 98765-43210`,
    /// `0919876543210`, `09876543210` (national, in `region`), `919876543210`
    /// (country code without `+`), `00919876543210`. A leading space before
    /// digits is a `+` that URL decoding turned into a space. Refuses anything
    /// that is not a valid number.
    pub fn parse(field: &str, input: &str, region: Region) -> Result<Self, Invalid> {
        let refuse = || {
            Invalid::new(
                field,
                format!("'{}' is not a valid phone number", input.trim()),
            )
        };
        // A '+' in a query string arrives as a space.
        let mut s = input.trim_end().to_string();
        if s.starts_with(' ') && s.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            s = format!("+{}", s.trim_start());
        }
        let s = s.trim();
        if s.is_empty() || s.len() > 32 {
            return Err(refuse());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(refuse());
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(refuse());
        }
        let mut candidates: Vec<String> = Vec::with_capacity(4);
        if s.starts_with('+') {
            candidates.push(format!("+{digits}"));
        } else if let Some(rest) = digits.strip_prefix("00") {
            candidates.push(format!("+{rest}"));
        } else {
            // National first (0 + number, or the bare national number), then
            // the provider habit of a country code without '+', then 0 + country code.
            candidates.push(digits.clone());
            candidates.push(format!("+{digits}"));
            if let Some(rest) = digits.strip_prefix('0') {
                candidates.push(format!("+{rest}"));
            }
        }
        for c in candidates {
            let parsed = if c.starts_with('+') {
                phonenumber::parse(None, &c)
            } else {
                phonenumber::parse(Some(region.0), &c)
            };
            if let Ok(n) = parsed
                && n.is_valid()
            {
                return Ok(E164(n.format().mode(Mode::E164).to_string()));
            }
        }
        Err(refuse())
    }

    /// Wraps a value read back from the store, where only valid E.164 is written.
    pub fn from_stored(s: String) -> Self {
        E164(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as people read it: `+91 98765 43210`.
    pub fn human(&self) -> String {
        human(&self.0)
    }

    /// The number for logs: country code and last four digits, `+91******3210`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats an E.164 string for people; returns it unchanged when it does not parse.
pub fn human(e164: &str) -> String {
    match phonenumber::parse(None, e164) {
        Ok(n) => n.format().mode(Mode::International).to_string(),
        Err(_) => e164.to_string(),
    }
}

/// Masks a number for logs: keeps the country code and the last four digits.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 4 {
        return "*".repeat(digits.len());
    }
    let cc_len = phonenumber::parse(None, number)
        .map(|n| n.code().value().to_string().len())
        .unwrap_or(0)
        .min(digits.len() - 4);
    let cc: String = digits[..cc_len].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    let stars = "*".repeat(digits.len() - 4 - cc_len);
    if number.starts_with('+') {
        format!("+{cc}{stars}{tail}")
    } else {
        format!("{cc}{stars}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, Invalid> {
        E164::parse("phoneNumber", s, Region::default()).map(|n| n.0)
    }

    #[test]
    fn normalises_every_written_form_to_e164() {
        for s in [
            "+919876543210",
            "+91 98765-43210",
            "0919876543210",
            "09876543210",
            "919876543210",
            "9876543210",
            "00919876543210",
            " 919876543210",
            "+91 (98765) 43210",
        ] {
            assert_eq!(p(s).as_deref(), Ok("+919876543210"), "input {s:?}");
        }
        assert_eq!(p("08041234567").as_deref(), Ok("+918041234567"));
        assert_eq!(p("+1 212 555 0182").as_deref(), Ok("+12125550182"));
    }

    #[test]
    fn refuses_what_is_not_a_number_and_names_the_value() {
        for s in ["", "abc", "+91123", "12", "+999999999999", "98765x43210"] {
            let e = p(s).unwrap_err();
            assert_eq!(e.field, "phoneNumber");
            assert!(e.message.contains(s.trim()), "{e:?}");
        }
    }

    #[test]
    fn other_regions_read_their_national_numbers() {
        let us = Region::parse("us").unwrap();
        let n = E164::parse("n", "(212) 555-0182", us).unwrap();
        assert_eq!(n.as_str(), "+12125550182");
    }

    #[test]
    fn human_and_masked_forms() {
        let n = E164::parse("n", "+919876543210", Region::default()).unwrap();
        assert_eq!(n.human(), "+91 98765 43210");
        assert_eq!(n.masked(), "+91******3210");
        assert_eq!(mask("+12125550182"), "+1******0182");
    }
}
