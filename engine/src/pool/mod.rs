//! Slab memory pools for the warm tier.
//!
//! Memory is taken from the system in slabs. Each slab belongs to one size
//! class and is carved into equal slots; an item is stored in the smallest
//! class whose slots fit it. A class's slabs hold sixteen of its slots,
//! between [`MIN_SLAB`] and [`SLAB_SIZE`] bytes: small classes take small
//! slabs, so that a class with few items (whose last slab is only partly
//! used) ties up at most 64 KiB rather than a whole megabyte. Classes grow by a factor of 1.25
//! from 64 bytes up to [`MAX_ITEM`] (a quarter slab), so the slot rounding
//! wastes under 20 % of an item and a slab's tail under 20 % of the slab;
//! larger items are not stored in the warm tier. For reporting, classes fall into three bands: small (< 1 KiB),
//! medium (< 64 KiB) and large (≥ 64 KiB).
//!
//! * [`SlabTable`] holds the bytes, shared by readers (the caller threads),
//!   the writer of demoted entries (maintenance) and the mover (the pool
//!   manager). Each slab has its own lock.
//! * [`alloc::Allocator`] owns the bookkeeping — free slots, live counts,
//!   the owner of every slot — and is owned in turn by the pool manager
//!   actor ([`manager`]), which also defragments and rebalances.
//!
//! Lock order, everywhere: warm index shard → slab table → one slab.

pub(crate) mod alloc;
pub(crate) mod manager;

use parking_lot::RwLock;

/// Bytes in the largest slab.
pub(crate) const SLAB_SIZE: usize = 1 << 20;
/// Bytes in the smallest slab.
pub(crate) const MIN_SLAB: usize = 64 << 10;
/// Slots a slab is sized for (within the bounds above).
const SLOTS_PER_SLAB: usize = 16;

/// The slab size of the class whose slots are `slot` bytes.
pub(crate) fn slab_bytes_for(slot: u32) -> u32 {
    (slot as usize * SLOTS_PER_SLAB)
        .next_power_of_two()
        .clamp(MIN_SLAB, SLAB_SIZE) as u32
}
/// The largest item a pool stores: a quarter of a slab, so that every class
/// packs at least four slots into a slab.
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(64 << 20).warm(64 << 20).build()?;
/// // A value larger than this is never demoted to the warm tier.
/// cache.insert(1, vec![0; goldylox::MAX_ITEM + 1])?;
/// # Ok::<(), goldylox::Error>(())
/// ```
pub const MAX_ITEM: usize = SLAB_SIZE / 4;
/// The smallest slot.
const MIN_SLOT: u32 = 64;
/// Growth factor between classes, as a fraction: ×5/4.
const GROWTH_NUM: u32 = 5;
const GROWTH_DEN: u32 = 4;

/// Where an item lives: a slab and a slot in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SlabLoc {
    pub(crate) slab: u32,
    pub(crate) slot: u32,
}

/// The slot sizes of all classes, ascending.
pub(crate) fn class_sizes() -> Vec<u32> {
    let mut sizes = vec![MIN_SLOT];
    loop {
        let last = *sizes.last().expect("non-empty");
        let next = (last * GROWTH_NUM / GROWTH_DEN).next_multiple_of(16);
        if next as usize >= MAX_ITEM {
            sizes.push(MAX_ITEM as u32);
            return sizes;
        }
        sizes.push(next);
    }
}

/// The size band of a class, for statistics.
///
/// ```
/// let cache: goldylox::Cache<u64, Vec<u8>> = goldylox::Cache::builder(1 << 20).warm(4 << 20).build()?;
/// let small = cache.pool_stats().unwrap().classes.iter()
///     .filter(|c| c.band == goldylox::Band::Small)
///     .count();
/// println!("{small} classes of small slots in use");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Band {
    /// Slots under 1 KiB.
    Small,
    /// Slots under 64 KiB.
    Medium,
    /// Slots of 64 KiB and more.
    Large,
}

impl Band {
    pub(crate) fn of(slot: u32) -> Band {
        match slot {
            0..1024 => Band::Small,
            1024..65536 => Band::Medium,
            _ => Band::Large,
        }
    }
}

/// One slab's bytes.
struct Slab {
    bytes: RwLock<Box<[u8]>>,
}

/// The bytes of every slab, by slab number.
#[derive(Default)]
pub(crate) struct SlabTable {
    slabs: RwLock<Vec<Option<Slab>>>,
}

impl SlabTable {
    /// Installs a fresh zeroed slab of `bytes` at `id` (the pages are only
    /// touched when written).
    pub(crate) fn install(&self, id: u32, bytes: u32) {
        let mut slabs = self.slabs.write();
        let i = id as usize;
        if slabs.len() <= i {
            slabs.resize_with(i + 1, || None);
        }
        slabs[i] = Some(Slab {
            bytes: RwLock::new(vec![0u8; bytes as usize].into_boxed_slice()),
        });
    }

    /// Returns slab `id`'s memory to the system.
    pub(crate) fn release(&self, id: u32) {
        if let Some(slot) = self.slabs.write().get_mut(id as usize) {
            *slot = None;
        }
    }

    /// Appends `len` bytes stored at `loc` (slots of `slot_size`) to `out`.
    /// Returns false if the slab does not exist (a bug upstream, reported as
    /// a miss rather than a panic).
    pub(crate) fn read(&self, loc: SlabLoc, slot_size: u32, len: u32, out: &mut Vec<u8>) -> bool {
        let slabs = self.slabs.read();
        let Some(Some(slab)) = slabs.get(loc.slab as usize) else {
            return false;
        };
        let start = loc.slot as usize * slot_size as usize;
        let bytes = slab.bytes.read();
        match bytes.get(start..start + len as usize) {
            Some(b) => {
                out.extend_from_slice(b);
                true
            }
            None => false,
        }
    }

    /// Writes `data` at `loc`.
    pub(crate) fn write(&self, loc: SlabLoc, slot_size: u32, data: &[u8]) -> bool {
        let slabs = self.slabs.read();
        let Some(Some(slab)) = slabs.get(loc.slab as usize) else {
            return false;
        };
        let start = loc.slot as usize * slot_size as usize;
        let mut bytes = slab.bytes.write();
        match bytes.get_mut(start..start + data.len()) {
            Some(b) => {
                b.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// Copies `len` bytes from one slot to another of the same class.
    pub(crate) fn copy(&self, from: SlabLoc, to: SlabLoc, slot_size: u32, len: u32) -> bool {
        let mut buf = Vec::with_capacity(len as usize);
        self.read(from, slot_size, len, &mut buf) && self.write(to, slot_size, &buf)
    }
}

/// Moves an item in the index that points at it. Implemented by the warm
/// index; called by the pool manager while defragmenting.
pub(crate) trait Relocate: Send + Sync {
    /// If the entry whose key hashes to `owner` still lives at `from`, run
    /// `copy` (which copies its bytes to `to`) and point the entry at `to`,
    /// all under the entry's shard write lock, and return true. Otherwise do
    /// nothing and return false.
    fn relocate(
        &self,
        owner: u64,
        from: SlabLoc,
        to: SlabLoc,
        copy: &mut dyn FnMut() -> bool,
    ) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_grow_by_a_quarter_and_end_at_a_slab() {
        let sizes = class_sizes();
        assert_eq!(sizes[0], 64);
        assert_eq!(*sizes.last().unwrap() as usize, MAX_ITEM);
        for w in sizes.windows(2) {
            assert!(w[1] > w[0]);
            assert!(u64::from(w[1]) * 4 <= u64::from(w[0]) * 5 + 64, "{w:?}");
        }
        assert!(sizes.len() < 64);
    }
}

#[cfg(test)]
mod model_tests;
