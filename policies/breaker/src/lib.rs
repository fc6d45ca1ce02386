//! A circuit breaker per tier, with exponential backoff:
//!
//! * **closed** (keep): `error-threshold` consecutive errors or timeouts open
//!   the breaker;
//! * **open** (bypass): after the backoff the tier may be probed — the
//!   backoff starts at `backoff-ms` and doubles on every failed probe, up to
//!   `max-backoff-ms`;
//! * **half-open** (probe): `success-threshold` consecutive successful probes
//!   close it again (restore); one failure reopens it.
//!
//! Decisions carry when to ask again; the host bounds both.

use goldylox_policy_sdk::{Action, BuildFailover, Decision, FailoverPolicy, Params, health, param};

/// Tiers the policy tracks (hot, warm, cold); events for others are ignored.
const TIERS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { errors: u32 },
    Open { since: u64, backoff: u64 },
    HalfOpen { successes: u32, backoff: u64 },
}

/// Per-tier circuit breakers.
#[derive(Debug)]
pub struct Breaker {
    tiers: [State; TIERS],
    error_threshold: u32,
    success_threshold: u32,
    backoff_ms: u64,
    max_backoff_ms: u64,
}

impl Breaker {
    fn on_event(&mut self, tier: usize, kind: u8, at: u64) {
        let failure = matches!(kind, health::ERROR | health::TIMEOUT | health::PROBE_FAILED);
        self.tiers[tier] = match (self.tiers[tier], failure) {
            (State::Closed { errors }, true) if errors + 1 >= self.error_threshold => State::Open {
                since: at,
                backoff: self.backoff_ms,
            },
            (State::Closed { errors }, true) => State::Closed { errors: errors + 1 },
            (State::Closed { .. }, false) => State::Closed { errors: 0 },
            (State::Open { since, backoff }, _) => State::Open { since, backoff },
            (State::HalfOpen { backoff, .. }, true) => State::Open {
                since: at,
                backoff: (backoff * 2).min(self.max_backoff_ms),
            },
            (State::HalfOpen { successes, backoff }, false)
                if successes + 1 >= self.success_threshold =>
            {
                let _ = backoff;
                State::Closed { errors: 0 }
            }
            (State::HalfOpen { successes, backoff }, false) => State::HalfOpen {
                successes: successes + 1,
                backoff,
            },
        };
    }
}

impl BuildFailover for Breaker {
    fn build(params: &Params) -> Result<Self, String> {
        let error_threshold: u32 = param(params, "error-threshold", 5)?;
        let success_threshold: u32 = param(params, "success-threshold", 2)?;
        let backoff_ms: u64 = param(params, "backoff-ms", 1_000)?;
        let max_backoff_ms: u64 = param(params, "max-backoff-ms", 60_000)?;
        if error_threshold == 0
            || success_threshold == 0
            || backoff_ms == 0
            || max_backoff_ms < backoff_ms
        {
            return Err(
                "thresholds and backoff must be positive, max-backoff-ms >= backoff-ms".into(),
            );
        }
        Ok(Breaker {
            tiers: [State::Closed { errors: 0 }; TIERS],
            error_threshold,
            success_threshold,
            backoff_ms,
            max_backoff_ms,
        })
    }
}

impl FailoverPolicy for Breaker {
    fn observe(&mut self, tiers: &[u8], kinds: &[u8], at_ms: &[u64]) {
        for ((&tier, &kind), &at) in tiers.iter().zip(kinds).zip(at_ms) {
            if usize::from(tier) < TIERS {
                self.on_event(usize::from(tier), kind, at);
            }
        }
    }

    fn decide(&mut self, tier: u8, now_ms: u64) -> Decision {
        let Some(state) = self.tiers.get_mut(usize::from(tier)) else {
            return Decision {
                action: Action::Keep,
                retry_after_ms: 1_000,
            };
        };
        let clamp = |ms: u64| u32::try_from(ms).unwrap_or(u32::MAX);
        match *state {
            State::Closed { .. } => Decision {
                action: Action::Keep,
                retry_after_ms: 1_000,
            },
            State::Open { since, backoff } if now_ms >= since.saturating_add(backoff) => {
                *state = State::HalfOpen {
                    successes: 0,
                    backoff,
                };
                Decision {
                    action: Action::Probe,
                    retry_after_ms: 100,
                }
            }
            State::Open { since, backoff } => Decision {
                action: Action::Bypass,
                retry_after_ms: clamp(since.saturating_add(backoff) - now_ms),
            },
            State::HalfOpen { .. } => Decision {
                action: Action::Probe,
                retry_after_ms: 100,
            },
        }
    }
}

goldylox_policy_sdk::export_failover_policy!(Breaker);

#[cfg(test)]
mod tests {
    use super::*;
    use health::{ERROR, PROBE_FAILED, PROBE_OK, SUCCESS};

    fn observe(b: &mut Breaker, tier: u8, kind: u8, at: u64) {
        b.observe(&[tier], &[kind], &[at]);
    }

    #[test]
    fn opens_backs_off_probes_and_closes() {
        let mut b = Breaker::build(&[("error-threshold".into(), "3".into())]).unwrap();
        for t in 0..2 {
            observe(&mut b, 2, ERROR, t);
        }
        observe(&mut b, 2, SUCCESS, 2); // a success resets the count
        for t in 3..6 {
            observe(&mut b, 2, ERROR, t);
        }
        let d = b.decide(2, 100);
        assert_eq!(d.action, Action::Bypass);
        assert_eq!(d.retry_after_ms, 905, "1 000 ms backoff from t=5");
        assert_eq!(
            b.decide(0, 100).action,
            Action::Keep,
            "other tiers are unaffected"
        );
        assert_eq!(b.decide(2, 1_005).action, Action::Probe);
        observe(&mut b, 2, PROBE_FAILED, 1_010);
        let d = b.decide(2, 1_011);
        assert_eq!(
            (d.action, d.retry_after_ms),
            (Action::Bypass, 1_999),
            "the backoff doubled"
        );
        assert_eq!(b.decide(2, 3_010).action, Action::Probe);
        observe(&mut b, 2, PROBE_OK, 3_020);
        assert_eq!(
            b.decide(2, 3_021).action,
            Action::Probe,
            "two successes needed"
        );
        observe(&mut b, 2, PROBE_OK, 3_030);
        assert_eq!(b.decide(2, 3_031).action, Action::Keep);
    }

    #[test]
    fn backoff_is_capped_and_bad_input_is_ignored_or_refused() {
        let mut b = Breaker::build(&[
            ("error-threshold".into(), "1".into()),
            ("max-backoff-ms".into(), "3000".into()),
        ])
        .unwrap();
        let mut now = 0;
        observe(&mut b, 1, ERROR, now);
        for _ in 0..10 {
            now += 10_000;
            assert_eq!(b.decide(1, now).action, Action::Probe);
            observe(&mut b, 1, PROBE_FAILED, now);
        }
        assert!(b.decide(1, now + 1).retry_after_ms <= 3_000);
        b.observe(&[9, 200], &[ERROR, ERROR], &[0, 0]); // unknown tiers: ignored
        assert_eq!(b.decide(9, 0).action, Action::Keep);
        assert!(Breaker::build(&[("backoff-ms".into(), "0".into())]).is_err());
    }
}
