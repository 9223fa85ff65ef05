//! CSV import: any bytes give rows or reported row errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linewise::ingest::IngestContext;
use linewise::ingest::csv::CsvCalls;

fuzz_target!(|data: &[u8]| {
    let ctx = IngestContext::default();
    if let Ok(rows) = CsvCalls::new(data, &ctx) {
        for _ in rows.take(10_000) {}
    }
});
