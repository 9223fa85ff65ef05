//! The analytics query string: line filters, period, timezone, interval and
//! breakdown parameters. Any input is a filter or a named 422, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewise::analytics::views::{By, Interval};
use linewise::domain::{LineFilter, Period, Region, parse_timezone};

fuzz_target!(|data: &[u8]| {
    let q = String::from_utf8_lossy(data);
    let pairs: Vec<(String, String)> = q
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let _ = LineFilter::take_from(pairs.clone(), Region::default());
    let tz_name = get("tz").unwrap_or("UTC");
    if let Ok(tz) = parse_timezone("tz", tz_name) {
        let now = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        if let Ok(p) = Period::parse(get("from"), get("to"), &tz, tz_name, now) {
            assert!(p.from < p.to);
            let _ = p.previous();
            let (a, b) = p.second_bounds();
            assert!(a <= b);
            if let Ok(i) = Interval::parse(get("interval").unwrap_or("day")) {
                let _ = linewise::analytics::views::bucket_starts(&p, i);
            }
        }
    }
    let _ = By::parse(get("by").unwrap_or(""));
});
