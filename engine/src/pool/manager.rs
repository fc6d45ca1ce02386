//! The pool manager actor: the one thread that owns the slot bookkeeping.
//!
//! Maintenance sends it batches of allocations for demoted entries and waits
//! for the locations. Everyone who drops a warm entry puts its slot on a
//! shared free queue without waking anyone (a wake-up per promotion would
//! cost a context switch); the manager takes the queue before every command
//! and on its tick, so freed slots are reused by the next allocation. On its own schedule, and when asked after an allocation
//! failed, it defragments (moving live items out of sparse slabs, releasing
//! the slabs that empty) and rebalances (returning memory from the class with
//! the most free slots so that a starving class can take it).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select};
use parking_lot::Mutex;

use super::alloc::{AllocError, Allocator, ClassStats, DefragReport};
use super::{Relocate, SlabLoc, SlabTable};

/// Capacity of the pool manager's command channel.
pub(crate) const POOL_CHANNEL_CAPACITY: usize = 1024;
/// How often the pool manager looks at fragmentation on its own.
const POOL_INTERVAL: Duration = Duration::from_millis(500);
/// Defragment on schedule when more than this share of held memory is not
/// item bytes (and at least two slabs' worth).
const FRAGMENTATION_TRIGGER: f64 = 0.30;

/// A granted slot: where, and the slot size of its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) loc: SlabLoc,
    pub(crate) slot_size: u32,
}

pub(crate) enum PoolCmd {
    Alloc {
        /// (byte length, owner key hash) per item.
        items: Vec<(u32, u64)>,
        reply: Sender<Vec<Result<Grant, AllocError>>>,
    },
    Defrag {
        reply: Sender<DefragReport>,
    },
    Stats {
        reply: Sender<PoolStats>,
    },
    Shutdown,
}

/// Pool figures.
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
/// let p = cache.pool_stats().unwrap();
/// assert!(p.held_bytes <= p.max_bytes);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Per-class figures (classes holding slabs only).
    pub classes: Vec<ClassStats>,
    /// Slab bytes held now.
    pub held_bytes: u64,
    /// The most slab bytes the pool may hold.
    pub max_bytes: u64,
    /// Defragmentation and rebalancing runs.
    pub defrag_runs: u64,
    /// Items moved by them.
    pub moved: u64,
    /// Bytes they returned to the system.
    pub bytes_reclaimed: u64,
    /// Time they took, in microseconds.
    pub defrag_micros: u64,
    /// Rebalancing runs that found a starving class.
    pub rebalances: u64,
}

impl PoolStats {
    /// Item bytes over all classes.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// assert_eq!(cache.pool_stats().unwrap().live_bytes(), 0, "nothing demoted yet");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn live_bytes(&self) -> u64 {
        self.classes.iter().map(|c| c.live_bytes).sum()
    }

    /// Share of held memory in free slots (external fragmentation, what
    /// defragmentation reclaims).
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// let share = cache.pool_stats().unwrap().free_slot_share();
    /// assert!((0.0..=1.0).contains(&share));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn free_slot_share(&self) -> f64 {
        let free: u64 = self.classes.iter().map(ClassStats::free_slot_bytes).sum();
        if self.held_bytes == 0 {
            0.0
        } else {
            free as f64 / self.held_bytes as f64
        }
    }

    /// `1 - live / held` over the whole pool (slot rounding included).
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// let f = cache.pool_stats().unwrap().fragmentation();
    /// assert!((0.0..=1.0).contains(&f));
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn fragmentation(&self) -> f64 {
        if self.held_bytes == 0 {
            0.0
        } else {
            1.0 - self.live_bytes() as f64 / self.held_bytes as f64
        }
    }
}

/// Running totals, owned by the actor.
#[derive(Default)]
struct Totals {
    runs: u64,
    moved: u64,
    reclaimed: u64,
    micros: u64,
    rebalances: u64,
}

impl Totals {
    fn add(&mut self, r: &DefragReport) {
        self.runs += 1;
        self.moved += r.moved;
        self.reclaimed += r.bytes_reclaimed;
        self.micros += u64::try_from(r.elapsed.as_micros()).unwrap_or(u64::MAX);
    }
}

/// A handle to the pool manager; dropping the last one stops it.
pub(crate) struct PoolHandle {
    tx: Sender<PoolCmd>,
    /// Slots given back and not yet taken by the manager.
    frees: Arc<Mutex<Vec<SlabLoc>>>,
    pub(crate) table: Arc<SlabTable>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl PoolHandle {
    /// Starts a pool of at most `max_bytes` of slabs whose items are indexed
    /// by `relocate`.
    pub(crate) fn start(
        name: &str,
        max_bytes: u64,
        relocate: Arc<dyn Relocate>,
    ) -> std::io::Result<Self> {
        let table = Arc::new(SlabTable::default());
        let alloc = Allocator::new(max_bytes, Arc::clone(&table));
        let (tx, rx) = bounded(POOL_CHANNEL_CAPACITY);
        let frees = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::clone(&frees);
        let worker = std::thread::Builder::new()
            .name(format!("gx-pool-{name}"))
            .spawn(move || run(alloc, rx, queue, relocate, max_bytes))?;
        Ok(PoolHandle {
            tx,
            frees,
            table,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Allocates slots for `items` ((length, owner hash) each) and waits.
    pub(crate) fn alloc(&self, items: Vec<(u32, u64)>) -> Vec<Result<Grant, AllocError>> {
        let n = items.len();
        let (reply, rx) = bounded(1);
        if self.tx.send(PoolCmd::Alloc { items, reply }).is_err() {
            return vec![Err(AllocError::NoSpace); n];
        }
        rx.recv()
            .unwrap_or_else(|_| vec![Err(AllocError::NoSpace); n])
    }

    /// Returns slots to the pool (queued; see the module docs).
    pub(crate) fn free(&self, locs: Vec<SlabLoc>) {
        if !locs.is_empty() {
            self.frees.lock().extend(locs);
        }
    }

    /// Defragments and rebalances now and waits for the report.
    pub(crate) fn defragment(&self) -> DefragReport {
        let (reply, rx) = bounded(1);
        if self.tx.send(PoolCmd::Defrag { reply }).is_err() {
            return DefragReport::default();
        }
        rx.recv().unwrap_or_default()
    }

    /// The pool's figures.
    pub(crate) fn stats(&self) -> PoolStats {
        let (reply, rx) = bounded(1);
        if self.tx.send(PoolCmd::Stats { reply }).is_err() {
            return PoolStats::default();
        }
        rx.recv().unwrap_or_default()
    }
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        let Some(worker) = self.worker.get_mut().take() else {
            return;
        };
        let _ = self.tx.send(PoolCmd::Shutdown);
        if worker.thread().id() != std::thread::current().id() {
            let _ = worker.join();
        }
    }
}

fn run(
    mut alloc: Allocator,
    rx: Receiver<PoolCmd>,
    frees: Arc<Mutex<Vec<SlabLoc>>>,
    relocate: Arc<dyn Relocate>,
    max_bytes: u64,
) {
    let mut totals = Totals::default();
    let take_frees = |alloc: &mut Allocator| {
        let locs = std::mem::take(&mut *frees.lock());
        for loc in locs {
            alloc.free(loc);
        }
    };
    loop {
        select! {
            recv(rx) -> cmd => { take_frees(&mut alloc); match cmd {
                Ok(PoolCmd::Alloc { items, reply }) => {
                    let out = items
                        .into_iter()
                        .map(|(len, owner)| {
                            alloc.alloc(len, owner).map(|loc| Grant {
                                loc,
                                slot_size: alloc.slot_size(loc).expect("just allocated"),
                            })
                        })
                        .collect();
                    let _ = reply.send(out);
                }
                Ok(PoolCmd::Defrag { reply }) => {
                    let mut report = alloc.defragment(relocate.as_ref());
                    let (receiver, more) = alloc.rebalance(relocate.as_ref());
                    if receiver.is_some() {
                        totals.rebalances += 1;
                    }
                    report.moved += more.moved;
                    report.slabs_released += more.slabs_released;
                    report.bytes_reclaimed += more.bytes_reclaimed;
                    report.elapsed += more.elapsed;
                    totals.add(&report);
                    let _ = reply.send(report);
                }
                Ok(PoolCmd::Stats { reply }) => {
                    let _ = reply.send(PoolStats {
                        classes: alloc.stats(),
                        held_bytes: alloc.held_bytes(),
                        max_bytes,
                        defrag_runs: totals.runs,
                        moved: totals.moved,
                        bytes_reclaimed: totals.reclaimed,
                        defrag_micros: totals.micros,
                        rebalances: totals.rebalances,
                    });
                }
                Ok(PoolCmd::Shutdown) | Err(_) => return,
            }},
            default(POOL_INTERVAL) => {
                take_frees(&mut alloc);
                let stats = alloc.stats();
                let held = alloc.held_bytes();
                let live: u64 = stats.iter().map(|c| c.live_bytes).sum();
                let slack = held.saturating_sub(live);
                if held > 0
                    && slack >= 2 * super::SLAB_SIZE as u64
                    && slack as f64 / held as f64 > FRAGMENTATION_TRIGGER
                {
                    let report = alloc.defragment(relocate.as_ref());
                    totals.add(&report);
                }
                let (receiver, report) = alloc.rebalance(relocate.as_ref());
                if receiver.is_some() {
                    totals.rebalances += 1;
                    totals.add(&report);
                }
            }
        }
    }
}
