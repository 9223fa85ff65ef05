//! Rollups: the call figures pre-aggregated per line and time bucket, so an
//! analytics answer costs the number of buckets in its period, not the
//! number of calls.
//!
//! Two levels share one table, `rollups`, keyed by `(level, bucket,
//! phone_number)`:
//!
//! - level 0: 15-minute slots (`started_at / 900`). Every current IANA
//!   offset is a multiple of 15 minutes, so every local hour and day is a
//!   whole number of slots;
//! - level 1: UTC days (`started_at / 86 400`, 96 slots), used for the middle
//!   of long periods.
//!
//! A row holds the counts ([`CallCounts::of`] defines what a call adds), a
//! roaring bitmap of the callers (ids from the `callers` table) so distinct
//! callers stay exact when buckets are unioned, and the same counts per flow,
//! status and direction ([`Breakdown`]).
//!
//! Writes: every change to `calls` is described to a [`Delta`] (a call
//! inserted; a stored call changed from one [`Fact`] to another), which the
//! store folds into the rows in the same transaction. A caller only ever
//! leaves a bucket's bitmap by a rebuild of that bucket from the raw rows.
//!
//! Reads: [`plan`] cuts a period `[from, to)` into the raw seconds at its
//! edges (finer than a slot), whole slots, and whole UTC days.

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;

use super::{CallCounts, SLOT_SECONDS, StoreError, StoreResult};
use crate::domain::{CallDirection, CallStatus, NewCall};

/// Slots in a UTC day.
pub const DAY_SLOTS: i64 = 86_400 / SLOT_SECONDS;
/// The 15-minute level.
pub const LEVEL_SLOT: i64 = 0;
/// The UTC-day level.
pub const LEVEL_DAY: i64 = 1;

/// What one stored call contributes to the rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub phone_number: String,
    pub started_at: i64,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub duration_seconds: i64,
    pub flow_id: Option<String>,
    pub other_party: Option<String>,
}

impl Fact {
    pub fn of(c: &NewCall) -> Fact {
        Fact {
            phone_number: c.phone_number.as_str().to_string(),
            started_at: c.started_at.as_second(),
            direction: c.direction,
            status: c.status,
            duration_seconds: c.duration_seconds,
            flow_id: c.flow_id.clone(),
            other_party: c.other_party.clone(),
        }
    }

    pub fn counts(&self) -> CallCounts {
        CallCounts::of(self.direction, self.status, self.duration_seconds)
    }

    /// The bucket of this call at a level.
    pub fn key(&self, level: i64) -> Key {
        let slot = self.started_at.div_euclid(SLOT_SECONDS);
        Key {
            level,
            bucket: if level == LEVEL_SLOT {
                slot
            } else {
                slot.div_euclid(DAY_SLOTS)
            },
            phone_number: self.phone_number.clone(),
        }
    }

    /// The `(dimension, value)` pairs this call is counted under.
    pub fn values(&self) -> [(Dim, String); 3] {
        [
            (Dim::Flow, self.flow_id.clone().unwrap_or_default()),
            (Dim::Status, self.status.as_str().to_string()),
            (Dim::Direction, self.direction.as_str().to_string()),
        ]
    }
}

/// A rollup row's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub level: i64,
    pub bucket: i64,
    pub phone_number: String,
}

impl Key {
    /// `[from, to)` in seconds.
    pub fn seconds(&self) -> (i64, i64) {
        let width = if self.level == LEVEL_SLOT {
            SLOT_SECONDS
        } else {
            SLOT_SECONDS * DAY_SLOTS
        };
        (self.bucket * width, (self.bucket + 1) * width)
    }
}

/// A column the breakdown counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Flow = 0,
    Status = 1,
    Direction = 2,
}

impl Dim {
    fn from_u8(b: u8) -> Option<Dim> {
        match b {
            0 => Some(Dim::Flow),
            1 => Some(Dim::Status),
            2 => Some(Dim::Direction),
            _ => None,
        }
    }
}

/// Counts per `(dimension, value)`; a call without a flow counts under
/// `(Flow, "")`.
pub type Breakdown = BTreeMap<(Dim, String), CallCounts>;

/// Adds `k ×` one set of counts to another (k = 1 or -1).
pub fn add_counts(a: &mut CallCounts, b: &CallCounts, k: i64) {
    a.calls += k * b.calls;
    a.answered += k * b.answered;
    a.missed += k * b.missed;
    a.abandoned += k * b.abandoned;
    a.failed += k * b.failed;
    a.talk_seconds += k * b.talk_seconds;
}

/// One rollup row's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub counts: CallCounts,
    pub callers: RoaringBitmap,
    pub breakdown: Breakdown,
}

/// What a transaction does to one row.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub counts: CallCounts,
    pub breakdown: Breakdown,
    /// Caller numbers that joined the bucket.
    pub callers: Vec<String>,
    /// A caller may have left: recompute the bitmap from the raw rows.
    pub rebuild: bool,
}

/// Every row change of one transaction, in key order (the order rows are
/// locked in, so concurrent writers cannot deadlock on them).
#[derive(Debug, Default)]
pub struct Delta {
    pub changes: BTreeMap<Key, Change>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn apply(&mut self, f: &Fact, k: i64) {
        let counts = f.counts();
        let values = f.values();
        for level in [LEVEL_SLOT, LEVEL_DAY] {
            let ch = self.changes.entry(f.key(level)).or_default();
            add_counts(&mut ch.counts, &counts, k);
            for v in &values {
                add_counts(ch.breakdown.entry(v.clone()).or_default(), &counts, k);
            }
        }
    }

    /// A call was stored.
    pub fn insert(&mut self, f: &Fact) {
        self.apply(f, 1);
        if let Some(p) = &f.other_party {
            for level in [LEVEL_SLOT, LEVEL_DAY] {
                let ch = self.changes.get_mut(&f.key(level)).expect("applied above");
                ch.callers.push(p.clone());
            }
        }
    }

    /// A stored call changed from `old` to `new`.
    pub fn change(&mut self, old: &Fact, new: &Fact) {
        if old == new {
            return;
        }
        self.apply(old, -1);
        self.apply(new, 1);
        for level in [LEVEL_SLOT, LEVEL_DAY] {
            let (ko, kn) = (old.key(level), new.key(level));
            if ko == kn && old.other_party == new.other_party {
                continue;
            }
            if old.other_party.is_some() {
                self.changes.get_mut(&ko).expect("applied above").rebuild = true;
            }
            if let Some(p) = &new.other_party {
                self.changes
                    .get_mut(&kn)
                    .expect("applied above")
                    .callers
                    .push(p.clone());
            }
        }
    }

    /// The distinct caller numbers the bitmaps need ids for.
    pub fn caller_numbers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .changes
            .values()
            .flat_map(|c| c.callers.iter().cloned())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl Row {
    /// Folds a change in. `ids` maps caller numbers to ids; `rebuilt` is the
    /// bucket's caller set recomputed from raw rows when the change asks.
    pub fn apply(
        &mut self,
        ch: &Change,
        ids: &HashMap<String, u32>,
        rebuilt: Option<RoaringBitmap>,
    ) -> StoreResult<()> {
        add_counts(&mut self.counts, &ch.counts, 1);
        for (k, c) in &ch.breakdown {
            let e = self.breakdown.entry(k.clone()).or_default();
            add_counts(e, c, 1);
        }
        self.breakdown.retain(|_, c| c.calls != 0);
        match rebuilt {
            Some(b) => self.callers = b,
            None => {
                for n in &ch.callers {
                    let id = ids.get(n).ok_or_else(|| {
                        StoreError::Corrupt(format!("no caller id for a number in bucket {ch:?}"))
                    })?;
                    self.callers.insert(*id);
                }
            }
        }
        Ok(())
    }
}

// -- encodings

/// A roaring bitmap as stored.
pub fn encode_callers(b: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.serialized_size());
    b.serialize_into(&mut out).expect("writing to a Vec");
    out
}

pub fn decode_callers(bytes: &[u8]) -> StoreResult<RoaringBitmap> {
    if bytes.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| StoreError::Corrupt(format!("bad caller bitmap: {e}")))
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
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

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// `[dim u8][len varint][value][6 × count varint]` per entry.
pub fn encode_breakdown(b: &Breakdown) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() * 16);
    for ((dim, value), c) in b {
        out.push(*dim as u8);
        put_varint(&mut out, value.len() as i64);
        out.extend_from_slice(value.as_bytes());
        for n in [
            c.calls,
            c.answered,
            c.missed,
            c.abandoned,
            c.failed,
            c.talk_seconds,
        ] {
            put_varint(&mut out, n);
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
        pos += 1;
        let len =
            usize::try_from(get_varint(bytes, &mut pos).ok_or_else(bad)?).map_err(|_| bad())?;
        let value = bytes.get(pos..pos + len).ok_or_else(bad)?;
        let value = std::str::from_utf8(value).map_err(|_| bad())?.to_string();
        pos += len;
        let mut n = [0i64; 6];
        for x in &mut n {
            *x = get_varint(bytes, &mut pos).ok_or_else(bad)?;
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

// -- reading

/// How a period `[from, to)` (seconds) is answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Spans read from the raw rows (each shorter than a slot).
    pub raw: Vec<(i64, i64)>,
    /// `(level, first bucket, end bucket)` read from the rollups.
    pub ranges: Vec<(i64, i64, i64)>,
}

/// Cuts `[from, to)` into raw edges, whole slots and (when `days`) whole
/// UTC days.
pub fn plan(from: i64, to: i64, days: bool) -> Plan {
    let mut p = Plan::default();
    if from >= to {
        return p;
    }
    let a = from.div_euclid(SLOT_SECONDS) + i64::from(from.rem_euclid(SLOT_SECONDS) != 0);
    let b = to.div_euclid(SLOT_SECONDS);
    if a >= b {
        p.raw.push((from, to));
        return p;
    }
    if from < a * SLOT_SECONDS {
        p.raw.push((from, a * SLOT_SECONDS));
    }
    if b * SLOT_SECONDS < to {
        p.raw.push((b * SLOT_SECONDS, to));
    }
    let da = a.div_euclid(DAY_SLOTS) + i64::from(a.rem_euclid(DAY_SLOTS) != 0);
    let db = b.div_euclid(DAY_SLOTS);
    if days && da < db {
        if a < da * DAY_SLOTS {
            p.ranges.push((LEVEL_SLOT, a, da * DAY_SLOTS));
        }
        p.ranges.push((LEVEL_DAY, da, db));
        if db * DAY_SLOTS < b {
            p.ranges.push((LEVEL_SLOT, db * DAY_SLOTS, b));
        }
    } else {
        p.ranges.push((LEVEL_SLOT, a, b));
    }
    p
}

/// Caller ids already known to be committed, so most writes skip the
/// `callers` lookup. Ids never change once committed.
#[derive(Clone)]
pub struct CallerIds(moka::sync::Cache<String, u32>);

impl Default for CallerIds {
    fn default() -> Self {
        CallerIds(moka::sync::Cache::new(1_000_000))
    }
}

impl CallerIds {
    pub fn get(&self, n: &str) -> Option<u32> {
        self.0.get(n)
    }

    pub fn remember(&self, ids: HashMap<String, u32>) {
        for (n, id) in ids {
            self.0.insert(n, id);
        }
    }
}

impl std::fmt::Debug for CallerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerIds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(p: &Plan) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = p.raw.clone();
        for &(level, lo, hi) in &p.ranges {
            let w = if level == LEVEL_SLOT {
                SLOT_SECONDS
            } else {
                SLOT_SECONDS * DAY_SLOTS
            };
            v.push((lo * w, hi * w));
        }
        v.sort_unstable();
        v
    }

    #[test]
    fn a_plan_covers_the_period_exactly_once() {
        for (from, to) in [
            (0, 86_400 * 3),
            (1, 86_400 * 3 - 1),
            (19_800, 19_800 + 86_400 * 30),
            (899, 901),
            (100, 200),
            (-86_400 - 7, 86_400 + 13),
        ] {
            let p = plan(from, to, true);
            let v = covered(&p);
            assert_eq!(v.first().unwrap().0, from);
            assert_eq!(v.last().unwrap().1, to);
            for w in v.windows(2) {
                assert_eq!(w[0].1, w[1].0, "{from}..{to}: {v:?}");
            }
            for (a, b) in &p.raw {
                assert!(b - a < SLOT_SECONDS);
            }
        }
        let p = plan(19_800, 19_800 + 86_400 * 30, true);
        assert!(p.ranges.iter().any(|r| r.0 == LEVEL_DAY && r.2 - r.1 == 29));
        assert!(plan(5, 5, true).raw.is_empty());
    }

    #[test]
    fn breakdowns_round_trip() {
        let mut b = Breakdown::new();
        b.insert(
            (Dim::Flow, "ivr-ü".into()),
            CallCounts {
                calls: 3,
                answered: 2,
                missed: -1,
                abandoned: 0,
                failed: 1,
                talk_seconds: 1 << 40,
                unique_callers: 0,
            },
        );
        b.insert((Dim::Status, String::new()), CallCounts::default());
        assert_eq!(decode_breakdown(&encode_breakdown(&b)).unwrap(), b);
        assert!(decode_breakdown(&[7]).is_err());
        assert!(decode_breakdown(&[0, 10, b'a']).is_err());
    }

    #[test]
    fn a_changed_caller_rebuilds_its_old_bucket() {
        let f = Fact {
            phone_number: "+918041234567".into(),
            started_at: 1_000,
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
            duration_seconds: 0,
            flow_id: None,
            other_party: Some("+919876543210".into()),
        };
        let mut d = Delta::default();
        d.change(
            &f,
            &Fact {
                status: CallStatus::Completed,
                duration_seconds: 30,
                ..f.clone()
            },
        );
        assert!(
            d.changes
                .values()
                .all(|c| !c.rebuild && c.callers.is_empty())
        );
        let slot = d.changes.get(&f.key(LEVEL_SLOT)).unwrap();
        assert_eq!((slot.counts.calls, slot.counts.answered), (0, 1));
        let mut d = Delta::default();
        d.change(
            &f,
            &Fact {
                started_at: 2_000,
                ..f.clone()
            },
        );
        assert!(d.changes[&f.key(LEVEL_SLOT)].rebuild);
        assert!(!d.changes[&f.key(LEVEL_DAY)].rebuild);
    }
}
