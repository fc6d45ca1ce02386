//! `goldylox serve`: the cache over the Redis protocol (RESP2).
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

pub mod commands;
pub mod config;
pub mod resp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use goldylox::{Cache, PolicyChoice, PolicyTier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Resolves a policy spec (`builtin:NAME`, `wasm:NAME`, a component path).
pub fn eviction_policy(spec: &str, runtime: &Runtime) -> Result<PolicyChoice> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::builtin(name, &[])
            .with_context(|| format!("unknown built-in policy {spec:?}"));
    }
    let loaded = match spec.strip_prefix("wasm:") {
        Some(name) => {
            let e = crate::wasm::embedded(name)
                .with_context(|| format!("no component {spec:?} in this build"))?;
            runtime.load(e.name, e.bytes)?
        }
        None => runtime.load_file(std::path::Path::new(spec))?,
    };
    if loaded.world != World::Eviction {
        bail!("{spec} exports {}, not eviction-policy", loaded.world);
    }
    Ok(PolicyChoice::Custom(WasmFactory::new(loaded, Vec::new())?))
}

fn prefetch_policy(spec: &str, runtime: &Runtime) -> Result<Arc<dyn goldylox::PrefetchFactory>> {
    if let Some(name) = spec.strip_prefix("builtin:") {
        return crate::native::prefetch_builtin(name, &[])
            .with_context(|| format!("unknown built-in prefetch policy {spec:?}"));
    }
    let loaded = match spec.strip_prefix("wasm:") {
        Some(name) => {
            let e = crate::wasm::embedded(name)
                .with_context(|| format!("no component {spec:?} in this build"))?;
            runtime.load(e.name, e.bytes)?
        }
        None => runtime.load_file(std::path::Path::new(spec))?,
    };
    Ok(WasmPrefetchFactory::new(loaded, Vec::new())?)
}

/// Builds the cache a configuration describes.
pub fn build_cache(config: &Config, runtime: &Runtime) -> Result<Store> {
    let c = &config.cache;
    let mut b = Cache::builder(c.memory_bytes)
        .name("serve")
        .weigher(|k: &Vec<u8>, v: &Vec<u8>| {
            u32::try_from(k.len() + v.len())
                .unwrap_or(u32::MAX)
                .saturating_add(ENTRY_OVERHEAD)
        })
        .policy(eviction_policy(&c.policy, runtime).context("cache.policy")?);
    if c.warm_bytes > 0 {
        b = b
            .warm(c.warm_bytes)
            .warm_policy(eviction_policy(&c.warm_policy, runtime).context("cache.warm_policy")?);
    }
    if let Some(spec) = &c.prefetch {
        b = b.prefetch(prefetch_policy(spec, runtime).context("cache.prefetch")?);
    }
    b.build()
        .map_err(|e| anyhow::anyhow!("starting the cache: {e}"))
}

/// Server-wide state shared by the connections.
struct Shared {
    config: Config,
    store: Store,
    runtime: Runtime,
    started: Instant,
    clients: AtomicUsize,
    next_client_id: AtomicU64,
    connections_total: AtomicU64,
    rejected_connections: AtomicU64,
    commands_total: AtomicU64,
    protocol_errors: AtomicU64,
}

impl commands::Server for Shared {
    fn password(&self) -> Option<&str> {
        self.config.server.password.as_deref()
    }

    fn info(&self, section: Option<&str>) -> String {
        let s = self.store.stats();
        let mut text = String::new();
        let want = |name: &str| {
            section.is_none_or(|w| w == "all" || w == "everything" || w == "default" || w == name)
        };
        if want("server") {
            text.push_str(&format!(
                "# Server\r\ngoldylox_version:{}\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n",
                env!("CARGO_PKG_VERSION"),
                self.config.server.listen.port(),
                self.started.elapsed().as_secs()
            ));
        }
        if want("clients") {
            text.push_str(&format!(
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
                self.clients.load(Ordering::Relaxed),
                self.config.server.maxclients
            ));
        }
        if want("memory") {
            text.push_str(&format!(
                "# Memory\r\nused_memory:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\n\r\n",
                self.store.weighted_size(),
                self.store.max_capacity(),
                self.config.cache.policy
            ));
        }
        if want("stats") {
            text.push_str(&format!(
                "# Stats\r\ntotal_connections_received:{}\r\nrejected_connections:{}\r\ntotal_commands_processed:{}\r\nprotocol_errors:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\nevicted_keys:{}\r\nexpired_keys:{}\r\n\r\n",
                self.connections_total.load(Ordering::Relaxed),
                self.rejected_connections.load(Ordering::Relaxed),
                self.commands_total.load(Ordering::Relaxed),
                self.protocol_errors.load(Ordering::Relaxed),
                s.hot.hits + s.warm.hits,
                s.warm.misses.max(s.hot.misses - s.warm.hits.min(s.hot.misses)),
                s.removals.evicted,
                s.removals.expired,
            ));
        }
        if want("keyspace") {
            text.push_str(&format!(
                "# Keyspace\r\ndb0:keys={},expires=0,avg_ttl=0\r\n\r\n",
                self.store.len()
            ));
        }
        text
    }

    fn config_get(&self, pattern: &str) -> Vec<(String, String)> {
        let s = &self.config.server;
        let all = [
            ("maxclients", s.maxclients.to_string()),
            ("maxmemory", self.config.cache.memory_bytes.to_string()),
            ("proto-max-bulk-len", s.max_bulk_bytes.to_string()),
            (
                "client-query-buffer-limit",
                s.max_query_buffer_bytes.to_string(),
            ),
            ("port", s.listen.port().to_string()),
            ("bind", s.listen.ip().to_string()),
            ("databases", "1".to_owned()),
            ("save", String::new()),
            ("appendonly", "no".to_owned()),
        ];
        all.into_iter()
            .filter(|(name, _)| glob(pattern, name))
            .map(|(n, v)| (n.to_owned(), v))
            .collect()
    }

    fn config_set(&self, name: &str, _value: &str) -> Result<(), String> {
        Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - this setting \
             comes from the configuration file; change it there"
        ))
    }

    fn admin(&self, args: &[Vec<u8>]) -> Result<Vec<String>, String> {
        let words: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        match lower.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["policy", "status"] => {
                let mut lines = Vec::new();
                for tier in [PolicyTier::Hot, PolicyTier::Warm] {
                    if let Some(st) = self.store.policy_status(tier) {
                        lines.push(format!(
                            "{tier}: {} {} failures={} consecutive={} rebuilds={} swaps={} last_error={}",
                            st.name,
                            st.state,
                            st.failures,
                            st.consecutive_failures,
                            st.rebuilds,
                            st.swaps,
                            st.last_error.as_deref().unwrap_or("-")
                        ));
                    }
                }
                Ok(lines)
            }
            ["policy", "swap", tier, _spec] => {
                let tier = match *tier {
                    "hot" => PolicyTier::Hot,
                    "warm" => PolicyTier::Warm,
                    other => return Err(format!("ERR unknown tier '{other}' (hot, warm)")),
                };
                let spec = &words[3];
                let choice = eviction_policy(spec, &self.runtime).map_err(|e| format!("ERR {e:#}"))?;
                let report = self
                    .store
                    .swap_policy(tier, choice)
                    .map_err(|e| format!("ERR {e}"))?;
                Ok(vec![format!(
                    "{}: {} -> {}, {} entries replayed in {:.2} ms",
                    report.tier,
                    report.previous,
                    report.current,
                    report.replayed,
                    report.replay_time.as_secs_f64() * 1e3
                )])
            }
            _ => Err("ERR unknown GOLDYLOX subcommand; try GOLDYLOX POLICY STATUS or GOLDYLOX POLICY SWAP <hot|warm> <spec>".to_owned()),
        }
    }
}

/// Redis-style glob for `CONFIG GET` (`*`, `?`).
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Running {
    /// Stops accepting, lets connections finish what they have read, shuts
    /// the cache down, and returns when all of that is done.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

/// Binds and starts serving on the current tokio runtime.
pub async fn start(config: Config, runtime: Runtime) -> Result<Running> {
    let store = build_cache(&config, &runtime)?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        config,
        store,
        runtime,
        started: Instant::now(),
        clients: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        connections_total: AtomicU64::new(0),
        rejected_connections: AtomicU64::new(0),
        commands_total: AtomicU64::new(0),
        protocol_errors: AtomicU64::new(0),
    });
    let (stop, stopped) = watch::channel(false);
    let (done_tx, done) = tokio::sync::oneshot::channel();
    tokio::spawn(accept_loop(listener, shared, stopped, done_tx));
    log::info!("goldylox serving on {addr}");
    Ok(Running { addr, stop, done })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                shared.connections_total.fetch_add(1, Ordering::Relaxed);
                if shared.clients.load(Ordering::Acquire) >= shared.config.server.maxclients {
                    shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                    tasks.spawn(async move {
                        let mut stream = stream;
                        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                    });
                    continue;
                }
                shared.clients.fetch_add(1, Ordering::AcqRel);
                let (shared, stopped) = (Arc::clone(&shared), stopped.clone());
                tasks.spawn(async move {
                    if let Err(e) = serve_client(stream, &shared, stopped).await {
                        log::debug!("client {peer}: {e:#}");
                    }
                    shared.clients.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    let store = shared.store.clone();
    let _ = tokio::task::spawn_blocking(move || store.shutdown()).await;
    log::info!("goldylox stopped");
    let _ = done.send(());
}

async fn serve_client(
    mut stream: TcpStream,
    shared: &Shared,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    stream.set_nodelay(true)?;
    let limits = &shared.config.server;
    let mut parser = Parser::new(resp::Limits {
        max_bulk: limits.max_bulk_bytes,
        max_args: limits.max_args,
        max_inline: limits.max_inline_bytes,
    });
    let mut client = Client {
        id: shared.next_client_id.fetch_add(1, Ordering::Relaxed),
        name: None,
        authenticated: shared.config.server.password.is_none(),
    };
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let stall = Duration::from_millis(limits.output_stall_ms);
    loop {
        // Run every complete request already buffered.
        loop {
            let request = match parser.next(&mut input) {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(e) => {
                    shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    reply::error(&mut output, &format!("ERR {e}"));
                    flush(&mut stream, &mut output, stall).await?;
                    return Ok(());
                }
            };
            shared.commands_total.fetch_add(1, Ordering::Relaxed);
            let next = commands::execute(&shared.store, shared, &mut client, &request, &mut output);
            if next == Next::Close {
                flush(&mut stream, &mut output, stall).await?;
                return Ok(());
            }
            if output.len() >= limits.output_buffer_bytes {
                flush(&mut stream, &mut output, stall).await?;
            }
        }
        if input.len() + parser.held_bytes() > limits.max_query_buffer_bytes {
            bail!("query buffer limit exceeded; closing");
        }
        flush(&mut stream, &mut output, stall).await?;
        if *stopped.borrow() {
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
        }
    }
}

/// Writes `output` out; a client that accepts nothing for `stall` is
/// disconnected.
async fn flush(stream: &mut TcpStream, output: &mut BytesMut, stall: Duration) -> Result<()> {
    while !output.is_empty() {
        let written = tokio::time::timeout(stall, stream.write_buf(output))
            .await
            .context("client stopped reading its replies")??;
        if written == 0 {
            bail!("connection closed");
        }
    }
    output.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_matches_like_redis() {
        assert!(super::glob("max*", "maxclients"));
        assert!(super::glob("*", "port"));
        assert!(super::glob("p?rt", "port"));
        assert!(!super::glob("max", "maxclients"));
    }
}
