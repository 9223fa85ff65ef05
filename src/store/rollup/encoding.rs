//! How rollup rows store their caller sets and breakdowns.
//!
//! Most rows are small (a quiet line's 15 minutes), so both blobs are written
//! for size: rollups are read by the bucket and must stay a small part of the
//! raw table.

use roaring::RoaringBitmap;

use super::{Breakdown, Dim};
use crate::domain::{CallDirection, CallStatus};
use crate::store::{CallCounts, StoreError, StoreResult};

/// Tag of a caller set stored as a roaring bitmap (large sets).
pub(super) const CALLERS_ROARING: u8 = 0;
/// Tag of a caller set stored as sorted ids, delta- and varint-coded: a
/// roaring bitmap spends 8 bytes of container header on every 65 536-id
/// range a set touches, which is most of a small set's size.
pub(super) const CALLERS_DELTAS: u8 = 1;
/// Sets larger than this stay roaring bitmaps whatever their size: those
/// load by copying containers, where ids decode one at a time (at 10 M
/// calls, decoding all lines' day rows as deltas took half of a 30-day
/// dashboard's time).
pub(super) const MAX_DELTAS: u64 = 512;

/// A caller set as stored: small ones in the smaller of the two forms.
pub fn encode_callers(b: &RoaringBitmap) -> Vec<u8> {
    if b.is_empty() {
        return Vec::new();
    }
    if b.len() > MAX_DELTAS {
        return roaring_form(b);
    }
    let mut out = vec![CALLERS_DELTAS];
    let mut prev = 0u32;
    for id in b {
        put_uvarint(&mut out, u64::from(id - prev));
        prev = id;
    }
    if out.len() <= b.serialized_size() {
        return out;
    }
    roaring_form(b)
}

fn roaring_form(b: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + b.serialized_size());
    out.push(CALLERS_ROARING);
    b.serialize_into(&mut out).expect("writing to a Vec");
    out
}

/// The union of many stored caller sets, for a count of distinct callers.
/// Small sets (delta-coded ids) are decoded straight into one list, sorted
/// once at the end, instead of each into a bitmap of its own: a line's
/// period unions a hundred slot sets of a few dozen ids.
#[derive(Debug, Default)]
pub struct CallerUnion {
    ids: Vec<u32>,
    sets: Vec<RoaringBitmap>,
}

impl CallerUnion {
    /// Adds a set as [`encode_callers`] wrote it.
    pub fn add(&mut self, bytes: &[u8]) -> StoreResult<()> {
        match bytes.split_first() {
            None => Ok(()),
            Some((&CALLERS_DELTAS, rest)) => decode_deltas(rest, &mut self.ids),
            Some(_) => {
                self.sets.push(decode_callers(bytes)?);
                Ok(())
            }
        }
    }

    /// Adds one caller id.
    pub fn insert(&mut self, id: u32) {
        self.ids.push(id);
    }

    /// How many distinct callers the sets hold together.
    pub fn count(mut self) -> u64 {
        self.ids.sort_unstable();
        self.ids.dedup();
        if self.sets.is_empty() {
            return self.ids.len() as u64;
        }
        let listed = RoaringBitmap::from_sorted_iter(self.ids).expect("sorted and deduplicated");
        self.sets.push(listed);
        roaring::MultiOps::union(self.sets).len()
    }
}

/// Appends the ids of a delta-coded set (after its tag) to `ids`.
fn decode_deltas(rest: &[u8], ids: &mut Vec<u32>) -> StoreResult<()> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("bad caller set: {e}"));
    let (mut pos, mut id) = (0, 0u64);
    while pos < rest.len() {
        id += get_uvarint(rest, &mut pos).ok_or_else(|| bad(&"truncated"))?;
        ids.push(u32::try_from(id).map_err(|e| bad(&e))?);
    }
    Ok(())
}

pub fn decode_callers(bytes: &[u8]) -> StoreResult<RoaringBitmap> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("bad caller set: {e}"));
    match bytes.split_first() {
        None => Ok(RoaringBitmap::new()),
        // Unchecked: the containers are taken as written (sorted, in
        // range) instead of checked one by one, a tenth of a large
        // dashboard's time. Only `encode_callers` writes these blobs; a
        // damaged one gives a wrong set (never unsafety), which
        // `Store::rollup_drift` reports.
        Some((&CALLERS_ROARING, rest)) => {
            RoaringBitmap::deserialize_unchecked_from(rest).map_err(|e| bad(&e))
        }
        Some((&CALLERS_DELTAS, rest)) => {
            let mut ids = Vec::with_capacity(rest.len());
            decode_deltas(rest, &mut ids)?;
            RoaringBitmap::from_sorted_iter(ids).map_err(|e| bad(&e))
        }
        Some((tag, _)) => Err(bad(&format!("tag {tag}"))),
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut z: u64) {
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_uvarint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(z);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let z = get_uvarint(bytes, pos)?;
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

/// Values written as one byte: every status and direction, and no flow.
fn known_values() -> impl Iterator<Item = &'static str> {
    CallStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(CallDirection::ALL.iter().map(|d| d.as_str()))
        .chain([""])
}

/// The byte after a dimension that says its value follows as text.
const VALUE_TEXT: u8 = 0xff;

/// Per entry: `[dim u8][value: known index u8, or 0xff len varint bytes]
/// [mask u8: which of the six counts are not zero][those counts, varint]`.
pub fn encode_breakdown(b: &Breakdown) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() * 8);
    for ((dim, value), c) in b {
        out.push(*dim as u8);
        match known_values().position(|k| k == value) {
            Some(i) => out.push(i as u8),
            None => {
                out.push(VALUE_TEXT);
                put_varint(&mut out, value.len() as i64);
                out.extend_from_slice(value.as_bytes());
            }
        }
        let n = [
            c.calls,
            c.answered,
            c.missed,
            c.abandoned,
            c.failed,
            c.talk_seconds,
        ];
        let mask = n
            .iter()
            .enumerate()
            .fold(0u8, |m, (i, x)| if *x != 0 { m | 1 << i } else { m });
        out.push(mask);
        for x in n.iter().filter(|x| **x != 0) {
            put_varint(&mut out, *x);
        }
    }
    out
}

pub fn decode_breakdown(bytes: &[u8]) -> StoreResult<Breakdown> {
    let bad = || StoreError::Corrupt("bad rollup breakdown".into());
    let mut out = Breakdown::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let dim = Dim::from_u8(bytes[pos]).ok_or_else(bad)?;
        let tag = *bytes.get(pos + 1).ok_or_else(bad)?;
        pos += 2;
        let value = if tag == VALUE_TEXT {
            let len =
                usize::try_from(get_varint(bytes, &mut pos).ok_or_else(bad)?).map_err(|_| bad())?;
            let value = bytes.get(pos..pos + len).ok_or_else(bad)?;
            pos += len;
            std::str::from_utf8(value).map_err(|_| bad())?.to_string()
        } else {
            known_values()
                .nth(usize::from(tag))
                .ok_or_else(bad)?
                .to_string()
        };
        let mask = *bytes.get(pos).ok_or_else(bad)?;
        pos += 1;
        let mut n = [0i64; 6];
        for (i, x) in n.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *x = get_varint(bytes, &mut pos).ok_or_else(bad)?;
            }
        }
        out.insert(
            (dim, value),
            CallCounts {
                calls: n[0],
                answered: n[1],
                missed: n[2],
                abandoned: n[3],
                failed: n[4],
                talk_seconds: n[5],
                unique_callers: 0,
            },
        );
    }
    Ok(out)
}
