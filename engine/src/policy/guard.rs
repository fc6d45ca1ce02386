//! The guard around every call into a policy, on every thread: a panic is
//! the policy's failure like any other error.

use super::PolicyError;

/// Runs one call into a policy. A panic is the policy's failure like any
/// other (the slot drops the policy, the fallback decides, a rebuild comes
/// later; a swap fails; a shadow leaves the race), not the end of the
/// thread that made the call. The policy is dropped after a panic, so
/// whatever state it left half-changed is never used.
pub(crate) fn guarded<T>(call: impl FnOnce() -> Result<T, PolicyError>) -> Result<T, PolicyError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        Err(PolicyError::Failed(format!("the policy panicked: {what}")))
    })
}
