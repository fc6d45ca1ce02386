//! An axum service that reads through goldylox's async cache to a slow
//! backend, with its eviction policy a WebAssembly component loaded from a
//! file.
//!
//! `GET /user/{id}` answers the user's profile: from the cache, or on a
//! miss from the backend (20 ms per call). Concurrent requests for one
//! missing user make one backend call between them (`try_get_with`); a
//! user the backend does not have is a 404 for every request that waited
//! on it, and is not cached.
//!
//! Run: `cargo run -p goldylox-examples --bin axum_service`. It serves on
//! an ephemeral port, sends itself a few hundred concurrent requests, and
//! fails unless every answer is right, each user cost one backend call, and
//! the component chose the evictions. `-- --serve 127.0.0.1:3000` serves
//! until interrupted instead; `--policy FILE.wasm` loads that component
//! (default: the S3-FIFO component built into goldylox-sandbox, written to
//! a file first, as a policy you built would be).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use goldylox::{AsyncCache, Cache, PolicyState, PolicyTier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The backend's latency.
const BACKEND_DELAY: Duration = Duration::from_millis(20);
/// Users the backend does not have.
const MISSING: u64 = 13;
/// The cache's budget: small, so that the second phase evicts.
const CACHE_BYTES: u64 = 4 << 10;

/// A slow store that counts its calls per user.
#[derive(Default)]
struct Backend {
    calls: Mutex<HashMap<u64, u32>>,
}

impl Backend {
    async fn load(&self, id: u64) -> Result<String, String> {
        *self.calls.lock().unwrap().entry(id).or_default() += 1;
        tokio::time::sleep(BACKEND_DELAY).await;
        if id % 100 == MISSING {
            return Err(format!("no user {id}"));
        }
        Ok(format!("{{\"id\":{id},\"name\":\"user-{id}\"}}"))
    }

    fn calls(&self) -> HashMap<u64, u32> {
        self.calls.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct App {
    cache: AsyncCache<u64, String>,
    backend: Arc<Backend>,
}

async fn user(State(app): State<App>, Path(id): Path<u64>) -> Result<String, (StatusCode, String)> {
    let backend = Arc::clone(&app.backend);
    app.cache
        .try_get_with(id, async move { backend.load(id).await })
        .await
        .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))
}

/// The cache, its hot tier's policy the component at `policy`.
fn cache(policy: &std::path::Path) -> Result<AsyncCache<u64, String>> {
    let sandbox = goldylox_sandbox::Runtime::new()?;
    let spec = policy.to_str().context("policy path is not UTF-8")?;
    let choice = sandbox
        .eviction_policy(spec, &[])
        .with_context(|| format!("loading {}", policy.display()))?;
    let cache = Cache::builder(CACHE_BYTES).policy(choice).build()?;
    Ok(AsyncCache::new(cache)?)
}

/// The built-in S3-FIFO component, written to a file.
fn default_policy() -> Result<PathBuf> {
    let component = goldylox_sandbox::embedded("s3fifo").context("s3fifo is built in")?;
    let path = std::env::temp_dir().join(format!("s3fifo-{}.wasm", std::process::id()));
    std::fs::write(&path, component.bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let policy = match flag("--policy") {
        Some(path) => PathBuf::from(path),
        None => default_policy()?,
    };
    let app = App {
        cache: cache(&policy)?,
        backend: Arc::default(),
    };
    let router = Router::new()
        .route("/user/{id}", get(user))
        .with_state(app.clone());
    if let Some(addr) = flag("--serve") {
        let listener = TcpListener::bind(&addr).await?;
        println!("serving GET /user/{{id}} on http://{addr}");
        return Ok(axum::serve(listener, router).await?);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    // A component is named by its file's stem.
    let name = policy
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let result = exercise(addr, &app, name).await;
    server.abort();
    if flag("--policy").is_none() {
        let _ = std::fs::remove_file(&policy);
    }
    result
}

/// Phase 1: 400 concurrent requests over 40 users (one of them missing),
/// each user asked 10 times at once. Phase 2: 300 users once each, more
/// than the cache holds, so the component chooses evictions.
async fn exercise(addr: SocketAddr, app: &App, policy: &str) -> Result<()> {
    let started = Instant::now();
    let ids: Vec<u64> = (0..400).map(|i| i % 40).collect();
    let answers = requests(addr, &ids).await?;
    for (id, (status, body)) in ids.iter().zip(&answers) {
        if id % 100 == MISSING {
            ensure!(*status == 404, "user {id}: {status} {body}");
        } else {
            ensure!(*status == 200, "user {id}: {status} {body}");
            ensure!(
                body.contains(&format!("\"name\":\"user-{id}\"")),
                "user {id}: {body}"
            );
        }
    }
    let calls = app.backend.calls();
    ensure!(calls.len() == 40, "every user was loaded: {}", calls.len());
    // A user the backend has costs one call however many ask at once; a
    // failed load is not cached, so requests after it fails ask again.
    if let Some((id, n)) = calls.iter().find(|&(id, &n)| id % 100 != MISSING && n != 1) {
        bail!("user {id} cost {n} backend calls under 10 concurrent requests");
    }
    let phase1 = started.elapsed();
    let ids: Vec<u64> = (1000..1300).collect();
    requests(addr, &ids).await?;
    let cache = app.cache.sync();
    cache.run_pending_tasks();
    let stats = cache.stats();
    let status = cache.policy_status(PolicyTier::Hot).context("hot policy")?;
    ensure!(status.state == PolicyState::Active, "{status:?}");
    ensure!(status.name == policy, "the component runs: {status:?}");
    ensure!(
        stats.removals.evicted > 0,
        "phase 2 evicted: {:?}",
        stats.removals
    );
    ensure!(cache.weighted_size() <= cache.bound(), "within the bound");
    println!(
        "400 concurrent requests for 40 users: one backend call per user, in {:.0} ms \
         (one call takes {} ms; the missing user {MISSING}: {} backend call(s), each a 404 to its \
         waiters); 300 more users: {} evictions chosen by {}; {} requests in all",
        phase1.as_secs_f64() * 1e3,
        BACKEND_DELAY.as_millis(),
        calls[&MISSING],
        stats.removals.evicted,
        status.name,
        answers.len() + ids.len(),
    );
    Ok(())
}

/// Sends one request per id, all at once; (status, body) in order.
async fn requests(addr: SocketAddr, ids: &[u64]) -> Result<Vec<(u16, String)>> {
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| tokio::spawn(request(addr, format!("/user/{id}"))))
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await??);
    }
    Ok(answers)
}

/// One HTTP/1.1 GET on its own connection: the status and the body.
async fn request(addr: SocketAddr, path: String) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
