//! The maintenance actor: the one thread that owns the tier's policy.
//!
//! It wakes on a timer, when a caller signals pressure (write buffer filling,
//! read ring full, tier over its bound), or on a command. Each pass drains the
//! read stripes and the write buffer into [`EventBatch`]es, applies them to the
//! policy, reaps expired entries from the timer wheel, then evicts: every
//! proposal is checked against the index (unknown and duplicate hashes are
//! ignored and counted) and, if the policy fails or its proposals do not bring
//! the tier under its bound, the native SIEVE fallback — seeded from the
//! resident set on first use — chooses the rest.

mod demote;
mod prefetch;
mod slot;

pub(crate) use slot::PolicySlot;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender, select};

use crate::expiry::{Timer, TimerWheel};
use crate::hot::{MISS_BIT, NEVER};
use crate::policy::{
    EventBatch, EventKind, EvictionPolicy, HashSet64, PolicyChoice, PolicyError, PolicyTier,
    PrefetchPolicy, Sieve, SwapReport,
};
use crate::shared::{
    EVICT_BATCH_MAX, EVICT_ROUNDS_MAX, MAINTENANCE_INTERVAL, POLICY_BATCH_MAX, Shared, Tier,
    WRITE_DRAIN_MAX, WriteEvent, enter_maintenance,
};
use crate::stats::{Counters, RemovalCause};

/// A request to the actor.
pub(crate) enum Cmd {
    /// Run a pass now, evicting until `need` more bytes fit under the
    /// capacity; reply when done.
    Sync { need: u64, reply: Sender<()> },
    /// Run a final pass and stop; reply when done.
    Shutdown { reply: Option<Sender<()>> },
    /// Replace a tier's policy with `policy` (built from `choice`), replaying
    /// the tier's resident set into it first.
    Swap {
        tier: PolicyTier,
        choice: PolicyChoice,
        policy: Box<dyn EvictionPolicy>,
        reply: Sender<Result<SwapReport, PolicyError>>,
    },
}

/// The channels the actor listens on.
pub(crate) struct Inbox {
    pub(crate) events: Receiver<WriteEvent>,
    pub(crate) commands: Receiver<Cmd>,
    pub(crate) wake: Receiver<()>,
}

pub(crate) struct Maintenance<K, V> {
    shared: Arc<Shared<K, V>>,
    inbox: Inbox,
    /// The hot tier's configured policy; when it is not live, `fallback`
    /// decides.
    policy: PolicySlot,
    fallback: Option<Sieve>,
    wheel: TimerWheel,
    /// Check for stale timers when the wheel grows past this.
    compact_timers_at: usize,
    batch: EventBatch,
    victims: Vec<u64>,
    seen: HashSet64,
    expired: Vec<Timer>,
    /// The warm tier's configured policy, when there is a warm tier.
    warm_policy: Option<PolicySlot>,
    /// Decides for the warm tier while its policy is not live.
    warm_fallback: Option<Sieve>,
    warm_batch: EventBatch,
    /// Samples values for the warm tier's compression dictionary.
    trainer: crate::warm::codec::Trainer,
    /// The prefetch policy, if any, and the requests not yet shown to it.
    prefetch: Option<Box<dyn PrefetchPolicy>>,
    observed: Vec<u64>,
    observed_hits: Vec<u8>,
}

impl<K, V> Maintenance<K, V>
where
    K: std::hash::Hash
        + Eq
        + Clone
        + Send
        + Sync
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
    V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    pub(crate) fn new(
        shared: Arc<Shared<K, V>>,
        inbox: Inbox,
        policy: PolicySlot,
        warm_policy: Option<PolicySlot>,
        prefetch: Option<Box<dyn PrefetchPolicy>>,
    ) -> Self {
        Maintenance {
            shared,
            inbox,
            policy,
            fallback: None,
            wheel: TimerWheel::new(),
            compact_timers_at: 4096,
            batch: EventBatch::with_capacity(POLICY_BATCH_MAX),
            victims: Vec::with_capacity(EVICT_BATCH_MAX as usize),
            seen: HashSet64::default(),
            expired: Vec::new(),
            warm_policy,
            warm_fallback: None,
            warm_batch: EventBatch::with_capacity(POLICY_BATCH_MAX),
            trainer: crate::warm::codec::Trainer::default(),
            prefetch,
            observed: Vec::new(),
            observed_hits: Vec::new(),
        }
    }

    /// The actor loop; returns when told to stop or when every handle is gone.
    pub(crate) fn run(mut self) {
        enter_maintenance();
        loop {
            select! {
                recv(self.inbox.commands) -> cmd => match cmd {
                    Ok(Cmd::Sync { need, reply }) => {
                        self.pass(need);
                        let _ = reply.send(());
                    }
                    Ok(Cmd::Swap { tier, choice, policy, reply }) => {
                        let _ = reply.send(self.swap(tier, choice, policy));
                    }
                    Ok(Cmd::Shutdown { reply }) => {
                        self.pass(0);
                        if let Some(reply) = reply {
                            let _ = reply.send(());
                        }
                        return;
                    }
                    Err(_) => return self.pass(0),
                },
                recv(self.inbox.wake) -> woke => match woke {
                    Ok(()) => self.pass(0),
                    Err(_) => return self.pass(0),
                },
                default(MAINTENANCE_INTERVAL) => self.pass(0),
            }
        }
    }

    /// One pass: rebuild a failed policy when due, drain, apply, expire,
    /// prefetch, evict.
    fn pass(&mut self, need: u64) {
        self.rebuild_policies();
        self.drain();
        self.expire();
        self.prefetch();
        self.evict(need);
        self.evict_warm(0);
        self.flush();
        let done = self.shared.started.elapsed().as_nanos();
        self.shared
            .last_pass
            .store(u64::try_from(done).unwrap_or(u64::MAX), Ordering::Release);
    }

    fn push(&mut self, kind: EventKind, hash: u64, weight: u32) {
        self.batch.push(kind, hash, weight);
        if self.batch.len() >= POLICY_BATCH_MAX {
            self.flush();
        }
    }

    fn drain(&mut self) {
        // Reads first: every hit in the stripes happened before the writes we
        // are about to take (a hit on a key whose insert is still queued is
        // ignored by the policy, which is the documented lossy behaviour).
        let shared = Arc::clone(&self.shared);
        shared.stripes.drain(|h| {
            if h & MISS_BIT != 0 {
                self.observe(h & !MISS_BIT, false);
            } else {
                self.observe(h, true);
                self.push(EventKind::Hit, h, 0);
            }
        });
        let mut taken = 0;
        while taken < WRITE_DRAIN_MAX {
            let Ok(ev) = self.inbox.events.try_recv() else {
                break;
            };
            self.take_write(ev);
            taken += 1;
        }
        let overflow = std::mem::take(&mut *shared.overflow.lock());
        for ev in overflow {
            self.take_write(ev);
        }
        self.flush();
    }

    fn take_write(&mut self, ev: WriteEvent) {
        if ev.tier == Tier::Warm {
            self.push_warm(ev.kind, ev.hash, ev.weight);
            return;
        }
        // Writers publish to the index before they send the event, so an
        // insert or update whose entry is already gone (evicted, or removed by
        // a writer whose event overtook this one) must not reach the policy:
        // it would track a hash the index does not hold.
        if matches!(ev.kind, EventKind::Insert | EventKind::Update)
            && !self.shared.index.contains_hash(ev.hash)
        {
            return;
        }
        if ev.expires_at != NEVER && matches!(ev.kind, EventKind::Insert | EventKind::Update) {
            self.wheel.schedule(Timer {
                hash: ev.hash,
                deadline: ev.expires_at,
            });
        }
        self.push(ev.kind, ev.hash, ev.weight);
    }

    fn flush(&mut self) {
        self.flush_warm();
        if self.batch.is_empty() {
            return;
        }
        let c = &self.shared.counters;
        Counters::bump(&c.policy_batches);
        Counters::add(&c.policy_events, self.batch.len() as u64);
        let now = self.shared.clock.now_nanos();
        if self.policy.is_live() && !self.policy.apply(&self.batch, now) {
            self.fail_policy();
        }
        if let Some(fallback) = &mut self.fallback {
            // The native SIEVE never fails.
            let _ = fallback.apply(&self.batch);
        }
        self.batch.clear();
    }

    /// The hot policy just failed (the slot dropped it): the fallback takes
    /// over in this pass.
    fn fail_policy(&mut self) {
        Counters::bump(&self.shared.counters.policy_failures);
        self.ensure_fallback();
    }

    /// Creates the fallback on first use, seeded with the resident set.
    fn ensure_fallback(&mut self) -> &mut Sieve {
        let shared = &self.shared;
        self.fallback.get_or_insert_with(|| {
            let mut sieve = Sieve::new(u64::MAX);
            let mut seed = EventBatch::with_capacity(POLICY_BATCH_MAX);
            shared.index.for_each(|hash, weight| {
                seed.push(EventKind::Insert, hash, weight);
                if seed.len() >= POLICY_BATCH_MAX {
                    let _ = sieve.apply(&seed);
                    seed.clear();
                }
            });
            let _ = sieve.apply(&seed);
            sieve
        })
    }

    fn expire(&mut self) {
        let now = self.shared.clock.now_nanos();
        let mut due = std::mem::take(&mut self.expired);
        self.wheel.advance(now, |t| due.push(t));
        for t in due.drain(..) {
            while let Some(slot) = self
                .shared
                .index
                .remove_if(t.hash, |s| s.expires_at != NEVER && s.expires_at <= now)
            {
                self.shared
                    .weighted
                    .fetch_sub(u64::from(slot.weight), Ordering::AcqRel);
                self.push(EventKind::Remove, t.hash, 0);
                self.shared
                    .notify(slot.key, slot.value, RemovalCause::Expired);
            }
            // A demoted entry keeps its deadline and its timer.
            self.expire_warm(t.hash, now);
        }
        self.expired = due;
        if self.wheel.len() > self.compact_timers_at {
            let (index, warm) = (&self.shared.index, &self.shared.warm);
            self.wheel.retain(|t| {
                index.has_deadline(t.hash, t.deadline)
                    || warm
                        .as_ref()
                        .is_some_and(|w| w.index.has_deadline(t.hash, t.deadline))
            });
            self.compact_timers_at = (2 * self.wheel.len()).max(4096);
        }
    }

    fn over(&self, need: u64) -> u64 {
        let weighted = self.shared.weighted.load(Ordering::Acquire);
        weighted
            .saturating_add(need)
            .saturating_sub(self.shared.capacity)
    }

    fn evict(&mut self, need: u64) {
        let mut drained = false;
        for _ in 0..EVICT_ROUNDS_MAX {
            // Apply everything first (including removals chosen by the
            // fallback last round) so the policy's view is current.
            self.flush();
            let over = self.over(need);
            self.victims.clear();
            let live = self.policy.is_live();
            if live {
                let now = self.shared.clock.now_nanos();
                if !self
                    .policy
                    .evict(EVICT_BATCH_MAX, over, &mut self.victims, now)
                {
                    self.fail_policy();
                }
                self.bound_victims();
            }
            let failed = !self.policy.is_live();
            let proposed = self.victims.len();
            let freed = if proposed > 0 {
                self.remove_victims(Source::Policy)
            } else {
                0
            };
            let over_now = self.over(need);
            if over_now > 0 && freed == 0 && !failed && !drained {
                // The policy may have nothing left only because the writes
                // that took the cache over are still queued: show them to
                // it once before asking the fallback.
                drained = true;
                self.drain();
                continue;
            }
            if over_now > 0 && (freed == 0 || failed) {
                // The policy failed or has nothing useful left: the fallback
                // decides the rest of this pass.
                if self.fallback_evict(over_now) == 0 {
                    return;
                }
                continue;
            }
            if over_now == 0 && proposed < EVICT_BATCH_MAX as usize {
                return;
            }
        }
    }

    /// Drops proposals past the number asked for (counted as invalid), so
    /// that no policy can make one round do unbounded work.
    fn bound_victims(&mut self) {
        let excess = self.victims.len().saturating_sub(EVICT_BATCH_MAX as usize);
        if excess > 0 {
            self.victims.truncate(EVICT_BATCH_MAX as usize);
            Counters::add(&self.shared.counters.invalid_excess, excess as u64);
        }
    }

    /// Rebuilds a failed policy whose backoff has passed, replaying the
    /// tier's resident set into the new instance.
    fn rebuild_policies(&mut self) {
        let now = self.shared.clock.now_nanos();
        if self.policy.rebuild_due(now) {
            // Whatever is queued was meant for the fallback's view too.
            self.flush();
            let resident = self.resident(PolicyTier::Hot);
            if !self.policy.rebuild(&resident, now) {
                Counters::bump(&self.shared.counters.policy_failures);
            }
        }
        if self
            .warm_policy
            .as_ref()
            .is_some_and(|s| s.rebuild_due(now))
        {
            self.flush_warm();
            let resident = self.resident(PolicyTier::Warm);
            if let Some(slot) = &mut self.warm_policy
                && !slot.rebuild(&resident, now)
            {
                Counters::bump(&self.shared.counters.policy_failures);
            }
        }
        self.policy.refresh(now);
        if let Some(slot) = &self.warm_policy {
            slot.refresh(now);
        }
    }

    /// The hashes and weights resident in a tier, as a policy would be told
    /// of them.
    fn resident(&self, tier: PolicyTier) -> Vec<(u64, u32)> {
        let mut resident = Vec::new();
        match tier {
            PolicyTier::Hot => {
                resident.reserve(self.shared.index.len());
                self.shared.index.for_each(|h, w| resident.push((h, w)));
            }
            PolicyTier::Warm => {
                if let Some(warm) = &self.shared.warm {
                    resident.reserve(warm.index.len());
                    warm.index.for_each(|h, w| resident.push((h, w)));
                }
            }
        }
        resident
    }

    /// Hot swap: apply what is queued to the old policy, replay the resident
    /// set into the new one, then switch — all between two batches, so no
    /// event is lost and cache contents do not change.
    fn swap(
        &mut self,
        tier: PolicyTier,
        choice: PolicyChoice,
        policy: Box<dyn EvictionPolicy>,
    ) -> Result<SwapReport, PolicyError> {
        self.drain();
        let started = std::time::Instant::now();
        let resident = self.resident(tier);
        let now = self.shared.clock.now_nanos();
        let current = policy.name().to_owned();
        let slot = match tier {
            PolicyTier::Hot => &mut self.policy,
            PolicyTier::Warm => self
                .warm_policy
                .as_mut()
                .ok_or_else(|| PolicyError::Init("this cache has no warm tier".to_owned()))?,
        };
        let previous = slot.swap(choice, policy, &resident, now)?;
        Ok(SwapReport {
            tier,
            previous,
            current,
            replayed: resident.len() as u64,
            replay_time: started.elapsed(),
        })
    }

    fn fallback_evict(&mut self, over: u64) -> u64 {
        self.victims.clear();
        let mut victims = std::mem::take(&mut self.victims);
        let _ = self
            .ensure_fallback()
            .evict(EVICT_BATCH_MAX, over, &mut victims);
        self.victims = victims;
        if self.victims.is_empty() {
            return 0;
        }
        self.remove_victims(Source::Fallback)
    }

    /// Evicts the validated `victims` — into the warm tier when there is one —
    /// and returns the hot bytes freed.
    fn remove_victims(&mut self, source: Source) -> u64 {
        let counters = &self.shared.counters;
        Counters::add(&counters.victims_proposed, self.victims.len() as u64);
        self.seen.clear();
        let mut victims = std::mem::take(&mut self.victims);
        let seen = &mut self.seen;
        victims.retain(|&hash| {
            let fresh = seen.insert(hash);
            if !fresh {
                Counters::bump(&counters.invalid_duplicate);
            }
            fresh
        });
        let freed = if self.shared.warm.is_some() {
            self.demote_victims(&victims, source)
        } else {
            victims
                .iter()
                .map(|&hash| self.drop_hash(hash, source))
                .sum()
        };
        // Whoever did not choose a victim must forget it too.
        match source {
            Source::Policy => {
                if let Some(fallback) = &mut self.fallback {
                    let mut forget = EventBatch::with_capacity(victims.len());
                    for &hash in &victims {
                        forget.push(EventKind::Remove, hash, 0);
                    }
                    let _ = fallback.apply(&forget);
                }
            }
            Source::Fallback => {
                for &hash in &victims {
                    self.push(EventKind::Remove, hash, 0);
                }
            }
        }
        self.victims = victims;
        self.victims.clear();
        freed
    }

    /// Evicts every hot entry whose key hashes to `hash`; returns the bytes
    /// freed.
    fn drop_hash(&mut self, hash: u64, source: Source) -> u64 {
        let (mut freed, mut found) = (0, false);
        let shared = Arc::clone(&self.shared);
        let now = shared.clock.now_nanos();
        let mut gone = Vec::new();
        {
            // Without a warm tier, victims go straight to the cold tier,
            // under the key's hot-shard lock.
            let mut table = shared.index.shard(hash).write();
            while let Some(slot) = table.remove_hash_if(&shared.index.hasher, hash, |_| true) {
                found = true;
                let w = u64::from(slot.weight);
                freed += w;
                shared.weighted.fetch_sub(w, Ordering::AcqRel);
                if source == Source::Fallback {
                    Counters::bump(&shared.counters.fallback_evictions);
                }
                let kept = shared.cold.as_ref().is_some_and(|cold| {
                    !slot.expired(|| now)
                        && cold.demote(
                            &shared.counters,
                            &slot.key,
                            || postcard::to_allocvec(&slot.value).ok(),
                            slot.version,
                            slot.expires_at,
                        )
                });
                if !kept {
                    gone.push(slot);
                }
            }
        }
        for slot in gone {
            shared.notify(slot.key, slot.value, RemovalCause::Evicted);
        }
        if !found {
            Counters::bump(&self.shared.counters.invalid_unknown);
        }
        freed
    }
}

/// Who chose a victim.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Policy,
    Fallback,
}
