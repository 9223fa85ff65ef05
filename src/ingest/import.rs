//! Bulk import of a provider file: streamed, parsed off the async runtime
//! (CSV: one thread reads records, a pool parses them, results in file
//! order), written in batched transactions while the next batch parses,
//! every bad record reported and skipped. Memory stays constant: every
//! hand-over is a bounded channel.
//!
//! Used by `linewise import` and `POST /api/import`. A record is either
//! stored whole or reported; a batch is one transaction, so an interrupted
//! import leaves whole batches behind and re-running it finishes the job
//! (records merge by `(provider, providerCallId)`, so nothing doubles).

use std::fmt;
use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Format, IngestContext};
use crate::domain::{Invalid, NewCall};
use crate::store::{Store, StoreError};

/// Records per transaction. Larger batches rewrite each rollup row fewer
/// times (a day row is rewritten once a batch): 5 000 → 20 000 took an
/// import of 1 M calls from 44 000 to 55 000 calls/s; 50 000 gained 5 %
/// more for 60 % more memory.
pub const BATCH: usize = 20_000;
/// CSV records per hand-over from the reader to a parser thread.
const CHUNK: usize = 1_000;
/// Rejected records kept in a report (all are counted).
pub const MAX_REPORTED: usize = 1_000;

/// A record that was not stored, and why.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Rejected {
    /// `line 12` for CSV, `index 3` for JSON.
    pub position: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first rejected records, with their position and reason.
    pub errors: Vec<Rejected>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {}, created {}, updated {}, unchanged {}, rejected {}",
            self.read, self.created, self.updated, self.unchanged, self.rejected
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as the format at all (bad header, broken JSON).
    #[error("{0}")]
    Format(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the input: {0}")]
    Io(#[from] std::io::Error),
}

/// Where an import is, for a progress display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub bytes: u64,
    pub read: u64,
    pub stored: u64,
    pub rejected: u64,
}

/// Counts the bytes a reader hands out.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

enum Item {
    Call(Box<NewCall>),
    Bad(Rejected),
}

fn reason(errs: &[Invalid]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Imports `reader` in `format` into `store`, calling `progress` after each batch.
pub async fn import<R>(
    reader: R,
    format: Format,
    ctx: IngestContext,
    store: Arc<dyn Store>,
    mut progress: impl FnMut(Progress) + Send,
) -> Result<ImportReport, ImportError>
where
    R: Read + Send + 'static,
{
    let bytes = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: reader,
        bytes: bytes.clone(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(2);
    let parser = match format {
        Format::Csv => tokio::task::spawn_blocking(move || parse_csv(counting, &ctx, tx)),
        _ => tokio::task::spawn_blocking(move || parse(counting, format, &ctx, tx)),
    };

    let mut report = ImportReport::default();
    while let Some(batch) = rx.recv().await {
        let mut calls = Vec::with_capacity(batch.len());
        for item in batch {
            report.read += 1;
            match item {
                Item::Call(c) => calls.push(*c),
                Item::Bad(r) => {
                    report.rejected += 1;
                    if report.errors.len() < MAX_REPORTED {
                        report.errors.push(r);
                    }
                }
            }
        }
        let out = store.merge_calls(&calls).await?;
        // Freed elsewhere: the parser threads allocated these, and handing
        // each allocation back to them is not the writer's job.
        tokio::task::spawn_blocking(move || drop(calls));
        report.created += out.created;
        report.updated += out.updated;
        report.unchanged += out.unchanged;
        progress(Progress {
            bytes: bytes.load(Ordering::Relaxed),
            read: report.read,
            stored: report.created + report.updated + report.unchanged,
            rejected: report.rejected,
        });
    }
    match parser.await {
        Ok(Ok(())) => Ok(report),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ImportError::Format(format!("the parser stopped: {e}"))),
    }
}

/// How many threads parse CSV records.
fn parser_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// Lowers this thread's scheduling priority (Linux: nice 9), best effort.
///
/// The writer (this process's async writer and sqlx's SQLite thread, taking
/// turns) is an import's bottleneck, and parsers running beside it on a
/// busy machine take the cores it waits for. Parsed records queue in
/// bounded channels, so parsers still keep ahead, in the writer's gaps;
/// and the HTTP server's threads keep precedence while `POST /api/import`
/// parses. CSV import of 1 M calls on 2 cores, 7 runs alternating with
/// and without: 43 000 -> 47 400 calls/s on average.
/// A thread already as low or lower (an import run under `nice`) stays
/// where it is: this never raises a priority.
fn yield_to_the_writer() {
    /// Nice 9 on Linux (the crate maps 0..=99 onto nice 20..=-20).
    const LOWER: u8 = 23;
    if current_nice().is_some_and(|n| n >= 9) {
        return;
    }
    let lower = thread_priority::ThreadPriorityValue::try_from(LOWER)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            thread_priority::set_current_thread_priority(
                thread_priority::ThreadPriority::Crossplatform(v),
            )
            .map_err(|e| format!("{e:?}"))
        });
    if let Err(e) = lower {
        tracing::debug!("a CSV parser thread keeps its priority: {e}");
    }
}

/// This thread's nice value (Linux: field 19 of `/proc/thread-self/stat`).
fn current_nice() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let after = stat.get(stat.rfind(')')? + 2..)?;
    after.split(' ').nth(16)?.parse().ok()
}

/// A CSV file: this thread reads records and deals chunks of them out in
/// turn to [`parser_threads`] parsers; a collector takes their results back
/// in the same turn (so in file order), and sends batches down `tx`. Stops
/// early if the receiver is gone.
fn parse_csv<R: Read>(
    reader: R,
    ctx: &IngestContext,
    tx: tokio::sync::mpsc::Sender<Vec<Item>>,
) -> Result<(), ImportError> {
    type Chunk = Vec<(u64, Result<csv::ByteRecord, Invalid>)>;
    let reader = BufReader::with_capacity(256 * 1024, reader);
    let mut rows =
        super::csv::CsvCalls::new(reader, ctx).map_err(|e| ImportError::Format(e.to_string()))?;
    let threads = parser_threads();
    std::thread::scope(|scope| {
        let mut parsers = Vec::with_capacity(threads);
        let mut to_parsers = Vec::with_capacity(threads);
        let mut from_parsers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(2);
            let (items_tx, items_rx) = std::sync::mpsc::sync_channel::<Vec<Item>>(2);
            let layout = rows.layout().clone();
            parsers.push(scope.spawn(move || {
                yield_to_the_writer();
                for chunk in chunk_rx {
                    let items = chunk
                        .into_iter()
                        .map(|(line, rec)| {
                            match rec
                                .map_err(|e| vec![e])
                                .and_then(|r| layout.call(&r))
                                .and_then(NewCall::without_nul)
                            {
                                Ok(c) => Item::Call(Box::new(c)),
                                Err(errs) => Item::Bad(Rejected {
                                    position: format!("line {line}"),
                                    reason: reason(&errs),
                                }),
                            }
                        })
                        .collect();
                    if items_tx.send(items).is_err() {
                        return;
                    }
                }
            }));
            to_parsers.push(chunk_tx);
            from_parsers.push(items_rx);
        }
        // The collector: parsers' results, in turn, into batches.
        let collector = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            'turns: loop {
                for from in &from_parsers {
                    let Ok(items) = from.recv() else {
                        break 'turns;
                    };
                    batch.extend(items);
                    if batch.len() >= BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.blocking_send(full).is_err() {
                            return;
                        }
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(batch);
            }
        });
        // The reader, on this thread.
        let mut turn = 0;
        'read: loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            while chunk.len() < CHUNK {
                match rows.next_record() {
                    Some(row) => chunk.push(row),
                    None if chunk.is_empty() => break 'read,
                    None => break,
                }
            }
            if to_parsers[turn].send(chunk).is_err() {
                break;
            }
            turn = (turn + 1) % threads;
        }
        // Closing the chunk channels ends the parsers, in turn, and then
        // the collector, after the last parser's last chunk.
        drop(to_parsers);
        let stopped = parsers.into_iter().any(|p| p.join().is_err());
        if collector.join().is_err() || stopped {
            return Err(ImportError::Format("a parser thread stopped".into()));
        }
        Ok(())
    })
}

/// Sends batches of parsed records down `tx`; stops early if the receiver is gone.
fn parse<R: Read>(
    reader: R,
    format: Format,
    ctx: &IngestContext,
    tx: tokio::sync::mpsc::Sender<Vec<Item>>,
) -> Result<(), ImportError> {
    let mut batch = Vec::with_capacity(BATCH);
    let send = |item: Item, batch: &mut Vec<Item>| -> bool {
        batch.push(item);
        if batch.len() >= BATCH {
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            return tx.blocking_send(full).is_ok();
        }
        true
    };
    let reader = BufReader::with_capacity(256 * 1024, reader);
    match format {
        Format::Csv => return parse_csv(reader, ctx, tx),
        Format::ExotelJson | Format::TwilioJson => {
            let mut index = 0u64;
            let mut stopped = false;
            let mut each = |v: Value| {
                if stopped {
                    return;
                }
                let parsed = match format {
                    Format::ExotelJson => super::exotel::call_from_details(&v, ctx),
                    _ => super::twilio::call_from_resource(&v, ctx),
                };
                let item = match parsed.and_then(NewCall::without_nul) {
                    Ok(c) => Item::Call(Box::new(c)),
                    Err(errs) => Item::Bad(Rejected {
                        position: format!("index {index}"),
                        reason: reason(&errs),
                    }),
                };
                index += 1;
                stopped = !send(item, &mut batch);
            };
            let mut de = serde_json::Deserializer::from_reader(reader);
            de.deserialize_any_stream(&mut each).map_err(|e| {
                ImportError::Format(format!(
                    "the file is not valid JSON after {index} calls: {e}"
                ))
            })?;
            de.end()
                .map_err(|e| ImportError::Format(format!("trailing data after the calls: {e}")))?;
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

/// Streams the calls out of a provider's JSON document without holding it:
/// `{"Calls": [...]}`, `{"calls": [...]}` (a Twilio page), `{"Call": {...}}`,
/// a bare array, or one call object.
trait StreamCalls {
    fn deserialize_any_stream(&mut self, each: &mut dyn FnMut(Value)) -> serde_json::Result<()>;
}

impl<'de, R: serde_json::de::Read<'de>> StreamCalls for serde_json::Deserializer<R> {
    fn deserialize_any_stream(&mut self, each: &mut dyn FnMut(Value)) -> serde_json::Result<()> {
        serde::Deserializer::deserialize_any(self, Top { each })
    }
}

struct Top<'a> {
    each: &'a mut dyn FnMut(Value),
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a calls document: {\"Calls\": [...]}, {\"calls\": [...]}, {\"Call\": {...}}, an array or a call")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Each { each: self.each }.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut single = serde_json::Map::new();
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Calls" | "calls" => {
                    map.next_value_seed(Each {
                        each: &mut *self.each,
                    })?;
                    listed = true;
                }
                "Call" => {
                    let v: Value = map.next_value()?;
                    (self.each)(v);
                    listed = true;
                }
                _ if listed => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    single.insert(key, map.next_value()?);
                }
            }
        }
        if !listed && !single.is_empty() {
            (self.each)(Value::Object(single));
        }
        Ok(())
    }
}

struct Each<'a> {
    each: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for Each<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Each<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of calls")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.each)(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::current_nice;

    #[cfg(target_os = "linux")]
    fn nice() -> i64 {
        current_nice().expect("nice from /proc")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_parser_thread_yields_to_the_writer_and_no_other_thread_does() {
        let (before, after) = std::thread::spawn(|| {
            let before = nice();
            super::yield_to_the_writer();
            (before, nice())
        })
        .join()
        .unwrap();
        assert_eq!(after, before.max(9), "nice {before} -> {after}");
        // Only the thread that asked: this one keeps its priority.
        assert_eq!(nice(), before);
    }

    /// An import run under `nice -n 14` keeps its parsers at 14: lowering
    /// never turns into raising (as root, setting nice 9 would succeed).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_already_lower_keeps_its_priority() {
        let (set, after) = std::thread::spawn(|| {
            // Crossplatform 12 is nice 14 on Linux.
            let v = thread_priority::ThreadPriorityValue::try_from(12u8).unwrap();
            thread_priority::set_current_thread_priority(
                thread_priority::ThreadPriority::Crossplatform(v),
            )
            .unwrap();
            let set = nice();
            super::yield_to_the_writer();
            (set, nice())
        })
        .join()
        .unwrap();
        assert!(set > 9, "the test thread's nice is {set}");
        assert_eq!(after, set);
    }
}
