//! The pool against a model of live items: random allocate / free /
//! defragment sequences; no item lost or corrupted; the compaction bound.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use proptest::prelude::*;

use super::alloc::{AllocError, Allocator};
use super::{MAX_ITEM, Relocate, SLAB_SIZE, SlabLoc, SlabTable};

/// A stand-in index: owner → location.
#[derive(Default)]
struct Index(Mutex<HashMap<u64, SlabLoc>>);

impl Relocate for Index {
    fn relocate(
        &self,
        owner: u64,
        from: SlabLoc,
        to: SlabLoc,
        copy: &mut dyn FnMut() -> bool,
    ) -> bool {
        let mut map = self.0.lock();
        match map.get_mut(&owner) {
            Some(loc) if *loc == from && copy() => {
                *loc = to;
                true
            }
            _ => false,
        }
    }
}

fn payload(owner: u64, len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (owner as u32).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(u32),
    Free(usize),
    Defrag,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop_oneof![4 => 16u32..200, 3 => 200u32..5_000, 1 => 5_000u32..300_000].prop_map(Op::Alloc),
        4 => any::<usize>().prop_map(Op::Free),
        1 => Just(Op::Defrag),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn pool_matches_a_model_of_live_items(ops in proptest::collection::vec(op(), 1..250)) {
        let table = Arc::new(SlabTable::default());
        let mut alloc = Allocator::new(24 * SLAB_SIZE as u64, Arc::clone(&table));
        let index = Index::default();
        let mut live: Vec<(u64, u32)> = Vec::new(); // owner, len
        let mut next_owner = 1u64;
        for op in ops {
            let full_check = matches!(op, Op::Defrag);
            match op {
                Op::Alloc(len) => {
                    let owner = next_owner;
                    next_owner += 1;
                    match alloc.alloc(len, owner) {
                        Ok(loc) => {
                            let size = alloc.slot_size(loc).unwrap();
                            prop_assert!(size >= len);
                            prop_assert!(table.write(loc, size, &payload(owner, len)));
                            index.0.lock().insert(owner, loc);
                            live.push((owner, len));
                        }
                        Err(AllocError::NoSpace) => prop_assert!(alloc.held_bytes() >= 23 * SLAB_SIZE as u64 || len > 0),
                        Err(AllocError::TooLarge) => prop_assert!(len as usize > MAX_ITEM),
                    }
                }
                Op::Free(i) if !live.is_empty() => {
                    let (owner, _) = live.swap_remove(i % live.len());
                    let loc = index.0.lock().remove(&owner).unwrap();
                    prop_assert!(alloc.free(loc));
                    prop_assert!(!alloc.free(loc), "double free must be refused");
                }
                Op::Free(_) => {}
                Op::Defrag => {
                    alloc.defragment(&index);
                    // The bound: every class holds at most one slab more
                    // than its items need.
                    for c in alloc.stats() {
                        let per_slab = u64::from(c.slab_bytes / c.slot_size);
                        prop_assert!(
                            c.slabs <= c.items.div_ceil(per_slab) + 1,
                            "class {} holds {} slabs for {} items", c.slot_size, c.slabs, c.items
                        );
                    }
                }
            }
            // Every live item reads back intact from where the index says
            // (all of them after a defragmentation, the newest few otherwise).
            let map = index.0.lock();
            let checked = if full_check { live.len() } else { live.len().min(4) };
            for &(owner, len) in live.iter().rev().take(checked) {
                let loc = map[&owner];
                let size = alloc.slot_size(loc).unwrap();
                let mut out = Vec::new();
                prop_assert!(table.read(loc, size, len, &mut out));
                prop_assert_eq!(&out, &payload(owner, len));
            }
            let items: u64 = alloc.stats().iter().map(|c| c.items).sum();
            prop_assert_eq!(items, live.len() as u64);
            let bytes: u64 = alloc.stats().iter().map(|c| c.live_bytes).sum();
            prop_assert_eq!(bytes, live.iter().map(|&(_, l)| u64::from(l)).sum::<u64>());
        }
    }
}

#[test]
fn defragmentation_returns_memory_after_churn() {
    let table = Arc::new(SlabTable::default());
    let mut alloc = Allocator::new(64 * SLAB_SIZE as u64, Arc::clone(&table));
    let index = Index::default();
    let mut owners = Vec::new();
    for owner in 1..=20_000u64 {
        let loc = alloc.alloc(1_000, owner).unwrap();
        index.0.lock().insert(owner, loc);
        owners.push(owner);
    }
    let held_full = alloc.held_bytes();
    // Free 3 of every 4 items: every slab stays partly used.
    for &owner in owners.iter().filter(|o| *o % 4 != 0) {
        let loc = index.0.lock().remove(&owner).unwrap();
        alloc.free(loc);
    }
    assert_eq!(
        alloc.held_bytes(),
        held_full,
        "sparse slabs are not released by frees"
    );
    let report = alloc.defragment(&index);
    assert!(report.moved > 0);
    assert!(
        report.bytes_reclaimed >= held_full / 2,
        "{report:?} of {held_full}"
    );
    // The compaction bound, and what is left is slot rounding (1000-byte
    // items in 1200-byte slots) plus at most one partial slab.
    for c in alloc.stats() {
        let per_slab = u64::from(c.slab_bytes / c.slot_size);
        assert!(c.slabs <= c.items.div_ceil(per_slab) + 1, "{c:?}");
        assert!(c.fragmentation() < 0.25, "{c:?}");
    }
}
