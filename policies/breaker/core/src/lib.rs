//! The circuit breaker behind goldylox's failover, one per tier, with
//! exponential backoff, as a plain state machine:
//!
//! * **closed** (keep): `error-threshold` consecutive errors or timeouts open
//!   the breaker;
//! * **open** (bypass): after the backoff the tier may be probed — the
//!   backoff starts at `backoff-ms` and doubles on every failed probe, up to
//!   `max-backoff-ms`;
//! * **half-open** (probe): `success-threshold` consecutive successful probes
//!   close it again; one failure reopens it.
//!
//! Decisions carry when to ask again; the host bounds both.
//!
//! It depends on nothing, so that both sides can use it without depending
//! on each other: the engine runs it as its native default failover policy,
//! and the `goldylox-policy-breaker` component wraps it for the sandbox.

/// Health event kinds, numbered as the `failover-policy` world numbers them.
pub mod kind {
    /// A request to the tier succeeded.
    pub const SUCCESS: u8 = 0;
    /// A request failed.
    pub const ERROR: u8 = 1;
    /// A request timed out.
    pub const TIMEOUT: u8 = 2;
    /// A probe succeeded.
    pub const PROBE_OK: u8 = 3;
    /// A probe failed.
    pub const PROBE_FAILED: u8 = 4;
}

/// What the breaker says to do with a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use the tier.
    Keep,
    /// Do not use it until a later decision.
    Bypass,
    /// Send it a trial request.
    Probe,
}

/// Tiers the breaker tracks (hot, warm, cold); events for others are ignored.
const TIERS: usize = 3;

/// How soon a closed breaker asks to be asked again.
const CLOSED_RETRY_MS: u32 = 1_000;
/// How soon a probing breaker asks to be asked again.
const PROBE_RETRY_MS: u32 = 100;

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

/// `key`'s value in `params`, parsed, or `default` when absent.
fn param<T: std::str::FromStr>(
    params: &[(String, String)],
    key: &str,
    default: T,
) -> Result<T, String> {
    match params.iter().find(|(k, _)| k == key) {
        Some((_, v)) => v
            .parse()
            .map_err(|_| format!("parameter {key}={v:?} is not valid")),
        None => Ok(default),
    }
}

impl Breaker {
    /// A breaker with `key=value` parameters (`error-threshold` 5,
    /// `success-threshold` 2, `backoff-ms` 1000, `max-backoff-ms` 60000
    /// when absent); refuses zero thresholds or backoffs.
    pub fn new(params: &[(String, String)]) -> Result<Self, String> {
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

    /// One health event of `tier` ([`kind`]) at `at_ms`.
    pub fn observe(&mut self, tier: u8, kind: u8, at_ms: u64) {
        let Some(&state) = self.tiers.get(usize::from(tier)) else {
            return;
        };
        let failure = matches!(kind, kind::ERROR | kind::TIMEOUT | kind::PROBE_FAILED);
        self.tiers[usize::from(tier)] = match (state, failure) {
            (State::Closed { errors }, true) if errors + 1 >= self.error_threshold => State::Open {
                since: at_ms,
                backoff: self.backoff_ms,
            },
            (State::Closed { errors }, true) => State::Closed { errors: errors + 1 },
            (State::Closed { .. }, false) => State::Closed { errors: 0 },
            (State::Open { since, backoff }, _) => State::Open { since, backoff },
            (State::HalfOpen { backoff, .. }, true) => State::Open {
                since: at_ms,
                backoff: (backoff * 2).min(self.max_backoff_ms),
            },
            (State::HalfOpen { successes, .. }, false)
                if successes + 1 >= self.success_threshold =>
            {
                State::Closed { errors: 0 }
            }
            (State::HalfOpen { successes, backoff }, false) => State::HalfOpen {
                successes: successes + 1,
                backoff,
            },
        };
    }

    /// What to do with `tier` at `now_ms`, and in how many milliseconds to
    /// ask again. An open breaker whose backoff has passed turns half-open.
    pub fn decide(&mut self, tier: u8, now_ms: u64) -> (Verdict, u32) {
        let Some(state) = self.tiers.get_mut(usize::from(tier)) else {
            return (Verdict::Keep, CLOSED_RETRY_MS);
        };
        match *state {
            State::Closed { .. } => (Verdict::Keep, CLOSED_RETRY_MS),
            State::Open { since, backoff } if now_ms >= since.saturating_add(backoff) => {
                *state = State::HalfOpen {
                    successes: 0,
                    backoff,
                };
                (Verdict::Probe, PROBE_RETRY_MS)
            }
            State::Open { since, backoff } => {
                let wait = since.saturating_add(backoff) - now_ms;
                (Verdict::Bypass, u32::try_from(wait).unwrap_or(u32::MAX))
            }
            State::HalfOpen { .. } => (Verdict::Probe, PROBE_RETRY_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kind::{ERROR, PROBE_FAILED, PROBE_OK, SUCCESS};

    #[test]
    fn opens_backs_off_probes_and_closes() {
        let mut b = Breaker::new(&[("error-threshold".into(), "3".into())]).unwrap();
        for t in 0..2 {
            b.observe(2, ERROR, t);
        }
        b.observe(2, SUCCESS, 2); // a success resets the count
        for t in 3..6 {
            b.observe(2, ERROR, t);
        }
        assert_eq!(
            b.decide(2, 100),
            (Verdict::Bypass, 905),
            "1 000 ms backoff from t=5"
        );
        assert_eq!(
            b.decide(0, 100).0,
            Verdict::Keep,
            "other tiers are unaffected"
        );
        assert_eq!(b.decide(2, 1_005).0, Verdict::Probe);
        b.observe(2, PROBE_FAILED, 1_010);
        assert_eq!(
            b.decide(2, 1_011),
            (Verdict::Bypass, 1_999),
            "the backoff doubled"
        );
        assert_eq!(b.decide(2, 3_010).0, Verdict::Probe);
        b.observe(2, PROBE_OK, 3_020);
        assert_eq!(b.decide(2, 3_021).0, Verdict::Probe, "two successes needed");
        b.observe(2, PROBE_OK, 3_030);
        assert_eq!(b.decide(2, 3_031).0, Verdict::Keep);
    }

    #[test]
    fn backoff_is_capped_and_bad_input_is_ignored_or_refused() {
        let mut b = Breaker::new(&[
            ("error-threshold".into(), "1".into()),
            ("max-backoff-ms".into(), "3000".into()),
        ])
        .unwrap();
        let mut now = 0;
        b.observe(1, ERROR, now);
        for _ in 0..10 {
            now += 10_000;
            assert_eq!(b.decide(1, now).0, Verdict::Probe);
            b.observe(1, PROBE_FAILED, now);
        }
        assert!(b.decide(1, now + 1).1 <= 3_000);
        b.observe(9, ERROR, 0); // unknown tiers: ignored
        b.observe(200, ERROR, 0);
        assert_eq!(b.decide(9, 0).0, Verdict::Keep);
        assert!(Breaker::new(&[("backoff-ms".into(), "0".into())]).is_err());
        assert!(Breaker::new(&[("error-threshold".into(), "many".into())]).is_err());
    }
}
