//! Twilio Call resources (JSON) and status callbacks (form pairs), and the
//! signature check: never a panic; a signature never verifies by accident.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewise::ingest::{IngestContext, twilio};

fuzz_target!(|data: &[u8]| {
    let ctx = IngestContext::default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = twilio::call_from_resource(&v, &ctx);
    }
    let params: Vec<(String, String)> = String::from_utf8_lossy(data)
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let _ = twilio::call_from_callback(&params, &ctx);
    let good = twilio::signature("12345", "https://example.com/hook", &params);
    assert!(twilio::verify_signature("12345", "https://example.com/hook", &params, &good));
    assert!(!twilio::verify_signature("12345", "https://example.com/hook", &params, "x"));
});
