//! The cache-aside loop: connections take the trace's requests in order,
//! a pipelined batch at a time — GET each key; every miss is then SET
//! with its value — while a sampler reads the server's memory every
//! second. A hit's value is checked byte for byte.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::cluster::Topology;
use super::conn::{Conn, Tls, info_field};
use super::histogram::Histogram;
use super::payload::{self, Payload};
use crate::trace::Trace;

/// How often the sampler reads the server's memory.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What a run is told.
pub(super) struct Plan<'a> {
    /// The servers, HOST:PORT: one, or a cluster's primaries.
    pub(super) servers: &'a [String],
    /// Which of `servers` owns each key, for a cluster.
    pub(super) topology: Option<&'a Topology>,
    /// AUTH's password.
    pub(super) password: Option<&'a str>,
    /// TLS, if the server is reached over it.
    pub(super) tls: Option<&'a Tls>,
    /// The requests.
    pub(super) trace: &'a Trace,
    /// The value size of a trace without sizes.
    pub(super) value_size: usize,
    /// The values' kind.
    pub(super) payload: Payload,
    /// A time to live for every SET, in seconds.
    pub(super) ttl: Option<u64>,
    /// Connections.
    pub(super) connections: usize,
    /// Requests per batch on a connection.
    pub(super) pipeline: usize,
    /// Requests at the start left out of the figures.
    pub(super) warmup: usize,
    /// Each server's process, for its RSS from /proc.
    pub(super) pids: Vec<Option<u32>>,
}

/// The counts of one connection (or all of them, merged).
#[derive(Default, Clone)]
pub struct Counts {
    /// Requests measured (past the warm-up).
    pub requests: u64,
    /// Of those, hits.
    pub hits: u64,
    /// Bytes those requests asked for.
    pub bytes: u64,
    /// Bytes the hits returned.
    pub hit_bytes: u64,
    /// Hits whose value was not the one written.
    pub wrong: u64,
    /// SETs the server refused (`-OOM`: a value it had no room for), as
    /// a cache-aside client would log and go on.
    pub refused: u64,
    /// The first refusal's message.
    pub refusal: Option<String>,
    /// GET latencies (a batch's round trip, for each request in it).
    pub latency: Histogram,
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.hits += o.hits;
        self.bytes += o.bytes;
        self.hit_bytes += o.hit_bytes;
        self.wrong += o.wrong;
        self.refused += o.refused;
        if self.refusal.is_none() {
            self.refusal.clone_from(&o.refusal);
        }
        self.latency.merge(&o.latency);
    }
}

/// One second of the run: requests done, cumulative hit ratio, memory.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Seconds since the start.
    pub seconds: f64,
    /// Requests done so far.
    pub requests: u64,
    /// Hits over requests so far (the warm-up included).
    pub hit_ratio: f64,
    /// The server's resident memory (from /proc, else INFO's
    /// `used_memory_rss`), bytes.
    pub rss: u64,
    /// INFO's `used_memory`, bytes.
    pub used_memory: u64,
}

/// A finished run.
pub struct Outcome {
    /// The merged counts.
    pub counts: Counts,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// The samples, one a second and one at the end.
    pub samples: Vec<Sample>,
}

struct Progress {
    next: AtomicUsize,
    done: AtomicU64,
    hits: AtomicU64,
    finished: AtomicBool,
}

/// Runs `plan` to the end of the trace.
pub(super) fn run(plan: &Plan<'_>) -> Result<Outcome> {
    let progress = Arc::new(Progress {
        next: AtomicUsize::new(0),
        done: AtomicU64::new(0),
        hits: AtomicU64::new(0),
        finished: AtomicBool::new(false),
    });
    let started = Instant::now();
    let (counts, samples) = std::thread::scope(|scope| -> Result<_> {
        let sampler = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn_scoped(scope, || sample(plan, &progress, started))?;
        let workers: Vec<_> = (0..plan.connections)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("bench-conn-{i}"))
                    .spawn_scoped(scope, || drive(plan, &progress))
            })
            .collect::<Result<_, _>>()?;
        let mut total = Counts::default();
        let mut failure = None;
        for w in workers {
            match w.join().expect("a bench connection panicked") {
                Ok(c) => total.merge(&c),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        progress.finished.store(true, Ordering::Release);
        let samples = sampler.join().expect("the sampler panicked")?;
        match failure {
            Some(e) => Err(e),
            None => Ok((total, samples)),
        }
    })?;
    Ok(Outcome {
        counts,
        elapsed: started.elapsed(),
        samples,
    })
}

/// A worker's connections, one per node (one in all without a cluster),
/// and the requests queued on each in the order their replies come.
struct Route<'a> {
    conns: Vec<Conn>,
    topology: Option<&'a Topology>,
    queued: Vec<Vec<usize>>,
}

impl<'a> Route<'a> {
    fn open(plan: &Plan<'a>) -> Result<Route<'a>> {
        let conns = plan
            .servers
            .iter()
            .map(|s| Conn::open(s, plan.tls, plan.password))
            .collect::<Result<Vec<_>>>()?;
        Ok(Route {
            queued: vec![Vec::new(); conns.len()],
            conns,
            topology: plan.topology,
        })
    }

    /// Queues request `i`'s command `args` on its key `name`'s node.
    fn queue(&mut self, i: usize, name: &[u8], args: &[&[u8]]) {
        let node = self.topology.map_or(0, |t| t.node_of(name));
        self.conns[node].command(args);
        self.queued[node].push(i);
    }

    /// Sends what is queued; the requests in the order to read replies.
    fn flush(&mut self) -> Result<Vec<(usize, usize)>> {
        let mut order = Vec::new();
        for (node, queued) in self.queued.iter_mut().enumerate() {
            if !queued.is_empty() {
                self.conns[node].flush()?;
                order.extend(queued.drain(..).map(|i| (node, i)));
            }
        }
        Ok(order)
    }
}

/// One connection's loop; an error stops the other connections too.
fn drive(plan: &Plan<'_>, progress: &Progress) -> Result<Counts> {
    let result = batches(plan, progress);
    if result.is_err() {
        progress.next.store(usize::MAX / 2, Ordering::Relaxed);
    }
    result
}

fn batches(plan: &Plan<'_>, progress: &Progress) -> Result<Counts> {
    let mut route = Route::open(plan)?;
    let mut counts = Counts::default();
    let (mut value, mut scratch) = (Vec::new(), Vec::new());
    let ttl = plan.ttl.map(|t| t.to_string());
    let n = plan.trace.len();
    loop {
        let begin = progress.next.fetch_add(plan.pipeline, Ordering::Relaxed);
        if begin >= n {
            return Ok(counts);
        }
        let end = (begin + plan.pipeline).min(n);
        let names: Vec<String> = (begin..end).map(|i| key_name(plan.trace.keys[i])).collect();
        for (i, name) in (begin..end).zip(&names) {
            route.queue(i, name.as_bytes(), &[b"GET", name.as_bytes()]);
        }
        let sent = Instant::now();
        let mut missed = Vec::new();
        let mut hits = 0;
        for (node, i) in route.flush()? {
            let hit = route.conns[node].bulk(&mut value).context("GET")?;
            hits += u64::from(hit);
            if !hit {
                missed.push(i);
            }
            account(
                plan,
                &mut counts,
                i,
                hit.then_some(&value[..]),
                &mut scratch,
            );
        }
        let measured = end.saturating_sub(begin.max(plan.warmup)) as u64;
        if measured > 0 {
            counts
                .latency
                .record(sent.elapsed().as_nanos() as u64, measured);
        }
        for &i in &missed {
            payload::fill(
                plan.trace.keys[i],
                size_of(plan, i),
                plan.payload,
                &mut value,
            );
            let name = names[i - begin].as_bytes();
            match &ttl {
                Some(t) => route.queue(i, name, &[b"SET", name, &value, b"EX", t.as_bytes()]),
                None => route.queue(i, name, &[b"SET", name, &value]),
            }
        }
        for (node, _) in route.flush()? {
            if let Some(error) = route.conns[node].status().context("SET")? {
                counts.refused += 1;
                counts.refusal.get_or_insert(error);
            }
        }
        progress
            .done
            .fetch_add((end - begin) as u64, Ordering::Relaxed);
        progress.hits.fetch_add(hits, Ordering::Relaxed);
    }
}

/// Counts request `i` (a hit when `value` is some, checked against what
/// was written), if it is past the warm-up.
fn account(
    plan: &Plan<'_>,
    counts: &mut Counts,
    i: usize,
    value: Option<&[u8]>,
    scratch: &mut Vec<u8>,
) {
    if i < plan.warmup {
        return;
    }
    let size = size_of(plan, i) as u64;
    counts.requests += 1;
    counts.bytes += size;
    if let Some(value) = value {
        counts.hits += 1;
        counts.hit_bytes += size;
        let right = payload::verify(plan.trace.keys[i], plan.payload, value, scratch);
        counts.wrong += u64::from(!right);
    }
}

fn key_name(key: u64) -> String {
    format!("bench:{key:x}")
}

fn size_of(plan: &Plan<'_>, i: usize) -> usize {
    plan.trace
        .sizes
        .as_ref()
        .map_or(plan.value_size, |s| s[i] as usize)
}

/// Reads the servers' memory every second until the run ends, then once
/// more (a cluster's nodes summed); on a terminal, shows the progress.
fn sample(plan: &Plan<'_>, progress: &Progress, started: Instant) -> Result<Vec<Sample>> {
    let mut conns = plan
        .servers
        .iter()
        .map(|s| Conn::open(s, plan.tls, plan.password))
        .collect::<Result<Vec<_>>>()?;
    let show = std::io::stderr().is_terminal();
    let mut samples = Vec::new();
    loop {
        let finished = progress.finished.load(Ordering::Acquire);
        let (mut rss, mut used_memory) = (0, 0);
        for (conn, pid) in conns.iter_mut().zip(&plan.pids) {
            let info = conn.info("memory").context("INFO memory")?;
            used_memory += info_field(&info, "used_memory").unwrap_or(0);
            rss += pid
                .and_then(proc_rss)
                .or_else(|| info_field(&info, "used_memory_rss"))
                .unwrap_or(0);
        }
        let requests = progress.done.load(Ordering::Relaxed);
        let hits = progress.hits.load(Ordering::Relaxed);
        let sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            requests,
            hit_ratio: hits as f64 / requests.max(1) as f64,
            rss,
            used_memory,
        };
        if show {
            eprint!(
                "\r  {requests}/{} requests, hit ratio {:.2} %, {:.0} requests/s   ",
                plan.trace.len(),
                sample.hit_ratio * 100.0,
                requests as f64 / sample.seconds.max(1e-9)
            );
        }
        samples.push(sample);
        if finished {
            if show {
                eprintln!();
            }
            return Ok(samples);
        }
        let wake = Instant::now() + SAMPLE_EVERY;
        while Instant::now() < wake && !progress.finished.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A local process's resident memory, from /proc.
pub fn proc_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
