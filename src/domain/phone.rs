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
        match cached(input, region) {
            Some(n) => Ok(n),
            None => Err(Invalid::new(
                field,
                format!("'{}' is not a valid phone number", input.trim()),
            )),
        }
    }

    /// [`E164::parse`] without the cache: the number, or `None`.
    fn normalise(input: &str, region: Region) -> Option<Self> {
        // A '+' in a query string arrives as a space.
        let mut s = input.trim_end().to_string();
        if s.starts_with(' ') && s.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            s = format!("+{}", s.trim_start());
        }
        let s = s.trim();
        if s.is_empty() || s.len() > 32 {
            return None;
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return None;
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
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
            } else if let Some(m) = phonenumber::metadata::DATABASE.by_id(region.0.as_ref()) {
                // A bare national number that starts with the country code
                // (the Indian mobile 91000 12345): the library's region parse
                // takes its '91' for the country code and finds too few digits.
                candidates.push(format!("+{}{digits}", m.country_code()));
            }
        }
        for c in candidates {
            // Digits after a '+' that the parser would take as they are
            // (most numbers providers send): decided without it.
            match c.strip_prefix('+').and_then(valid::plus_digits) {
                Some(true) => return Some(E164(c)),
                Some(false) => continue,
                None => {}
            }
            let parsed = if c.starts_with('+') {
                phonenumber::parse(None, &c)
            } else {
                phonenumber::parse(Some(region.0), &c)
            };
            if let Ok(n) = parsed
                && valid::is_valid(&n)
            {
                // What `n.format().mode(Mode::E164)` writes, without the
                // formatter's search for a national format first.
                return Some(E164(format!("+{}{}", n.code().value(), n.national())));
            }
        }
        None
    }

    /// Wraps a value read back from the store, where only valid E.164 is written.
    pub fn from_stored(s: String) -> Self {
        E164(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
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

/// Numbers normalised so far on this thread, by input, for one region at a
/// time (the last asked for): they repeat heavily (a business has a few
/// lines and many repeat callers), and libphonenumber takes tens of
/// microseconds a number. Looked up by the input as given, without a copy.
/// Bounded: emptied when full.
const CACHE_MAX: usize = 50_000;

#[derive(Default)]
struct Cache {
    region: Option<country::Id>,
    numbers: std::collections::HashMap<Box<str>, Option<E164>, foldhash::fast::RandomState>,
}

thread_local! {
    static CACHE: std::cell::RefCell<Cache> = std::cell::RefCell::new(Cache::default());
}

fn cached(input: &str, region: Region) -> Option<E164> {
    // Long inputs are refused before any work; keep them out of the cache.
    if input.len() > 64 {
        return E164::normalise(input, region);
    }
    // `+` and digits the parser would take as they are (most numbers
    // providers send) are decided in less time than a cache lookup and
    // insert take, and would crowd the cache with callers seen once.
    if let Some(digits) = input.strip_prefix('+')
        && let Some(valid) = valid::plus_digits(digits)
    {
        return valid.then(|| E164(input.to_string()));
    }
    let hit = CACHE.with_borrow(|c| {
        if c.region == Some(region.0) {
            c.numbers.get(input).cloned()
        } else {
            None
        }
    });
    if let Some(hit) = hit {
        return hit;
    }
    let n = E164::normalise(input, region);
    CACHE.with_borrow_mut(|c| {
        if c.numbers.len() >= CACHE_MAX || c.region != Some(region.0) {
            c.numbers.clear();
            c.region = Some(region.0);
        }
        c.numbers.insert(input.into(), n.clone());
    });
    n
}

/// libphonenumber's validity check (`phonenumber::is_valid`), rule for rule,
/// with the metadata's patterns compiled once into plain regexes. The
/// crate's own check runs every pattern through one process-wide, mutex-held
/// LRU of 100 regexes, hashing the pattern text on each use: slow, and
/// serialising every thread that parses numbers.
mod valid {
    use std::collections::HashMap;
    use std::sync::{LazyLock, RwLock};

    use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
    use phonenumber::{PhoneNumber, country};

    /// By the address of the pattern in the (static) default database.
    static COMPILED: LazyLock<RwLock<HashMap<usize, regex::Regex>>> =
        LazyLock::new(Default::default);

    /// `pattern.find(value)` starts at 0, as the crate checks it; `key` is
    /// the address of the crate's `CachedRegex` for `pattern`. The leftmost
    /// match starts at 0 exactly when some match does, so the pattern is
    /// compiled anchored and only asked whether it matches: no search for
    /// where a match starts, no reverse scan for where it ends.
    ///
    /// Each thread matches with its own clone of the compiled pattern (a
    /// clone has its own search cache): parser threads share no lock and no
    /// cache pool.
    fn found_at_start(key: usize, pattern: &str, value: &str) -> bool {
        LOCAL.with_borrow_mut(|local| {
            local
                .entry(key)
                .or_insert_with(|| compiled(key, pattern))
                .is_match(value)
        })
    }

    thread_local! {
        /// This thread's clones of [`COMPILED`] patterns.
        static LOCAL: std::cell::RefCell<HashMap<usize, regex::Regex, foldhash::fast::RandomState>> =
            Default::default();
    }

    /// The pattern compiled, once a process.
    fn compiled(key: usize, pattern: &str) -> regex::Regex {
        if let Some(r) = COMPILED.read().expect("regex map").get(&key) {
            return r.clone();
        }
        // A newline before the closing parenthesis ends any comment the
        // pattern (read with whitespace ignored) might end with.
        let compiled = regex::RegexBuilder::new(&format!("^(?:{pattern}\n)"))
            .ignore_whitespace(true)
            .build()
            .expect("libphonenumber's patterns compile");
        COMPILED
            .write()
            .expect("regex map")
            .insert(key, compiled.clone());
        compiled
    }

    /// `Descriptor::is_match`.
    fn matches(d: &Descriptor, value: &str) -> bool {
        let lengths = d.possible_length();
        if !lengths.is_empty() && !lengths.contains(&(value.len() as u16)) {
            return false;
        }
        let re = d.national_number();
        found_at_start(std::ptr::from_ref(re).addr(), re.as_str(), value)
    }

    /// `validator::number_type(meta, value) != Type::Unknown`: whether any
    /// type's pattern matches, so mobile and fixed-line numbers (nearly
    /// every caller) are tried first, not after eight rarer types.
    fn known_type(meta: &Metadata, value: &str) -> bool {
        let d = meta.descriptors();
        matches(d.general(), value)
            && [
                d.mobile(),
                d.fixed_line(),
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .any(|desc| matches(desc, value))
    }

    /// `validator::is_valid_with(&DATABASE, n)` (with `source_for`).
    pub(super) fn is_valid(n: &PhoneNumber) -> bool {
        is_valid_parts(n.code().value(), &n.national().to_string())
    }

    /// [`is_valid`] of the number with country code `code` and national
    /// number `national` (its digits, leading zeros included).
    fn is_valid_parts(code: u16, national: &str) -> bool {
        let Some(regions) = DATABASE.region(&code) else {
            return false;
        };
        let meta = if regions.len() == 1 {
            if regions[0] == "001" {
                DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
            } else {
                regions[0]
                    .parse::<country::Id>()
                    .ok()
                    .and_then(|id| DATABASE.by_id(id.as_ref()))
            }
        } else {
            regions.iter().find_map(|region| {
                let meta = DATABASE.by_id(*region)?;
                let here = match meta.leading_digits() {
                    Some(re) => {
                        found_at_start(std::ptr::from_ref(re).addr(), re.as_str(), national)
                    }
                    None => known_type(meta, national),
                };
                here.then_some(meta)
            })
        };
        meta.is_some_and(|meta| known_type(meta, national))
    }

    /// Every country code, with its region's metadata when a single region
    /// uses it (not a non-geographic `001` code).
    static CODES: LazyLock<HashMap<u16, Option<&'static Metadata>>> = LazyLock::new(|| {
        (1..1000u16)
            .filter_map(|code| {
                let regions = DATABASE.region(&code)?;
                let sole = match regions.as_slice() {
                    [region] if *region != "001" => region
                        .parse::<country::Id>()
                        .ok()
                        .and_then(|id| DATABASE.by_id(id.as_ref())),
                    _ => None,
                };
                Some((code, sole))
            })
            .collect()
    });

    /// What `phonenumber::parse(None, "+" + digits)` followed by
    /// [`is_valid`] decides, without the parser, when the parser would take
    /// the digits as they are: a country code of a single region, then a
    /// national number that no national prefix (or carrier code) of that
    /// region can be stripped from. `Some(valid)`: the number is valid
    /// exactly when `valid`, and its E.164 form is `+` and the digits;
    /// `None`: the parser must decide. `agrees_with_libphonenumber` holds
    /// this to the parser.
    ///
    /// The parser, rule by rule: the country code is the first of the
    /// digits' 1-, 2- and 3-digit prefixes that is one (they are prefix
    /// free); the region is the code's only region (`source_for`); its
    /// `national_prefix_for_parsing` (else its `national_prefix`) is
    /// stripped from the national number when it matches at its start, and
    /// then its `national_prefix` (`parse_with`); a national number with a
    /// leading zero keeps it apart (`NationalNumber`). Each of those cases
    /// goes to the parser.
    pub(super) fn plus_digits(digits: &str) -> Option<bool> {
        if !(4..=17).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return None;
        }
        let (national, sole) = (1..=3).find_map(|len| {
            let code: u16 = digits[..len].parse().ok()?;
            CODES.get(&code).map(|sole| (&digits[len..], *sole))
        })?;
        if national.len() < 2 || national.starts_with('0') {
            return None;
        }
        let meta = sole?;
        let strips = match meta.national_prefix_for_parsing() {
            Some(re) => found_at_start(std::ptr::from_ref(re).addr(), re.as_str(), national),
            None => false,
        } || meta
            .national_prefix()
            .is_some_and(|p| national.starts_with(p));
        if strips {
            return None;
        }
        // `is_valid_parts` of a code with a single region.
        Some(known_type(meta, national))
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
        // A mobile that starts with the country code, written bare (found by proptest).
        assert_eq!(p("9100012345").as_deref(), Ok("+919100012345"));
        assert_eq!(p("919100012345").as_deref(), Ok("+919100012345"));
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

    /// The fast path (own regexes, own E.164 writing, the cache) agrees with
    /// libphonenumber's `parse` → `is_valid` → `format(E164)`.
    #[test]
    fn agrees_with_libphonenumber() {
        let slow = |c: &str, region: Region| -> Option<String> {
            let parsed = if c.starts_with('+') {
                phonenumber::parse(None, c)
            } else {
                phonenumber::parse(Some(region.0), c)
            };
            parsed
                .ok()
                .filter(|n| n.is_valid())
                .map(|n| n.format().mode(Mode::E164).to_string())
        };
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let prefixes = [
            "+91", "+1", "+44", "+39", "+7", "+49", "+33", "+61", "+86", "+971", "+880", "+800",
            "+979", "+64", "+1242", "+262", "+599", "+54", "+549", "+52", "+55", "+234", "+62",
            "+98", "+20", "+380", "+375", "+92", "+81", "+82", "+358", "+36", "+0", "+", "0", "00",
            "",
        ];
        let regions = ["IN", "US", "GB", "IT", "RU", "AU"];
        let mut valid = 0;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let prefix = prefixes[(x % prefixes.len() as u64) as usize];
            let len = 4 + (x >> 8) % 10;
            let digits: String = (0..len)
                .map(|k| char::from(b'0' + ((x >> (12 + 3 * k)) % 10) as u8))
                .collect();
            let s = format!("{prefix}{digits}");
            let region = Region::parse(regions[i % regions.len()]).unwrap();
            let fast = E164::normalise(&s, region).map(|n| n.0);
            if let Some(plus) = s.strip_prefix('+') {
                // One candidate: the digits after '+'.
                assert_eq!(fast, slow(&format!("+{plus}"), region), "{s:?}");
            } else if !s.starts_with("00") {
                // National first, then with '+', then without the leading
                // 0, or else with the region's country code before it.
                let code = phonenumber::metadata::DATABASE
                    .by_id(region.0.as_ref())
                    .unwrap()
                    .country_code();
                let want = slow(&s, region)
                    .or_else(|| slow(&format!("+{s}"), region))
                    .or_else(|| match s.strip_prefix('0') {
                        Some(r) => slow(&format!("+{r}"), region),
                        None => slow(&format!("+{code}{s}"), region),
                    });
                assert_eq!(fast, want, "{s:?} in {region:?}");
            }
            valid += usize::from(fast.is_some());
            // The cached answer is the uncached one, twice.
            for _ in 0..2 {
                assert_eq!(
                    E164::parse("n", &s, region).ok().map(|n| n.0),
                    E164::normalise(&s, region).map(|n| n.0)
                );
            }
        }
        assert!(valid > 1_000, "only {valid} valid numbers: test the inputs");
    }

    /// Digits after a '+' decided without the parser are decided as the
    /// parser decides them, for every country code; and the numbers
    /// providers send (Indian mobiles and landlines, E.164) are decided so.
    #[test]
    fn plain_plus_digits_agree_with_libphonenumber() {
        let slow = |digits: &str| -> bool {
            phonenumber::parse(None, format!("+{digits}")).is_ok_and(|n| n.is_valid())
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut decided, mut valid) = (0, 0);
        for code in 1..1000u32 {
            for _ in 0..20 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 1 + (x % 16) as u32;
                let digits: String = std::iter::once(code.to_string())
                    .chain((0..len).map(|k| ((x >> (8 + 3 * k)) % 10).to_string()))
                    .collect();
                if let Some(fast) = valid::plus_digits(&digits) {
                    assert_eq!(fast, slow(&digits), "+{digits}");
                    decided += 1;
                    valid += usize::from(fast);
                }
            }
        }
        assert!(
            decided > 6_000 && valid > 300,
            "{decided} decided, {valid} valid"
        );
        for digits in ["919812000001", "918041234567", "914422334455", "4930123456"] {
            assert_eq!(valid::plus_digits(digits), Some(true), "+{digits}");
        }
        // A prefix the parser strips, a leading zero, a shared country code:
        // the parser decides.
        for digits in [
            "9109812000001",
            "390212345678",
            "12025550123",
            "79123456789",
            "447911123456",
            "0919812000001",
        ] {
            assert_eq!(valid::plus_digits(digits), None, "+{digits}");
        }
    }

    #[test]
    fn human_and_masked_forms() {
        let n = E164::parse("n", "+919876543210", Region::default()).unwrap();
        assert_eq!(n.human(), "+91 98765 43210");
        assert_eq!(n.masked(), "+91******3210");
        assert_eq!(mask("+12125550182"), "+1******0182");
    }
}
