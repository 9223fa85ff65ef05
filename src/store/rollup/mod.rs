//! Rollups: the call figures pre-aggregated per line and time bucket, so an
//! analytics answer costs the number of buckets in its period, not the
//! number of calls.
//!
//! Three levels share one table, `rollups`, keyed by `(level, bucket,
//! phone_number)`:
//!
//! - level 0: 15-minute slots (`started_at / 900`). Every current IANA
//!   offset is a multiple of 15 minutes, so every local hour and day is a
//!   whole number of slots;
//! - level 2: UTC hours (4 slots), for the parts of a period that are not
//!   whole UTC days (a day in Asia/Kolkata starts at 18:30 UTC);
//! - level 1: UTC days (96 slots), for the middle of long periods.
//!
//! Every bucket has a row per line and one more for all lines together
//! (`phone_number` [`ALL_LINES`], the empty string, never an E.164 number),
//! so a question about every line reads one row a bucket, not one a line.
//!
//! A row holds the counts ([`CallCounts::of`] defines what a call adds), a
//! roaring bitmap of the callers (ids from the `callers` table) so distinct
//! callers stay exact when buckets are unioned, and the same counts per flow,
//! status and direction ([`Breakdown`]). Hour rows keep no caller set (see
//! [`keeps_callers`]): an hour's callers are the union of its four slots'.
//!
//! Writes: every change to `calls` is described to a [`Delta`] (a call
//! inserted; a stored call changed from one [`Fact`] to another), which the
//! store folds into the rows in the same transaction. A caller only ever
//! leaves a bucket's bitmap by a rebuild of that bucket from the raw rows.
//!
//! Reads: [`plan`] cuts a period `[from, to)` into the raw seconds at its
//! edges (finer than a slot), whole slots, whole UTC hours and whole UTC days.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

mod encoding;
mod plan;

pub use encoding::*;
pub use plan::*;

use super::{CallCounts, SLOT_SECONDS, StoreError, StoreResult};
use crate::domain::{CallDirection, CallStatus, NewCall};

/// Hash maps keyed by phone numbers and buckets on the write path: foldhash
/// (seeded per map) instead of SipHash, a few per cent of an import's CPU.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Slots in a UTC hour.
pub const HOUR_SLOTS: i64 = 3_600 / SLOT_SECONDS;
/// Slots in a UTC day.
pub const DAY_SLOTS: i64 = 86_400 / SLOT_SECONDS;
/// The 15-minute level.
pub const LEVEL_SLOT: i64 = 0;
/// The UTC-day level.
pub const LEVEL_DAY: i64 = 1;
/// The UTC-hour level.
pub const LEVEL_HOUR: i64 = 2;
/// Every level, finest first.
pub const LEVELS: [i64; 3] = [LEVEL_SLOT, LEVEL_HOUR, LEVEL_DAY];
/// The `phone_number` of the rows that count every line together.
pub const ALL_LINES: &str = "";

/// Whether a level's rows keep a caller set. Hour rows do not: an hour's
/// distinct callers are hardly fewer than its four slots' together (few
/// people call twice within the hour), so the hour sets doubled the bytes
/// stored for no fewer bytes read; a period's hours take their callers from
/// the slots ([`Plan::caller_ranges`]). At 10 M calls they were 41 MB, a
/// sixth of the rollups.
pub fn keeps_callers(level: i64) -> bool {
    level != LEVEL_HOUR
}

/// Caller sets longer than this (encoded) are kept apart from their rollup
/// row on SQLite, in `rollup_sets` (an ordinary rowid table), the row naming
/// them by `callers_ref`. A `WITHOUT ROWID` table keeps at most about 1 000
/// bytes of a row in its leaf page and spills the rest to overflow pages
/// whose last page is on average half empty: at 10 M calls those pages were
/// 38 MB of unused space, a seventh of the rollups. A rowid table keeps rows
/// up to about 4 000 bytes whole and sizes a longer row's spill to fill its
/// overflow pages. Short sets stay in the row, read with it. (Migration
/// 0009 moved the longer sets of an older database apart with this number.)
pub const INLINE_CALLERS: usize = 700;

/// Slots in one bucket of a level.
pub fn level_slots(level: i64) -> i64 {
    match level {
        LEVEL_HOUR => HOUR_SLOTS,
        LEVEL_DAY => DAY_SLOTS,
        _ => 1,
    }
}

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

    fn slot(&self) -> i64 {
        self.started_at.div_euclid(SLOT_SECONDS)
    }

    /// The rows this call is counted in: its line's and all lines', at
    /// every level.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        Key::covering(self.slot(), &self.phone_number)
    }

    /// The `(dimension, value)` pairs this call is counted under.
    pub fn values(&self) -> [(Dim, &str); 3] {
        [
            (Dim::Flow, self.flow_id.as_deref().unwrap_or_default()),
            (Dim::Status, self.status.as_str()),
            (Dim::Direction, self.direction.as_str()),
        ]
    }
}

/// A rollup row's key, ordered as the table's primary key (the order rows
/// are written and locked in).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub level: i64,
    pub phone_number: String,
    pub bucket: i64,
}

impl Key {
    /// `[from, to)` in seconds.
    pub fn seconds(&self) -> (i64, i64) {
        let width = SLOT_SECONDS * level_slots(self.level);
        (self.bucket * width, (self.bucket + 1) * width)
    }

    /// The six rows a call of `line` in `slot` counts in.
    fn covering(slot: i64, line: &str) -> impl Iterator<Item = Key> + '_ {
        LEVELS.into_iter().flat_map(move |level| {
            let bucket = slot.div_euclid(level_slots(level));
            [line, ALL_LINES].into_iter().map(move |n| Key {
                level,
                bucket,
                phone_number: n.to_string(),
            })
        })
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
    /// Callers that joined the bucket, as positions in the delta's
    /// [`Delta::caller_numbers`].
    pub callers: Vec<u32>,
    /// A caller may have left: recompute the bitmap from the raw rows.
    pub rebuild: bool,
}

impl Change {
    fn add(&mut self, f: &Fact, k: i64) {
        let counts = f.counts();
        add_counts(&mut self.counts, &counts, k);
        for (dim, value) in f.values() {
            // A change's breakdown holds a few dozen values at most: a look
            // along it costs less than a key made for a tree search.
            match self
                .breakdown
                .iter_mut()
                .find(|((d, v), _)| *d == dim && v == value)
            {
                Some((_, e)) => add_counts(e, &counts, k),
                None => {
                    let mut e = CallCounts::default();
                    add_counts(&mut e, &counts, k);
                    self.breakdown.insert((dim, value.to_string()), e);
                }
            }
        }
    }

    fn absorb(&mut self, other: &Change) {
        self.absorb_counts(other);
        self.callers.extend_from_slice(&other.callers);
        self.rebuild |= other.rebuild;
    }

    /// [`Change::absorb`] without the callers (for hour rows, which keep none).
    fn absorb_counts(&mut self, other: &Change) {
        add_counts(&mut self.counts, &other.counts, 1);
        for (v, c) in &other.breakdown {
            match self.breakdown.get_mut(v) {
                Some(e) => add_counts(e, c, 1),
                None => {
                    self.breakdown.insert(v.clone(), *c);
                }
            }
        }
    }
}

/// Every row change of one transaction. Inserted calls gather per slot row
/// first and are rolled up to the coarser rows once, by [`Delta::changes`].
#[derive(Debug, Default)]
pub struct Delta {
    /// By line, then slot.
    inserted: HashMap<String, HashMap<i64, Change>>,
    changes: BTreeMap<Key, Change>,
    /// Every caller number the changes name, once, in the order first seen.
    numbers: Vec<String>,
    positions: HashMap<String, u32>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.inserted.is_empty()
    }

    /// The position of a caller number in [`Delta::caller_numbers`].
    fn caller(&mut self, number: &str) -> u32 {
        if let Some(&i) = self.positions.get(number) {
            return i;
        }
        let i = u32::try_from(self.numbers.len()).expect("fewer than 2^32 callers a transaction");
        self.numbers.push(number.to_string());
        self.positions.insert(number.to_string(), i);
        i
    }

    /// A call was stored.
    pub fn insert(&mut self, f: &Fact) {
        let caller = f.other_party.as_deref().map(|p| self.caller(p));
        let by_slot = match self.inserted.get_mut(f.phone_number.as_str()) {
            Some(m) => m,
            None => self.inserted.entry(f.phone_number.clone()).or_default(),
        };
        let ch = by_slot.entry(f.slot()).or_default();
        ch.add(f, 1);
        ch.callers.extend(caller);
    }

    fn apply(&mut self, f: &Fact, k: i64) {
        for key in f.keys() {
            self.changes.entry(key).or_default().add(f, k);
        }
    }

    /// A stored call changed from `old` to `new`.
    pub fn change(&mut self, old: &Fact, new: &Fact) {
        if old == new {
            return;
        }
        self.apply(old, -1);
        self.apply(new, 1);
        let caller = new.other_party.as_deref().map(|p| self.caller(p));
        for (ko, kn) in old.keys().zip(new.keys()) {
            if ko == kn && old.other_party == new.other_party {
                continue;
            }
            if old.other_party.is_some() {
                self.changes.get_mut(&ko).expect("applied above").rebuild = true;
            }
            if let Some(p) = caller {
                self.changes
                    .get_mut(&kn)
                    .expect("applied above")
                    .callers
                    .push(p);
            }
        }
    }

    /// Every row change, in key order (the order rows are locked in, so
    /// concurrent writers cannot deadlock on them).
    pub fn changes(&mut self) -> &BTreeMap<Key, Change> {
        self.gather();
        for (k, ch) in self.changes.iter_mut() {
            if !keeps_callers(k.level) {
                ch.callers.clear();
                ch.rebuild = false;
            }
        }
        &self.changes
    }

    /// Rolls the inserted calls up into [`Delta::changes`], a level at a
    /// time: a line's slots into its hours (counts only: hour rows keep no
    /// callers) and its days (callers), its hours into its days (counts),
    /// and every line's rows into all lines'. Each breakdown is merged about
    /// twice instead of once for each of the six rows a call counts in.
    fn gather(&mut self) {
        let mut rows = self.take_rows();
        rows.gather();
        self.put_rows(rows);
    }

    /// Whether the calls inserted are many enough (an import's batch) to
    /// gather on another thread, beside the writer's other work; a few
    /// callbacks' are gathered in less time than handing them over takes.
    pub fn gathers_on_another_thread(&self) -> bool {
        self.inserted.values().map(HashMap::len).sum::<usize>() > GATHER_APART
    }

    /// The row changes, to [`Rows::gather`] apart; [`Delta::put_rows`]
    /// puts them back.
    pub fn take_rows(&mut self) -> Rows {
        Rows {
            inserted: std::mem::take(&mut self.inserted),
            changes: std::mem::take(&mut self.changes),
        }
    }

    pub fn put_rows(&mut self, rows: Rows) {
        debug_assert!(self.inserted.is_empty() && self.changes.is_empty());
        self.inserted = rows.inserted;
        self.changes = rows.changes;
    }

    /// The distinct caller numbers the changes name; [`Change::callers`]
    /// are positions in it.
    pub fn caller_numbers(&self) -> &[String] {
        &self.numbers
    }

    /// The position of `number` in [`Delta::caller_numbers`].
    pub fn caller_position(&self, number: &str) -> Option<usize> {
        self.positions.get(number).map(|&i| i as usize)
    }
}

/// Slot rows (by line, then slot) with calls inserted, and every row change:
/// a [`Delta`]'s rows, apart from its callers.
#[derive(Debug, Default)]
pub struct Rows {
    inserted: HashMap<String, HashMap<i64, Change>>,
    changes: BTreeMap<Key, Change>,
}

/// Slot rows with inserted calls beyond which [`Delta::gathers_on_another_thread`].
const GATHER_APART: usize = 512;

impl Rows {
    /// [`Delta::gather`]: this, on whichever thread holds it.
    pub fn gather(&mut self) {
        if self.inserted.is_empty() {
            return;
        }
        let mut gathered: Vec<(Key, Change)> = Vec::new();
        let mut all: HashMap<(i64, i64), Change> = HashMap::default();
        for (line, by_slot) in std::mem::take(&mut self.inserted) {
            let mut hours: HashMap<i64, Change> = HashMap::default();
            let mut days: HashMap<i64, Change> = HashMap::default();
            for (slot, ch) in by_slot {
                hours
                    .entry(slot.div_euclid(HOUR_SLOTS))
                    .or_default()
                    .absorb_counts(&ch);
                let day = days.entry(slot.div_euclid(DAY_SLOTS)).or_default();
                day.callers.extend_from_slice(&ch.callers);
                day.rebuild |= ch.rebuild;
                all.entry((LEVEL_SLOT, slot)).or_default().absorb(&ch);
                gathered.push((
                    Key {
                        level: LEVEL_SLOT,
                        phone_number: line.clone(),
                        bucket: slot,
                    },
                    ch,
                ));
            }
            for (hour, ch) in hours {
                days.entry((hour * HOUR_SLOTS).div_euclid(DAY_SLOTS))
                    .or_default()
                    .absorb_counts(&ch);
                all.entry((LEVEL_HOUR, hour))
                    .or_default()
                    .absorb_counts(&ch);
                gathered.push((
                    Key {
                        level: LEVEL_HOUR,
                        phone_number: line.clone(),
                        bucket: hour,
                    },
                    ch,
                ));
            }
            for (day, ch) in days {
                all.entry((LEVEL_DAY, day)).or_default().absorb(&ch);
                gathered.push((
                    Key {
                        level: LEVEL_DAY,
                        phone_number: line.clone(),
                        bucket: day,
                    },
                    ch,
                ));
            }
        }
        gathered.extend(all.into_iter().map(|((level, bucket), ch)| {
            (
                Key {
                    level,
                    phone_number: ALL_LINES.to_string(),
                    bucket,
                },
                ch,
            )
        }));
        for (key, ch) in gathered {
            match self.changes.get_mut(&key) {
                Some(e) => e.absorb(&ch),
                None => {
                    self.changes.insert(key, ch);
                }
            }
        }
    }
}

impl Row {
    /// Folds a change in. `ids` holds the caller id of each of the delta's
    /// [`Delta::caller_numbers`]; `rebuilt` is the bucket's caller set
    /// recomputed from raw rows when the change asks.
    pub fn apply(
        &mut self,
        ch: &Change,
        ids: &[u32],
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
                for &n in &ch.callers {
                    let id = ids.get(n as usize).ok_or_else(|| {
                        StoreError::Corrupt(format!("no caller id for a number in bucket {ch:?}"))
                    })?;
                    self.callers.insert(*id);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(p: &Plan) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = p.raw.clone();
        for &(level, lo, hi) in &p.ranges {
            let w = SLOT_SECONDS * level_slots(level);
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
        // A 30-day period in Asia/Kolkata: 29 UTC days, 23 hours and 4
        // slots, not 29 days and 96 slots.
        let p = plan(66_600, 66_600 + 86_400 * 30, true);
        let n = |level| {
            p.ranges
                .iter()
                .filter(|r| r.0 == level)
                .map(|r| r.2 - r.1)
                .sum::<i64>()
        };
        assert_eq!((n(LEVEL_DAY), n(LEVEL_HOUR), n(LEVEL_SLOT)), (29, 23, 4));
        assert!(plan(5, 5, true).raw.is_empty());
    }

    #[test]
    fn random_periods_are_covered_exactly_once_with_the_coarsest_buckets() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let from = (x % 40_000_000) as i64 - 20_000_000;
            let to = from + ((x >> 32) % 20_000_000) as i64 + 1;
            let p = plan(from, to, true);
            let v = covered(&p);
            assert_eq!((v.first().unwrap().0, v.last().unwrap().1), (from, to));
            for w in v.windows(2) {
                assert_eq!(w[0].1, w[1].0, "{from}..{to}: {p:?}");
            }
            // A finer level only where the next one up does not fit: at
            // most 2 × 3 slots and 2 × 23 hours.
            let n = |level| {
                p.ranges
                    .iter()
                    .filter(|r| r.0 == level)
                    .map(|r| r.2 - r.1)
                    .sum::<i64>()
            };
            assert!(n(LEVEL_SLOT) <= 6 && n(LEVEL_HOUR) <= 46, "{p:?}");
        }
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
        b.insert(
            (Dim::Status, "no-answer".into()),
            CallCounts {
                calls: 2,
                missed: 2,
                ..Default::default()
            },
        );
        b.insert((Dim::Direction, "inbound".into()), CallCounts::default());
        let bytes = encode_breakdown(&b);
        assert_eq!(decode_breakdown(&bytes).unwrap(), b);
        // A known value and two counts: five bytes.
        let one: Breakdown = b
            .iter()
            .skip(2)
            .take(1)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(encode_breakdown(&one).len(), 5, "{one:?}");
        assert!(decode_breakdown(&[7]).is_err());
        assert!(decode_breakdown(&[0, 0xff, 10, b'a']).is_err());
        assert!(decode_breakdown(&[0, 200, 0]).is_err());
    }

    #[test]
    fn caller_sets_round_trip_in_their_smaller_form() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in [0usize, 1, 5, 50, 3_000, 70_000] {
            let mut b = RoaringBitmap::new();
            while b.len() < n as u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.insert((x % 2_000_000) as u32);
            }
            let bytes = encode_callers(&b);
            assert_eq!(decode_callers(&bytes).unwrap(), b, "{n} callers");
            assert!(bytes.len() <= 1 + b.serialized_size(), "{n} callers");
            // Spread thin, small sets are smaller as deltas; large ones
            // stay bitmaps.
            assert_eq!(
                bytes.first() == Some(&CALLERS_ROARING),
                n > MAX_DELTAS as usize,
                "{n} callers"
            );
        }
        // Five callers spread over 2 M ids: deltas, not five containers.
        let b: RoaringBitmap = [3, 400_000, 800_000, 1_200_000, 1_999_999]
            .into_iter()
            .collect();
        assert_eq!(encode_callers(&b)[0], CALLERS_DELTAS);
        assert!(encode_callers(&b).len() < 16);
        assert!(decode_callers(&[9, 1]).is_err());
        // Unchecked loading still refuses a truncated bitmap.
        let whole = encode_callers(&(0..5_000u32).map(|i| i * 7).collect());
        assert_eq!(whole[0], CALLERS_ROARING);
        for cut in [2, 9, whole.len() / 2, whole.len() - 1] {
            assert!(decode_callers(&whole[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_callers(&[CALLERS_DELTAS, 0x80]).is_err());
    }

    #[test]
    fn a_union_of_stored_sets_counts_each_caller_once() {
        let small: RoaringBitmap = [5, 9, 70_000].into_iter().collect();
        let other: RoaringBitmap = [9, 11].into_iter().collect();
        let large: RoaringBitmap = (0..3_000u32).map(|i| i * 3).collect();
        assert_eq!(encode_callers(&small)[0], CALLERS_DELTAS);
        assert_eq!(encode_callers(&large)[0], CALLERS_ROARING);
        let mut u = CallerUnion::default();
        for set in [&small, &other, &large, &RoaringBitmap::new()] {
            u.add(&encode_callers(set)).unwrap();
        }
        u.insert(70_000);
        u.insert(1);
        let want = &(&(&small | &other) | &large) | &[70_000u32, 1].into_iter().collect();
        assert_eq!(u.count(), want.len());
        let mut only_small = CallerUnion::default();
        only_small.add(&encode_callers(&small)).unwrap();
        only_small.add(&encode_callers(&small)).unwrap();
        assert_eq!(only_small.count(), 3);
        assert!(CallerUnion::default().add(&[CALLERS_DELTAS, 0x80]).is_err());
    }

    #[test]
    fn hour_rows_keep_no_callers_and_their_slots_stand_in() {
        let f = |at: i64, caller: &str| Fact {
            phone_number: "+918047180001".into(),
            started_at: at,
            direction: CallDirection::Inbound,
            status: CallStatus::Completed,
            duration_seconds: 30,
            flow_id: None,
            other_party: Some(caller.into()),
        };
        let mut d = Delta::default();
        d.insert(&f(7_200, "+919800000001"));
        d.insert(&f(7_300, "+919800000002"));
        // A stored call moving hour: its old rows are rebuilt, but hours none.
        d.change(&f(90_000, "+919800000003"), &f(95_000, "+919800000003"));
        for (k, ch) in d.changes() {
            if k.level == LEVEL_HOUR {
                assert!(ch.callers.is_empty() && !ch.rebuild, "{k:?}");
            } else if ch.counts.calls > 0 {
                assert!(!ch.callers.is_empty(), "{k:?}");
            }
        }
        let hour = d
            .changes()
            .iter()
            .find(|(k, _)| k.level == LEVEL_HOUR && k.bucket == 2)
            .map(|(_, ch)| ch.counts.calls);
        assert_eq!(hour, Some(2));
        // A period's hours are read as the slots they span, for callers.
        let p = plan(3_600 + 900, 4 * 86_400 + 7_200 + 900, true);
        assert!(p.ranges.iter().any(|r| r.0 == LEVEL_HOUR));
        let as_slots = Plan {
            raw: p.raw.clone(),
            ranges: p.caller_ranges(),
        };
        assert!(as_slots.ranges.iter().all(|r| r.0 != LEVEL_HOUR));
        // The same seconds, the days kept, the slots joined into ranges.
        let merged = |v: Vec<(i64, i64)>| {
            v.into_iter()
                .fold(Vec::<(i64, i64)>::new(), |mut out, (a, b)| {
                    match out.last_mut() {
                        Some(last) if last.1 == a => last.1 = b,
                        _ => out.push((a, b)),
                    }
                    out
                })
        };
        assert_eq!(merged(covered(&as_slots)), merged(covered(&p)));
        assert_eq!(
            as_slots.ranges.iter().filter(|r| r.0 == LEVEL_DAY).count(),
            p.ranges.iter().filter(|r| r.0 == LEVEL_DAY).count()
        );
        assert_eq!(as_slots.ranges.len(), 3, "{:?}", as_slots.ranges);
        assert_eq!(
            plan(0, 86_400, true).caller_ranges(),
            vec![(LEVEL_DAY, 0, 1)]
        );
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
            d.changes()
                .values()
                .all(|c| !c.rebuild && c.callers.is_empty())
        );
        let key = |f: &Fact, level| f.keys().find(|k| k.level == level).unwrap();
        let slot = d.changes().get(&key(&f, LEVEL_SLOT)).unwrap();
        assert_eq!((slot.counts.calls, slot.counts.answered), (0, 1));
        let mut d = Delta::default();
        d.change(
            &f,
            &Fact {
                started_at: 2_000,
                ..f.clone()
            },
        );
        let ch = d.changes();
        assert!(ch[&key(&f, LEVEL_SLOT)].rebuild);
        assert!(!ch[&key(&f, LEVEL_HOUR)].rebuild);
        assert!(!ch[&key(&f, LEVEL_DAY)].rebuild);
        // All lines' rows follow the line's.
        let all = Key {
            phone_number: ALL_LINES.into(),
            ..key(&f, LEVEL_SLOT)
        };
        assert!(ch[&all].rebuild);
    }
}
