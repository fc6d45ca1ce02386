//! What a sandbox bounds (its [`Limits`], the epoch tick its deadlines
//! count in) and which [`World`] of `wit/policy.wit` a component exports.

use std::fmt;
use std::time::Duration;

/// How often the epoch ticker advances the engine's epoch.
///
/// ```
/// let limits = goldylox_sandbox::Limits::default();
/// let deadline = goldylox_sandbox::EPOCH_TICK * limits.call_deadline_ticks as u32;
/// assert_eq!(deadline, std::time::Duration::from_millis(250));
/// ```
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The bounds every policy instance runs under.
///
/// ```
/// use goldylox_sandbox::{Limits, Runtime};
/// let limits = Limits { max_memory_bytes: 1 << 30, ..Limits::default() }; // a big tier
/// let sandbox = Runtime::with(limits, None)?;
/// assert_eq!(sandbox.limits().max_memory_bytes, 1 << 30);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest component accepted, in bytes.
    pub max_component_bytes: usize,
    /// Longest a compilation may take before the load is abandoned.
    pub compile_timeout: Duration,
    /// Linear memory an instance may hold; growing past it traps. A policy's
    /// state grows with the entries it tracks (LeCaR holds ~170 bytes per
    /// entry of a 100 000-entry tier, more than 16 MiB), so the default,
    /// 256 MiB, fits tiers of about a million entries; size it to the tier.
    pub max_memory_bytes: usize,
    /// Deadline of one call (`apply`, `evict`, `admit`, …), in epoch ticks.
    /// It is there to stop a policy that hangs, not to police a slow one:
    /// the epoch is wall time (a descheduled maintenance thread uses up its
    /// deadline too), and a healthy policy's call is sometimes far longer
    /// than its average — a batch of 1024 costs 50–900 µs, but the batch
    /// that makes a million-entry table double rehashes it all, which took
    /// more than 20 ms here. The default, 250 ms, stops a looping policy
    /// within a quarter of a second, three times at most before it trips.
    pub call_deadline_ticks: u64,
    /// Deadline of `init`, which may allocate the policy's tables.
    pub init_deadline_ticks: u64,
    /// Largest wasm stack, in bytes (deep recursion traps, it does not crash).
    pub max_stack_bytes: usize,
    /// Whether a guest's stdout and stderr reach this process's stderr
    /// (`policy check`, where authors debug with `print`) instead of being
    /// discarded.
    pub show_guest_output: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_component_bytes: 64 << 20,
            compile_timeout: Duration::from_secs(120),
            max_memory_bytes: 256 << 20,
            call_deadline_ticks: 250,
            init_deadline_ticks: 1_000,
            max_stack_bytes: 512 << 10,
            show_guest_output: false,
        }
    }
}

/// Which world of `wit/policy.wit` a component exports.
///
/// ```
/// use goldylox_sandbox::World;
/// assert_eq!(World::from_wit_name("failover-policy"), Some(World::Failover));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `eviction-policy`.
    Eviction,
    /// `prefetch-policy`.
    Prefetch,
    /// `failover-policy`.
    Failover,
}

impl World {
    /// The world's name in the WIT file.
    ///
    /// ```
    /// assert_eq!(goldylox_sandbox::World::Eviction.wit_name(), "eviction-policy");
    /// ```
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Eviction => "eviction-policy",
            World::Prefetch => "prefetch-policy",
            World::Failover => "failover-policy",
        }
    }

    /// Parses a WIT world name.
    ///
    /// ```
    /// assert_eq!(goldylox_sandbox::World::from_wit_name("other"), None);
    /// ```
    pub fn from_wit_name(name: &str) -> Option<World> {
        [World::Eviction, World::Prefetch, World::Failover]
            .into_iter()
            .find(|w| w.wit_name() == name)
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}
