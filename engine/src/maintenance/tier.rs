//! One tier's policy machinery, the same for the hot and the warm tier: the
//! configured policy's slot, the native fallback, the batch being gathered,
//! an `auto` selector, and a swap in progress.
//!
//! The tiers differ only where they must, and the differences are
//! parameters, not copies:
//!
//! * **Fallback capacity.** The hot tier's fallback SIEVE is built with an
//!   unbounded capacity: maintenance knows the hot tier's weighted size and
//!   asks for exactly the bytes over the bound, so the fallback must never
//!   evict on its own. The warm tier has no byte counter checked per pass;
//!   its policy's own accounting (slot bytes against the warm capacity)
//!   keeps it within the pool, so its fallback is built at that capacity.
//! * **Retry after draining** (hot only, in `Maintenance::evict`): hot
//!   writes reach maintenance through a queue, so a policy may have nothing
//!   to propose only because the writes that took the tier over are still
//!   queued. Warm inserts come from maintenance itself; nothing is queued.
//!
//! # Swaps off the maintenance thread
//!
//! A swap (asked for, or proposed by the selector) is built and told of the
//! tier's resident set on its own thread (`gx-swap-TIER`) while the old
//! policy keeps deciding. From the moment the swap starts, every event the
//! tier's policy sees — and every victim it gives up — is also kept. When
//! the replay is done, maintenance reconciles the new instance with the
//! tier as it is now, for the hashes those events touched only: a touched
//! hash the tier no longer holds is removed, one it holds is (re)inserted
//! with its latest weight — removes first, so the overlap never makes the
//! new policy think the tier is over its capacity (replaying the events as
//! they came would: an insert arrives before the old policy's victim
//! leaves, and the new policy would queue a victim of its own, evicting one
//! entry too many per insert). The policy contract makes the rest safe: an
//! insert of a hash already replayed is an update, a remove of one never
//! replayed is ignored; events still queued arrive afterwards in order. The
//! new instance ends tracking exactly the tier's resident set; hits during
//! the replay are not shown to it. The maintenance thread pauses only for
//! the reconciliation, which grows with the writes during the replay.
//! (Reconciling in rounds off the thread, like a live migration's pre-copy,
//! was tried twice: with a writer inserting flat out on two cores the
//! rounds, which share the cores with the writer and with maintenance
//! applying the same events to the old policy, never caught up — 15.8 M
//! writes during a 20 s swap and a 248 ms final pause at 1 M entries,
//! against 257 k writes, 0.81 s and a 223 ms pause inline.)

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::slot::PolicySlot;
use crate::policy::EVICT_BATCH_MAX;
use crate::policy::auto::{Candidate, Selector};
use crate::policy::{
    EventBatch, EventKind, EvictionPolicy, POLICY_BATCH_MAX, PolicyChoice, PolicyError,
    PolicyStatus, PolicyTier, Sieve, SwapReport,
};
use crate::stats::Counters;

/// A swap's result, sent by its builder thread.
pub(crate) struct SwapDone {
    pub(crate) tier: PolicyTier,
    pub(crate) id: u64,
    pub(crate) result: Result<Replayed, PolicyError>,
}

/// A swap's new instance, told of the resident set.
pub(crate) struct Replayed {
    pub(crate) policy: Box<dyn EvictionPolicy>,
    /// How many resident entries were read.
    pub(crate) replayed: u64,
    /// Those left out of the replay, to keep within the policy's capacity
    /// (see [`super::slot::replay_within`]); reconciled at the end.
    pub(crate) deferred: Vec<(u64, u32)>,
}

/// Where a swap's answer goes.
pub(crate) type SwapReply = Sender<Result<SwapReport, PolicyError>>;

/// A swap whose new instance is being built.
struct PendingSwap {
    id: u64,
    name: String,
    choice: PolicyChoice,
    started: Instant,
    /// Events the tier's policy saw since the swap started.
    missed: EventBatch,
    reply: Option<SwapReply>,
}

/// Who chose a victim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Source {
    Policy,
    Fallback,
}

pub(crate) struct TierPolicy {
    pub(crate) tier: PolicyTier,
    slot: PolicySlot,
    fallback: Option<Sieve>,
    fallback_capacity: u64,
    batch: EventBatch,
    pub(crate) selector: Option<Selector>,
    pending: Option<PendingSwap>,
    next_swap: u64,
}

impl TierPolicy {
    /// Builds `choice` for `tier` at `capacity`, with the status handle the
    /// cache reads; a policy that cannot be built is a configuration error.
    pub(crate) fn build(
        tier: PolicyTier,
        choice: &PolicyChoice,
        capacity: u64,
    ) -> Result<(TierPolicy, Arc<Mutex<PolicyStatus>>), crate::error::Error> {
        let (selector, live) = match choice {
            PolicyChoice::Auto(config) => (
                Some(Selector::new(Arc::clone(config), capacity, 1)),
                config.candidates()[0].choice.clone(),
            ),
            other => (None, other.clone()),
        };
        let (slot, status) = PolicySlot::build(&live, capacity)?;
        let fallback_capacity = match tier {
            PolicyTier::Hot => u64::MAX,
            _ => capacity,
        };
        let policy = TierPolicy {
            tier,
            slot,
            fallback: None,
            fallback_capacity,
            batch: EventBatch::with_capacity(POLICY_BATCH_MAX),
            selector,
            pending: None,
            next_swap: 0,
        };
        policy.publish();
        Ok((policy, status))
    }

    pub(crate) fn slot(&mut self) -> &mut PolicySlot {
        &mut self.slot
    }

    pub(crate) fn is_live(&self) -> bool {
        self.slot.is_live()
    }

    /// Adds an event; returns whether the batch is full (flush it).
    pub(crate) fn push(&mut self, kind: EventKind, hash: u64, weight: u32) -> bool {
        self.batch.push(kind, hash, weight);
        self.batch.len() >= POLICY_BATCH_MAX
    }

    /// The events gathered since the last flush.
    pub(crate) fn batch(&self) -> &EventBatch {
        &self.batch
    }

    /// Applies the batch to the policy, the fallback, a swap in progress and
    /// the selector (`observe` feeds it: the top tier's own events, or a
    /// lower tier's). Returns whether the policy failed just now (seed the
    /// fallback).
    pub(crate) fn flush(&mut self, now: u64, counters: &Counters) -> bool {
        if self.batch.is_empty() {
            return false;
        }
        Counters::bump(&counters.policy_batches);
        Counters::add(&counters.policy_events, self.batch.len() as u64);
        let failed = self.slot.is_live() && !self.slot.apply(&self.batch, now);
        if let Some(fallback) = &mut self.fallback {
            // The native SIEVE never fails.
            let _ = fallback.apply(&self.batch);
        }
        if let Some(pending) = &mut self.pending {
            extend(&mut pending.missed, &self.batch);
        }
        if let Some(selector) = &mut self.selector {
            let started = Instant::now();
            match self.tier {
                PolicyTier::Hot => selector.observe(&self.batch),
                _ => selector.observe_below(&self.batch),
            }
            selector.add_cpu(started.elapsed());
        }
        self.batch.clear();
        if failed {
            Counters::bump(&counters.policy_failures);
        }
        failed
    }

    /// Shows a lower tier's selector the events of the tier above.
    pub(crate) fn observe_above(&mut self, above: &EventBatch) {
        if let Some(selector) = &mut self.selector {
            let started = Instant::now();
            selector.observe_above(above);
            selector.add_cpu(started.elapsed());
        }
    }

    /// Creates the fallback, seeded with `resident`, if there is none.
    pub(crate) fn seed_fallback(&mut self, resident: impl FnOnce(&mut dyn FnMut(u64, u32))) {
        if self.fallback.is_some() {
            return;
        }
        let mut sieve = Sieve::new(self.fallback_capacity);
        let mut seed = EventBatch::with_capacity(POLICY_BATCH_MAX);
        resident(&mut |hash, weight| {
            seed.push(EventKind::Insert, hash, weight);
            if seed.len() >= POLICY_BATCH_MAX {
                let _ = sieve.apply(&seed);
                seed.clear();
            }
        });
        let _ = sieve.apply(&seed);
        self.fallback = Some(sieve);
    }

    /// Asks the live policy for up to [`EVICT_BATCH_MAX`] victims weighing
    /// `need` into `out` (proposals past the bound are dropped and counted).
    /// Returns `false` if the policy failed (seed the fallback).
    pub(crate) fn propose(
        &mut self,
        need: u64,
        out: &mut Vec<u64>,
        now: u64,
        counters: &Counters,
    ) -> bool {
        if !self.slot.is_live() {
            return true;
        }
        if !self.slot.evict(EVICT_BATCH_MAX, need, out, now) {
            Counters::bump(&counters.policy_failures);
            return false;
        }
        let excess = out.len().saturating_sub(EVICT_BATCH_MAX as usize);
        if excess > 0 {
            out.truncate(EVICT_BATCH_MAX as usize);
            Counters::add(&counters.invalid_excess, excess as u64);
        }
        true
    }

    /// Asks the fallback (which must exist) for victims.
    pub(crate) fn propose_fallback(&mut self, need: u64, out: &mut Vec<u64>) {
        if let Some(fallback) = &mut self.fallback {
            let _ = fallback.evict(EVICT_BATCH_MAX, need, out);
        }
    }

    /// Victims left the tier: whoever did not choose them forgets them too
    /// (and a swap in progress hears of them).
    pub(crate) fn forget(&mut self, victims: &[u64], source: Source, now: u64, c: &Counters) {
        if victims.is_empty() {
            return;
        }
        let mut removes = EventBatch::with_capacity(victims.len());
        for &hash in victims {
            removes.push(EventKind::Remove, hash, 0);
        }
        match source {
            Source::Policy => {
                if let Some(fallback) = &mut self.fallback {
                    let _ = fallback.apply(&removes);
                }
                if let Some(pending) = &mut self.pending {
                    extend(&mut pending.missed, &removes);
                }
            }
            Source::Fallback => {
                if self.slot.is_live() && !self.slot.apply(&removes, now) {
                    Counters::bump(&c.policy_failures);
                }
                if let Some(pending) = &mut self.pending {
                    extend(&mut pending.missed, &removes);
                }
            }
        }
    }

    /// Publishes the selector's race into the tier's status.
    pub(crate) fn publish(&self) {
        self.slot
            .publish_auto(self.selector.as_ref().map(Selector::status));
    }

    /// A switch the selector wants, if no swap is in progress.
    pub(crate) fn proposal(&mut self) -> Option<Candidate> {
        if self.pending.is_some() {
            return None;
        }
        self.selector.as_mut()?.take_proposal()
    }

    /// Starts a swap to `choice` (called `name`); the caller builds and
    /// replays on another thread and hands back a [`SwapDone`] with the
    /// returned id. An explicit swap ends the tier's `auto` race unless it
    /// starts a new one. A swap still in progress is superseded.
    pub(crate) fn begin_swap(
        &mut self,
        name: String,
        choice: PolicyChoice,
        reply: Option<SwapReply>,
        explicit: bool,
    ) -> u64 {
        if let Some(old) = self.pending.take()
            && let Some(reply) = old.reply
        {
            let _ = reply.send(Err(PolicyError::Init(
                "superseded by another swap of the same tier".into(),
            )));
        }
        let (choice, name) = match &choice {
            PolicyChoice::Auto(config) if explicit => {
                let selector = Selector::new(Arc::clone(config), self.slot.capacity(), 1);
                let first = selector.current().clone();
                self.selector = Some(selector);
                (first.choice, first.name)
            }
            _ if explicit => {
                self.selector = None;
                (choice, name)
            }
            _ => (choice, name),
        };
        self.publish();
        self.next_swap += 1;
        self.pending = Some(PendingSwap {
            id: self.next_swap,
            name,
            choice,
            started: Instant::now(),
            missed: EventBatch::default(),
            reply,
        });
        self.next_swap
    }

    /// What the builder thread of the pending swap needs: the choice to
    /// build when no instance was given.
    pub(crate) fn pending_choice(&self) -> Option<PolicyChoice> {
        self.pending.as_ref().map(|p| p.choice.clone())
    }

    /// The pending swap, if it started more than `deadline` ago.
    pub(crate) fn overdue_swap(&self, deadline: std::time::Duration) -> Option<u64> {
        self.pending
            .as_ref()
            .filter(|p| p.started.elapsed() > deadline)
            .map(|p| p.id)
    }

    /// Abandons the pending swap `id` with `error` (e.g. its thread could
    /// not start).
    pub(crate) fn abandon_swap(&mut self, id: u64, error: PolicyError) {
        let done = SwapDone {
            tier: self.tier,
            id,
            result: Err(error),
        };
        self.finish(done, 0, &|_| false);
    }

    /// Completes a swap: reconciles the new instance with the tier for the
    /// hashes touched during its replay (`resident` says whether the tier
    /// holds a hash now) and switches.
    pub(crate) fn finish(&mut self, done: SwapDone, now: u64, resident: &dyn Fn(u64) -> bool) {
        let Some(pending) = self.pending.take_if(|p| p.id == done.id) else {
            return; // superseded
        };
        let pause = Instant::now();
        let result = done.result.and_then(|r| {
            let Replayed {
                mut policy,
                replayed,
                deferred,
            } = r;
            let catch_up = reconcile(&pending.missed, &deferred, resident);
            crate::policy::guarded(|| {
                for chunk in chunks(&catch_up) {
                    policy.apply(&chunk)?;
                }
                Ok(())
            })?;
            Ok((policy, replayed))
        });
        let report = match result {
            Ok((policy, replayed)) => {
                let current = policy.name().to_owned();
                let previous = self.slot.install(pending.choice, policy, now);
                if let Some(selector) = &mut self.selector {
                    selector.switched(&pending.name);
                }
                Ok(SwapReport {
                    tier: self.tier,
                    previous,
                    current,
                    replayed,
                    replay_time: pending.started.elapsed(),
                    pause: pause.elapsed(),
                })
            }
            Err(e) => {
                if let Some(selector) = &mut self.selector {
                    selector.rejected(&pending.name, &e.to_string());
                }
                Err(e)
            }
        };
        self.publish();
        if let Some(reply) = pending.reply {
            let _ = reply.send(report);
        }
    }
}

/// The events that bring a freshly replayed policy up to date with the
/// tier: removes of the touched hashes the tier no longer holds, then
/// inserts (with their latest weight) of those it holds. The entries the
/// replay left out (`deferred`) count as touched, with the weight they had.
fn reconcile(
    missed: &EventBatch,
    deferred: &[(u64, u32)],
    resident: &dyn Fn(u64) -> bool,
) -> EventBatch {
    let mut latest: crate::policy::HashMap64<Option<u32>> = Default::default();
    let mut order = Vec::new();
    for &(hash, weight) in deferred {
        if latest.insert(hash, Some(weight)).is_none() {
            order.push(hash);
        }
    }
    for (kind, hash, weight) in missed.iter() {
        let seen = latest.entry(hash).or_insert_with(|| {
            order.push(hash);
            None
        });
        if matches!(kind, EventKind::Insert | EventKind::Update) {
            *seen = Some(weight);
        }
    }
    let held: Vec<bool> = order.iter().map(|&h| resident(h)).collect();
    let mut out = EventBatch::with_capacity(order.len());
    for (&hash, &held) in order.iter().zip(&held) {
        if !held {
            out.push(EventKind::Remove, hash, 0);
        }
    }
    for (&hash, &held) in order.iter().zip(&held) {
        if let (true, Some(Some(weight))) = (held, latest.get(&hash)) {
            out.push(EventKind::Insert, hash, *weight);
        }
    }
    out
}

/// Appends `batch` to `to`.
fn extend(to: &mut EventBatch, batch: &EventBatch) {
    for (kind, hash, weight) in batch.iter() {
        to.push(kind, hash, weight);
    }
}

/// `batch` in pieces of at most [`POLICY_BATCH_MAX`] events.
fn chunks(batch: &EventBatch) -> impl Iterator<Item = EventBatch> + '_ {
    let (kinds, hashes, weights) = (batch.kinds(), batch.hashes(), batch.weights());
    (0..batch.len())
        .step_by(POLICY_BATCH_MAX)
        .map(move |start| {
            let end = (start + POLICY_BATCH_MAX).min(kinds.len());
            let mut chunk = EventBatch::with_capacity(end - start);
            for i in start..end {
                if let Some(kind) = EventKind::from_u8(kinds[i]) {
                    chunk.push(kind, hashes[i], weights[i]);
                }
            }
            chunk
        })
}
