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
mod swap;
mod tier;

pub(crate) use tier::TierPolicy;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::LatencyEvent;
use crate::hot::{MISS_BIT, NEVER};
use crate::policy::{
    EVICT_BATCH_MAX, EVICT_ROUNDS_MAX, EventKind, EvictionPolicy, HashSet64, PolicyChoice,
    PolicyError, PolicyTier, PrefetchPolicy, SwapReport,
};
use crate::shared::{
    CacheState, MAINTENANCE_INTERVAL, SWAP_CHANNEL_CAPACITY, Tier, WRITE_DRAIN_MAX, WriteEvent,
    enter_maintenance,
};
use crate::stats::{Counters, RemovalCause};
use crate::timer_wheel::{Timer, TimerWheel};
use tier::{Source, SwapDone};

/// A request to the actor.
pub(crate) enum Cmd {
    /// Run a pass now, evicting until `need` more bytes fit under the
    /// capacity; reply when done.
    Sync { need: u64, reply: Sender<()> },
    /// Run a final pass and stop; reply when done.
    Shutdown { reply: Option<Sender<()>> },
    /// Replace a tier's policy with `policy` (built from `choice`), replaying
    /// the tier's resident set into it first (off this thread; the reply
    /// comes once it is done).
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

/// Held by the actor loop. However the loop ends, callers waiting for room
/// are answered. If the actor panics, nothing would ever run
/// the passes callers wait for: the guard closes the cache (writes are
/// refused as [`crate::Error::Closed`]) and drops every queued request, so
/// that each waiting caller hears `Closed` instead of waiting forever.
struct PanicGuard<K, V> {
    shared: Arc<CacheState<K, V>>,
    commands: crossbeam_channel::Receiver<Cmd>,
}

impl<K, V> Drop for PanicGuard<K, V> {
    fn drop(&mut self) {
        // No pass will run again: nobody may wait for one.
        self.shared.release_room_waiters();
        if !std::thread::panicking() {
            return;
        }
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        log::error!("the maintenance thread panicked: the cache is closed to writes");
        while self.commands.try_recv().is_ok() {}
    }
}

pub(crate) struct Maintenance<K, V> {
    shared: Arc<CacheState<K, V>>,
    inbox: Inbox,
    /// The hot tier's policy machinery.
    hot: TierPolicy,
    /// The warm tier's, when there is a warm tier.
    warm: Option<TierPolicy>,
    wheel: TimerWheel,
    /// Check for stale timers when the wheel grows past this.
    compact_timers_at: usize,
    victims: Vec<u64>,
    seen: HashSet64,
    expired: Vec<Timer>,
    /// Samples values for the warm tier's compression dictionary.
    trainer: crate::warm::codec::Trainer,
    /// The prefetch policy, if any, and the requests not yet shown to it.
    prefetch: Option<Box<dyn PrefetchPolicy>>,
    observed: Vec<u64>,
    observed_hits: Vec<u8>,
    /// Swap builder threads report here.
    swaps: (Sender<SwapDone>, Receiver<SwapDone>),
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
        shared: Arc<CacheState<K, V>>,
        inbox: Inbox,
        hot: TierPolicy,
        warm: Option<TierPolicy>,
        prefetch: Option<Box<dyn PrefetchPolicy>>,
    ) -> Self {
        Maintenance {
            shared,
            inbox,
            hot,
            warm,
            wheel: TimerWheel::new(),
            compact_timers_at: 4096,
            victims: Vec::with_capacity(EVICT_BATCH_MAX as usize),
            seen: HashSet64::default(),
            expired: Vec::new(),
            trainer: crate::warm::codec::Trainer::default(),
            prefetch,
            observed: Vec::new(),
            observed_hits: Vec::new(),
            swaps: bounded(SWAP_CHANNEL_CAPACITY),
        }
    }

    /// Starts the actor on its own thread (`gx-maint-<name>`).
    pub(crate) fn spawn(self, name: &str) -> Result<std::thread::JoinHandle<()>, crate::Error> {
        std::thread::Builder::new()
            .name(format!("gx-maint-{name}"))
            .spawn(move || self.run())
            .map_err(|e| crate::Error::spawn("maintenance", e))
    }

    /// The actor loop; returns when told to stop or when every handle is gone.
    pub(crate) fn run(mut self) {
        enter_maintenance();
        let _guard = PanicGuard {
            shared: Arc::clone(&self.shared),
            commands: self.inbox.commands.clone(),
        };
        loop {
            select! {
                recv(self.inbox.commands) -> cmd => match cmd {
                    Ok(Cmd::Sync { need, reply }) => {
                        self.pass(need);
                        let _ = reply.send(());
                    }
                    Ok(Cmd::Swap { tier, choice, policy, reply }) => {
                        self.swap(tier, choice, policy, reply);
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
                recv(self.swaps.1) -> done => {
                    if let Ok(done) = done {
                        self.finish_swap(done);
                    }
                }
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
        let began = Instant::now();
        let (waiting, waiters) = self.shared.take_room_waiters();
        let need = need.max(waiting.min(self.shared.capacity));
        self.rebuild_policies();
        self.abandon_overdue_swaps();
        self.drain();
        let expiring = Instant::now();
        self.expire();
        self.shared.took(LatencyEvent::ExpireCycle, expiring);
        self.prefetch();
        let evicting = Instant::now();
        self.evict(need);
        self.evict_warm(0);
        self.shared.took(LatencyEvent::EvictionCycle, evicting);
        self.flush();
        self.follow_selectors();
        self.shared.took(LatencyEvent::MaintenancePass, began);
        let done = self.shared.started.elapsed().as_nanos();
        self.shared
            .last_pass
            .store(u64::try_from(done).unwrap_or(u64::MAX), Ordering::Release);
        for done in waiters {
            done();
        }
    }

    fn push(&mut self, kind: EventKind, hash: u64, weight: u32) {
        if self.hot.push(kind, hash, weight) {
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
        match ev.tier {
            Tier::Warm => return self.push_warm(ev.kind, ev.hash, ev.weight),
            Tier::Timer => {
                return self.wheel.schedule(Timer {
                    hash: ev.hash,
                    deadline: ev.expires_at,
                });
            }
            Tier::Hot => {}
        }
        // Writers publish to the index before they send the event, so an
        // insert or update whose entry is already gone (evicted, or removed by
        // a writer whose event overtook this one) must not reach the policy:
        // it would track a hash the index does not hold.
        if matches!(ev.kind, EventKind::Insert | EventKind::Update)
            && !self.shared.index.holds(ev.hash, ev.at)
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

    /// Applies the gathered events to both tiers' policies (the warm
    /// tier's selector also sees the hot tier's: a hot insert is a warm
    /// lookup).
    fn flush(&mut self) {
        self.flush_warm();
        if self.hot.batch().is_empty() {
            return;
        }
        if let Some(warm) = &mut self.warm {
            warm.observe_above(self.hot.batch());
        }
        let now = self.shared.clock.now_nanos();
        if self.hot.flush(now, &self.shared.counters) {
            self.seed_fallback(PolicyTier::Hot);
        }
    }

    /// A tier's policy failed (its slot dropped it): the fallback, seeded
    /// with the tier's resident set on first use, decides from this pass on.
    fn seed_fallback(&mut self, tier: PolicyTier) {
        let shared = Arc::clone(&self.shared);
        match tier {
            PolicyTier::Hot => self.hot.seed_fallback(|f| shared.index.for_each(f)),
            _ => {
                if let (Some(policy), Some(warm)) = (&mut self.warm, &shared.warm) {
                    policy.seed_fallback(|f| warm.index.for_each(f));
                }
            }
        }
    }

    fn tier_mut(&mut self, tier: PolicyTier) -> Option<&mut TierPolicy> {
        match tier {
            PolicyTier::Hot => Some(&mut self.hot),
            _ => self.warm.as_mut(),
        }
    }

    /// Publishes each `auto` tier's race and starts the switch it decided.
    fn follow_selectors(&mut self) {
        for tier in [PolicyTier::Hot, PolicyTier::Warm] {
            let Some(policy) = self.tier_mut(tier) else {
                continue;
            };
            if policy.selector.is_none() {
                continue;
            }
            policy.publish();
            if let Some(candidate) = policy.proposal() {
                log::info!(
                    "auto: the {tier} tier switches to {} (shadow hit ratios decided)",
                    candidate.name
                );
                let id = policy.begin_swap(candidate.name, candidate.choice, None, false);
                self.start_swap(tier, id, None);
            }
        }
    }

    fn expire(&mut self) {
        let now = self.shared.clock.now_nanos();
        let mut due = std::mem::take(&mut self.expired);
        self.wheel.advance(now, |t| due.push(t));
        for t in due.drain(..) {
            let mut expired = false;
            while let Some(slot) = self.shared.index.remove_if(t.hash, |s| s.expired(|| now)) {
                expired = true;
                self.shared
                    .weighted
                    .fetch_sub(u64::from(slot.weight), Ordering::AcqRel);
                self.push(EventKind::Remove, t.hash, 0);
                self.shared
                    .notify(slot.key, slot.value, RemovalCause::Expired);
            }
            // A demoted entry keeps its deadline and its timer.
            expired |= self.expire_warm(t.hash, now);
            if expired && self.shared.capture.sampled(t.hash) {
                let op = crate::capture::CaptureOp::Expire;
                self.shared.capture.record(now, op, t.hash, 0, NEVER);
            }
            if self.shared.renews_on_read {
                self.refile(t, now);
            }
        }
        self.expired = due;
        if self.wheel.len() > self.compact_timers_at {
            self.compact_timers();
            self.compact_timers_at = (2 * self.wheel.len()).max(4096);
        }
    }

    /// A timer fired for `t.hash`, whose entries reads may have renewed:
    /// files a timer for each one still alive with a later deadline.
    fn refile(&mut self, t: Timer, now: u64) {
        let wheel = &mut self.wheel;
        let mut file = |deadline: u64| {
            if deadline != NEVER && deadline > now && deadline > t.deadline {
                wheel.schedule(Timer {
                    hash: t.hash,
                    deadline,
                });
            }
        };
        self.shared.index.deadlines_of(t.hash, &mut file);
        if let Some(warm) = &self.shared.warm {
            warm.index.deadlines_of(t.hash, &mut file);
        }
    }

    /// Drops the stale timers (of entries overwritten, removed or moved).
    /// Where reads renew deadlines a live entry's timer may be earlier
    /// than its deadline, so the wheel is filed again from the index: one
    /// timer per entry with a deadline.
    fn compact_timers(&mut self) {
        let (index, warm) = (&self.shared.index, &self.shared.warm);
        if !self.shared.renews_on_read {
            self.wheel.retain(|t| {
                index.has_deadline(t.hash, t.deadline)
                    || warm
                        .as_ref()
                        .is_some_and(|w| w.index.has_deadline(t.hash, t.deadline))
            });
            return;
        }
        let wheel = &mut self.wheel;
        wheel.retain(|_| false);
        let mut file = |hash: u64, deadline: u64| {
            if deadline != NEVER {
                wheel.schedule(Timer { hash, deadline });
            }
        };
        index.for_each_deadline(&mut file);
        if let Some(warm) = warm {
            warm.index.for_each_deadline(&mut file);
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
            let now = self.shared.clock.now_nanos();
            if self.hot.is_live()
                && !self
                    .hot
                    .propose(over, &mut self.victims, now, &self.shared.counters)
            {
                self.seed_fallback(PolicyTier::Hot);
            }
            let failed = !self.hot.is_live();
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

    fn fallback_evict(&mut self, over: u64) -> u64 {
        self.seed_fallback(PolicyTier::Hot);
        self.victims.clear();
        self.hot.propose_fallback(over, &mut self.victims);
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
        let now = self.shared.clock.now_nanos();
        self.hot
            .forget(&victims, source, now, &self.shared.counters);
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
                            &shared.version,
                            &slot.key,
                            || postcard::to_allocvec(&slot.value).ok(),
                            slot.version,
                            slot.expires_at.get(),
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
