//! Caller ids: every distinct `other_party` number has an id in the
//! `callers` table, and the rollups' caller sets are bitmaps of those ids.
//! Ids never change once committed.
//!
//! The engines keep the number → id map differently:
//!
//! - PostgreSQL ([`CallerIds::cache`]): the table is keyed by number (its
//!   writers run concurrently and claim numbers there); this process caches
//!   the ids it has met, so most writes skip the lookup.
//! - SQLite ([`CallerIds::book`]): the table is a log in id order (migration
//!   0010) with no index on number, and each process holds every committed
//!   caller in memory, reading the log's new rows before it needs them.
//!   SQLite has one writer at a time, so a writer that has read the log to
//!   its end inside its transaction knows every number missing from the
//!   book is new, and appends it. A number-keyed table took a random B-tree
//!   insert per new caller: an import of 1 M calls from 430 000 callers
//!   rewrote nearly the whole table in every batch, half of what it wrote.

use std::sync::{Arc, Mutex};

use super::{StoreError, StoreResult};

/// Hash maps keyed by phone numbers and ids: foldhash
/// (seeded per map) instead of SipHash, a few per cent of an import's CPU.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Caller ids known to be committed; see the module's introduction.
#[derive(Clone)]
pub struct CallerIds {
    known: Arc<Mutex<Known>>,
    /// Readers reading the log take turns, so a cold process reads it once.
    reading: Arc<tokio::sync::Mutex<()>>,
}

enum Known {
    Cache(Generations),
    All(AllCallers),
}

/// Numbers a generation of [`CallerIds::cache`] holds.
pub const CALLER_IDS: usize = 1_000_000;

/// Two generations of at most `size` numbers each: numbers are remembered
/// in the young one; when it is full it becomes the old one (the old one is
/// dropped), and a number found in the old one moves back to the young. So
/// the numbers in use stay, memory is bounded, and a flush looks up all its
/// numbers under one lock. (A moka cache, with its per-entry bookkeeping,
/// was a sixth of an import's writer thread.)
struct Generations {
    size: usize,
    young: HashMap<Box<str>, u32>,
    old: HashMap<Box<str>, u32>,
}

impl Generations {
    fn remember(&mut self, number: Box<str>, id: u32) {
        if self.young.len() >= self.size {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(number, id);
    }
}

/// Every committed caller with an id up to `through`. E.164 numbers (all
/// but a few) are held as their digits, 16 bytes a caller.
#[derive(Default)]
struct AllCallers {
    e164: HashMap<u64, u32>,
    other: HashMap<Box<str>, u32>,
    through: i64,
}

impl AllCallers {
    fn get(&self, number: &str) -> Option<u32> {
        match digits(number) {
            Some(d) => self.e164.get(&d).copied(),
            None => self.other.get(number).copied(),
        }
    }

    fn put(&mut self, number: &str, id: u32) {
        match digits(number) {
            Some(d) => self.e164.insert(d, id),
            None => self.other.insert(number.into(), id),
        };
    }
}

/// `+` and up to 18 digits, the first not 0, as one integer: two such
/// numbers are equal exactly when their integers are.
fn digits(number: &str) -> Option<u64> {
    let d = number.strip_prefix('+')?;
    if d.is_empty() || d.len() > 18 || d.starts_with('0') || !d.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    d.parse().ok()
}

/// A caller id read from the database.
pub fn caller_id(id: i64) -> StoreResult<u32> {
    u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("caller id {id} beyond u32")))
}

impl Default for CallerIds {
    fn default() -> Self {
        CallerIds::cache(CALLER_IDS)
    }
}

impl CallerIds {
    /// A cache whose generations hold `size` numbers each (PostgreSQL).
    pub fn cache(size: usize) -> Self {
        CallerIds::of(Known::Cache(Generations {
            size: size.max(1),
            young: HashMap::default(),
            old: HashMap::default(),
        }))
    }

    /// Every committed caller, read from the log as needed (SQLite).
    pub fn book() -> Self {
        CallerIds::of(Known::All(AllCallers::default()))
    }

    fn of(known: Known) -> Self {
        CallerIds {
            known: Arc::new(Mutex::new(known)),
            reading: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The book's last id: every committed caller up to it is held.
    pub fn through(&self) -> i64 {
        match &*self.lock() {
            Known::All(b) => b.through,
            Known::Cache(_) => 0,
        }
    }

    /// Takes in callers read from the log: every committed row with an id
    /// above `after` up to the last of `rows`, in id order.
    pub fn absorb(&self, after: i64, rows: &[(i64, String)]) -> StoreResult<()> {
        let mut g = self.lock();
        match &mut *g {
            Known::All(b) => {
                for (id, number) in rows {
                    b.put(number, caller_id(*id)?);
                }
                if let Some((last, _)) = rows.last()
                    && b.through >= after
                {
                    b.through = b.through.max(*last);
                }
            }
            Known::Cache(c) => {
                for (id, number) in rows {
                    c.remember(number.as_str().into(), caller_id(*id)?);
                }
            }
        }
        Ok(())
    }

    /// Readers of the log take this turn first (see [`CallerIds`]).
    pub fn reading(&self) -> &tokio::sync::Mutex<()> {
        &self.reading
    }

    /// Fills `ids[i]` for every `numbers[i]` known and returns the
    /// positions of the others.
    pub fn lookup(&self, numbers: &[String], ids: &mut [u32]) -> Vec<usize> {
        let mut g = self.lock();
        let mut missing = Vec::new();
        match &mut *g {
            Known::All(b) => {
                for (i, n) in numbers.iter().enumerate() {
                    match b.get(n) {
                        Some(id) => ids[i] = id,
                        None => missing.push(i),
                    }
                }
            }
            Known::Cache(g) => {
                for (i, n) in numbers.iter().enumerate() {
                    if let Some(&id) = g.young.get(n.as_str()) {
                        ids[i] = id;
                    } else if let Some((n, id)) = g.old.remove_entry(n.as_str()) {
                        ids[i] = id;
                        g.remember(n, id);
                    } else {
                        missing.push(i);
                    }
                }
            }
        }
        missing
    }

    /// The id of one number, if known.
    pub fn get(&self, number: &str) -> Option<u32> {
        match &*self.lock() {
            Known::All(b) => b.get(number),
            Known::Cache(g) => g.young.get(number).or_else(|| g.old.get(number)).copied(),
        }
    }

    /// Takes in the callers a transaction stored or fetched, once it has
    /// committed. A book's new callers are the next ids after its last.
    pub fn remember(&self, tx: TxCallers) {
        let mut g = self.lock();
        match &mut *g {
            Known::All(b) => {
                let (mut low, mut high) = (i64::MAX, 0i64);
                for (n, id) in &tx.ids {
                    b.put(n, *id);
                    low = low.min(i64::from(*id));
                    high = high.max(i64::from(*id));
                }
                if low <= b.through + 1 {
                    b.through = b.through.max(high);
                }
            }
            Known::Cache(c) => {
                for (n, id) in tx.ids {
                    c.remember(n.into_boxed_str(), id);
                }
            }
        }
    }
}

impl std::fmt::Debug for CallerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerIds")
    }
}

/// The callers one write transaction stored (a book's) or fetched (a
/// cache's): its later flushes look them up here, and [`CallerIds`] takes
/// them in once it commits. With a book, whether the transaction has read
/// the log to its end.
#[derive(Debug, Default)]
pub struct TxCallers {
    ids: HashMap<String, u32>,
    pub read: bool,
}

impl TxCallers {
    pub fn get(&self, number: &str) -> Option<u32> {
        self.ids.get(number).copied()
    }

    pub fn put(&mut self, number: String, id: u32) {
        self.ids.insert(number, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(known: &CallerIds, v: &[String]) -> (Vec<u32>, Vec<usize>) {
        let mut ids = vec![0; v.len()];
        let missing = known.lookup(v, &mut ids);
        (ids, missing)
    }

    fn numbers(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn committed(v: &[(&str, u32)]) -> TxCallers {
        let mut tx = TxCallers::default();
        for (n, id) in v {
            tx.put(n.to_string(), *id);
        }
        tx
    }

    #[test]
    fn a_cache_keeps_the_numbers_in_use_within_two_generations() {
        let known = CallerIds::cache(3);
        let all = numbers(&["+1", "+2", "+3", "+4", "+5", "+6", "+7"]);
        assert_eq!(look(&known, &all[..2]), (vec![0, 0], vec![0, 1]));
        known.remember(committed(&[("+1", 1)]));
        known.remember(committed(&[("+2", 2)]));
        known.remember(committed(&[("+3", 3)]));
        assert_eq!(look(&known, &all[..3]), (vec![1, 2, 3], vec![]));
        // The young generation is full: +4 starts a new one, +1..+3 are old.
        known.remember(committed(&[("+4", 4)]));
        // +1 is used again: it moves back to the young generation.
        assert_eq!(look(&known, &all[..1]), (vec![1], vec![]));
        // The young generation (+4, +1, +5) fills and turns old: +2 and +3,
        // unused since, are forgotten; +1 and +4 stay.
        known.remember(committed(&[("+5", 5)]));
        known.remember(committed(&[("+6", 6)]));
        assert_eq!(
            look(&known, &all[..6]),
            (vec![1, 0, 0, 4, 5, 6], vec![1, 2])
        );
    }

    #[test]
    fn a_book_holds_every_caller_and_knows_how_far() {
        let known = CallerIds::book();
        assert_eq!(known.through(), 0);
        known
            .absorb(
                0,
                &[
                    (1, "+919812345678".into()),
                    (2, "anonymous".into()),
                    (3, "+447700900123".into()),
                ],
            )
            .unwrap();
        assert_eq!(known.through(), 3);
        // A transaction's new callers, the next ids, once it commits.
        known.remember(committed(&[("+12125550182", 4), ("+0123", 5)]));
        assert_eq!(known.through(), 5);
        let v = numbers(&[
            "+919812345678",
            "anonymous",
            "+447700900123",
            "+12125550182",
            "+0123",
            "+123",
            "+919812345679",
        ]);
        assert_eq!(look(&known, &v), (vec![1, 2, 3, 4, 5, 0, 0], vec![5, 6]));
        // Ids past a gap (rows not read yet) are held, but the book's end stays.
        known.remember(committed(&[("+123", 9)]));
        assert_eq!(known.through(), 5);
        assert_eq!(known.get("+123"), Some(9));
        // Reading the log past the gap moves it.
        known
            .absorb(
                5,
                &[
                    (6, "+16".into()),
                    (7, "+17".into()),
                    (8, "+18".into()),
                    (9, "+123".into()),
                ],
            )
            .unwrap();
        assert_eq!(known.through(), 9);
        assert!(known.absorb(9, &[(1 << 33, "+1".into())]).is_err());
    }

    #[test]
    fn only_plain_e164_numbers_are_held_as_digits() {
        assert_eq!(digits("+919812345678"), Some(919_812_345_678));
        assert_eq!(digits("+1"), Some(1));
        assert_eq!(digits("+123456789012345678"), Some(123_456_789_012_345_678));
        for n in [
            "+0123",
            "919812345678",
            "+",
            "+1234567890123456789",
            "+91 98123",
            "anonymous",
            "+１２",
        ] {
            assert_eq!(digits(n), None, "{n}");
        }
    }
}
