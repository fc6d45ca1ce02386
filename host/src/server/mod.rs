//! `goldylox serve`: the cache over the Redis protocol (RESP2 and RESP3).
//!
//! One tokio runtime; one task per connection. A connection reads into a
//! buffer, takes every complete request out of it ([`resp::Parser`]), runs
//! each on the engine (whose operations never block on an actor) and writes
//! the replies back in one go, so pipelining costs one write per batch.
//! Memory per client is bounded: requests are held only as their bytes
//! arrive, up to `max_query_buffer_bytes`; replies are flushed whenever
//! `output_buffer_bytes` accumulate, and a client that reads nothing of them
//! for `output_stall_ms` is disconnected. A protocol error gets
//! `-ERR Protocol error: …` and the connection closes; nobody else notices.
//! SIGINT/SIGTERM stop accepting, let in-flight requests finish, then shut
//! the cache down.

mod admin;
mod banner;
pub mod clients;
pub mod cluster;
pub mod commands;
mod info;
pub use banner::{describe, human_bytes};
pub mod config;
mod glob;
mod metrics;
mod reload;
pub mod resp;
pub mod tls;
pub mod units;
pub mod value;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use goldylox::{Cache, PolicyChoice};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::wasm::{Runtime, WasmFactory, WasmPrefetchFactory, World};
use commands::{Client, Next, Store};
use config::Config;
use resp::{Parser, reply};

/// Bytes charged per entry beyond its key and value (index, slot, policy).
const ENTRY_OVERHEAD: u32 = 64;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 << 10;

/// What protected mode answers a client it refuses (Redis's words).
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected \
mode is enabled and no password is set for the default user. In this mode connections are only \
accepted from the loopback interface. If you want to connect from external computers to Redis you \
may adopt one of the following solutions: 1) Just disable protected mode sending the command \
'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same \
host the server is running, however MAKE SURE Redis is not publicly accessible from internet if \
you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable \
the protected mode by editing the Redis configuration file, and setting the protected mode option \
to 'no', and then restarting the server. 3) If you started the server manually just for testing, \
restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the \
default user. NOTE: You only need to do one of the above things in order for the server to start \
accepting connections from the outside.\r\n";

/// `key=value` parameters for a policy's `init`.
pub type Params = Vec<(String, String)>;

/// Resolves an eviction policy spec (`builtin:NAME`, `wasm:NAME`, a
/// component path) with its parameters; a component is loaded and
/// type-checked here. The policy reports itself as `name(k=v,…)` when it has
/// parameters, so INFO and STATUS show what runs.
pub fn eviction_policy(
    spec: &str,
    params: &[(String, String)],
    runtime: &Runtime,
) -> Result<PolicyChoice> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::builtin_checked(name, params);
    }
    let loaded = runtime.load_spec(spec)?;
    if loaded.world != World::Eviction {
        bail!("{spec} exports {}, not eviction-policy", loaded.world);
    }
    let factory = WasmFactory::new(loaded, params.to_vec())?;
    // Refuse bad parameters now, with the policy's own message, rather than
    // at the first build on the maintenance thread.
    goldylox::PolicyFactory::build(&*factory, 1 << 20)
        .map_err(|e| anyhow::anyhow!("{spec}: {e}"))?;
    Ok(PolicyChoice::Custom(factory))
}

/// Resolves a tier's policy: `auto` (a race between `candidates`, by
/// default every built-in policy, each resolved like any spec) or a single
/// policy spec with `params` ([`eviction_policy`]).
pub fn tier_policy(
    spec: &str,
    params: &[(String, String)],
    candidates: &[String],
    runtime: &Runtime,
) -> Result<PolicyChoice> {
    if spec != "auto" {
        if !candidates.is_empty() {
            bail!("auto candidates are given, but the policy is {spec:?}, not \"auto\"");
        }
        return eviction_policy(spec, params, runtime);
    }
    if !params.is_empty() {
        bail!("auto takes no parameters (its candidates run with their defaults)");
    }
    let defaults: Vec<String>;
    let names = if candidates.is_empty() {
        defaults = crate::native::AUTO_DEFAULT
            .iter()
            .map(|n| format!("builtin:{n}"))
            .collect();
        &defaults[..]
    } else {
        candidates
    };
    let candidates = names
        .iter()
        .map(|name| {
            if name == "auto" {
                bail!("auto cannot be its own candidate");
            }
            let choice = eviction_policy(name, &[], runtime)
                .with_context(|| format!("auto candidate {name:?}"))?;
            Ok(goldylox::Candidate::new(name.clone(), choice))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = goldylox::AutoConfig::new(candidates).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(PolicyChoice::Auto(Arc::new(config)))
}

fn prefetch_policy(
    spec: &str,
    params: Params,
    runtime: &Runtime,
) -> Result<Arc<dyn goldylox::PrefetchFactory>> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::prefetch_builtin(name, &params)
            .with_context(|| format!("unknown built-in prefetch policy {spec:?}"));
    }
    Ok(WasmPrefetchFactory::new(runtime.load_spec(spec)?, params)?)
}

/// The cold tier's failover policy: `builtin:breaker` (the native breaker)
/// or a failover component (`wasm:breaker`, a path), loaded and checked now
/// so a bad one fails the configuration, not the first outage.
fn failover_policy(
    spec: &str,
    params: Vec<(String, String)>,
    runtime: &Runtime,
) -> Result<goldylox::health::FailoverFactory> {
    use goldylox::health::{FailoverPolicy, NativeBreaker};
    if spec == "builtin:breaker" {
        NativeBreaker::new(&params).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(Arc::new(move || {
            NativeBreaker::new(&params).map(|b| Box::new(b) as Box<dyn FailoverPolicy>)
        }));
    }
    if spec.starts_with("builtin:") {
        anyhow::bail!("unknown built-in failover policy {spec:?} (there is builtin:breaker)");
    }
    let loaded = Arc::new(runtime.load_spec(spec)?);
    crate::wasm::WasmFailover::new(&loaded, &params)?;
    Ok(Arc::new(move || {
        crate::wasm::WasmFailover::new(&loaded, &params)
            .map(|p| Box::new(p) as Box<dyn FailoverPolicy>)
            .map_err(|e| goldylox::PolicyError::Init(format!("{e:#}")))
    }))
}

/// Every policy a configuration names, loaded and checked.
pub struct Policies {
    hot: PolicyChoice,
    warm: Option<PolicyChoice>,
    prefetch: Option<Arc<dyn goldylox::PrefetchFactory>>,
    failover: Option<goldylox::health::FailoverFactory>,
}

/// Resolves every policy `config` names (loading and type-checking each
/// component), so a bad one fails here with the key that names it.
pub fn resolve_policies(config: &Config, runtime: &Runtime) -> Result<Policies> {
    let c = &config.cache;
    let hot =
        tier_policy(&c.policy, &c.params(), &c.auto_candidates, runtime).context("cache.policy")?;
    let warm = (c.warm_bytes > 0)
        .then(|| {
            tier_policy(
                &c.warm_policy,
                &c.warm_params(),
                &c.warm_auto_candidates,
                runtime,
            )
            .context("cache.warm_policy")
        })
        .transpose()?;
    let prefetch = c
        .prefetch
        .as_ref()
        .map(|spec| {
            prefetch_policy(spec, config::params(&c.prefetch_params), runtime)
                .context("cache.prefetch")
        })
        .transpose()?;
    let failover = c
        .cold
        .as_ref()
        .map(|cold| {
            failover_policy(
                &cold.failover,
                config::params(&cold.failover_params),
                runtime,
            )
            .context("cache.cold.failover")
        })
        .transpose()?;
    Ok(Policies {
        hot,
        warm,
        prefetch,
        failover,
    })
}

/// What an entry is charged against the memory budget: its key, its value
/// and `ENTRY_OVERHEAD` (64 bytes: index, slot, policy).
pub fn entry_weight(key: &[u8], value: &value::Value) -> u32 {
    u32::try_from(key.len() + value.footprint())
        .unwrap_or(u32::MAX)
        .saturating_add(ENTRY_OVERHEAD)
}

/// Builds the cache a configuration describes.
pub fn build_cache(config: &Config, runtime: &Runtime) -> Result<Store> {
    let c = &config.cache;
    let policies = resolve_policies(config, runtime)?;
    let mut b = Cache::builder(c.memory_bytes)
        .name("serve")
        .weigher(|k: &Vec<u8>, v: &value::Value| entry_weight(k, v))
        .policy(policies.hot);
    if let Some(warm) = policies.warm {
        b = b.warm(c.warm_bytes).warm_policy(warm);
    }
    if let Some(prefetch) = policies.prefetch {
        b = b.prefetch(prefetch);
    }
    if let (Some(cold), Some(failover)) = (&c.cold, policies.failover) {
        value::check_data_format(&cold.dir)?;
        b = b
            .cold(cold.engine()?)
            .write_policy(cold.write_policy()?)
            .failover(failover);
    }
    b.build()
        .map_err(|e| anyhow::anyhow!("starting the cache: {e}"))
}

/// Redis's encoding thresholds. Goldylox keeps one encoding per type, so
/// these change nothing; `CONFIG SET` accepts them (clients and Redis's own
/// tests set them) and `CONFIG GET` reports what was set. The `ziplist`
/// spellings are Redis's aliases of the `listpack` ones.
const ENCODING_KNOBS: [&str; 4] = [
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
];

/// Redis's defaults for [`ENCODING_KNOBS`], by their `listpack` names.
fn encoding_defaults() -> std::collections::BTreeMap<String, String> {
    [
        ("hash-max-listpack-entries", "128"),
        ("hash-max-listpack-value", "64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Server-wide state shared by the connections.
struct Shared {
    /// The running configuration; replaced whole by a reload.
    config: std::sync::RwLock<Arc<Config>>,
    /// The file it came from, if any (what a reload reads).
    config_path: Option<std::path::PathBuf>,
    /// Serialises reloads and `CONFIG SET`.
    reload_lock: std::sync::Mutex<()>,
    store: Store,
    runtime: Runtime,
    started: Instant,
    clients: AtomicUsize,
    next_client_id: AtomicU64,
    connections_total: AtomicU64,
    rejected_connections: AtomicU64,
    commands_total: AtomicU64,
    command_stats: commands::CommandStats,
    /// What `CONFIG SET` gave the [`ENCODING_KNOBS`].
    encoding_knobs: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// The live connections.
    connections: clients::Registry,
    /// Set to stop the server (signals, `Running::shutdown`, `SHUTDOWN`).
    stop: watch::Sender<bool>,
    /// The TLS listener's acceptor (rebuilt by reloads), if TLS is on.
    tls: std::sync::RwLock<Option<tokio_rustls::TlsAcceptor>>,
    /// Whether stopping persists the memory tiers to the cold tier
    /// (`SHUTDOWN NOSAVE` clears it).
    persist_on_stop: std::sync::atomic::AtomicBool,
    protocol_errors: AtomicU64,
}

impl Shared {
    /// The running configuration.
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: std::net::SocketAddr,
    /// The address of the Prometheus endpoint, if enabled.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The address of the TLS listener, if TLS is on.
    pub tls_addr: Option<std::net::SocketAddr>,
    shared: Arc<Shared>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Running {
    /// Reloads the configuration file (what SIGHUP does); returns what
    /// changed, or why nothing did.
    pub async fn reload(&self) -> Result<Vec<String>> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || reload::reload_file(&shared))
            .await
            .context("the reload task failed")?
    }

    /// Stops accepting, lets connections finish what they have read, shuts
    /// the cache down, and returns when all of that is done.
    pub async fn shutdown(self) {
        let _ = self.shared.stop.send(true);
        let _ = self.done.await;
    }

    /// Returns once a stop is asked for from inside (the `SHUTDOWN`
    /// command); then call [`Running::shutdown`].
    pub async fn stop_requested(&self) {
        let mut stopped = self.shared.stop.subscribe();
        let _ = stopped.wait_for(|&stop| stop).await;
    }
}

/// Binds and starts serving on the current tokio runtime. `path` is the
/// file `config` came from (what reloads read; `None` for the embedded one).
pub async fn start(
    config: Config,
    path: Option<std::path::PathBuf>,
    runtime: Runtime,
) -> Result<Running> {
    let store = build_cache(&config, &runtime)?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let metrics = match &config.metrics {
        Some(m) => Some(
            TcpListener::bind(m.listen)
                .await
                .with_context(|| format!("metrics endpoint on {}", m.listen))?,
        ),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    let (tls_listener, tls) = match &config.server.tls {
        Some(t) => (
            Some(
                TcpListener::bind(t.listen)
                    .await
                    .with_context(|| format!("TLS listener on {}", t.listen))?,
            ),
            Some(tls::acceptor(t)?),
        ),
        None => (None, None),
    };
    let tls_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        config: std::sync::RwLock::new(Arc::new(config)),
        config_path: path,
        reload_lock: std::sync::Mutex::new(()),
        store,
        runtime,
        started: Instant::now(),
        clients: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        connections_total: AtomicU64::new(0),
        rejected_connections: AtomicU64::new(0),
        commands_total: AtomicU64::new(0),
        command_stats: commands::CommandStats::default(),
        encoding_knobs: std::sync::Mutex::new(encoding_defaults()),
        connections: clients::Registry::default(),
        protocol_errors: AtomicU64::new(0),
        stop,
        tls: std::sync::RwLock::new(tls),
        persist_on_stop: std::sync::atomic::AtomicBool::new(true),
    });
    if let Some(map) = shared.config().cluster_map() {
        // Keys the cold tier kept of slots this node no longer owns.
        cluster::purge_in_background(shared.store.clone(), Arc::clone(map));
    }
    let (done_tx, done) = tokio::sync::oneshot::channel();
    tokio::spawn(reload::watch_file(Arc::clone(&shared), stopped.clone()));
    if let Some(listener) = metrics {
        tokio::spawn(metrics::serve(
            listener,
            Arc::clone(&shared),
            stopped.clone(),
        ));
    }
    tokio::spawn(accept_loop(
        listener,
        tls_listener,
        Arc::clone(&shared),
        stopped,
        done_tx,
    ));
    log::info!("goldylox serving on {addr}");
    Ok(Running {
        addr,
        metrics_addr,
        tls_addr,
        shared,
        done,
    })
}

/// Accepts on the plain listener and, when TLS is on, the TLS one, until
/// the server stops; then waits for the connections and shuts the cache
/// down.
async fn accept_loop(
    listener: TcpListener,
    tls_listener: Option<TcpListener>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let tls_accept = || async {
        match &tls_listener {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    };
    loop {
        let (accepted, encrypted) = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => (accepted, false),
            accepted = tls_accept() => (accepted, true),
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        shared.connections_total.fetch_add(1, Ordering::Relaxed);
        if shared.clients.load(Ordering::Acquire) >= shared.config().server.maxclients {
            shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
            if !encrypted {
                tasks.spawn(async move {
                    let mut stream = stream;
                    let _ = stream
                        .write_all(b"-ERR max number of clients reached\r\n")
                        .await;
                });
            }
            continue;
        }
        shared.clients.fetch_add(1, Ordering::AcqRel);
        let (shared, stopped) = (Arc::clone(&shared), stopped.clone());
        tasks.spawn(async move {
            if let Err(e) = accept_client(stream, encrypted, &shared, stopped).await {
                log::debug!("client {peer}: {e:#}");
            }
            shared.clients.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    drop(tls_listener);
    while tasks.join_next().await.is_some() {}
    let store = shared.store.clone();
    let persist = shared.persist_on_stop.load(Ordering::Acquire);
    let _ = tokio::task::spawn_blocking(move || store.shutdown_with(persist)).await;
    log::info!("goldylox stopped");
    let _ = done.send(());
}

/// Protected mode, the TLS handshake (when `encrypted`), then the client's
/// requests.
async fn accept_client(
    mut stream: TcpStream,
    encrypted: bool,
    shared: &Shared,
    stopped: watch::Receiver<bool>,
) -> Result<()> {
    stream.set_nodelay(true)?;
    let (peer, local) = (stream.peer_addr()?, stream.local_addr()?);
    if shared.config().server.protects() && !peer.ip().to_canonical().is_loopback() {
        stream.write_all(PROTECTED_MODE_DENIED.as_bytes()).await?;
        return Ok(());
    }
    if !encrypted {
        return serve_client(stream, peer, local, shared, stopped).await;
    }
    let acceptor = shared
        .tls
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .context("TLS is off")?;
    let stream = tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .context("the TLS handshake timed out")?
        .context("the TLS handshake failed")?;
    serve_client(stream, peer, local, shared, stopped).await
}

async fn serve_client<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    shared: &Shared,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    let mut config = shared.config();
    let parser_limits = |c: &Config| resp::Limits {
        max_bulk: c.server.max_bulk_bytes,
        max_args: c.server.max_args,
        max_inline: c.server.max_inline_bytes,
    };
    let mut parser = Parser::new(parser_limits(&config));
    let registered = shared.connections.register(clients::Connection::new(
        shared.next_client_id.fetch_add(1, Ordering::Relaxed),
        peer,
        local,
    ));
    let mut client = Client {
        connection: Arc::clone(&registered.connection),
        authenticated: config.server.password.is_none(),
        resp3: false,
        cluster: config.cluster_map().cloned(),
        wrote: false,
    };
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut replies = Replies {
        output: BytesMut::with_capacity(READ_CHUNK),
        stall: Duration::from_millis(config.server.output_stall_ms),
        // With durable acknowledgements, replies wait for their writes' sync.
        durable: durable_acks(&config).then(|| shared.store.durability_mark()),
    };
    loop {
        // A reload or CONFIG SET takes effect from the next batch.
        let latest = shared.config();
        if !Arc::ptr_eq(&latest, &config) {
            config = latest;
            parser.set_limits(parser_limits(&config));
            client.cluster = config.cluster_map().cloned();
        }
        let limits = &config.server;
        replies.stall = Duration::from_millis(limits.output_stall_ms);
        // Run every complete request already buffered.
        loop {
            let mut request = match parser.next(&mut input) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => {
                    shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    reply::error(&mut replies.output, &format!("ERR {e}"));
                    replies.deliver(&mut stream, shared, &mut client).await?;
                    return Ok(());
                }
            };
            shared.commands_total.fetch_add(1, Ordering::Relaxed);
            let next = commands::execute(
                &shared.store,
                shared,
                &mut client,
                &mut request,
                &mut replies.output,
            );
            if next == Next::Close {
                replies.deliver(&mut stream, shared, &mut client).await?;
                return Ok(());
            }
            if replies.output.len() >= limits.output_buffer_bytes {
                replies.deliver(&mut stream, shared, &mut client).await?;
            }
        }
        if input.len() + parser.held_bytes() > limits.max_query_buffer_bytes {
            bail!("query buffer limit exceeded; closing");
        }
        replies.deliver(&mut stream, shared, &mut client).await?;
        if *stopped.borrow() || client.connection.is_killed() {
            return Ok(());
        }
        input.reserve(READ_CHUNK);
        tokio::select! {
            read = stream.read_buf(&mut input) => {
                if read? == 0 {
                    return Ok(());
                }
            }
            _ = stopped.changed() => return Ok(()),
            () = client.connection.killed() => return Ok(()),
        }
    }
}

/// Whether replies to writes wait until the writes are durable: the cold
/// tier is write-through and syncs every commit (`sync = "always"`), as
/// Redis's `appendfsync always`.
fn durable_acks(config: &Config) -> bool {
    config
        .cache
        .cold
        .as_ref()
        .is_some_and(|c| c.sync.trim() == "always" && c.write_policy == "write-through")
}

/// A connection's replies on their way out.
struct Replies {
    /// Replies not yet written.
    output: BytesMut,
    /// A client that reads nothing of them for this long is dropped.
    stall: Duration,
    /// With durable acknowledgements: the mark taken before the writes
    /// whose replies are in `output`.
    durable: Option<goldylox::DurabilityMark>,
}

impl Replies {
    /// Writes the replies out, after waiting, with durable acknowledgements,
    /// until the writes among them are durable. When they are not, the
    /// replies are withheld: the client is told why and disconnected.
    async fn deliver<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shared: &Shared,
        client: &mut Client,
    ) -> Result<()> {
        if let Some(since) = self.durable
            && client.wrote
        {
            client.wrote = false;
            self.durable = Some(shared.store.durability_mark());
            if let Err(why) = durable_since(shared, since).await {
                log::warn!("withholding replies to writes that are not durable: {why}");
                self.output.clear();
                reply::error(
                    &mut self.output,
                    &format!("ERR writes not durable, replies withheld: {why}"),
                );
                flush(stream, &mut self.output, self.stall).await?;
                bail!("writes not durable: {why}");
            }
        }
        flush(stream, &mut self.output, self.stall).await
    }
}

/// Waits, without holding a thread, until every write made since `since`
/// is durable.
async fn durable_since(shared: &Shared, since: goldylox::DurabilityMark) -> Result<(), String> {
    let (done, synced) = tokio::sync::oneshot::channel();
    shared.store.when_durable(since, move |r| {
        let _ = done.send(r);
    });
    match synced.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the cache stopped".to_owned()),
    }
}

/// Writes `output` out; a client that accepts nothing for `stall` is
/// disconnected.
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    output: &mut BytesMut,
    stall: Duration,
) -> Result<()> {
    while !output.is_empty() {
        let written = tokio::time::timeout(stall, stream.write_buf(output))
            .await
            .context("client stopped reading its replies")??;
        if written == 0 {
            bail!("connection closed");
        }
    }
    // A TLS stream may hold the last record until flushed.
    tokio::time::timeout(stall, stream.flush())
        .await
        .context("client stopped reading its replies")??;
    output.clear();
    Ok(())
}
