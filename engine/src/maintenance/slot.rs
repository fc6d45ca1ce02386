//! A tier's configured policy and its health: the instance deciding now, how
//! to build another, and the backoff that governs rebuilding after failures.
//!
//! A failing policy is dropped at once (for a WebAssembly policy that drops
//! its poisoned store) and the maintenance thread's native fallback decides
//! from the same pass on. After a backoff ([`POLICY_REBUILD_BACKOFF`],
//! doubling) a new instance is built and the resident set replayed into it.
//! After [`POLICY_FAILURES_MAX`] failures in a row the slot trips: the
//! fallback decides until a new policy is swapped in. A policy that stays
//! healthy for [`POLICY_HEALTHY_AFTER`] starts a new count.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::policy::{
    EventBatch, EventKind, EvictionPolicy, POLICY_BATCH_MAX, PolicyChoice, PolicyError,
    PolicyState, PolicyStatus, guarded,
};
use crate::shared::{POLICY_FAILURES_MAX, POLICY_HEALTHY_AFTER, POLICY_REBUILD_BACKOFF};

pub(crate) struct PolicySlot {
    choice: PolicyChoice,
    capacity: u64,
    policy: Option<Box<dyn EvictionPolicy>>,
    /// Clock time (ns) at which a rebuild is due, while in fallback.
    rebuild_at: Option<u64>,
    /// Clock time (ns) since which the current instance has been deciding.
    healthy_since: u64,
    tripped: bool,
    status: Arc<Mutex<PolicyStatus>>,
}

impl PolicySlot {
    pub(crate) fn new(
        choice: PolicyChoice,
        capacity: u64,
        policy: Box<dyn EvictionPolicy>,
        status: Arc<Mutex<PolicyStatus>>,
    ) -> Self {
        *status.lock() = PolicyStatus::new(policy.name());
        PolicySlot {
            choice,
            capacity,
            policy: Some(policy),
            rebuild_at: None,
            healthy_since: 0,
            tripped: false,
            status,
        }
    }

    /// Builds `choice` at `capacity` into a slot, with the status handle the
    /// cache reads; a policy that cannot be built is a configuration error.
    pub(crate) fn build(
        choice: &PolicyChoice,
        capacity: u64,
    ) -> Result<(PolicySlot, Arc<Mutex<PolicyStatus>>), crate::error::Error> {
        let policy =
            guarded(|| choice.build(capacity)).map_err(|e| crate::error::Error::InvalidConfig {
                reason: e.to_string(),
            })?;
        let status = Arc::new(Mutex::new(PolicyStatus::new(policy.name())));
        let slot = PolicySlot::new(choice.clone(), capacity, policy, Arc::clone(&status));
        Ok((slot, status))
    }

    /// Whether the configured policy is deciding.
    pub(crate) fn is_live(&self) -> bool {
        self.policy.is_some()
    }

    /// Applies `batch`; on failure the policy is dropped. Returns whether it
    /// is still live.
    pub(crate) fn apply(&mut self, batch: &EventBatch, now: u64) -> bool {
        let Some(policy) = &mut self.policy else {
            return false;
        };
        match guarded(|| policy.apply(batch)) {
            Ok(()) => true,
            Err(e) => {
                self.fail(e, now);
                false
            }
        }
    }

    /// Asks for victims; on failure the policy is dropped and `out` left as
    /// it was. Returns whether it is still live.
    pub(crate) fn evict(&mut self, max: u32, need: u64, out: &mut Vec<u64>, now: u64) -> bool {
        let Some(policy) = &mut self.policy else {
            return false;
        };
        let before = out.len();
        match guarded(|| policy.evict(max, need, out)) {
            Ok(()) => true,
            Err(e) => {
                out.truncate(before);
                self.fail(e, now);
                false
            }
        }
    }

    /// The policy's admission verdict; `None` when it is not live (or just
    /// failed).
    pub(crate) fn admit(&mut self, candidate: u64, victim: u64, now: u64) -> Option<bool> {
        let policy = self.policy.as_mut()?;
        match guarded(|| policy.admit(candidate, victim)) {
            Ok(verdict) => Some(verdict),
            Err(e) => {
                self.fail(e, now);
                None
            }
        }
    }

    fn fail(&mut self, error: PolicyError, now: u64) {
        self.policy = None;
        let mut status = self.status.lock();
        if now.saturating_sub(self.healthy_since) >= nanos(POLICY_HEALTHY_AFTER) {
            status.consecutive_failures = 0;
        }
        status.failures += 1;
        status.consecutive_failures += 1;
        status.last_error = Some(error.to_string());
        if status.consecutive_failures >= POLICY_FAILURES_MAX {
            self.tripped = true;
            self.rebuild_at = None;
            status.state = PolicyState::Tripped;
            status.rebuild_in = None;
        } else {
            let backoff = POLICY_REBUILD_BACKOFF * (1 << (status.consecutive_failures - 1));
            self.rebuild_at = Some(now.saturating_add(nanos(backoff)));
            status.state = PolicyState::Fallback;
            status.rebuild_in = Some(backoff);
        }
    }

    /// Whether a rebuild is due at `now`.
    pub(crate) fn rebuild_due(&self, now: u64) -> bool {
        self.policy.is_none() && !self.tripped && self.rebuild_at.is_some_and(|at| now >= at)
    }

    /// Builds a new instance of the configured policy and replays `resident`
    /// into it; returns whether it is live again. A failure counts like any
    /// other and schedules the next attempt.
    pub(crate) fn rebuild(&mut self, resident: &[(u64, u32)], now: u64) -> bool {
        let built = guarded(|| {
            self.choice
                .build(self.capacity)
                .and_then(|mut policy| replay(policy.as_mut(), resident).map(|()| policy))
        });
        match built {
            Ok(policy) => {
                self.policy = Some(policy);
                self.rebuild_at = None;
                self.healthy_since = now;
                let mut status = self.status.lock();
                status.state = PolicyState::Active;
                status.rebuilds += 1;
                status.rebuild_in = None;
                true
            }
            Err(e) => {
                self.fail(e, now);
                false
            }
        }
    }

    /// Installs `policy` (built from `choice`, already told of the
    /// resident set); the old instance is dropped. Returns the name of the
    /// policy it replaces.
    pub(crate) fn install(
        &mut self,
        choice: PolicyChoice,
        policy: Box<dyn EvictionPolicy>,
        now: u64,
    ) -> String {
        let mut status = self.status.lock();
        let previous = std::mem::replace(&mut status.name, policy.name().to_owned());
        status.state = PolicyState::Active;
        status.consecutive_failures = 0;
        status.swaps += 1;
        status.rebuild_in = None;
        drop(status);
        self.choice = choice;
        self.policy = Some(policy);
        self.rebuild_at = None;
        self.tripped = false;
        self.healthy_since = now;
        previous
    }

    /// Publishes an `auto` tier's race.
    pub(crate) fn publish_auto(&self, auto: Option<crate::policy::auto::AutoStatus>) {
        self.status.lock().auto = auto;
    }

    /// The capacity the policy is built with.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Publishes the time left before the next rebuild.
    pub(crate) fn refresh(&self, now: u64) {
        if let Some(at) = self.rebuild_at {
            self.status.lock().rebuild_in = Some(Duration::from_nanos(at.saturating_sub(now)));
        }
    }
}

/// Replays a resident set into a fresh policy as inserts, in batches.
pub(crate) fn replay(
    policy: &mut dyn EvictionPolicy,
    resident: &[(u64, u32)],
) -> Result<(), PolicyError> {
    replay_within(policy, resident, u64::MAX).map(|_| ())
}

/// Replays a resident set into a fresh policy as inserts, in batches, up
/// to `capacity` of weight; returns the entries left out.
///
/// A resident set read while the tier changes (a swap reads it on its own
/// thread, one shard at a time, while writers insert and maintenance
/// evicts) can hold more than the tier ever held at once. Replaying all of
/// it would make the policy choose victims of its own to get back under
/// its capacity, and those victims, still resident, would be evicted on
/// top of what the tier needs. The entries left out are reconciled when
/// the swap completes, against the tier as it is then.
pub(crate) fn replay_within(
    policy: &mut dyn EvictionPolicy,
    resident: &[(u64, u32)],
    capacity: u64,
) -> Result<Vec<(u64, u32)>, PolicyError> {
    let mut used = 0u64;
    let fits = resident
        .iter()
        .position(|&(_, w)| {
            used += u64::from(w);
            used > capacity
        })
        .unwrap_or(resident.len());
    let mut batch = EventBatch::with_capacity(POLICY_BATCH_MAX.min(fits));
    for chunk in resident[..fits].chunks(POLICY_BATCH_MAX) {
        batch.clear();
        for &(hash, weight) in chunk {
            batch.push(EventKind::Insert, hash, weight);
        }
        policy.apply(&batch)?;
    }
    Ok(resident[fits..].to_vec())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
