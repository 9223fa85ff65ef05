//! Exotel Call Details JSON and callbacks (form pairs): any input is a call
//! or a list of field problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewise::ingest::{IngestContext, exotel};

fuzz_target!(|data: &[u8]| {
    let ctx = IngestContext::default();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = exotel::call_from_details(&v, &ctx);
        if let Some(calls) = v.get("Calls").and_then(|c| c.as_array()) {
            for c in calls {
                let _ = exotel::call_from_details(c, &ctx);
            }
        }
    }
    let params: Vec<(String, String)> = form_urlencoded(data);
    let _ = exotel::call_from_callback(&params, &ctx);
});

fn form_urlencoded(data: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(data)
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}
