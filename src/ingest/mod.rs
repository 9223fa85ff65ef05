//! Provider formats → domain calls.
//!
//! Every way in (Exotel's and Twilio's JSON and callbacks, CSV files) maps a
//! provider's record onto the canonical `calls` shape (`POST /api/calls`)
//! and through the one validation every call passes. The parsers
//! (`exotel`, `twilio`, `csv`) are pure: records in, calls or errors out.
//! Two parts write: [`batcher`] gathers provider callbacks into one store
//! write per batch, and [`import`] streams a file's calls into the store in
//! batched transactions.

pub mod batcher;
pub mod csv;
mod draft;
pub mod exotel;
pub mod import;
pub mod twilio;

use jiff::tz::TimeZone;

use crate::domain::Region;

/// What the parsers need to know about the business.
#[derive(Debug, Clone)]
pub struct IngestContext {
    /// Region for national numbers (`09876543210`).
    pub region: Region,
    /// The Exotel account's timezone: Exotel sends naive local times.
    pub exotel_tz: TimeZone,
}

impl Default for IngestContext {
    fn default() -> Self {
        IngestContext {
            region: Region::default(),
            exotel_tz: TimeZone::get("Asia/Kolkata").expect("bundled tzdb"),
        }
    }
}

/// The file formats `linewise import` and `POST /api/import` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Exotel Call Details JSON: `{"Calls": [...]}` or `{"Call": {...}}`.
    ExotelJson,
    /// Twilio Call resources: `{"calls": [...]}` or one call.
    TwilioJson,
    /// CSV with a header row.
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, crate::domain::Invalid> {
        match s {
            "exotel-json" => Ok(Format::ExotelJson),
            "twilio-json" => Ok(Format::TwilioJson),
            "csv" => Ok(Format::Csv),
            _ => Err(crate::domain::Invalid::new(
                "format",
                format!("'{s}' is not one of exotel-json, twilio-json, csv"),
            )),
        }
    }
}
