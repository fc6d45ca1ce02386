//! Failure handling: a circuit breaker per tier that can fail (the cold
//! tier), run by a health actor (`gx-health-NAME`) that asks a failover
//! policy what to do.
//!
//! The data path reports outcomes (errors always, successes at most once per
//! [`SUCCESS_REPORT_SPACING`]) with a non-blocking send; the actor also
//! watches the tier's own error counter, so failures of background writes
//! count too. It feeds the events to the policy in batches, asks it for a
//! decision when one is due, and publishes the tier's [`BreakerState`] in
//! an atomic the data path reads: **closed** — use the tier; **open** —
//! bypass it (reads miss, demotions into it are dropped and counted);
//! **half-open** — still bypassed while the actor probes it.
//!
//! The policy is the WIT failover world's (a component from the host) or
//! the native default, the circuit breaker of `goldylox-breaker` (the
//! state machine the breaker component wraps too). A policy
//! that fails is replaced by the native default. Whatever it returns is
//! bounded: the time to the next decision is clamped to
//! [`RETRY_MIN`]..=[`RETRY_MAX`].
//!
//! ```
//! use goldylox::health::{kind, Action, FailoverPolicy, HealthEvent, NativeBreaker, COLD_TIER};
//! let mut breaker = NativeBreaker::new(&[("error-threshold".into(), "2".into())])?;
//! let error = |at_ms| HealthEvent { tier: COLD_TIER, kind: kind::ERROR, at_ms };
//! breaker.observe(&[error(1), error(2)])?;
//! assert_eq!(breaker.decide(COLD_TIER, 3)?.action, Action::Bypass);
//! # Ok::<(), goldylox::PolicyError>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
pub use goldylox_breaker::kind;

use crate::policy::PolicyError;

/// Events the health channel holds; more are dropped and counted.
pub(crate) const HEALTH_QUEUE: usize = 1024;
/// A success is reported at most this often per tier.
///
/// ```
/// assert!(goldylox::health::SUCCESS_REPORT_SPACING < std::time::Duration::from_secs(1));
/// ```
pub const SUCCESS_REPORT_SPACING: Duration = Duration::from_millis(10);
/// The soonest a decision may ask to be asked again.
///
/// ```
/// use goldylox::health::{RETRY_MAX, RETRY_MIN};
/// let asked = std::time::Duration::from_millis(1);
/// assert_eq!(asked.clamp(RETRY_MIN, RETRY_MAX), RETRY_MIN);
/// ```
pub const RETRY_MIN: Duration = Duration::from_millis(10);
/// The latest a decision may ask to be asked again.
///
/// ```
/// use goldylox::health::{RETRY_MAX, RETRY_MIN};
/// let asked = std::time::Duration::from_secs(3600);
/// assert_eq!(asked.clamp(RETRY_MIN, RETRY_MAX), RETRY_MAX);
/// ```
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// How often the actor looks at the tier's error counter.
const HEALTH_TICK: Duration = Duration::from_millis(50);
/// The cold tier's number in health events.
///
/// ```
/// use goldylox::health::{FailoverPolicy, NativeBreaker, COLD_TIER};
/// let mut breaker = NativeBreaker::new(&[])?;
/// let decision = breaker.decide(COLD_TIER, 0)?;
/// assert_eq!(decision.action, goldylox::health::Action::Keep);
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
pub const COLD_TIER: u8 = 2;

/// One health event, numbered as the failover world numbers them.
///
/// ```
/// use goldylox::health::{kind, Action, FailoverPolicy, HealthEvent, NativeBreaker, COLD_TIER};
/// let mut breaker = NativeBreaker::new(&[("error-threshold".into(), "1".into())])?;
/// breaker.observe(&[HealthEvent { tier: COLD_TIER, kind: kind::ERROR, at_ms: 5 }])?;
/// assert_eq!(breaker.decide(COLD_TIER, 6)?.action, Action::Bypass);
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthEvent {
    /// 0 hot, 1 warm, 2 cold.
    pub tier: u8,
    /// One of [`kind`]'s constants.
    pub kind: u8,
    /// Milliseconds since the cache started.
    pub at_ms: u64,
}

/// What a failover policy says to do with a tier.
///
/// ```
/// use goldylox::health::{Action, FailoverPolicy, NativeBreaker, COLD_TIER};
/// let mut breaker = NativeBreaker::new(&[])?;
/// match breaker.decide(COLD_TIER, 0)?.action {
///     Action::Keep | Action::Restore => { /* use the disk */ }
///     Action::Bypass | Action::Probe => { /* serve from memory */ }
/// }
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep using the tier.
    Keep,
    /// Stop using it until a later decision says otherwise.
    Bypass,
    /// Send it a trial request.
    Probe,
    /// Use it again.
    Restore,
}

/// A failover decision.
///
/// ```
/// use goldylox::health::{FailoverPolicy, NativeBreaker, COLD_TIER};
/// let mut breaker = NativeBreaker::new(&[])?;
/// let d = breaker.decide(COLD_TIER, 0)?;
/// println!("{:?}; ask again in {:?}", d.action, d.retry_after);
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do with the tier.
    pub action: Action,
    /// When to ask again (the host clamps it).
    pub retry_after: Duration,
}

/// A failover policy: observes tier health, decides what to do with a tier.
///
/// ```
/// use std::time::Duration;
/// use goldylox::PolicyError;
/// use goldylox::health::{Action, Decision, FailoverPolicy, HealthEvent};
/// /// Never gives up on the disk.
/// struct Stubborn;
/// impl FailoverPolicy for Stubborn {
///     fn observe(&mut self, _: &[HealthEvent]) -> Result<(), PolicyError> { Ok(()) }
///     fn decide(&mut self, _tier: u8, _now_ms: u64) -> Result<Decision, PolicyError> {
///         Ok(Decision { action: Action::Keep, retry_after: Duration::from_secs(1) })
///     }
/// }
/// assert_eq!(Stubborn.decide(2, 0)?.action, Action::Keep);
/// # Ok::<(), PolicyError>(())
/// ```
pub trait FailoverPolicy: Send {
    /// Observes events in order.
    fn observe(&mut self, events: &[HealthEvent]) -> Result<(), PolicyError>;
    /// The action for `tier` now.
    fn decide(&mut self, tier: u8, now_ms: u64) -> Result<Decision, PolicyError>;
}

/// Builds failover policies (the cache builds one per cache).
///
/// ```
/// use std::sync::Arc;
/// use goldylox::health::{FailoverFactory, FailoverPolicy, NativeBreaker};
/// let factory: FailoverFactory =
///     Arc::new(|| Ok(Box::new(NativeBreaker::new(&[])?) as Box<dyn FailoverPolicy>));
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .failover(factory) // used once a cold tier is configured
///     .build()?;
/// # drop(cache);
/// # Ok::<(), goldylox::Error>(())
/// ```
pub type FailoverFactory =
    Arc<dyn Fn() -> Result<Box<dyn FailoverPolicy>, PolicyError> + Send + Sync>;

/// The native default: the circuit breaker of `goldylox-breaker` (closed →
/// open after 5 consecutive errors → probe after 1 s, doubling to 60 s →
/// closed after 2 good probes), built with `key=value` parameters.
///
/// ```
/// use goldylox::health::NativeBreaker;
/// let breaker = NativeBreaker::new(&[
///     ("error-threshold".into(), "10".into()),
///     ("max-backoff-ms".into(), "30000".into()),
/// ])?;
/// # drop(breaker);
/// # Ok::<(), goldylox::PolicyError>(())
/// ```
pub struct NativeBreaker(goldylox_breaker::Breaker);

impl NativeBreaker {
    /// A breaker with the given parameters (`error-threshold`,
    /// `success-threshold`, `backoff-ms`, `max-backoff-ms`).
    ///
    /// ```
    /// use goldylox::health::NativeBreaker;
    /// assert!(NativeBreaker::new(&[("error-threshold".into(), "many".into())]).is_err());
    /// ```
    pub fn new(params: &[(String, String)]) -> Result<Self, PolicyError> {
        goldylox_breaker::Breaker::new(params)
            .map(NativeBreaker)
            .map_err(PolicyError::Init)
    }
}

impl FailoverPolicy for NativeBreaker {
    fn observe(&mut self, events: &[HealthEvent]) -> Result<(), PolicyError> {
        for e in events {
            self.0.observe(e.tier, e.kind, e.at_ms);
        }
        Ok(())
    }

    fn decide(&mut self, tier: u8, now_ms: u64) -> Result<Decision, PolicyError> {
        let (verdict, retry_after_ms) = self.0.decide(tier, now_ms);
        let action = match verdict {
            goldylox_breaker::Verdict::Keep => Action::Keep,
            goldylox_breaker::Verdict::Bypass => Action::Bypass,
            goldylox_breaker::Verdict::Probe => Action::Probe,
        };
        Ok(Decision {
            action,
            retry_after: Duration::from_millis(u64::from(retry_after_ms)),
        })
    }
}

/// A tier's breaker state as the data path sees it.
///
/// ```
/// use goldylox::health::BreakerState;
/// # let dir = tempfile::tempdir().unwrap();
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
///     .build()?;
/// if let Some((BreakerState::Open, _)) = cache.cold_health() {
///     eprintln!("the cold tier is bypassed: {:?}", cache.cold_last_error());
/// }
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// The tier is used.
    Closed,
    /// The tier is bypassed.
    Open,
    /// The tier is bypassed while probes decide whether to close.
    HalfOpen,
}

/// What the health actor watches: a tier's error count and a probe.
pub(crate) trait Monitored: Send + Sync + 'static {
    /// Errors so far (monotonic).
    fn errors(&self) -> u64;
    /// A trial request.
    fn probe(&self) -> bool;
}

/// Breaker figures.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let cache: goldylox::Cache<u64, u64> = goldylox::Cache::builder(1 << 20)
///     .cold(goldylox::cold::ColdConfig::new(dir.path(), 1 << 30))
///     .build()?;
/// let (_, figures) = cache.cold_health().unwrap();
/// assert_eq!(figures.opened, 0, "the breaker never opened");
/// # Ok::<(), goldylox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthStats {
    /// Times the breaker opened.
    pub opened: u64,
    /// Probes run, and how many failed.
    pub probes: u64,
    /// Failed probes.
    pub probes_failed: u64,
    /// Times it closed again.
    pub closed: u64,
    /// Events dropped because the health channel was full.
    pub events_dropped: u64,
    /// Failover policy failures (the native default took over).
    pub policy_failures: u64,
}

#[derive(Default)]
struct Figures {
    opened: AtomicU64,
    probes: AtomicU64,
    probes_failed: AtomicU64,
    closed: AtomicU64,
    events_dropped: AtomicU64,
    policy_failures: AtomicU64,
}

/// The data path's handle on a tier's breaker.
pub(crate) struct Health {
    state: Arc<AtomicU8>,
    events: Sender<HealthEvent>,
    started: Instant,
    last_success: AtomicU64,
    figures: Arc<Figures>,
    stop: Sender<()>,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

impl Health {
    /// Starts the health actor for `tier` with `policy`.
    pub(crate) fn start(
        name: &str,
        tier: Arc<dyn Monitored>,
        policy: Box<dyn FailoverPolicy>,
    ) -> std::io::Result<Health> {
        let (events, rx) = bounded(HEALTH_QUEUE);
        let (stop, stop_rx) = bounded(1);
        let state = Arc::new(AtomicU8::new(CLOSED));
        let figures = Arc::new(Figures::default());
        let started = Instant::now();
        let actor = Actor {
            rx,
            stop: stop_rx,
            policy,
            fallback: None,
            tier,
            state: Arc::clone(&state),
            figures: Arc::clone(&figures),
            started,
            errors_seen: 0,
            next_decide: started,
        };
        let thread = std::thread::Builder::new()
            .name(format!("gx-health-{name}"))
            .spawn(move || actor.run())?;
        Ok(Health {
            state,
            events,
            started,
            last_success: AtomicU64::new(0),
            figures,
            stop,
            thread: parking_lot::Mutex::new(Some(thread)),
        })
    }

    /// Whether the tier may be used now.
    #[inline]
    pub(crate) fn usable(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// The breaker's state.
    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Reports an operation's outcome (never blocks).
    pub(crate) fn report(&self, ok: bool) {
        let at_ms = self.now_ms();
        if ok {
            let last = self.last_success.load(Ordering::Relaxed);
            if at_ms.saturating_sub(last) < SUCCESS_REPORT_SPACING.as_millis() as u64
                || self
                    .last_success
                    .compare_exchange(last, at_ms, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
        }
        let event = HealthEvent {
            tier: COLD_TIER,
            kind: if ok { kind::SUCCESS } else { kind::ERROR },
            at_ms,
        };
        if let Err(TrySendError::Full(_)) = self.events.try_send(event) {
            self.figures.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn stats(&self) -> HealthStats {
        let f = &self.figures;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HealthStats {
            opened: get(&f.opened),
            probes: get(&f.probes),
            probes_failed: get(&f.probes_failed),
            closed: get(&f.closed),
            events_dropped: get(&f.events_dropped),
            policy_failures: get(&f.policy_failures),
        }
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.get_mut().take() {
            let _ = t.join();
        }
    }
}

struct Actor {
    rx: Receiver<HealthEvent>,
    stop: Receiver<()>,
    policy: Box<dyn FailoverPolicy>,
    /// The native default, once the configured policy failed.
    fallback: Option<NativeBreaker>,
    tier: Arc<dyn Monitored>,
    state: Arc<AtomicU8>,
    figures: Arc<Figures>,
    started: Instant,
    errors_seen: u64,
    next_decide: Instant,
}

impl Actor {
    fn run(mut self) {
        self.errors_seen = self.tier.errors();
        loop {
            if self.stop.try_recv().is_ok() {
                return;
            }
            let wait = self
                .next_decide
                .saturating_duration_since(Instant::now())
                .min(HEALTH_TICK);
            let mut batch = Vec::new();
            match self.rx.recv_timeout(wait) {
                Ok(e) => batch.push(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            batch.extend(self.rx.try_iter().take(HEALTH_QUEUE));
            // Failures of background work (the tier's writer) count too.
            let errors = self.tier.errors();
            let at_ms = self.now_ms();
            for _ in 0..errors.saturating_sub(self.errors_seen).min(64) {
                batch.push(HealthEvent {
                    tier: COLD_TIER,
                    kind: kind::ERROR,
                    at_ms,
                });
            }
            self.errors_seen = errors;
            let failing = batch.iter().any(|e| e.kind != kind::SUCCESS);
            if !batch.is_empty() {
                self.observe(&batch);
            }
            if failing || Instant::now() >= self.next_decide {
                self.decide();
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn policy(&mut self) -> &mut dyn FailoverPolicy {
        match &mut self.fallback {
            Some(native) => native,
            None => self.policy.as_mut(),
        }
    }

    fn fail_policy(&mut self, e: &PolicyError) {
        log::warn!("failover policy failed ({e}); the native breaker takes over");
        self.figures.policy_failures.fetch_add(1, Ordering::Relaxed);
        self.fallback = Some(NativeBreaker::new(&[]).expect("default parameters are valid"));
    }

    fn observe(&mut self, batch: &[HealthEvent]) {
        let policy = self.policy();
        if let Err(e) = crate::policy::guarded(|| policy.observe(batch)) {
            self.fail_policy(&e);
            let _ = self.policy().observe(batch);
        }
    }

    fn decide(&mut self) {
        // A probe's outcome is observed at once and decided on again; a
        // bounded number of rounds keeps a policy that probes forever from
        // spinning.
        for _ in 0..4 {
            let now = self.now_ms();
            let policy = self.policy();
            let decision = match crate::policy::guarded(|| policy.decide(COLD_TIER, now)) {
                Ok(d) => d,
                Err(e) => {
                    self.fail_policy(&e);
                    match self.policy().decide(COLD_TIER, now) {
                        Ok(d) => d,
                        Err(_) => return,
                    }
                }
            };
            self.next_decide = Instant::now() + decision.retry_after.clamp(RETRY_MIN, RETRY_MAX);
            let before = self.state.load(Ordering::Acquire);
            let after = match decision.action {
                Action::Keep | Action::Restore => CLOSED,
                Action::Bypass => OPEN,
                Action::Probe => HALF_OPEN,
            };
            self.state.store(after, Ordering::Release);
            if before == CLOSED && after != CLOSED {
                self.figures.opened.fetch_add(1, Ordering::Relaxed);
                log::warn!("cold tier bypassed: the circuit breaker opened");
            }
            if before != CLOSED && after == CLOSED {
                self.figures.closed.fetch_add(1, Ordering::Relaxed);
                log::info!("cold tier restored: the circuit breaker closed");
            }
            if decision.action != Action::Probe {
                return;
            }
            self.figures.probes.fetch_add(1, Ordering::Relaxed);
            let ok = self.tier.probe();
            if !ok {
                self.figures.probes_failed.fetch_add(1, Ordering::Relaxed);
            }
            // The probe's own I/O errors are the probe's outcome.
            self.errors_seen = self.tier.errors();
            let event = HealthEvent {
                tier: COLD_TIER,
                kind: if ok {
                    kind::PROBE_OK
                } else {
                    kind::PROBE_FAILED
                },
                at_ms: self.now_ms(),
            };
            self.observe(&[event]);
        }
    }
}
