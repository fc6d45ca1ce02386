//! The runtime: the wasmtime engine, the sandbox's limits, and loading.
//!
//! One [`Runtime`] per process holds the wasmtime engine (Cranelift, the
//! component model, WASI only with the `wasi` feature, no async,
//! `concurrency_support(false)` — which
//! makes a call about 3× cheaper), an epoch ticker thread, the sandbox
//! [`Limits`] and an on-disk cache of compiled artifacts (wasmtime's, keyed by
//! the component's content hash and the engine's compatibility settings).
//!
//! Loading is split the way the data path needs it:
//!
//! 1. [`Runtime::load`] checks the size, compiles (off the data path, under a
//!    time limit) and type-checks the component against one of the three
//!    worlds of `wit/policy.wit`, producing a [`Loaded`] component: an
//!    `InstancePre`, so that instantiating again costs microseconds.
//! 2. A [`WasmFactory`] builds one [`WasmPolicy`] per cache tier; each owns
//!    its own `Store` (a trap poisons a whole store) and is called only by the
//!    tier's maintenance thread, under a deadline and a memory cap.
//!
//! Nothing a guest returns is trusted: victims are bounded here and checked
//! again by the engine; a trap, a deadline or a memory-limit trap fails the
//! policy, and the engine falls back to its native policy in the same pass and
//! rebuilds the component with backoff.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, Store};

use crate::bindings;
use crate::embedded::{EMBEDDED, embedded};
use crate::error::{Classify, Error, ErrorKind, Result};
use crate::limits::{EPOCH_TICK, Limits, World};
use crate::store::Ctx;

/// The wasmtime engine, its epoch ticker and the sandbox limits. Cheap to
/// clone; the ticker stops when the last clone (and every policy built from
/// it) is gone.
///
/// ```
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let same = sandbox.clone(); // cheap: one engine, one ticker
/// let policy = same.eviction_policy("wasm:s3fifo", &[])?;
/// # drop(policy);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<Ctx>,
    limits: Limits,
    /// Stores (component instances) alive now.
    live: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// A compiled component, type-checked against its world and ready to be
/// instantiated.
///
/// ```
/// use goldylox_sandbox::{embedded, Runtime};
/// let sandbox = Runtime::new()?;
/// let loaded = sandbox.load_spec("wasm:s3fifo")?;
/// println!("{} ({}), {} bytes, compiled in {:?}", loaded.name, loaded.world, loaded.bytes,
///     loaded.compile_time);
/// # Ok::<(), goldylox_sandbox::Error>(())
/// ```
#[derive(Clone)]
pub struct Loaded {
    /// A name for logs and statistics (the file stem, or the embedded name).
    pub name: String,
    /// The world it exports.
    pub world: World,
    /// Its size in bytes.
    pub bytes: usize,
    /// How long compiling (or fetching from the artifact cache) took.
    pub compile_time: Duration,
    pub(crate) pre: Pre,
    pub(crate) runtime: Runtime,
}

#[derive(Clone)]
pub(crate) enum Pre {
    Eviction(bindings::eviction::EvictionPolicyPre<Ctx>),
    Prefetch(bindings::prefetch::PrefetchPolicyPre<Ctx>),
    Failover(bindings::failover::FailoverPolicyPre<Ctx>),
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.name)
            .field("world", &self.world)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// The process-wide runtime (default limits and artifact cache), created
    /// on first use.
    ///
    /// ```
    /// let a = goldylox_sandbox::Runtime::shared()?;
    /// let b = goldylox_sandbox::Runtime::shared()?; // the same runtime
    /// # drop((a, b));
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn shared() -> Result<Runtime> {
        static SHARED: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
        if let Some(runtime) = SHARED.get() {
            return Ok(runtime.clone());
        }
        let runtime = Runtime::new()?;
        Ok(SHARED.get_or_init(|| runtime).clone())
    }

    /// The process-wide runtime for offline evaluation (trace replay): the
    /// default limits but a 1 s call deadline, since replay measures hit
    /// ratios, not latency, and must not fail a policy because the machine
    /// was busy. A looping policy is still stopped.
    ///
    /// ```
    /// let replay = goldylox_sandbox::Runtime::offline()?;
    /// assert_eq!(replay.limits().call_deadline_ticks, 1000);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn offline() -> Result<Runtime> {
        static OFFLINE: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
        if let Some(runtime) = OFFLINE.get() {
            return Ok(runtime.clone());
        }
        let limits = Limits {
            call_deadline_ticks: 1_000,
            init_deadline_ticks: 1_000,
            ..Limits::default()
        };
        let runtime = Runtime::with(limits, default_cache_dir())?;
        Ok(OFFLINE.get_or_init(|| runtime).clone())
    }

    /// The runtime of `goldylox policy check`: the default limits, with the
    /// guest's stdout and stderr shown on this process's stderr, so a
    /// policy author sees what the policy prints.
    ///
    /// ```
    /// let sandbox = goldylox_sandbox::Runtime::checking()?;
    /// assert!(sandbox.limits().show_guest_output);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn checking() -> Result<Runtime> {
        let limits = Limits {
            show_guest_output: true,
            ..Limits::default()
        };
        Runtime::with(limits, default_cache_dir())
    }

    /// A runtime with the default [`Limits`] and the artifact cache in the
    /// user's cache directory (`$XDG_CACHE_HOME/goldylox` or
    /// `~/.cache/goldylox`), when there is one.
    ///
    /// ```
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// let policy = sandbox.eviction_policy("wasm:wtinylfu", &[])?;
    /// # drop(policy);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn new() -> Result<Runtime> {
        Runtime::with(Limits::default(), default_cache_dir())
    }

    /// A runtime with `limits`, caching compiled artifacts in `cache_dir`
    /// (`None`: compile every time).
    ///
    /// ```
    /// use goldylox_sandbox::{Limits, Runtime};
    /// let dir = std::env::temp_dir().join("my-app-wasm-cache");
    /// let sandbox = Runtime::with(Limits::default(), Some(dir))?;
    /// # drop(sandbox);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn with(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(true)
            .max_wasm_stack(limits.max_stack_bytes);
        if profiling_requested() {
            // /tmp/perf-<pid>.map names the compiled guest functions for
            // `perf report`.
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(&dir);
            let cache = wasmtime::Cache::new(cache)
                .map_err(|e| anyhow!("artifact cache in {}: {e:#}", dir.display()))
                .kind(ErrorKind::Runtime)?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(|e| {
            Error::msg(
                ErrorKind::Runtime,
                format_args!("creating the wasmtime engine: {e:#}"),
            )
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("goldylox-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| {
                    Error::msg(
                        ErrorKind::Runtime,
                        format_args!("starting the epoch ticker: {e}"),
                    )
                })?
        };
        #[cfg_attr(
            not(feature = "wasi"),
            expect(unused_mut, reason = "WASI links into it")
        )]
        let mut linker = Linker::new(&engine);
        #[cfg(feature = "wasi")]
        crate::wasi::link(&mut linker).kind(ErrorKind::Runtime)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                limits,
                live: Arc::new(AtomicUsize::new(0)),
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// The limits policies run under.
    ///
    /// ```
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// assert_eq!(sandbox.limits().max_memory_bytes, 256 << 20);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Component instances alive now, across every policy built from this
    /// runtime: a swap or a failure that leaked instances would show here.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let before = sandbox.live_instances();
    /// let policy = goldylox_sandbox::WasmPolicy::new(&sandbox.load_spec("wasm:fifo")?, 1 << 20, &[])?;
    /// assert_eq!(sandbox.live_instances(), before + 1);
    /// drop(policy);
    /// assert_eq!(sandbox.live_instances(), before);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn live_instances(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Loads the component at `path` (binary, or text when it ends in `.wat`).
    ///
    /// ```no_run
    /// let sandbox = goldylox_sandbox::Runtime::new()?;
    /// let loaded = sandbox.load_file("my-lfu.wasm".as_ref())?;
    /// println!("{} exports {}", loaded.name, loaded.world);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn load_file(&self, path: &Path) -> Result<Loaded> {
        let bytes = std::fs::read(path)
            .kind(ErrorKind::Io)
            .map_err(|e| e.within(format!("reading {}", path.display())))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("component")
            .to_owned();
        self.load(&name, &bytes)
            .map_err(|e| e.within(format!("loading {}", path.display())))
    }

    /// Loads the component a spec names: `wasm:NAME` (one built into this
    /// binary; the error lists them) or the path of a file.
    ///
    /// ```
    /// use goldylox_sandbox::{ErrorKind, Runtime};
    /// let sandbox = Runtime::new()?;
    /// assert_eq!(sandbox.load_spec("wasm:arc")?.name, "arc");
    /// assert_eq!(sandbox.load_spec("wasm:nope").unwrap_err().kind(), ErrorKind::Unknown);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn load_spec(&self, spec: &str) -> Result<Loaded> {
        match spec.strip_prefix("wasm:") {
            Some(name) => {
                let e = embedded(name).ok_or_else(|| {
                    let known: Vec<String> = EMBEDDED
                        .iter()
                        .map(|e| format!("wasm:{}", e.name))
                        .collect();
                    Error::msg(
                        ErrorKind::Unknown,
                        format_args!(
                            "no component {spec:?} in this build; it has {}",
                            known.join(", ")
                        ),
                    )
                })?;
                self.load(e.name, e.bytes)
            }
            None => self.load_file(Path::new(spec)),
        }
    }

    /// Compiles `bytes` (a component, binary or text) and type-checks it
    /// against whichever world it exports.
    ///
    /// ```
    /// use goldylox_sandbox::{ErrorKind, Runtime, World, embedded};
    ///
    /// let sandbox = Runtime::new()?;
    /// let s3fifo = embedded("s3fifo").expect("built in");
    /// let loaded = sandbox.load("s3fifo", s3fifo.bytes)?;
    /// assert_eq!(loaded.world, World::Eviction);
    /// // A core module is not a component, and the error says how to make one.
    /// let refused = sandbox.load("core", b"(module)").unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::Invalid);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Loaded> {
        let limits = &self.inner.limits;
        if bytes.len() > limits.max_component_bytes {
            return Err(Error::msg(
                ErrorKind::Invalid,
                format_args!(
                    "component is {} bytes; the limit is {} bytes",
                    bytes.len(),
                    limits.max_component_bytes
                ),
            ));
        }
        if is_core_module(bytes) {
            return Err(Error::msg(
                ErrorKind::Invalid,
                "this is a core WebAssembly module, not a component: make it one with \
                 `goldylox policy build` in its project directory, or \
                 `goldylox policy build MODULE.wasm --world eviction -o component.wasm`",
            ));
        }
        let started = Instant::now();
        let component = self.compile(bytes)?;
        let compile_time = started.elapsed();
        let pre = self.typecheck(&component)?;
        let world = match pre {
            Pre::Eviction(_) => World::Eviction,
            Pre::Prefetch(_) => World::Prefetch,
            Pre::Failover(_) => World::Failover,
        };
        Ok(Loaded {
            name: name.to_owned(),
            world,
            bytes: bytes.len(),
            compile_time,
            pre,
            runtime: self.clone(),
        })
    }

    /// Compiles on a separate thread so that a pathological module cannot
    /// hold the caller past `compile_timeout` (the compilation itself cannot
    /// be cancelled; its result is dropped).
    fn compile(&self, bytes: &[u8]) -> Result<Component> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let engine = self.inner.engine.clone();
        let bytes = bytes.to_vec();
        std::thread::Builder::new()
            .name("goldylox-compile".into())
            .spawn(move || {
                let _ = tx.send(Component::new(&engine, &bytes));
            })
            .map_err(|e| {
                Error::msg(
                    ErrorKind::Runtime,
                    format_args!("starting a compile thread: {e}"),
                )
            })?;
        match rx.recv_timeout(self.inner.limits.compile_timeout) {
            Ok(result) => result.map_err(|e| {
                Error::msg(
                    ErrorKind::Invalid,
                    format_args!("not a valid component: {e:#}"),
                )
            }),
            Err(_) => Err(Error::msg(
                ErrorKind::Invalid,
                format_args!(
                    "compilation took longer than {:?}; abandoned",
                    self.inner.limits.compile_timeout
                ),
            )),
        }
    }

    fn typecheck(&self, component: &Component) -> Result<Pre> {
        let instance_pre: InstancePre<Ctx> =
            self.inner.linker.instantiate_pre(component).map_err(|e| {
                let message = format!("{e:#}");
                let hint = if cfg!(feature = "wasi") || !message.contains("wasi:") {
                    ""
                } else {
                    " (it imports WASI, as Python and JavaScript policies do: enable \
                     goldylox-sandbox's `wasi` feature)"
                };
                Error::msg(
                    ErrorKind::World,
                    format_args!(
                        "the component imports something the host does not provide{hint}: {message}"
                    ),
                )
            })?;
        let mut mismatches = Vec::new();
        match bindings::eviction::EvictionPolicyPre::new(instance_pre.clone()) {
            Ok(pre) => return Ok(Pre::Eviction(pre)),
            Err(e) => mismatches.push(format!("eviction-policy: {e:#}")),
        }
        match bindings::prefetch::PrefetchPolicyPre::new(instance_pre.clone()) {
            Ok(pre) => return Ok(Pre::Prefetch(pre)),
            Err(e) => mismatches.push(format!("prefetch-policy: {e:#}")),
        }
        match bindings::failover::FailoverPolicyPre::new(instance_pre) {
            Ok(pre) => return Ok(Pre::Failover(pre)),
            Err(e) => mismatches.push(format!("failover-policy: {e:#}")),
        }
        Err(Error::msg(
            ErrorKind::World,
            format_args!(
                "the component exports none of the goldylox:policy@0.1.0 worlds ({})",
                mismatches.join("; ")
            ),
        ))
    }

    /// A fresh store with the memory cap, its deadline not yet armed.
    pub(crate) fn store(&self) -> Store<Ctx> {
        let limits = &self.inner.limits;
        let ctx = Ctx::new(limits, &self.inner.live);
        let mut store = Store::new(&self.inner.engine, ctx);
        store.limiter(|ctx| ctx);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits.init_deadline_ticks);
        store
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// The runtime it was loaded by.
    ///
    /// ```
    /// use goldylox_sandbox::{embedded, Runtime};
    /// let sandbox = Runtime::new()?;
    /// let loaded = sandbox.load_spec("wasm:fifo")?;
    /// assert_eq!(loaded.runtime().limits().max_memory_bytes, sandbox.limits().max_memory_bytes);
    /// # Ok::<(), goldylox_sandbox::Error>(())
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Refuses a component that exports another world than `world`.
    pub(crate) fn require_world(&self, world: World) -> Result<()> {
        if self.world != world {
            return Err(Error::msg(
                ErrorKind::World,
                format_args!("{} exports {}, not {world}", self.name, self.world),
            ));
        }
        Ok(())
    }
}

/// Whether `bytes` are a core WebAssembly module (binary format version 1)
/// rather than a component (which has the same magic, another version and
/// layer).
///
/// ```
/// use goldylox_sandbox::{embedded, is_core_module};
/// assert!(is_core_module(b"\0asm\x01\0\0\0"));
/// assert!(!is_core_module(embedded("fifo").unwrap().bytes), "a component");
/// ```
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x01\0\0\0")
        || std::str::from_utf8(bytes).is_ok_and(|text| {
            // The text format: a core module is `(module …)`, after comments.
            text.lines()
                .map(str::trim_start)
                .find(|l| !l.is_empty() && !l.starts_with(";;"))
                .is_some_and(|l| l.starts_with("(module"))
        })
}

/// Describes a failed guest call: a trap (with its code), a deadline, or an
/// error lifting what the guest returned.
pub(crate) fn describe(call: &str, error: &wasmtime::Error) -> String {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!("{call}: deadline exceeded"),
        Some(trap) => format!("{call}: trapped: {trap}"),
        None => format!("{call}: {error:#}"),
    }
}

/// Environment variable: when set to `1`, policies' compiled code is named
/// in `/tmp/perf-<pid>.map`, so that `perf report` shows guest functions
/// instead of anonymous addresses.
///
/// ```
/// // `GOLDYLOX_PERFMAP=1 perf record …` names guest functions in the profile.
/// assert_eq!(goldylox_sandbox::PERFMAP_ENV, "GOLDYLOX_PERFMAP");
/// ```
pub const PERFMAP_ENV: &str = "GOLDYLOX_PERFMAP";

fn profiling_requested() -> bool {
    std::env::var_os(PERFMAP_ENV).is_some_and(|v| v == "1")
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("goldylox").join("wasmtime"))
}
