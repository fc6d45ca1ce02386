//! Slot bookkeeping: per-class slabs and free slots, the owner of every slot,
//! defragmentation and rebalancing. Single-threaded: the pool manager owns it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Band, Relocate, SlabLoc, SlabTable, class_sizes, slab_bytes_for};

/// Why an allocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// The item is larger than a slab.
    TooLarge,
    /// The class has no free slot and the pool may not take another slab.
    NoSpace,
}

struct SlabMeta {
    class: u16,
    /// Free slot numbers.
    free: Vec<u32>,
    /// Key hash of each slot's item (0 = free).
    owners: Box<[u64]>,
    /// Byte length of each slot's item.
    lens: Box<[u32]>,
}

impl SlabMeta {
    fn live(&self) -> u32 {
        self.owners.len() as u32 - self.free.len() as u32
    }
}

struct Class {
    size: u32,
    slab_bytes: u32,
    per_slab: u32,
    /// Slabs of this class.
    slabs: Vec<u32>,
    live_items: u64,
    live_bytes: u64,
    /// Allocations refused for lack of space since the last rebalance.
    failures: u64,
}

/// Per-class figures. Held memory splits into item bytes, slot rounding
/// (internal waste: `items * slot_size - live_bytes`, plus the slab tail that
/// fits no whole slot) and free slots (external waste, which
/// defragmentation reclaims).
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
/// for class in cache.pool_stats().unwrap().classes {
///     println!("{} B slots: {} items, {:.0} % fragmented", class.slot_size, class.items,
///         100.0 * class.fragmentation());
/// }
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassStats {
    /// Slot size in bytes.
    pub slot_size: u32,
    /// Size of each of the class's slabs in bytes.
    pub slab_bytes: u32,
    /// Size band.
    pub band: Band,
    /// Slabs held.
    pub slabs: u64,
    /// Items stored.
    pub items: u64,
    /// Bytes of the items stored.
    pub live_bytes: u64,
}

impl ClassStats {
    /// Bytes of slab memory held by the class.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// let held: u64 = cache.pool_stats().unwrap().classes.iter().map(|c| c.held_bytes()).sum();
    /// # let _ = held;
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn held_bytes(&self) -> u64 {
        self.slabs * u64::from(self.slab_bytes)
    }

    /// `1 - live / held`: the share of held memory not holding item bytes.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// for c in cache.pool_stats().unwrap().classes {
    ///     assert!((0.0..=1.0).contains(&c.fragmentation()));
    /// }
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn fragmentation(&self) -> f64 {
        if self.slabs == 0 {
            0.0
        } else {
            1.0 - self.live_bytes as f64 / self.held_bytes() as f64
        }
    }

    /// Bytes of free slots in held slabs: what defragmentation can reclaim.
    ///
    /// ```
    /// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
    /// let free: u64 = cache.pool_stats().unwrap().classes.iter().map(|c| c.free_slot_bytes()).sum();
    /// # let _ = free;
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn free_slot_bytes(&self) -> u64 {
        let per_slab = u64::from(self.slab_bytes / self.slot_size);
        (self.slabs * per_slab - self.items) * u64::from(self.slot_size)
    }
}

/// What one defragmentation or rebalancing run did.
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
/// let r = cache.defragment().unwrap();
/// println!("moved {} items, released {} slabs in {:?}", r.moved, r.slabs_released, r.elapsed);
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefragReport {
    /// Items moved.
    pub moved: u64,
    /// Slabs returned to the system.
    pub slabs_released: u64,
    /// Bytes returned to the system.
    pub bytes_reclaimed: u64,
    /// Time spent.
    pub elapsed: Duration,
}

pub(crate) struct Allocator {
    classes: Vec<Class>,
    slabs: Vec<Option<SlabMeta>>,
    spare_ids: Vec<u32>,
    /// Slab bytes held now, and the most that may be held.
    held: u64,
    max_bytes: u64,
    pub(crate) table: Arc<SlabTable>,
}

impl Allocator {
    /// A pool that may hold at most `max_bytes` of slabs.
    pub(crate) fn new(max_bytes: u64, table: Arc<SlabTable>) -> Self {
        Allocator {
            classes: class_sizes()
                .into_iter()
                .map(|size| Class {
                    size,
                    slab_bytes: slab_bytes_for(size),
                    per_slab: slab_bytes_for(size) / size,
                    slabs: Vec::new(),
                    live_items: 0,
                    live_bytes: 0,
                    failures: 0,
                })
                .collect(),
            slabs: Vec::new(),
            spare_ids: Vec::new(),
            held: 0,
            max_bytes,
            table,
        }
    }

    /// The class for an item of `len` bytes.
    pub(crate) fn class_of(&self, len: u32) -> Option<usize> {
        let i = self.classes.partition_point(|c| c.size < len);
        (i < self.classes.len()).then_some(i)
    }

    /// The slot size of the slab holding `loc`.
    pub(crate) fn slot_size(&self, loc: SlabLoc) -> Option<u32> {
        let meta = self.slabs.get(loc.slab as usize)?.as_ref()?;
        Some(self.classes[meta.class as usize].size)
    }

    /// Bytes of slab memory held.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held
    }

    /// Reserves a slot for `len` bytes owned by the key hash `owner`.
    pub(crate) fn alloc(&mut self, len: u32, owner: u64) -> Result<SlabLoc, AllocError> {
        let c = self.class_of(len).ok_or(AllocError::TooLarge)?;
        let slab = match self.partial_slab(c) {
            Some(s) => s,
            None => match self.new_slab(c) {
                Some(s) => s,
                None => {
                    self.classes[c].failures += 1;
                    return Err(AllocError::NoSpace);
                }
            },
        };
        let meta = self.slabs[slab as usize].as_mut().expect("live slab");
        let slot = meta.free.pop().expect("partial slab has a free slot");
        meta.owners[slot as usize] = owner.max(1);
        meta.lens[slot as usize] = len;
        let class = &mut self.classes[c];
        class.live_items += 1;
        class.live_bytes += u64::from(len);
        Ok(SlabLoc { slab, slot })
    }

    /// The densest slab of class `c` that has a free slot.
    fn partial_slab(&self, c: usize) -> Option<u32> {
        self.classes[c]
            .slabs
            .iter()
            .copied()
            .filter(|&s| {
                self.slabs[s as usize]
                    .as_ref()
                    .is_some_and(|m| !m.free.is_empty())
            })
            .max_by_key(|&s| self.slabs[s as usize].as_ref().map_or(0, SlabMeta::live))
    }

    fn new_slab(&mut self, c: usize) -> Option<u32> {
        let bytes = self.classes[c].slab_bytes;
        if self.held + u64::from(bytes) > self.max_bytes {
            return None;
        }
        let per_slab = self.classes[c].per_slab;
        let meta = SlabMeta {
            class: c as u16,
            free: (0..per_slab).rev().collect(),
            owners: vec![0; per_slab as usize].into_boxed_slice(),
            lens: vec![0; per_slab as usize].into_boxed_slice(),
        };
        let id = match self.spare_ids.pop() {
            Some(id) => {
                self.slabs[id as usize] = Some(meta);
                id
            }
            None => {
                self.slabs.push(Some(meta));
                (self.slabs.len() - 1) as u32
            }
        };
        self.table.install(id, bytes);
        self.classes[c].slabs.push(id);
        self.held += u64::from(bytes);
        Some(id)
    }

    /// Frees the slot at `loc`; an empty slab is returned to the system.
    /// Freeing a free or unknown slot is ignored (and reported as false).
    pub(crate) fn free(&mut self, loc: SlabLoc) -> bool {
        let Some(Some(meta)) = self.slabs.get_mut(loc.slab as usize) else {
            return false;
        };
        let Some(owner) = meta.owners.get_mut(loc.slot as usize) else {
            return false;
        };
        if *owner == 0 {
            return false;
        }
        *owner = 0;
        let len = std::mem::take(&mut meta.lens[loc.slot as usize]);
        meta.free.push(loc.slot);
        let (c, empty) = (meta.class as usize, meta.live() == 0);
        let class = &mut self.classes[c];
        class.live_items -= 1;
        class.live_bytes -= u64::from(len);
        if empty {
            self.release(loc.slab);
        }
        true
    }

    fn release(&mut self, slab: u32) {
        let Some(meta) = self.slabs[slab as usize].take() else {
            return;
        };
        let class = &mut self.classes[meta.class as usize];
        class.slabs.retain(|&s| s != slab);
        self.held -= u64::from(class.slab_bytes);
        self.table.release(slab);
        self.spare_ids.push(slab);
    }

    /// Moves live items out of sparse slabs into dense ones in every class,
    /// releasing the slabs that empty.
    pub(crate) fn defragment(&mut self, relocate: &dyn Relocate) -> DefragReport {
        let started = Instant::now();
        let mut report = DefragReport::default();
        for c in 0..self.classes.len() {
            self.defragment_class(c, relocate, &mut report);
        }
        report.elapsed = started.elapsed();
        report
    }

    /// Two-pointer compaction of one class: items leave the sparsest slab
    /// for the densest slab with room until the two meet. Afterwards every
    /// slab of the class is full except at most one (two if a relocation
    /// lost a race with a remover), i.e. the class holds at most
    /// `ceil(items / slots_per_slab) + 1` slabs.
    fn defragment_class(&mut self, c: usize, relocate: &dyn Relocate, report: &mut DefragReport) {
        let class = &self.classes[c];
        let needed = class.live_items.div_ceil(u64::from(class.per_slab));
        if class.slabs.len() as u64 <= needed {
            return; // nothing can be released
        }
        let size = class.size;
        let live = |a: &Allocator, s: u32| a.slabs[s as usize].as_ref().map_or(0, SlabMeta::live);
        let mut order = class.slabs.clone();
        order.sort_by_key(|&s| live(self, s));
        let (mut lo, mut hi) = (0usize, order.len() - 1);
        while lo < hi {
            let (src, dst) = (order[lo], order[hi]);
            let Some(src_meta) = self.slabs[src as usize].as_ref() else {
                lo += 1; // emptied and released
                continue;
            };
            let Some(slot) = src_meta.owners.iter().position(|&o| o != 0) else {
                lo += 1;
                continue;
            };
            let slot = slot as u32;
            let (owner, len) = (src_meta.owners[slot as usize], src_meta.lens[slot as usize]);
            let to_slot = match self.slabs[dst as usize].as_mut() {
                Some(m) if !m.free.is_empty() => {
                    let s = m.free.pop().expect("has room");
                    m.owners[s as usize] = owner;
                    m.lens[s as usize] = len;
                    s
                }
                _ => {
                    hi -= 1;
                    continue;
                }
            };
            let from = SlabLoc { slab: src, slot };
            let to = SlabLoc {
                slab: dst,
                slot: to_slot,
            };
            let table = Arc::clone(&self.table);
            let mut copy = || table.copy(from, to, size, len);
            let moved = relocate.relocate(owner, from, to, &mut copy);
            // On success the source slot is ours to free. On failure the entry
            // was removed meanwhile and its remover will free `from`: undo the
            // destination reservation and leave this source slab alone for
            // the rest of the run (its item is not ours to move).
            let held_before = self.held;
            self.classes[c].live_items += 1; // `free` takes it back off
            self.classes[c].live_bytes += u64::from(len);
            if moved {
                self.free(from);
                report.moved += 1;
            } else {
                self.free(to);
                lo += 1;
            }
            if self.held < held_before {
                report.slabs_released += 1;
                report.bytes_reclaimed += held_before - self.held;
            }
        }
    }

    /// Rebalancing: when some class has been refused allocations, consolidate
    /// the class holding the most free slot memory so that its emptied slabs
    /// return to the pool, where the starving class can take them. Returns
    /// the class that received room, if any.
    pub(crate) fn rebalance(&mut self, relocate: &dyn Relocate) -> (Option<usize>, DefragReport) {
        let started = Instant::now();
        let mut report = DefragReport::default();
        let receiver = (0..self.classes.len())
            .filter(|&c| self.classes[c].failures > 0)
            .max_by_key(|&c| self.classes[c].failures);
        let Some(receiver) = receiver else {
            return (None, report);
        };
        let free_bytes = |a: &Allocator, c: usize| {
            let class = &a.classes[c];
            (class.slabs.len() as u64 * u64::from(class.per_slab) - class.live_items)
                * u64::from(class.size)
        };
        let victim = (0..self.classes.len())
            .filter(|&c| {
                c != receiver && free_bytes(self, c) >= u64::from(self.classes[c].slab_bytes)
            })
            .max_by_key(|&c| free_bytes(self, c));
        if let Some(victim) = victim {
            self.defragment_class(victim, relocate, &mut report);
        }
        for class in &mut self.classes {
            class.failures = 0;
        }
        report.elapsed = started.elapsed();
        (Some(receiver), report)
    }

    /// Per-class figures (classes holding no slab are left out).
    pub(crate) fn stats(&self) -> Vec<ClassStats> {
        self.classes
            .iter()
            .filter(|c| !c.slabs.is_empty())
            .map(|c| ClassStats {
                slot_size: c.size,
                slab_bytes: c.slab_bytes,
                band: Band::of(c.size),
                slabs: c.slabs.len() as u64,
                items: c.live_items,
                live_bytes: c.live_bytes,
            })
            .collect()
    }
}
