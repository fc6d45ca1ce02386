//! `goldylox serve`: the cache over the Redis protocol (RESP2 and RESP3).
//!
//! One tokio runtime; one task per connection. A connection reads into a
//! buffer, takes every complete request out of it ([`resp::Parser`]), runs
//! each on the engine and writes the replies back in one go, so pipelining
//! costs one write per batch. An engine call is short, but it may wait: a
//! write past the memory bound waits for eviction, and one to the cold tier
//! for room in its write queue. So while the cache reports write pressure,
//! a write first awaits the maintenance pass that makes room
//! ([`goldylox::Cache::when_room`]) without holding its runtime worker,
//! whose other connections go on. What takes long runs elsewhere: compiling
//! and swapping policies on the policy loader (`loader.rs`), whose answer
//! the connection awaits without holding a runtime worker; the durable
//! acknowledgement's sync in the cold writer.
//! Memory per client is bounded: requests are held only as their bytes
//! arrive, up to `max_query_buffer_bytes`; replies are flushed whenever
//! `output_buffer_bytes` accumulate, and a client that reads nothing of them
//! for `output_stall_ms` is disconnected. A protocol error gets
//! `-ERR Protocol error: …` and the connection closes; nobody else notices.
//! SIGINT/SIGTERM stop accepting, let in-flight requests finish, then shut
//! the cache down.

pub mod acl;
mod admin;
mod banner;
mod blocking;
mod build;
pub mod capture;
pub mod clients;
pub mod cluster;
pub mod commands;
mod config_set;
mod dispatch;
mod encodings;
pub mod figure;
mod info;
mod loader;
mod lolwut;
mod memory;
mod memory_stats;
pub mod pause;
pub use banner::{describe, human_bytes};
pub mod config;
pub mod gate;
mod glob;
pub mod keyspace;
pub mod latency;
mod metrics;
pub mod pubsub;
pub mod push;
mod reload;
mod replies;
pub mod resp;
pub mod scripting;
pub mod slowlog;
pub mod stats;
pub mod tls;
pub mod units;
pub mod value;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use build::{Policies, build_cache, entry_weight, resolve_policies};

use commands::{Client, Next, Store};
use config::Config;
use goldylox_sandbox::Runtime;
use replies::Replies;
use resp::{Parser, reply};

/// The Redis version goldylox answers as (`HELLO`, `INFO`'s
/// `redis_version`, scripts' `redis.REDIS_VERSION`): the commands it has
/// follow Redis 7.0's semantics, and its client-side caching Redis 7.4's,
/// the first version redis-py's client-side cache accepts.
pub const REDIS_VERSION: &str = "7.4.0";
/// [`REDIS_VERSION`] as a number (`0x00MMmmpp`).
pub const REDIS_VERSION_NUM: u32 = 0x00_07_04_00;

/// Read buffer growth step.
const READ_CHUNK: usize = 16 << 10;

/// An idle connection's buffers are given back once they grew past this
/// (a large value grows them to its size), as Redis resizes idle query
/// buffers: a thousand connections that once carried a megabyte value
/// would otherwise hold gigabytes no budget counts.
const IDLE_BUFFER_KEEP: usize = 64 << 10;

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

/// Server-wide state shared by the connections.
struct ServerState {
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
    error_stats: stats::ErrorStats,
    /// The engine's counters at the last `CONFIG RESETSTAT`.
    baseline: std::sync::Mutex<stats::Baseline>,
    slowlog: slowlog::SlowLog,
    /// `LATENCY`: events' samples and commands' histograms (the engine
    /// reports its events to it too).
    latency: Arc<latency::LatencyMonitor>,
    /// What `CONFIG SET` gave the [`encodings::KNOBS`].
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
    /// The actor that compiles and swaps policies (reloads, POLICY SWAP).
    loader: loader::Loader,
    /// This, for requests sent to the loader.
    me: std::sync::Weak<ServerState>,
    /// What makes `EXEC` and scripts atomic.
    gate: Arc<gate::Gate>,
    /// The Lua scripts and their interpreter.
    scripts: scripting::Scripts,
    /// The watched keys.
    keyspace: Arc<keyspace::Keyspace>,
    /// 40 hex digits naming this run of the server (`INFO`'s `run_id`).
    run_id: String,
    /// Who subscribes to what.
    pubsub: Arc<pubsub::PubSub>,
    /// `CLIENT PAUSE`.
    pause: pause::Pause,
    /// The users and their permissions.
    acl: acl::Acl,
    /// The allocated bytes at start and at their highest.
    peak: memory_stats::Peak,
}

impl ServerState {
    /// Applies the slow log's, the latency monitor's and the ACL log's
    /// settings of `config`.
    fn configure_logs(&self, config: &Config) {
        self.acl.log().set_max_len(config.server.acllog_max_len);
        self.slowlog.configure(
            config.server.slowlog_slower_than_us,
            config.server.slowlog_max_len,
        );
        self.latency
            .configure(config.server.latency_monitor_threshold_ms);
    }

    /// The engine's counters at the last `CONFIG RESETSTAT`.
    fn baseline(&self) -> stats::Baseline {
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running configuration.
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_config(&self, config: Config) {
        let old = self.config();
        if old.server.password != config.server.password {
            self.acl
                .set_default_password(config.server.password.as_deref());
        }
        self.acl.set_file(config.server.aclfile.clone());
        if let Err(e) = build::configure_keyspace(&config, &self.pubsub, &self.keyspace) {
            log::warn!("{e:#}");
        }
        self.configure_logs(&config);
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
    shared: Arc<ServerState>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Running {
    /// Reloads the configuration file (what SIGHUP does); returns what
    /// changed, or why nothing did.
    pub async fn reload(&self) -> Result<Vec<String>> {
        let shared = Arc::clone(&self.shared);
        let answer = self
            .shared
            .loader
            .submit(move || reload::reload_file(&shared))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        answer
            .await
            .context("the policy loader failed the reload")?
    }

    /// Stops accepting, lets connections finish what they have read, shuts
    /// the cache down, and returns when all of that is done.
    pub async fn shutdown(self) {
        // A script stuck in a loop would keep its connection, and so the
        // server, from stopping (SIGTERM stops it as SHUTDOWN does).
        self.shared.scripts.abort();
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
    let pubsub = Arc::new(pubsub::PubSub::default());
    let keyspace = Arc::new(keyspace::Keyspace::new(Arc::clone(&pubsub)));
    build::configure_keyspace(&config, &pubsub, &keyspace)?;
    let latency = Arc::new(latency::LatencyMonitor::new(
        commands::table::names(),
        commands::subcommands::is_container,
    ));
    let told = build::Told::new(&keyspace, &latency);
    let store = build::build_cache_told(&config, &runtime, Some(told))?;
    let (listener, metrics, tls_listener, tls) = build::bind(&config).await?;
    let addr = listener.local_addr()?;
    let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    let tls_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let (stop, stopped) = watch::channel(false);
    let loader = loader::Loader::start().context("cannot start the policy loader thread")?;
    let gate = Arc::new(gate::Gate::default());
    let acl = acl::Acl::configured(config.server.password.as_deref(), &config.server.aclfile)?;
    capture::start_configured(config.capture.as_ref(), &store)?;
    let shared = Arc::new_cyclic(|me| ServerState {
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
        command_stats: stats::CommandStats::new(commands::table::names()),
        error_stats: stats::ErrorStats::default(),
        baseline: std::sync::Mutex::new(stats::Baseline::default()),
        slowlog: slowlog::SlowLog::default(),
        latency: Arc::clone(&latency),
        encoding_knobs: std::sync::Mutex::new(encodings::defaults()),
        connections: clients::Registry::default(),
        protocol_errors: AtomicU64::new(0),
        stop,
        tls: std::sync::RwLock::new(tls),
        persist_on_stop: std::sync::atomic::AtomicBool::new(true),
        loader,
        me: me.clone(),
        gate: Arc::clone(&gate),
        scripts: scripting::Scripts::new(gate),
        keyspace,
        run_id: info::run_id(),
        pubsub,
        pause: pause::Pause::default(),
        acl,
        peak: memory_stats::Peak::default(),
    });
    run_beside(&shared, metrics, &stopped);
    let (done_tx, done) = tokio::sync::oneshot::channel();
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

/// Starts what runs beside the connections: the logs' settings, the
/// memory peak's sampling, the purge of slots this node no longer owns,
/// the configuration file's watcher and the metrics endpoint.
fn run_beside(
    shared: &Arc<ServerState>,
    metrics: Option<TcpListener>,
    stopped: &watch::Receiver<bool>,
) {
    shared.peak.start(memory_stats::allocated(shared));
    shared.configure_logs(&shared.config());
    if let Some(map) = shared.config().cluster_map() {
        // Keys the cold tier kept of slots this node no longer owns.
        cluster::purge_in_background(shared.store.clone(), Arc::clone(map));
    }
    tokio::spawn(reload::watch_file(Arc::clone(shared), stopped.clone()));
    tokio::spawn(memory_stats::track_peak(
        Arc::clone(shared),
        stopped.clone(),
    ));
    if let Some(listener) = metrics {
        tokio::spawn(metrics::serve(
            listener,
            Arc::clone(shared),
            stopped.clone(),
        ));
    }
}

/// Accepts on the plain listener and, when TLS is on, the TLS one, until
/// the server stops; then waits for the connections and shuts the cache
/// down.
async fn accept_loop(
    listener: TcpListener,
    tls_listener: Option<TcpListener>,
    shared: Arc<ServerState>,
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
    let _ = tokio::task::spawn_blocking(move || capture::stop_store(&store, persist)).await;
    log::info!("goldylox stopped");
    let _ = done.send(());
}

/// Protected mode, the TLS handshake (when `encrypted`), then the client's
/// requests.
async fn accept_client(
    mut stream: TcpStream,
    encrypted: bool,
    shared: &ServerState,
    stopped: watch::Receiver<bool>,
) -> Result<()> {
    stream.set_nodelay(true)?;
    let (peer, local) = (stream.peer_addr()?, stream.local_addr()?);
    if shared.config().server.protects()
        && shared.acl.default_is_open()
        && !peer.ip().to_canonical().is_loopback()
    {
        stream.write_all(PROTECTED_MODE_DENIED.as_bytes()).await?;
        return Ok(());
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    if !encrypted {
        return serve_client(stream, (peer, local, fd), shared, stopped).await;
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
    serve_client(stream, (peer, local, fd), shared, stopped).await
}

async fn serve_client<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    (peer, local, fd): (std::net::SocketAddr, std::net::SocketAddr, i32),
    shared: &ServerState,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    let mut config = shared.config();
    let parser_limits = |c: &Config| resp::Limits {
        max_bulk: c.server.max_bulk_bytes,
        max_args: c.server.max_args,
        max_inline: c.server.max_inline_bytes,
    };
    let mut parser = Parser::new(parser_limits(&config));
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let (connection, mut inbox) = clients::Connection::new(id, peer, local, fd);
    let registered = shared.connections.register(connection);
    let mut client = Client::new(
        Arc::clone(&registered.connection),
        &shared.keyspace,
        &shared.pubsub,
        &shared.acl,
        config.cluster_map().cloned(),
    );
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut replies = Replies::new(shared, &config);
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
        // Run every complete request already buffered, sharing the gate
        // across the batch (given back before any wait on the socket).
        let mut gate = None;
        loop {
            let unprocessed = input.len() + parser.held_bytes();
            let mut request = match parser.next(&mut input) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => {
                    drop(gate);
                    shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    reply::error(&mut replies.output, &format!("ERR {e}"));
                    replies.deliver(&mut stream, shared, &mut client).await?;
                    return Ok(());
                }
            };
            client.connection.note_input(unprocessed, input.capacity());
            let next = dispatch::run(
                shared,
                &mut client,
                &mut request,
                &mut replies.output,
                &mut gate,
            )
            .await;
            if next == Next::Close {
                drop(gate);
                client.connection.mark_closed();
                shared.keyspace.tracking.flush_broadcast();
                replies.deliver(&mut stream, shared, &mut client).await?;
                return Ok(());
            }
            if let Some(blocked) = client.blocked.take() {
                gate = None;
                shared.keyspace.tracking.flush_broadcast();
                replies.deliver(&mut stream, shared, &mut client).await?;
                let waited = blocking::wait(
                    shared,
                    blocked,
                    &mut stream,
                    &mut input,
                    &mut stopped,
                    &client.connection,
                )
                .await?;
                match waited {
                    Some((answer, mark)) => {
                        // Pushes raised while it waited (invalidations)
                        // come before the answer, as they happened; those
                        // its own served command raised come after.
                        let mailbox = &client.connection.mailbox;
                        inbox.drain_waiting(mailbox, &mut replies.output, client.resp3, mark);
                        replies.output.extend_from_slice(&answer);
                    }
                    None => return Ok(()),
                }
            }
            if replies.output.len() >= limits.output_buffer_bytes {
                gate = None;
                replies.deliver(&mut stream, shared, &mut client).await?;
            }
        }
        drop(gate);
        // Broadcast tracking hears of this batch's changes in one message per prefix.
        shared.keyspace.tracking.flush_broadcast();
        if input.len() + parser.held_bytes() > limits.max_query_buffer_bytes {
            bail!("query buffer limit exceeded; closing");
        }
        replies.let_others_run(shared).await;
        replies.deliver(&mut stream, shared, &mut client).await?;
        if *stopped.borrow() || client.connection.is_killed() {
            return Ok(());
        }
        shrink_idle(&mut input);
        shrink_idle(&mut replies.output);
        input.reserve(READ_CHUNK);
        tokio::select! {
            read = stream.read_buf(&mut input) => {
                if read? == 0 {
                    return Ok(());
                }
                // Pushes already raised go before these requests' replies.
                let mailbox = &client.connection.mailbox;
                inbox.drain_waiting(mailbox, &mut replies.output, client.resp3, mailbox.queued());
            }
            _ = stopped.changed() => return Ok(()),
            () = client.connection.killed() => return Ok(()),
            push = inbox.next() => {
                if let Some(push) = push {
                    let mailbox = &client.connection.mailbox;
                    inbox.drain_into(push, mailbox, &mut replies.output, client.resp3, limits.output_buffer_bytes);
                }
            }
        }
    }
}

/// Replaces an empty buffer that grew past [`IDLE_BUFFER_KEEP`] with a
/// small one, returning its memory.
fn shrink_idle(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > IDLE_BUFFER_KEEP {
        *buf = BytesMut::with_capacity(READ_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{IDLE_BUFFER_KEEP, READ_CHUNK, shrink_idle};

    #[test]
    fn an_idle_buffer_that_grew_is_given_back_and_a_busy_one_kept() {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        buf.extend_from_slice(&vec![7u8; 1 << 20]);
        shrink_idle(&mut buf);
        assert_eq!(buf.len(), 1 << 20, "a buffer holding data is kept");
        buf.clear();
        shrink_idle(&mut buf);
        assert!(buf.capacity() <= IDLE_BUFFER_KEEP, "{}", buf.capacity());
        let mut small = BytesMut::with_capacity(READ_CHUNK);
        let before = small.capacity();
        shrink_idle(&mut small);
        assert_eq!(small.capacity(), before);
    }
}
