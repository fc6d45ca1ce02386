//! Policy administration: status of each tier's policy, and hot swap.

use crossbeam_channel::bounded;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hash::Hash;

use super::Cache;
use crate::error::Error;
use crate::maintenance::Cmd;
use crate::policy::{PolicyChoice, PolicyStatus, PolicyTier, SwapReport};

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The status of a tier's eviction policy: which one is configured,
    /// whether it is deciding or the native fallback is, its failures and
    /// swaps. `None` for a tier this cache does not have.
    ///
    /// ```
    /// use goldylox::PolicyTier;
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let status = cache.policy_status(PolicyTier::Hot).unwrap();
    /// assert_eq!(status.name, "sieve");
    /// assert!(cache.policy_status(PolicyTier::Warm).is_none(), "no warm tier");
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn policy_status(&self, tier: PolicyTier) -> Option<PolicyStatus> {
        let shared = self.shared();
        match tier {
            PolicyTier::Hot => Some(shared.hot_policy.lock().clone()),
            PolicyTier::Warm => shared.warm_policy.as_ref().map(|s| s.lock().clone()),
        }
    }

    /// Replaces a tier's eviction policy while the cache serves.
    ///
    /// The new policy is built here, on the caller's thread (for a
    /// WebAssembly policy: instantiated and initialised; compile it before
    /// calling this). Maintenance then applies the events already queued to
    /// the old policy, replays the tier's resident set into the new one in
    /// batches, and switches between two batches. Cache contents do not
    /// change; only the policy's ordering metadata is rebuilt (in index order,
    /// since the old policy's order cannot be read out of it). If building or
    /// replaying fails, the running policy stays and the error says why. A
    /// swap also clears a tripped policy's state.
    ///
    /// ```
    /// use goldylox::{PolicyChoice, PolicyTier};
    /// # let cache: goldylox::Cache<String, String> = goldylox::Cache::new(1 << 20)?;
    /// let report = cache.swap_policy(PolicyTier::Hot, PolicyChoice::Lru)?;
    /// assert_eq!(cache.policy_status(PolicyTier::Hot).unwrap().name, "lru");
    /// # drop(report);
    /// # Ok::<(), goldylox::Error>(())
    /// ```
    pub fn swap_policy(&self, tier: PolicyTier, choice: PolicyChoice) -> Result<SwapReport, Error> {
        if self
            .shared()
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(Error::Closed);
        }
        if crate::shared::in_maintenance() {
            // The maintenance thread would wait on itself.
            return Err(Error::PolicyRejected {
                reason: "a policy cannot be swapped from a removal listener".to_owned(),
            });
        }
        let capacity = match tier {
            PolicyTier::Hot => self.shared().capacity,
            PolicyTier::Warm => match &self.shared().warm {
                Some(warm) => warm.capacity,
                None => {
                    return Err(Error::PolicyRejected {
                        reason: "this cache has no warm tier".to_owned(),
                    });
                }
            },
        };
        // Built here, on the caller's thread; a policy that panics while it
        // is built is rejected like one that fails.
        let policy = crate::policy::guarded(|| choice.build(capacity)).map_err(|e| {
            Error::PolicyRejected {
                reason: e.to_string(),
            }
        })?;
        let (reply, answer) = bounded(1);
        self.inner
            .commands
            .send(Cmd::Swap {
                tier,
                choice,
                policy,
                reply,
            })
            .map_err(|_| Error::Closed)?;
        answer
            .recv()
            .map_err(|_| Error::Closed)?
            .map_err(|e| Error::PolicyRejected {
                reason: e.to_string(),
            })
    }
}
