//! The circuit-breaker failover policy as a component: the state machine
//! of `goldylox-breaker` (see there for its rules and parameters) behind
//! the policy SDK's failover interface. The engine runs the same state
//! machine natively as its default.

use goldylox_breaker::Verdict;
use goldylox_policy_sdk::{Action, BuildFailover, Decision, FailoverPolicy, Params};

/// Per-tier circuit breakers.
#[derive(Debug)]
pub struct Breaker(goldylox_breaker::Breaker);

impl BuildFailover for Breaker {
    fn build(params: &Params) -> Result<Self, String> {
        goldylox_breaker::Breaker::new(params).map(Breaker)
    }
}

impl FailoverPolicy for Breaker {
    fn observe(&mut self, tiers: &[u8], kinds: &[u8], at_ms: &[u64]) {
        for ((&tier, &kind), &at) in tiers.iter().zip(kinds).zip(at_ms) {
            self.0.observe(tier, kind, at);
        }
    }

    fn decide(&mut self, tier: u8, now_ms: u64) -> Decision {
        let (verdict, retry_after_ms) = self.0.decide(tier, now_ms);
        let action = match verdict {
            Verdict::Keep => Action::Keep,
            Verdict::Bypass => Action::Bypass,
            Verdict::Probe => Action::Probe,
        };
        Decision {
            action,
            retry_after_ms,
        }
    }
}

goldylox_policy_sdk::export_failover_policy!(Breaker);

#[cfg(test)]
mod tests {
    use super::*;
    use goldylox_policy_sdk::health;

    #[test]
    fn the_state_machine_numbers_events_as_the_sdk_does() {
        use goldylox_breaker::kind;
        assert_eq!(
            [
                kind::SUCCESS,
                kind::ERROR,
                kind::TIMEOUT,
                kind::PROBE_OK,
                kind::PROBE_FAILED
            ],
            [
                health::SUCCESS,
                health::ERROR,
                health::TIMEOUT,
                health::PROBE_OK,
                health::PROBE_FAILED
            ]
        );
    }

    #[test]
    fn batches_reach_the_state_machine_in_order() {
        let mut b = Breaker::build(&[("error-threshold".into(), "2".into())]).unwrap();
        b.observe(
            &[2, 2, 9],
            &[health::ERROR, health::ERROR, health::ERROR],
            &[0, 1, 1],
        );
        let d = b.decide(2, 10);
        assert_eq!((d.action, d.retry_after_ms), (Action::Bypass, 991));
        assert_eq!(b.decide(9, 10).action, Action::Keep);
    }
}
