//! CSV files with a header row, read one record at a time (a 2 GB export
//! never sits in memory).
//!
//! Columns are matched by name, ignoring case, spaces and punctuation, in
//! one of two shapes, decided once from the header:
//! - the `calls` field names (`providerCallId`, `phoneNumber`, `startedAt`
//!   in RFC 3339, …), mapped as they are;
//! - Exotel's export names (`Call SID`, `From`, `To`, `Start Time`, …),
//!   read with Exotel's rules (naive times in the Exotel timezone, the
//!   business line from the ExoPhone or the direction, completed with no
//!   talk time → no-answer).
//!
//! A bad row is an error for its line; the rows after it still parse.

use std::borrow::Cow;
use std::io::Read;

use super::IngestContext;
use super::draft::{Draft, Field, present, seconds};
use super::exotel::{self, Fields};
use crate::domain::raw::{Header, RawRow};
use crate::domain::{Invalid, NewCall, Raw};

/// The calls of a CSV file, in order, each with the 1-based line of the
/// file it starts on. Build it with [`CsvCalls::new`].
pub struct CsvCalls<R: Read> {
    reader: csv::Reader<EndsWithNewline<R>>,
    layout: CsvLayout,
    record: csv::ByteRecord,
    done: bool,
}

/// What the header says about the rows: the columns, the shape, and the
/// context to read them in. Turns one record into a call, on any thread
/// (the bulk import reads records on one thread and parses them on others).
#[derive(Debug, Clone)]
pub struct CsvLayout {
    headers: Vec<String>,
    /// The same names, shared by every row's `raw`.
    names: Header,
    shape: Shape,
    columns: Columns,
    ctx: IngestContext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Our `calls` field names.
    Calls,
    /// Exotel's export.
    Exotel,
}

const CALLS_REQUIRED: &[&str] = &[
    "providerCallId",
    "phoneNumber",
    "direction",
    "status",
    "startedAt",
];
const EXOTEL_REQUIRED: &[&str] = &[
    "Call SID",
    "From",
    "To",
    "Direction",
    "Status",
    "Start Time",
];

/// The column index of each field we read, when the header has it.
#[derive(Debug, Default, Clone)]
struct Columns {
    provider: Option<usize>,
    provider_call_id: Option<usize>,
    phone_number: Option<usize>,
    other_party: Option<usize>,
    direction: Option<usize>,
    status: Option<usize>,
    started_at: Option<usize>,
    ended_at: Option<usize>,
    duration_seconds: Option<usize>,
    flow_id: Option<usize>,
    flow_name: Option<usize>,
    recording_url: Option<usize>,
    // Exotel's export.
    sid: Option<usize>,
    from: Option<usize>,
    to: Option<usize>,
    line: Option<usize>,
    start_time: Option<usize>,
    end_time: Option<usize>,
    duration: Option<usize>,
    talk: Option<usize>,
}

impl Columns {
    fn find(headers: &[String]) -> Columns {
        let names: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
        let col = |aliases: &[&str]| {
            aliases
                .iter()
                .find_map(|a| names.iter().position(|n| n == a))
        };
        Columns {
            provider: col(&["provider"]),
            provider_call_id: col(&["providercallid"]),
            phone_number: col(&["phonenumber"]),
            other_party: col(&["otherparty"]),
            direction: col(&["direction"]),
            status: col(&["status"]),
            started_at: col(&["startedat"]),
            ended_at: col(&["endedat"]),
            duration_seconds: col(&["durationseconds"]),
            flow_id: col(&["flowid", "appid"]),
            flow_name: col(&["flowname", "appname"]),
            recording_url: col(&["recordingurl"]),
            sid: col(&["callsid", "sid"]),
            from: col(&["from"]),
            to: col(&["to"]),
            line: col(&["phonenumbersid", "exophone", "virtualnumber"]),
            start_time: col(&["starttime"]),
            end_time: col(&["endtime"]),
            duration: col(&["duration"]),
            talk: col(&["conversationduration"]),
        }
    }

    /// The required columns of each shape that the header lacks.
    fn missing(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let calls = [
            self.provider_call_id,
            self.phone_number,
            self.direction,
            self.status,
            self.started_at,
        ];
        let exotel = [
            self.sid,
            self.from,
            self.to,
            self.direction,
            self.status,
            self.start_time,
        ];
        let lacking = |cols: &[Option<usize>], names: &[&'static str]| {
            cols.iter()
                .zip(names)
                .filter(|(c, _)| c.is_none())
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
        };
        (
            lacking(&calls, CALLS_REQUIRED),
            lacking(&exotel, EXOTEL_REQUIRED),
        )
    }
}

/// `Call SID`, `CallSid` and `call_sid` are one name: `callsid`.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl<R: Read> CsvCalls<R> {
    /// Reads the header row. Refuses a file whose header has neither the
    /// `calls` shape's required columns (providerCallId, phoneNumber,
    /// direction, status, startedAt) nor Exotel's (Call SID, From, To,
    /// Direction, Status, Start Time), naming the ones it lacks.
    pub fn new(reader: R, ctx: &IngestContext) -> Result<Self, Invalid> {
        // Records end at '\n' (a '\r' before it is stripped below), so that the
        // reader's line count is exact for CRLF files too.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_reader(EndsWithNewline {
                inner: reader,
                last: b'\n',
                done: false,
            });
        let header = reader
            .byte_headers()
            .map_err(|e| Invalid::new("header", format!("cannot be read: {e}")))?;
        let mut headers = Vec::with_capacity(header.len());
        for (i, h) in header.iter().enumerate() {
            let h = std::str::from_utf8(h).map_err(|_| {
                Invalid::new("header", format!("column {} is not UTF-8 text", i + 1))
            })?;
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            headers.push(h.trim().to_string());
        }
        if headers.iter().all(String::is_empty) {
            return Err(Invalid::new(
                "header",
                "the file is empty: a header row naming the columns comes first",
            ));
        }
        let columns = Columns::find(&headers);
        let (calls_missing, exotel_missing) = columns.missing();
        let shape = if calls_missing.is_empty() {
            Shape::Calls
        } else if exotel_missing.is_empty() {
            Shape::Exotel
        } else {
            let (missing, shape) = if exotel_missing.len() < calls_missing.len() {
                (exotel_missing, "an Exotel export")
            } else {
                (calls_missing, "a calls file")
            };
            return Err(Invalid::new(
                "header",
                format!(
                    "lacks the columns {} for {shape} (a calls file needs {}; an Exotel export \
                     needs {}); the header has: {}",
                    missing.join(", "),
                    CALLS_REQUIRED.join(", "),
                    EXOTEL_REQUIRED.join(", "),
                    headers.join(", ").chars().take(300).collect::<String>(),
                ),
            ));
        };
        Ok(CsvCalls {
            reader,
            layout: CsvLayout {
                names: Header::new(&headers),
                headers,
                shape,
                columns,
                ctx: ctx.clone(),
            },
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    /// How far into the input the reader is, in bytes (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// How the records of this file read as calls.
    pub fn layout(&self) -> &CsvLayout {
        &self.layout
    }

    /// The next record that is not a blank row, unparsed, with the 1-based
    /// line it starts on; an I/O error ends the input.
    pub fn next_record(&mut self) -> Option<(u64, Result<csv::ByteRecord, Invalid>)> {
        loop {
            if self.done {
                return None;
            }
            let before = self.reader.position().line();
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // An I/O error: nothing after it can be trusted.
                    self.done = true;
                    return Some((before, Err(Invalid::new("row", format!("{e}")))));
                }
            }
            // The record ended at a '\n' (the input always ends with one), so it
            // started on the line before that, less the line breaks inside its
            // quoted fields; blank lines before it were skipped. Only an
            // unclosed quote ends a record at the end of the input instead.
            let after = self.reader.position().line();
            let breaks = self
                .record
                .as_slice()
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            let line = after.saturating_sub(breaks + 1).max(before);
            // A row of empty cells (spreadsheets leave them at the end) is no call.
            if self
                .record
                .iter()
                .all(|f| f.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            return Some((line, Ok(self.record.clone())));
        }
    }
}

impl CsvLayout {
    /// The call in a record of the file.
    pub fn call(&self, rec: &csv::ByteRecord) -> Result<NewCall, Vec<Invalid>> {
        if rec.len() != self.headers.len() {
            let hint = if rec.iter().any(|f| f.contains(&b'\n')) {
                " (a quote left open?)"
            } else {
                ""
            };
            return Err(vec![Invalid::new(
                "row",
                format!(
                    "has {} fields, the header has {}{hint}",
                    rec.len(),
                    self.headers.len()
                ),
            )]);
        }
        let mut values = Vec::with_capacity(rec.len());
        let mut errs = Vec::new();
        let last = rec.len() - 1;
        for (i, (bytes, name)) in rec.iter().zip(&self.headers).enumerate() {
            // CRLF line ends leave a '\r' at the end of the last field.
            let bytes = match bytes {
                [rest @ .., b'\r'] if i == last => rest,
                _ => bytes,
            };
            match std::str::from_utf8(bytes) {
                Ok(s) => values.push(s),
                Err(_) => {
                    errs.push(Invalid::new(name.clone(), "is not UTF-8 text"));
                    values.push("");
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let raw = Raw::Row(RawRow::new(&self.names, values.iter().copied()));
        let field = |col: Option<usize>, default: &'static str| match col {
            Some(i) => Field {
                name: self.headers[i].as_str(),
                value: present(values[i]).map(Cow::Borrowed),
            },
            None => Field::absent(default),
        };
        let c = &self.columns;
        let provider = field(c.provider, "provider");
        // An Exotel export holds Exotel's calls: stored under Exotel, so the
        // same call from the API or a callback is one record, not two.
        let default_provider = match self.shape {
            Shape::Exotel => "exotel",
            _ => "csv",
        };
        let provider_name = provider.value.as_deref().unwrap_or(default_provider);
        match self.shape {
            Shape::Exotel => {
                let fields = Fields {
                    sid: field(c.sid, "Call SID"),
                    line: field(c.line, "PhoneNumberSid"),
                    from: field(c.from, "From"),
                    to: field(c.to, "To"),
                    direction: field(c.direction, "Direction"),
                    status: field(c.status, "Status"),
                    start: field(c.start_time, "Start Time"),
                    end: field(c.end_time, "End Time"),
                    talk: field(c.talk, "Conversation Duration"),
                    total: field(c.duration, "Duration"),
                    recording_url: field(c.recording_url, "Recording URL"),
                    flow_id: field(c.flow_id, "Flow ID"),
                    flow_name: field(c.flow_name, "Flow Name"),
                };
                exotel::to_call(&fields, provider_name, raw, &self.ctx)
            }
            Shape::Calls => {
                let mut d = Draft::new(provider_name);
                d.source("provider", provider.name);
                d.text(
                    "providerCallId",
                    &field(c.provider_call_id, "providerCallId"),
                );
                d.text("phoneNumber", &field(c.phone_number, "phoneNumber"));
                d.text("otherParty", &field(c.other_party, "otherParty"));
                for (key, col) in [("direction", c.direction), ("status", c.status)] {
                    let mut f = field(col, key);
                    f.value = f.value.map(|v| Cow::Owned(v.to_ascii_lowercase()));
                    d.text(key, &f);
                }
                d.text("startedAt", &field(c.started_at, "startedAt"));
                d.text("endedAt", &field(c.ended_at, "endedAt"));
                let dur = field(c.duration_seconds, "durationSeconds");
                match dur.value.as_deref().map(|s| seconds(dur.name, s)) {
                    Some(Ok(n)) => d.set("durationSeconds", n, dur.name),
                    Some(Err(e)) => d.refuse("durationSeconds", e),
                    None => d.source("durationSeconds", dur.name),
                }
                d.text("flowId", &field(c.flow_id, "flowId"));
                d.text("flowName", &field(c.flow_name, "flowName"));
                d.text("recordingUrl", &field(c.recording_url, "recordingUrl"));
                d.finish(raw, self.ctx.region)
            }
        }
    }
}

impl<R: Read> Iterator for CsvCalls<R> {
    /// The 1-based line the record starts on, and its call or what is wrong with it.
    type Item = (u64, Result<NewCall, Vec<Invalid>>);

    fn next(&mut self) -> Option<Self::Item> {
        let (line, rec) = self.next_record()?;
        Some((
            line,
            rec.map_err(|e| vec![e]).and_then(|r| self.layout.call(&r)),
        ))
    }
}

/// Ends the input with a '\n' when it has none, so every record but one with
/// an unclosed quote ends with a line break.
struct EndsWithNewline<R> {
    inner: R,
    last: u8,
    done: bool,
}

impl<R: Read> Read for EndsWithNewline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = buf[n - 1];
            return Ok(n);
        }
        self.done = true;
        if self.last == b'\n' {
            return Ok(0);
        }
        buf[0] = b'\n';
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallDirection, CallStatus, Provider};

    const CALLS: &str = include_str!("../../tests/fixtures/calls.csv");
    const EXPORT: &str = include_str!("../../tests/fixtures/exotel_export.csv");
    const BAD: &str = include_str!("../../tests/fixtures/calls_bad.csv");

    fn ctx() -> IngestContext {
        IngestContext::default()
    }

    fn read(text: &str) -> Vec<(u64, Result<NewCall, Vec<Invalid>>)> {
        CsvCalls::new(text.as_bytes(), &ctx()).unwrap().collect()
    }

    fn good(text: &str) -> Vec<(u64, NewCall)> {
        read(text)
            .into_iter()
            .map(|(line, r)| (line, r.unwrap_or_else(|e| panic!("line {line}: {e:?}"))))
            .collect()
    }

    fn by_id<'a>(calls: &'a [(u64, NewCall)], id: &str) -> &'a (u64, NewCall) {
        calls
            .iter()
            .find(|(_, c)| c.provider_call_id == id)
            .unwrap_or_else(|| panic!("no call {id}"))
    }

    fn fields(errs: &[Invalid]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn every_row_of_the_calls_file_parses_with_its_line() {
        let calls = good(CALLS);
        assert!(calls.len() >= 30);
        let lines: Vec<u64> = calls.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, (2..2 + calls.len() as u64).collect::<Vec<_>>());
        assert!(calls.iter().all(|(_, c)| c.provider == Provider::Csv));
    }

    #[test]
    fn the_calls_shape_field_by_field() {
        let calls = good(CALLS);
        let (line, c) = by_id(&calls, "c-1001");
        assert_eq!(*line, 2);
        assert_eq!(c.phone_number.as_str(), "+919876543210");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.direction, CallDirection::Inbound);
        assert_eq!(c.status, CallStatus::Completed);
        // An RFC 3339 time with the IST offset, just after midnight.
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:44:05Z");
        assert_eq!(c.duration_seconds, 221);
        assert_eq!(c.flow_id.as_deref(), Some("231"));
        assert_eq!(c.flow_name.as_deref(), Some("Support menu"));
        assert_eq!(c.recording_url, None);
        assert_eq!(c.raw["startedAt"], "2026-01-16T00:10:00+05:30");
        assert_eq!(c.raw["recordingUrl"], "");

        // A quoted field with a comma; national and 91… numbers.
        let (_, c) = by_id(&calls, "c-1002");
        assert_eq!(c.flow_name.as_deref(), Some("Sales, North"));
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345679"));
        assert_eq!(c.status, CallStatus::NoAnswer);

        // Empty otherParty and durationSeconds; a URL with commas.
        let (_, c) = by_id(&calls, "c-1003");
        assert_eq!(c.other_party, None);
        assert_eq!(c.duration_seconds, 0);
        assert_eq!(
            c.recording_url.as_deref(),
            Some("https://recordings.example.com/c-1003.mp3?a=1,b=2")
        );
        assert_eq!(c.direction, CallDirection::Outbound);

        let (_, c) = by_id(&calls, "c-1004");
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        assert_eq!(c.other_party.as_deref(), Some("anonymous"));
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);

        // Fractions of a second are dropped.
        let (_, c) = by_id(&calls, "c-1005");
        assert_eq!(c.started_at.to_string(), "2026-01-16T06:00:00Z");
        assert_eq!(c.other_party.as_deref(), Some("+12125550182"));

        // Doubled quotes inside a quoted field.
        let (_, c) = by_id(&calls, "c-1006");
        assert_eq!(c.flow_name.as_deref(), Some("After hours \"night\" menu"));
        assert_eq!(c.status, CallStatus::Canceled);
    }

    #[test]
    fn a_byte_order_mark_changes_nothing() {
        let with_bom = format!("\u{feff}{CALLS}");
        assert_eq!(good(&with_bom), good(CALLS));
        let raw = &good(&with_bom)[0].1.raw;
        assert!(raw.get("providerCallId").is_some(), "{raw}");
    }

    #[test]
    fn exotels_export_with_bom_crlf_and_quotes() {
        assert!(EXPORT.starts_with('\u{feff}') && EXPORT.contains("\r\n"));
        let calls = good(EXPORT);
        assert!(calls.len() >= 30);

        let (line, c) = by_id(&calls, "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a01");
        assert_eq!(*line, 2);
        assert_eq!(c.provider, Provider::Exotel);
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:40:00Z");
        assert_eq!(c.ended_at.unwrap().to_string(), "2026-01-15T18:44:05Z");
        assert_eq!(c.duration_seconds, 221);
        assert_eq!(c.status, CallStatus::Completed);
        assert_eq!(c.phone_number.as_str(), "+918047180000");
        assert_eq!(c.other_party.as_deref(), Some("+919812345678"));
        assert_eq!(c.flow_id.as_deref(), Some("231"));
        assert_eq!(c.flow_name.as_deref(), Some("Support menu"));
        assert!(c.recording_url.is_some());
        assert_eq!(c.raw["Call SID"], "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a01");
        assert_eq!(c.raw["Price"], "2.500");

        // Completed with zero talk time.
        let (_, c) = by_id(&calls, "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a02");
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.raw["Status"], "completed");
        assert_eq!(c.started_at.to_string(), "2026-01-15T18:28:30Z");
        assert_eq!(c.flow_name.as_deref(), Some("Sales, North"));

        // No Conversation Duration: a completed call's Duration is its talk time.
        let (_, c) = by_id(&calls, "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a03");
        assert_eq!((c.status, c.duration_seconds), (CallStatus::Completed, 130));
        assert_eq!(c.phone_number.as_str(), "+911140845500");
        assert_eq!(c.other_party.as_deref(), Some("+919845012345"));

        // No ExoPhone: inbound → To, outbound → From.
        let (_, c) = by_id(&calls, "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a04");
        assert_eq!(c.status, CallStatus::InProgress);
        assert_eq!(c.ended_at, None);
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        let (_, c) = by_id(&calls, "3e5f7a9b1c2d4e6f8a0b2c4d6e8f0a05");
        assert_eq!(c.status, CallStatus::Canceled);
        assert_eq!(c.direction, CallDirection::Outbound);
        assert_eq!(c.phone_number.as_str(), "+912261234500");
        assert_eq!(c.other_party.as_deref(), Some("+919448012345"));
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_later_rows_still_parse() {
        let rows = read(BAD);
        let summary: Vec<(u64, bool)> = rows.iter().map(|(l, r)| (*l, r.is_ok())).collect();
        assert_eq!(
            summary,
            [
                (2, true),
                (3, true),
                (4, false),
                (5, false),
                (6, true),
                (7, false),
                (8, true),
                (9, false)
            ]
        );
        let err = |line: u64| {
            rows.iter()
                .find(|(l, _)| *l == line)
                .unwrap()
                .1
                .clone()
                .unwrap_err()
        };

        let e = err(4);
        assert_eq!(fields(&e), ["startedAt"]);
        assert!(e[0].message.contains("'16/01/2026 10:00'"), "{e:?}");

        let e = err(5);
        assert_eq!(fields(&e), ["row"]);
        assert!(
            e[0].message.contains("has 4 fields, the header has 11"),
            "{e:?}"
        );

        let e = err(7);
        assert_eq!(fields(&e), ["durationSeconds", "phoneNumber"]);
        assert!(e[0].message.contains("'sixty'") && e[1].message.contains("'12345'"));

        // The quote opened on the last line is never closed.
        let e = err(9);
        assert_eq!(fields(&e), ["row"]);
        assert!(e[0].message.contains("quote"), "{e:?}");
    }

    #[test]
    fn names_match_ignoring_case_and_a_provider_column_wins() {
        let text = "ProviderCallID,PHONENUMBER,Direction,Status,Started At,Provider,DurationSeconds\n\
                    x-1,08047180000,INBOUND,Completed,2026-01-16T00:00:00Z,manual,12\n\
                    x-2,08047180000,outbound,busy,2026-01-16T00:00:00Z,,\n";
        let calls = good(text);
        assert_eq!(calls[0].1.provider, Provider::Manual);
        assert_eq!(calls[0].1.direction, CallDirection::Inbound);
        assert_eq!(calls[0].1.status, CallStatus::Completed);
        assert_eq!(calls[0].1.duration_seconds, 12);
        assert_eq!(calls[1].1.provider, Provider::Csv);
        assert_eq!(calls[1].1.other_party, None);
    }

    #[test]
    fn our_shape_wants_rfc_3339_times() {
        let text = "providerCallId,phoneNumber,direction,status,StartedAt\n\
                    x-1,08047180000,inbound,completed,2026-01-16 00:10:00\n";
        let rows = read(text);
        let errs = rows[0].1.clone().unwrap_err();
        assert_eq!(
            fields(&errs),
            ["StartedAt"],
            "the column as the file names it"
        );
    }

    #[test]
    fn a_header_without_the_required_columns_is_refused_naming_them() {
        let e = CsvCalls::new("providerCallId,phoneNumber,status\n".as_bytes(), &ctx())
            .err()
            .unwrap();
        assert_eq!(e.field, "header");
        assert!(
            e.message.contains("lacks the columns direction, startedAt"),
            "{e:?}"
        );
        let e = CsvCalls::new("Call SID,From,To,Status\n".as_bytes(), &ctx())
            .err()
            .unwrap();
        assert!(
            e.message
                .contains("lacks the columns Direction, Start Time"),
            "{e:?}"
        );
        let e = CsvCalls::new("".as_bytes(), &ctx()).err().unwrap();
        assert!(e.message.contains("empty"), "{e:?}");
    }

    #[test]
    fn blank_lines_and_empty_rows_are_skipped_but_counted() {
        let text = "providerCallId,phoneNumber,direction,status,startedAt\n\
                    \n\
                    x-1,08047180000,inbound,busy,2026-01-16T00:00:00Z\n\
                    ,,,,\n\
                    x-2,08047180000,inbound,busy,2026-01-16T00:00:00Z\n";
        let lines: Vec<u64> = good(text).iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn lines_are_exact_with_crlf_multiline_fields_and_no_final_newline() {
        let text = "providerCallId,phoneNumber,direction,status,startedAt,recordingUrl\r\n\
                    x-1,08047180000,inbound,busy,2026-01-16T00:00:00Z,\"two\r\nlines\"\r\n\
                    \r\n\
                    \n\
                    x-2,08047180000,inbound,busy,2026-01-16T00:00:00Z,last\r\n\
                    x-3,08047180000,inbound,busy,2026-01-16T00:00:00Z,end";
        let calls = good(text);
        let got: Vec<(u64, &str)> = calls
            .iter()
            .map(|(l, c)| (*l, c.recording_url.as_deref().unwrap()))
            .collect();
        assert_eq!(got, [(2, "two\r\nlines"), (6, "last"), (7, "end")]);
        assert_eq!(calls[1].1.raw["recordingUrl"], "last");
    }

    #[test]
    fn a_row_that_is_not_utf8_is_an_error_for_its_line() {
        let mut bytes = b"providerCallId,phoneNumber,direction,status,startedAt\n".to_vec();
        bytes.extend_from_slice(b"x-\xff,08047180000,inbound,busy,2026-01-16T00:00:00Z\n");
        bytes.extend_from_slice(b"x-2,08047180000,inbound,busy,2026-01-16T00:00:00Z\n");
        let rows: Vec<_> = CsvCalls::new(&bytes[..], &ctx()).unwrap().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(fields(&rows[0].1.clone().unwrap_err()), ["providerCallId"]);
        assert!(rows[1].1.is_ok());
    }

    /// An endless file: only a reader that streams gets calls out of it.
    struct Endless {
        header: &'static [u8],
        sent: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            const ROW: &[u8] = b"x-1,08047180000,inbound,completed,2026-01-16T00:00:00Z,60\n";
            let src = if self.sent < self.header.len() {
                &self.header[self.sent..]
            } else {
                &ROW[(self.sent - self.header.len()) % ROW.len()..]
            };
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
            self.sent += n;
            Ok(n)
        }
    }

    #[test]
    fn it_streams() {
        let input = Endless {
            header: b"providerCallId,phoneNumber,direction,status,startedAt,durationSeconds\n",
            sent: 0,
        };
        let mut rows = CsvCalls::new(input, &ctx()).unwrap();
        let first: Vec<_> = rows.by_ref().take(5_000).collect();
        assert_eq!(first.len(), 5_000);
        assert_eq!(first[4_999].0, 5_001);
        assert!(first.iter().all(|(_, r)| r.is_ok()));
        assert!(rows.bytes_read() < 1_000_000);
    }
}
