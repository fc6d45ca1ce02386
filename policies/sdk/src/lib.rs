//! # goldylox-policy-sdk
//!
//! Write a goldylox eviction policy in plain Rust. A policy implements
//! [`EvictionPolicy`]: it receives batches of events (hits, inserts, updates,
//! removes — as three parallel lists, exactly as they cross the WebAssembly
//! boundary) and proposes victims. The same crate builds natively, so the
//! host links it into tests and benchmarks, and for `wasm32` as a sandboxed
//! component.
//!
//! # The contract (the host relies on it)
//!
//! * The policy tracks its own resident set and the weight it holds against
//!   the capacity it was built with. An insert that does not fit makes the
//!   policy choose victims *before* admitting the new key; they are queued
//!   (see [`Pending`]) and returned by the next `evict` call.
//! * A hit on an unknown key is ignored; an insert of a resident key is an
//!   update; an update of an unknown key is an insert; a remove of an unknown
//!   key is ignored. A hash the policy only remembers (a ghost) is not
//!   resident.
//! * A hash returned by `evict` stops being resident at once.
//! * The host checks every proposal: unknown and duplicate hashes are
//!   ignored, and a policy that does not free enough is overruled.
//!
//! [`Lists`] is the data structure most policies want: several intrusive
//! doubly linked lists over one slab of 24-byte nodes, found through one
//! hash index.

#[cfg(target_arch = "wasm32")]
pub mod component;
pub mod lists;
mod pending;

pub use lists::{Lists, NodeId};
pub use pending::Pending;

#[doc(hidden)]
#[macro_export]
/// The per-component instance every export macro needs: the component type,
/// the policy living in a thread-local (a component instance has one thread),
/// and two helpers. Before `init`, `with_policy` returns its default.
macro_rules! __goldylox_instance {
    ($policy:ty) => {
        struct Component;

        ::std::thread_local! {
            static POLICY: ::std::cell::RefCell<::std::option::Option<$policy>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        fn install(policy: $policy) {
            POLICY.with(|p| *p.borrow_mut() = ::std::option::Option::Some(policy));
        }

        fn with_policy<R>(default: R, f: impl ::std::ops::FnOnce(&mut $policy) -> R) -> R {
            POLICY.with(|p| p.borrow_mut().as_mut().map_or(default, f))
        }
    };
}

/// Exports a policy type (implementing [`Build`] and [`EvictionPolicy`]) as
/// the `goldylox:policy/eviction-policy` component world. Put it once in a
/// policy crate (which enables the SDK's `eviction` feature); it expands to
/// nothing unless the crate is built for `wasm32`.
///
/// ```ignore
/// goldylox_policy_sdk::export_eviction_policy!(MyPolicy);
/// ```
///
/// Calls made before `init` do nothing and `evict` returns nothing, which the
/// host treats as a failing policy.
#[macro_export]
macro_rules! export_eviction_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "wit-bindgen's export glue")]
        mod __goldylox_component {
            use super::*;
            use $crate::component::eviction::Guest;
            use $crate::{Build as _, EvictionPolicy as _};

            $crate::__goldylox_instance!($policy);

            impl Guest for Component {
                fn init(
                    capacity: u64,
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    install(<$policy>::build(capacity, &params)?);
                    ::std::result::Result::Ok(())
                }

                fn apply(
                    kinds: ::std::vec::Vec<u8>,
                    hashes: ::std::vec::Vec<u64>,
                    weights: ::std::vec::Vec<u32>,
                ) {
                    with_policy((), |p| p.apply(&kinds, &hashes, &weights));
                }

                fn evict(max: u32, need: u64) -> ::std::vec::Vec<u64> {
                    with_policy(::std::vec::Vec::new(), |p| p.evict(max, need))
                }

                fn admit(candidate: u64, victim: u64) -> bool {
                    with_policy(true, |p| p.admit(candidate, victim))
                }
            }

            $crate::component::eviction::export_eviction_world!(Component);
        }
    };
}

/// Exports a prefetch policy type (implementing [`Build`] and
/// [`PrefetchPolicy`]) as the `goldylox:policy/prefetch-policy` world (the
/// crate enables the SDK's `prefetch` feature); see
/// [`export_eviction_policy!`].
#[macro_export]
macro_rules! export_prefetch_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "wit-bindgen's export glue")]
        mod __goldylox_prefetch_component {
            use super::*;
            use $crate::component::prefetch::Guest;
            use $crate::{Build as _, PrefetchPolicy as _};

            $crate::__goldylox_instance!($policy);

            impl Guest for Component {
                fn init(
                    capacity: u64,
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    install(<$policy>::build(capacity, &params)?);
                    ::std::result::Result::Ok(())
                }

                fn observe(hashes: ::std::vec::Vec<u64>, hits: ::std::vec::Vec<u8>) {
                    with_policy((), |p| p.observe(&hashes, &hits));
                }

                fn propose(max: u32) -> ::std::vec::Vec<u64> {
                    with_policy(::std::vec::Vec::new(), |p| p.propose(max))
                }
            }

            $crate::component::prefetch::export_prefetch_world!(Component);
        }
    };
}

/// Exports a failover policy type (implementing [`BuildFailover`]) as the
/// `goldylox:policy/failover-policy` world (the crate enables the SDK's
/// `failover` feature); see [`export_eviction_policy!`]. Before `init`,
/// every tier is kept.
#[macro_export]
macro_rules! export_failover_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "wit-bindgen's export glue")]
        mod __goldylox_failover_component {
            use super::*;
            use $crate::component::failover::{
                Action as WitAction, Decision as WitDecision, Guest,
            };
            use $crate::{BuildFailover as _, FailoverPolicy as _};

            $crate::__goldylox_instance!($policy);

            impl Guest for Component {
                fn init(
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    install(<$policy>::build(&params)?);
                    ::std::result::Result::Ok(())
                }

                fn observe(
                    tiers: ::std::vec::Vec<u8>,
                    kinds: ::std::vec::Vec<u8>,
                    at_ms: ::std::vec::Vec<u64>,
                ) {
                    with_policy((), |p| p.observe(&tiers, &kinds, &at_ms));
                }

                fn decide(tier: u8, now_ms: u64) -> WitDecision {
                    let keep = $crate::Decision {
                        action: $crate::Action::Keep,
                        retry_after_ms: 1_000,
                    };
                    let d = with_policy(keep, |p| p.decide(tier, now_ms));
                    WitDecision {
                        action: match d.action {
                            $crate::Action::Keep => WitAction::Keep,
                            $crate::Action::Bypass => WitAction::Bypass,
                            $crate::Action::Probe => WitAction::Probe,
                            $crate::Action::Restore => WitAction::Restore,
                        },
                        retry_after_ms: d.retry_after_ms,
                    }
                }
            }

            $crate::component::failover::export_failover_world!(Component);
        }
    };
}

/// Event kind bytes, as they appear in a batch.
pub mod kind {
    /// A read found the entry.
    pub const HIT: u8 = 0;
    /// A new entry (weight given).
    pub const INSERT: u8 = 1;
    /// An entry overwritten (new weight given).
    pub const UPDATE: u8 = 2;
    /// An entry removed by the user or expired.
    pub const REMOVE: u8 = 3;
}

/// One decoded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A read found the entry.
    Hit(u64),
    /// A new entry and its weight.
    Insert(u64, u32),
    /// An overwritten entry and its new weight.
    Update(u64, u32),
    /// A removed entry.
    Remove(u64),
}

/// Decodes a batch of parallel lists; unknown kind bytes and ragged tails are
/// skipped (nothing from the host is trusted blindly, nor the other way).
pub fn events<'a>(
    kinds: &'a [u8],
    hashes: &'a [u64],
    weights: &'a [u32],
) -> impl Iterator<Item = Event> + 'a {
    kinds
        .iter()
        .zip(hashes)
        .zip(weights)
        .filter_map(|((&k, &h), &w)| match k {
            kind::HIT => Some(Event::Hit(h)),
            kind::INSERT => Some(Event::Insert(h, w)),
            kind::UPDATE => Some(Event::Update(h, w)),
            kind::REMOVE => Some(Event::Remove(h)),
            _ => None,
        })
}

/// Parameters given at start-up, `key=value` pairs.
pub type Params = [(String, String)];

/// Looks up and parses one parameter, with a default.
pub fn param<T: std::str::FromStr>(params: &Params, key: &str, default: T) -> Result<T, String> {
    match params.iter().find(|(k, _)| k == key) {
        Some((_, v)) => v
            .parse()
            .map_err(|_| format!("parameter {key}={v:?} is not valid")),
        None => Ok(default),
    }
}

/// A batch-driven eviction policy. See the crate docs for the contract.
pub trait EvictionPolicy: Send {
    /// A short name.
    fn name(&self) -> &'static str;

    /// Applies a batch of events in order.
    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]);

    /// Up to `max` victims: those already chosen, then more until they weigh
    /// at least `need`.
    fn evict(&mut self, max: u32, need: u64) -> Vec<u64>;

    /// Whether `candidate` should be admitted at the cost of `victim`.
    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let _ = (candidate, victim);
        true
    }
}

/// A policy borrowed from its owner (so a test or benchmark can inspect it
/// afterwards) is a policy too.
impl<P: EvictionPolicy> EvictionPolicy for &mut P {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
        (**self).apply(kinds, hashes, weights)
    }
    fn evict(&mut self, max: u32, need: u64) -> Vec<u64> {
        (**self).evict(max, need)
    }
    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        (**self).admit(candidate, victim)
    }
}

/// The per-event form of a policy. Implement it and let [`drive`] and
/// [`answer`] provide [`EvictionPolicy::apply`] and
/// [`EvictionPolicy::evict`]; the event semantics of the contract (an
/// insert of a resident key is an update, and so on) then hold by
/// construction as long as `write` checks residency.
pub trait Handler {
    /// A read found `hash` (ignore it if `hash` is not resident).
    fn hit(&mut self, hash: u64);
    /// `hash` was written with `weight`: an insert if it is not resident,
    /// otherwise an update (an access that may change the weight).
    fn write(&mut self, hash: u64, weight: u32);
    /// `hash` was removed (ignore it if unknown).
    fn remove(&mut self, hash: u64);
    /// Chooses and forgets one more victim, for when the host needs room.
    fn evict_one(&mut self) -> Option<(u64, u32)>;
    /// The victims already chosen while applying writes.
    fn pending(&mut self) -> &mut Pending;
}

/// Writes the [`EvictionPolicy`] of a [`Handler`] named `$name`: `apply`
/// drives each batch through the handler event by event ([`drive`]),
/// `evict` answers with the victims already chosen and then more
/// ([`answer`]), `admit` admits everything. A policy that needs another
/// `admit` implements [`EvictionPolicy`] itself.
///
/// ```ignore
/// goldylox_policy_sdk::eviction_policy_of_handler!(Fifo, "fifo");
/// ```
#[macro_export]
macro_rules! eviction_policy_of_handler {
    ($policy:ty, $name:literal) => {
        impl $crate::EvictionPolicy for $policy {
            fn name(&self) -> &'static str {
                $name
            }

            fn apply(&mut self, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
                $crate::drive(self, kinds, hashes, weights);
            }

            fn evict(&mut self, max: u32, need: u64) -> ::std::vec::Vec<u64> {
                $crate::answer(self, max, need)
            }
        }
    };
}

/// Applies a batch to a [`Handler`], event by event.
pub fn drive(policy: &mut impl Handler, kinds: &[u8], hashes: &[u64], weights: &[u32]) {
    for event in events(kinds, hashes, weights) {
        match event {
            Event::Hit(h) => policy.hit(h),
            Event::Insert(h, w) | Event::Update(h, w) => {
                policy.pending().cancel(h);
                policy.write(h, w);
            }
            Event::Remove(h) => {
                policy.pending().cancel(h);
                policy.remove(h);
            }
        }
    }
}

/// The `evict` answer of a [`Handler`]: queued victims, then more.
pub fn answer(policy: &mut impl Handler, max: u32, need: u64) -> Vec<u64> {
    let mut pending = std::mem::take(policy.pending());
    let out = pending.answer(max, need, || policy.evict_one());
    *policy.pending() = pending;
    out
}

/// A prefetch policy: observes requests, proposes keys to load early.
pub trait PrefetchPolicy: Send {
    /// Observes requests in order; `hits[i]` is 1 if `hashes[i]` was cached.
    fn observe(&mut self, hashes: &[u64], hits: &[u8]);
    /// At most `max` hashes worth loading now, most promising first.
    fn propose(&mut self, max: u32) -> Vec<u64>;
}

/// What the host should do with a tier (the failover world's `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep using the tier.
    Keep,
    /// Stop using it until a later decision says otherwise.
    Bypass,
    /// Send it a trial request.
    Probe,
    /// Use it again.
    Restore,
}

/// A failover decision and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do now.
    pub action: Action,
    /// Milliseconds until the host should ask again.
    pub retry_after_ms: u32,
}

/// Health event kinds, as `observe` receives them.
pub mod health {
    /// A request to the tier succeeded.
    pub const SUCCESS: u8 = 0;
    /// A request failed.
    pub const ERROR: u8 = 1;
    /// A request timed out.
    pub const TIMEOUT: u8 = 2;
    /// A probe succeeded.
    pub const PROBE_OK: u8 = 3;
    /// A probe failed.
    pub const PROBE_FAILED: u8 = 4;
}

/// A failover policy: observes tier health, decides per tier.
pub trait FailoverPolicy: Send {
    /// Observes health events in order.
    fn observe(&mut self, tiers: &[u8], kinds: &[u8], at_ms: &[u64]);
    /// The decision for `tier` at `now_ms`.
    fn decide(&mut self, tier: u8, now_ms: u64) -> Decision;
}

/// How a failover policy is built from its parameters.
pub trait BuildFailover: FailoverPolicy + Sized {
    /// Builds the policy.
    fn build(params: &Params) -> Result<Self, String>;
}

/// How an eviction or prefetch policy is built from its capacity (weight
/// units for eviction, entries of state for prefetch) and parameters.
pub trait Build: Sized {
    /// Builds the policy.
    fn build(capacity: u64, params: &Params) -> Result<Self, String>;
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    #[test]
    fn taken_back_victims_are_skipped_and_requeued_ones_move_back() {
        let mut p = Pending::default();
        for h in [1, 2, 3, 4] {
            p.push(h, 10);
        }
        assert!(p.cancel(2));
        assert!(!p.cancel(2), "already taken back");
        p.push(1, 10); // queued again: now behind 3 and 4
        assert_eq!(p.len(), 3);
        assert_eq!(p.answer(2, 0, || None), vec![3, 4]);
        assert_eq!(p.answer(8, 0, || Some((9, 1))), vec![1]);
        assert!(p.is_empty());
        // Past the queue, `more` supplies victims until `need` is met.
        assert_eq!(p.answer(8, 2, || Some((9, 1))), vec![9, 9]);
    }

    /// A FIFO over unit weights with room for `cap` hashes.
    struct Fifo {
        queue: VecDeque<u64>,
        cap: usize,
        pending: Pending,
    }

    impl Handler for Fifo {
        fn hit(&mut self, _hash: u64) {}
        fn write(&mut self, hash: u64, weight: u32) {
            if self.queue.contains(&hash) {
                return;
            }
            while self.queue.len() >= self.cap {
                let victim = self.queue.pop_front().expect("non-empty");
                self.pending.push(victim, 1);
            }
            let _ = weight;
            self.queue.push_back(hash);
        }
        fn remove(&mut self, hash: u64) {
            self.queue.retain(|&h| h != hash);
        }
        fn evict_one(&mut self) -> Option<(u64, u32)> {
            self.queue.pop_front().map(|h| (h, 1))
        }
        fn pending(&mut self) -> &mut Pending {
            &mut self.pending
        }
    }

    #[test]
    fn queued_victims_written_again_or_removed_are_taken_back() {
        let mut f = Fifo {
            queue: VecDeque::new(),
            cap: 2,
            pending: Pending::default(),
        };
        // 1, 2 fill it; 3 queues 1; 4 queues 2; then 1 is written again
        // (taken back, evicting 3) and 2 is removed (taken back, gone).
        drive(&mut f, &[1, 1, 1, 1, 1, 3], &[1, 2, 3, 4, 1, 2], &[1; 6]);
        assert_eq!(answer(&mut f, 10, 0), vec![3]);
        assert_eq!(f.queue, VecDeque::from([4, 1]));
        assert!(f.pending.is_empty());
        // 5 queues 4; rewriting 4 takes it back and queues 1; 6 queues 5.
        drive(&mut f, &[1, 1, 1], &[5, 4, 6], &[1; 3]);
        assert_eq!(answer(&mut f, 10, 0), vec![1, 5]);
        assert_eq!(f.queue, VecDeque::from([4, 6]));
    }
}
