//! Reading rollups: which buckets of which level answer a period.

use super::*;

/// How a period `[from, to)` (seconds) is answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Spans read from the raw rows (each shorter than a slot).
    pub raw: Vec<(i64, i64)>,
    /// `(level, first bucket, end bucket)` read from the rollups.
    pub ranges: Vec<(i64, i64, i64)>,
}

impl Plan {
    /// [`Plan::ranges`] for a question that counts distinct callers: a
    /// range at a level that keeps no caller sets (hours; see
    /// [`keeps_callers`]) is read as its slots, whose rows carry the same
    /// counts and the caller sets.
    pub fn caller_ranges(&self) -> Vec<(i64, i64, i64)> {
        let mut out: Vec<(i64, i64, i64)> = Vec::with_capacity(self.ranges.len());
        for &(level, a, b) in &self.ranges {
            let r = if keeps_callers(level) {
                (level, a, b)
            } else {
                let k = level_slots(level);
                (LEVEL_SLOT, a * k, b * k)
            };
            // Slots next to the hours they now continue read as one range.
            match out.last_mut() {
                Some(last) if last.0 == r.0 && last.2 == r.1 => last.2 = r.2,
                _ => out.push(r),
            }
        }
        out
    }
}

/// Cuts `[from, to)` into raw edges, whole slots and (when `coarse`) whole
/// UTC hours and days, so that each level is read only where the coarser
/// one does not fit.
pub fn plan(from: i64, to: i64, coarse: bool) -> Plan {
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
    if coarse {
        cover(&mut p.ranges, LEVEL_SLOT, a, b);
    } else {
        p.ranges.push((LEVEL_SLOT, a, b));
    }
    p
}

/// Covers slots `[a, b)` with the coarsest buckets that fit: the next level
/// up in the middle, this one at the edges.
fn cover(out: &mut Vec<(i64, i64, i64)>, level: i64, a: i64, b: i64) {
    if a >= b {
        return;
    }
    let coarser = match level {
        LEVEL_SLOT => LEVEL_HOUR,
        LEVEL_HOUR => LEVEL_DAY,
        _ => {
            out.push((level, a, b));
            return;
        }
    };
    // Buckets of this level per bucket of the coarser one.
    let k = level_slots(coarser) / level_slots(level);
    let (ca, cb) = (
        a.div_euclid(k) + i64::from(a.rem_euclid(k) != 0),
        b.div_euclid(k),
    );
    if ca >= cb {
        out.push((level, a, b));
        return;
    }
    if a < ca * k {
        out.push((level, a, ca * k));
    }
    cover(out, coarser, ca, cb);
    if cb * k < b {
        out.push((level, cb * k, b));
    }
}
