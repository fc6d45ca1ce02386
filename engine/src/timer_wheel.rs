//! A hierarchical timer wheel that finds expired entries without scanning the
//! cache.
//!
//! Six levels of 64 slots; a level-0 slot spans one tick of 2^20 ns (about
//! 1 ms) and each level spans 64 times the one below, so the wheel covers
//! 64^6 ticks (about 2.2 years); later deadlines park in the top level and are
//! re-filed when their slot comes round. Scheduling is O(1); advancing jumps
//! straight to the next occupied slot using a per-level occupancy bitmap, so
//! an idle hour costs nothing. A timer fires no earlier than its deadline
//! (deadlines round up to a tick).
//!
//! Timers are never cancelled in place: an overwritten or removed entry leaves
//! a stale timer that fires harmlessly (the reaper checks the index). The
//! maintenance actor calls [`TimerWheel::retain`] when stale timers pile up.

const TICK_SHIFT: u32 = 20;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;

/// A pending expiry: the key hash and its deadline in clock nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) hash: u64,
    pub(crate) deadline: u64,
}

pub(crate) struct TimerWheel {
    slots: Box<[Vec<Timer>]>,
    occupied: [u64; LEVELS],
    /// Timers already due when scheduled.
    due: Vec<Timer>,
    /// Ticks processed so far.
    elapsed: u64,
    len: usize,
}

fn tick_of(deadline: u64) -> u64 {
    // Round up so that a timer never fires before its deadline.
    deadline.div_ceil(1 << TICK_SHIFT)
}

fn slot_range(level: usize) -> u64 {
    1u64 << (SLOT_BITS as usize * level)
}

impl TimerWheel {
    pub(crate) fn new() -> Self {
        TimerWheel {
            slots: (0..SLOTS * LEVELS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            due: Vec::new(),
            elapsed: 0,
            len: 0,
        }
    }

    /// Number of timers held, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Files a timer.
    pub(crate) fn schedule(&mut self, timer: Timer) {
        self.len += 1;
        self.file(timer);
    }

    fn file(&mut self, timer: Timer) {
        let tick = tick_of(timer.deadline);
        if tick <= self.elapsed {
            self.due.push(timer);
            return;
        }
        let masked = (self.elapsed ^ tick) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        let level = (significant / SLOT_BITS as usize).min(LEVELS - 1);
        let slot = ((tick >> (SLOT_BITS as usize * level)) as usize) & (SLOTS - 1);
        self.slots[level * SLOTS + slot].push(timer);
        self.occupied[level] |= 1 << slot;
    }

    /// The tick at which the next occupied slot opens, with its level and slot.
    fn next_slot(&self) -> Option<(u64, usize, usize)> {
        for level in 0..LEVELS {
            let occ = self.occupied[level];
            if occ == 0 {
                continue;
            }
            let range = slot_range(level);
            let level_range = range << SLOT_BITS;
            let now_slot = ((self.elapsed >> (SLOT_BITS as usize * level)) as usize) & (SLOTS - 1);
            let slot =
                (occ.rotate_right(now_slot as u32).trailing_zeros() as usize + now_slot) % SLOTS;
            let level_start = self.elapsed & !(level_range - 1);
            let mut start = level_start + slot as u64 * range;
            if start <= self.elapsed && level == LEVELS - 1 {
                // Only deadlines beyond the wheel's span can sit in a top-level
                // slot at or behind the current one: they are a lap ahead.
                start += level_range;
            }
            return Some((start.max(self.elapsed), level, slot));
        }
        None
    }

    /// Advances to `now` (clock nanoseconds) and hands every timer whose
    /// deadline has passed to `fire`.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(Timer)) {
        let now_tick = now >> TICK_SHIFT;
        for t in std::mem::take(&mut self.due) {
            self.len -= 1;
            fire(t);
        }
        while let Some((start, level, slot)) = self.next_slot() {
            if start > now_tick {
                break;
            }
            self.elapsed = start;
            self.occupied[level] &= !(1 << slot);
            let timers = std::mem::take(&mut self.slots[level * SLOTS + slot]);
            for t in timers {
                if tick_of(t.deadline) <= now_tick {
                    self.len -= 1;
                    fire(t);
                } else {
                    self.file(t);
                }
            }
            // Anything re-filed as due fires now (it is within `now_tick`).
            for t in std::mem::take(&mut self.due) {
                self.len -= 1;
                fire(t);
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
    }

    /// Keeps only the timers for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Timer) -> bool) {
        let mut len = 0;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.retain(&mut keep);
            if slot.is_empty() {
                self.occupied[i / SLOTS] &= !(1 << (i % SLOTS));
            }
            len += slot.len();
        }
        self.due.retain(&mut keep);
        self.len = len + self.due.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const TICK: u64 = 1 << TICK_SHIFT;

    fn fired(w: &mut TimerWheel, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        w.advance(now, |t| {
            assert!(t.deadline <= now, "timer {t:?} fired early at {now}");
            out.push(t.hash)
        });
        out.sort_unstable();
        out
    }

    #[test]
    fn fires_each_timer_once_never_early() {
        let mut w = TimerWheel::new();
        // Deadlines spread over many levels, including past ones.
        let deadlines: Vec<u64> = (0..2000u64).map(|i| i * i * 37 * MS / 7).collect();
        for (i, &d) in deadlines.iter().enumerate() {
            w.schedule(Timer {
                hash: i as u64 + 1,
                deadline: d,
            });
        }
        let mut seen = vec![false; deadlines.len()];
        let end = *deadlines.iter().max().unwrap() + 10 * MS;
        let mut now = 0;
        while now <= end {
            for h in fired(&mut w, now) {
                let i = h as usize - 1;
                assert!(!seen[i], "fired twice");
                assert!(deadlines[i] <= now);
                seen[i] = true;
            }
            // Every timer whose deadline is a tick behind must have fired.
            for (i, &d) in deadlines.iter().enumerate() {
                if tick_of(d) <= (now >> TICK_SHIFT) {
                    assert!(seen[i], "timer {i} (deadline {d}) missed at {now}");
                }
            }
            now += now / 3 + 7 * MS;
        }
        for h in fired(&mut w, end + 2 * TICK) {
            let i = h as usize - 1;
            assert!(!seen[i], "fired twice");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn far_future_deadline_survives_laps() {
        let mut w = TimerWheel::new();
        let far = (1u64 << (TICK_SHIFT + 37)) + 5 * MS; // beyond the wheel's span
        w.schedule(Timer {
            hash: 9,
            deadline: far,
        });
        assert!(fired(&mut w, far / 2).is_empty());
        assert!(fired(&mut w, far - MS * 2).is_empty());
        assert_eq!(fired(&mut w, far + MS * 2), vec![9]);
    }

    #[test]
    fn retain_drops_stale_timers() {
        let mut w = TimerWheel::new();
        for h in 1..=100 {
            w.schedule(Timer {
                hash: h,
                deadline: h * 100 * MS,
            });
        }
        w.retain(|t| t.hash % 2 == 0);
        assert_eq!(w.len(), 50);
        // A timer fires at most one tick after its deadline.
        let all = fired(&mut w, 100 * 100 * MS + TICK);
        assert_eq!(all, (1..=50).map(|h| h * 2).collect::<Vec<_>>());
    }
}
