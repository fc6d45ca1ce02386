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

mod admin;
mod banner;
mod build;
pub mod clients;
pub mod cluster;
pub mod commands;
mod info;
mod loader;
pub use banner::{describe, human_bytes};
pub mod config;
mod glob;
mod metrics;
mod reload;
mod replies;
pub mod resp;
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

pub use build::{
    Params, Policies, build_cache, entry_weight, eviction_policy, resolve_policies, tier_policy,
};

use crate::wasm::Runtime;
use commands::{Client, Next, Store};
use config::Config;
use replies::Replies;
use resp::{Parser, reply};

/// Read buffer growth step.
const READ_CHUNK: usize = 16 << 10;

/// How many maintenance passes a write awaits while the cache reports
/// write pressure; then it runs, and the engine's own bounded wait applies.
const ROOM_WAITS_MAX: u32 = 8;
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
    /// The actor that compiles and swaps policies (reloads, POLICY SWAP).
    loader: loader::Loader,
    /// This, for requests sent to the loader.
    me: std::sync::Weak<ServerState>,
}

impl ServerState {
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
    let (listener, metrics, tls_listener, tls) = build::bind(&config).await?;
    let addr = listener.local_addr()?;
    let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    let tls_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let (stop, stopped) = watch::channel(false);
    let loader = loader::Loader::start().context("cannot start the policy loader thread")?;
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
        command_stats: commands::CommandStats::default(),
        encoding_knobs: std::sync::Mutex::new(encoding_defaults()),
        connections: clients::Registry::default(),
        protocol_errors: AtomicU64::new(0),
        stop,
        tls: std::sync::RwLock::new(tls),
        persist_on_stop: std::sync::atomic::AtomicBool::new(true),
        loader,
        me: me.clone(),
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
    let _ = tokio::task::spawn_blocking(move || store.shutdown_with(persist)).await;
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
        pending: None,
    };
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
            let next = run(shared, &mut client, &mut request, &mut replies.output).await;
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
        shrink_idle(&mut input);
        shrink_idle(&mut replies.output);
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

/// Runs one request, appending its reply to `out`; a `GOLDYLOX` command
/// the policy loader runs is awaited here, off this task's worker.
async fn run(
    shared: &ServerState,
    client: &mut Client,
    request: &mut [Vec<u8>],
    out: &mut BytesMut,
) -> Next {
    shared.commands_total.fetch_add(1, Ordering::Relaxed);
    room_for_write(&shared.store, request).await;
    let next = commands::execute(&shared.store, shared, client, request, out);
    if let Some(pending) = client.pending.take() {
        let answer = pending
            .await
            .unwrap_or_else(|_| Err("ERR the policy loader failed this request".into()));
        commands::admin_reply(out, answer);
    }
    next
}

/// While the cache reports write pressure for a write the size of
/// `request` (its arguments and an entry's overhead) and `request` is a
/// write, awaits the maintenance pass that makes room (at most
/// [`ROOM_WAITS_MAX`]), so that the write does not block this runtime
/// worker and every other connection on it. Costs two atomic loads when
/// there is no pressure.
async fn room_for_write(store: &Store, request: &[Vec<u8>]) {
    let weight = request.iter().skip(1).map(|a| a.len() as u64).sum::<u64>()
        + u64::from(build::ENTRY_OVERHEAD);
    if !store.write_pressure(weight) || !commands::is_write(request) {
        return;
    }
    for _ in 0..ROOM_WAITS_MAX {
        let (room, made) = tokio::sync::oneshot::channel();
        store.when_room(weight, move || {
            let _ = room.send(());
        });
        let _ = made.await;
        if !store.write_pressure(weight) {
            return;
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
