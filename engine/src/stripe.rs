//! Caller-side stripes: the lossy read buffer and the counters that callers
//! bump, spread over cache-line-padded stripes so that threads rarely share a
//! line.
//!
//! Each stripe is a single-consumer ring of key hashes. A reader reserves a
//! slot with one compare-and-swap on its stripe's `tail` and stores the hash;
//! when the ring is full or the CAS loses a race the hint is dropped and
//! counted (dropping an access hint is harmless: the policy sees a little less
//! recency). The maintenance thread is the only consumer. Slot value 0 means
//! "reserved but not yet written", which is why key hashes are never 0 (see
//! `crate::hot::memory_form`).
//!
//! Hits are not counted separately: every hit either takes a ring slot
//! (`tail` advances) or is dropped (`dropped` advances), so
//! `hits = Σ tail + Σ dropped`.

use std::sync::atomic::AtomicUsize;

use crate::sync::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// Slots per stripe ring (a power of two).
pub(crate) const READ_RING_SLOTS: usize = 128;
const RING_MASK: u64 = READ_RING_SLOTS as u64 - 1;
/// A full ring asks for maintenance once per this many dropped hints.
const WAKE_EVERY_DROPS: u64 = 64;

/// The fields written by callers, together on one line.
struct Producer {
    tail: AtomicU64,
    dropped: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    updates: AtomicU64,
    removes: AtomicU64,
}

impl Producer {
    fn new() -> Self {
        Producer {
            tail: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            removes: AtomicU64::new(0),
        }
    }
}

struct Stripe {
    producer: CachePadded<Producer>,
    /// Written only by the consumer; read by producers to see fullness.
    head: CachePadded<AtomicU64>,
    ring: Box<[AtomicU64]>,
}

impl Stripe {
    fn new() -> Self {
        Stripe {
            producer: CachePadded::new(Producer::new()),
            head: CachePadded::new(AtomicU64::new(0)),
            ring: (0..READ_RING_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Which caller-side counter to bump.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Insert,
    Update,
    Remove,
    Miss,
}

/// Totals of the caller-side counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallerTotals {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) dropped_reads: u64,
    pub(crate) inserts: u64,
    pub(crate) updates: u64,
    pub(crate) removes: u64,
}

/// The stripes of one cache.
pub(crate) struct Stripes {
    stripes: Box<[Stripe]>,
    mask: usize,
}

thread_local! {
    /// This thread's stripe number, assigned round-robin on first use.
    static THREAD_SLOT: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
}

impl Stripes {
    /// `n` is rounded up to a power of two.
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        Stripes {
            stripes: (0..n).map(|_| Stripe::new()).collect(),
            mask: n - 1,
        }
    }

    #[inline]
    fn mine(&self) -> &Stripe {
        let slot = THREAD_SLOT.with(|s| *s);
        &self.stripes[slot & self.mask]
    }

    /// Records a hit on `hash`. Returns `true` when the caller should
    /// consider waking maintenance: the ring is full and this is one of every
    /// `WAKE_EVERY_DROPS` hints dropped for that reason (checking on every
    /// drop would put a clock read on most reads of a busy cache).
    #[inline]
    pub(crate) fn record_hit(&self, hash: u64) -> bool {
        debug_assert_ne!(hash, 0);
        let s = self.mine();
        let tail = s.producer.tail.load(Ordering::Relaxed);
        let head = s.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) >= READ_RING_SLOTS as u64 {
            let dropped = s.producer.dropped.fetch_add(1, Ordering::Relaxed);
            return dropped.is_multiple_of(WAKE_EVERY_DROPS);
        }
        if s.producer
            .tail
            .compare_exchange(tail, tail + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            s.producer.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        s.ring[(tail & RING_MASK) as usize].store(hash, Ordering::Release);
        false
    }

    /// Bumps a caller-side counter.
    #[inline]
    pub(crate) fn count(&self, op: Op) {
        let p = &self.mine().producer;
        let c = match op {
            Op::Insert => &p.inserts,
            Op::Update => &p.updates,
            Op::Remove => &p.removes,
            Op::Miss => &p.misses,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Hands every recorded hit to `sink`, in ring order per stripe. Only the
    /// maintenance thread calls this.
    pub(crate) fn drain(&self, mut sink: impl FnMut(u64)) {
        for s in self.stripes.iter() {
            let mut head = s.head.load(Ordering::Relaxed);
            let tail = s.producer.tail.load(Ordering::Acquire);
            while head != tail {
                let slot = &s.ring[(head & RING_MASK) as usize];
                let h = slot.load(Ordering::Acquire);
                if h == 0 {
                    // Reserved but not yet written: pick it up next pass.
                    break;
                }
                // Between a producer's write and the next lap the consumer is
                // the only writer of this slot, so a plain store clears it.
                // (No `swap` needed — and loom 0.7's model of a swap racing a
                // store can lose the store, which would blind the model.)
                slot.store(0, Ordering::Relaxed);
                sink(h);
                head += 1;
            }
            s.head.store(head, Ordering::Release);
        }
    }

    /// Sums the counters over all stripes.
    pub(crate) fn totals(&self) -> CallerTotals {
        let mut t = CallerTotals::default();
        for s in self.stripes.iter() {
            let p = &s.producer;
            let dropped = p.dropped.load(Ordering::Relaxed);
            t.hits += p.tail.load(Ordering::Relaxed) + dropped;
            t.dropped_reads += dropped;
            t.misses += p.misses.load(Ordering::Relaxed);
            t.inserts += p.inserts.load(Ordering::Relaxed);
            t.updates += p.updates.load(Ordering::Relaxed);
            t.removes += p.removes.load(Ordering::Relaxed);
        }
        t
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use loom::sync::Arc;
    use loom::thread;

    use super::Stripes;

    /// Two readers record hits while maintenance drains: every recorded hint
    /// is delivered exactly once, none is invented (in particular not the
    /// 0 of a slot reserved but not yet written), each reader's hints keep
    /// their order, and hits are counted exactly (delivered + dropped), in
    /// every interleaving. (The consumer runs in a spawned thread too: loom
    /// interleaves spawned threads with each other.)
    #[test]
    fn hints_are_delivered_once_or_counted_as_dropped() {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        loom::model(|| {
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let stripes = Arc::new(Stripes::new(1));
            let producers: Vec<_> = [[11u64, 12], [21, 22]]
                .into_iter()
                .map(|hashes| {
                    let s = Arc::clone(&stripes);
                    thread::spawn(move || {
                        for h in hashes {
                            s.record_hit(h);
                        }
                    })
                })
                .collect();
            let consumer = {
                let s = Arc::clone(&stripes);
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    s.drain(|h| seen.push(h));
                    seen
                })
            };
            for p in producers {
                p.join().unwrap();
            }
            let mut seen = consumer.join().unwrap();
            stripes.drain(|h| seen.push(h));
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                seen.len(),
                "a hint was delivered twice: {seen:?}"
            );
            assert!(
                seen.iter().all(|h| [11, 12, 21, 22].contains(h)),
                "an invented hint: {seen:?}"
            );
            let totals = stripes.totals();
            assert_eq!(totals.hits, 4);
            assert_eq!(
                seen.len() as u64 + totals.dropped_reads,
                4,
                "a hint was lost: {seen:?}"
            );
            let pos = |h| seen.iter().position(|&x| x == h);
            for (a, b) in [(11, 12), (21, 22)] {
                if let (Some(x), Some(y)) = (pos(a), pos(b)) {
                    assert!(x < y, "out of order: {seen:?}");
                }
            }
        });
        println!(
            "loom explored {} executions",
            RUNS.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_order_and_drops_when_full() {
        let s = Stripes::new(1);
        for h in 1..=(READ_RING_SLOTS as u64 + 10) {
            s.record_hit(h);
        }
        let mut seen = Vec::new();
        s.drain(|h| seen.push(h));
        assert_eq!(seen, (1..=READ_RING_SLOTS as u64).collect::<Vec<_>>());
        let t = s.totals();
        assert_eq!(t.hits, READ_RING_SLOTS as u64 + 10);
        assert_eq!(t.dropped_reads, 10);
        // After a drain the ring accepts again.
        assert!(!s.record_hit(7));
        let mut again = Vec::new();
        s.drain(|h| again.push(h));
        assert_eq!(again, vec![7]);
    }
}
