//! {{name}}: a failover policy for goldylox.
//!
//! It starts as a circuit breaker per tier: `errors` failures (errors or
//! timeouts) in a row open it (bypass the tier); after `backoff_ms` it sends
//! a probe; a good probe restores the tier, a failed one doubles the
//! backoff. Change it into your own rule.
//!
//! Build: `goldylox policy build`. Test: `cargo test`.

use goldylox_policy_sdk::{
    Action, BuildFailover, Decision, FailoverPolicy, Params, health, param,
};

#[derive(Clone, Copy, Default)]
struct Tier {
    failures: u32,
    open: bool,
    probe_ok: bool,
    backoff_ms: u64,
    retry_at: u64,
}

/// The breaker's state, per tier (hot, warm, cold).
pub struct Policy {
    tiers: [Tier; 3],
    errors: u32,
    backoff_ms: u64,
}

impl BuildFailover for Policy {
    fn build(params: &Params) -> Result<Self, String> {
        let errors: u32 = param(params, "errors", 5)?;
        let backoff_ms: u64 = param(params, "backoff_ms", 100)?;
        if errors == 0 {
            return Err("errors must be at least 1".into());
        }
        Ok(Policy { tiers: [Tier::default(); 3], errors, backoff_ms })
    }
}

impl FailoverPolicy for Policy {
    fn observe(&mut self, tiers: &[u8], kinds: &[u8], at_ms: &[u64]) {
        for ((&tier, &kind), &at) in tiers.iter().zip(kinds).zip(at_ms) {
            let Some(t) = self.tiers.get_mut(usize::from(tier)) else {
                continue;
            };
            match kind {
                health::SUCCESS => t.failures = 0,
                health::ERROR | health::TIMEOUT => {
                    t.failures += 1;
                    if !t.open && t.failures >= self.errors {
                        t.open = true;
                        t.backoff_ms = self.backoff_ms;
                        t.retry_at = at + t.backoff_ms;
                    }
                }
                health::PROBE_OK => t.probe_ok = true,
                health::PROBE_FAILED => {
                    t.backoff_ms = (t.backoff_ms * 2).min(60_000);
                    t.retry_at = at + t.backoff_ms;
                }
                _ => {}
            }
        }
    }

    fn decide(&mut self, tier: u8, now_ms: u64) -> Decision {
        let Some(t) = self.tiers.get_mut(usize::from(tier)) else {
            return Decision { action: Action::Keep, retry_after_ms: 1000 };
        };
        let action = if !t.open {
            Action::Keep
        } else if t.probe_ok {
            *t = Tier::default();
            Action::Restore
        } else if now_ms >= t.retry_at {
            Action::Probe
        } else {
            Action::Bypass
        };
        let retry_after_ms = if t.open { t.retry_at.saturating_sub(now_ms).max(1) } else { 1000 };
        Decision { action, retry_after_ms: retry_after_ms.min(u64::from(u32::MAX)) as u32 }
    }
}

goldylox_policy_sdk::export_failover_policy!(Policy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_a_row_open_the_breaker_and_a_good_probe_closes_it() {
        let mut p = Policy::build(&[("errors".into(), "2".into())]).unwrap();
        p.observe(&[2, 2], &[health::ERROR, health::ERROR], &[10, 11]);
        assert_eq!(p.decide(2, 12).action, Action::Bypass);
        assert_eq!(p.decide(2, 200).action, Action::Probe);
        p.observe(&[2], &[health::PROBE_OK], &[201]);
        assert_eq!(p.decide(2, 202).action, Action::Restore);
        assert_eq!(p.decide(2, 203).action, Action::Keep);
    }
}
