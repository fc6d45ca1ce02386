//! Replacing a tier's policy: rebuilding one that failed, once its backoff
//! has passed, and hot swaps. Either way the new instance is told the
//! tier's resident set first; a swap builds and replays it on a thread of
//! its own and maintenance only catches it up and switches.

use std::sync::Arc;

use crossbeam_channel::Sender;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Maintenance, slot, tier};
use crate::policy::{EvictionPolicy, PolicyChoice, PolicyError, PolicyTier, SwapReport};
use crate::shared::CacheState;
use crate::stats::Counters;
use tier::SwapDone;

impl<K, V> Maintenance<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Abandons each tier's swap that has run past the deadline: its caller
    /// gets an error, the running policy stays, and the swap thread's
    /// result, should it ever come, is ignored.
    pub(super) fn abandon_overdue_swaps(&mut self) {
        let deadline = self.shared.swap_deadline;
        for tier in [PolicyTier::Hot, PolicyTier::Warm] {
            let Some(target) = self.tier_mut(tier) else {
                continue;
            };
            if let Some(id) = target.overdue_swap(deadline) {
                target.abandon_swap(
                    id,
                    PolicyError::Failed(format!(
                        "the swap did not finish within {} s (building the policy and replaying \
                         the resident set into it); the running policy stays",
                        deadline.as_secs_f64()
                    )),
                );
                Counters::bump(&self.shared.counters.policy_failures);
            }
        }
    }

    /// Rebuilds a failed policy whose backoff has passed, replaying the
    /// tier's resident set into the new instance.
    pub(super) fn rebuild_policies(&mut self) {
        let now = self.shared.clock.now_nanos();
        for tier in [PolicyTier::Hot, PolicyTier::Warm] {
            let Some(policy) = self.tier_mut(tier) else {
                continue;
            };
            if policy.slot().rebuild_due(now) {
                // Whatever is queued was meant for the fallback's view too.
                self.flush();
                let resident = resident_of(&self.shared, tier);
                let rebuilt = self
                    .tier_mut(tier)
                    .is_some_and(|p| p.slot().rebuild(&resident, now));
                if !rebuilt {
                    Counters::bump(&self.shared.counters.policy_failures);
                }
            }
            if let Some(policy) = self.tier_mut(tier) {
                policy.slot().refresh(now);
            }
        }
    }

    /// Hot swap: apply what is queued to the old policy, then build the new
    /// one off this thread (see [`tier`]); the reply comes when it is live.
    pub(super) fn swap(
        &mut self,
        tier: PolicyTier,
        choice: PolicyChoice,
        policy: Box<dyn EvictionPolicy>,
        reply: Sender<Result<SwapReport, PolicyError>>,
    ) {
        self.drain();
        let name = policy.name().to_owned();
        let Some(target) = self.tier_mut(tier) else {
            let _ = reply.send(Err(PolicyError::Init("this cache has no warm tier".into())));
            return;
        };
        let id = target.begin_swap(name, choice, Some(reply), true);
        self.start_swap(tier, id, Some(policy));
    }

    /// Builds (unless given) and replays the pending swap's instance on a
    /// thread of its own, which reports to `swaps`.
    pub(super) fn start_swap(
        &mut self,
        tier: PolicyTier,
        id: u64,
        policy: Option<Box<dyn EvictionPolicy>>,
    ) {
        let shared = Arc::clone(&self.shared);
        let done = self.swaps.0.clone();
        let Some(target) = self.tier_mut(tier) else {
            return;
        };
        let (Some(choice), capacity) = (target.pending_choice(), target.slot().capacity()) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name(format!("gx-swap-{tier}"))
            .spawn(move || {
                let build = || {
                    let mut policy = match policy {
                        Some(policy) => policy,
                        None => choice.build(capacity)?,
                    };
                    let resident = resident_of(&shared, tier);
                    let deferred = slot::replay_within(policy.as_mut(), &resident, capacity)?;
                    Ok(tier::Replayed {
                        policy,
                        replayed: resident.len() as u64,
                        deferred,
                    })
                };
                // A panicking policy fails the swap like any other error.
                let result = crate::policy::guarded(build);
                let _ = done.send(SwapDone { tier, id, result });
            });
        if let Err(e) = spawned {
            let error = PolicyError::Failed(format!("cannot start the swap thread: {e}"));
            target.abandon_swap(id, error);
        }
    }

    /// A swap's new instance is ready: catch it up and switch.
    pub(super) fn finish_swap(&mut self, done: SwapDone) {
        let now = self.shared.clock.now_nanos();
        let shared = Arc::clone(&self.shared);
        let tier = done.tier;
        let resident = |hash: u64| match tier {
            PolicyTier::Hot => shared.index.contains_hash(hash),
            _ => shared
                .warm
                .as_ref()
                .is_some_and(|w| w.index.contains_hash(hash)),
        };
        let began = std::time::Instant::now();
        if let Some(target) = self.tier_mut(tier) {
            target.finish(done, now, &resident);
        }
        self.shared.took(crate::LatencyEvent::PolicySwap, began);
    }
}

/// The hashes and weights resident in a tier, as a policy would be told
/// of them.
fn resident_of<K, V>(shared: &CacheState<K, V>, tier: PolicyTier) -> Vec<(u64, u32)>
where
    K: std::hash::Hash + Eq,
{
    let mut resident = Vec::new();
    match tier {
        PolicyTier::Hot => {
            resident.reserve(shared.index.len());
            shared.index.for_each(|h, w| resident.push((h, w)));
        }
        _ => {
            if let Some(warm) = &shared.warm {
                resident.reserve(warm.index.len());
                warm.index.for_each(|h, w| resident.push((h, w)));
            }
        }
    }
    resident
}
