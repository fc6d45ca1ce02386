//! `goldylox bench`: drives any Redis-protocol server (goldylox,
//! redis-server, a proxy, a Redis Cluster; over TLS or not) with a cache trace in a cache-aside loop and
//! reports what an operator would see: hit ratio and byte hit ratio,
//! throughput, latency percentiles, wrong values (must be 0), and the
//! server's memory over the run. `goldylox bench chart` draws several
//! runs' hit ratio and memory on one chart.

mod chart;
mod cluster;
mod conn;
mod drive;
mod histogram;
mod payload;
mod report;

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

pub use drive::{Counts, Outcome, Sample, proc_rss};
pub use histogram::Histogram;
pub use payload::Payload;

use crate::trace;

/// `goldylox bench run`'s arguments.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub server: String,
    /// The password to AUTH with (also from GOLDYLOX_PASSWORD).
    #[arg(long, env = "GOLDYLOX_PASSWORD")]
    pub password: Option<String>,
    /// The server is a Redis Cluster node: read the cluster's map from it
    /// and send each key to its owner (RSS and memory summed over nodes).
    #[arg(long)]
    pub cluster: bool,
    /// Reach the server over TLS, trusting the CA certificates in this PEM
    /// file (the server's certificate is checked against --server's host).
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// The trace file (.gz / .zst / .xz allowed).
    #[arg(long)]
    pub trace: PathBuf,
    /// Its format (as `replay --format`); guessed from the name if left out.
    #[arg(long)]
    pub format: Option<String>,
    /// Use only the first N requests.
    #[arg(long)]
    pub requests: Option<usize>,
    /// The value size for a trace without sizes, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// The values: random (incompressible) or text (about 2:1).
    #[arg(long, value_enum, default_value = "random")]
    pub payload: Payload,
    /// A time to live for every SET, in seconds.
    #[arg(long)]
    pub ttl: Option<u64>,
    /// Connections, each taking the trace's next batch in turn.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Requests per pipelined batch.
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// The fraction of requests at the start left out of the figures.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// FLUSHALL before the run.
    #[arg(long)]
    pub flush: bool,
    /// The server's process id, for its RSS from /proc (default: INFO's
    /// process_id of each server on this machine's loopback).
    #[arg(long)]
    pub pid: Option<u32>,
    /// The run's name in the table, the CSV and the chart.
    #[arg(long)]
    pub label: Option<String>,
    /// Append the result to this CSV file (with a header if it is new).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the per-second samples to this CSV file, for `bench chart`.
    #[arg(long)]
    pub series: Option<PathBuf>,
}

impl RunArgs {
    /// A run of `trace` against `server` with the command line's defaults.
    pub fn new(server: impl Into<String>, trace: impl Into<PathBuf>) -> RunArgs {
        RunArgs {
            server: server.into(),
            password: None,
            cluster: false,
            tls_ca: None,
            trace: trace.into(),
            format: None,
            requests: None,
            value_size: 1024,
            payload: Payload::Random,
            ttl: None,
            connections: 8,
            pipeline: 16,
            warmup: 0.0,
            flush: false,
            pid: None,
            label: None,
            csv: None,
            series: None,
        }
    }
}

/// `goldylox bench`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Replay a trace against a server, cache-aside, and report.
    Run(RunArgs),
    /// Print a trace's requests, distinct objects and footprint (the bytes
    /// of every distinct object, at the value size when it has no sizes),
    /// to size a server's memory from.
    Describe {
        /// The trace file.
        #[arg(long)]
        trace: PathBuf,
        /// Its format (guessed from the name if left out).
        #[arg(long)]
        format: Option<String>,
        /// Use only the first N requests.
        #[arg(long)]
        requests: Option<usize>,
        /// The value size for a trace without sizes, in bytes.
        #[arg(long, default_value_t = 1024)]
        value_size: usize,
    },
    /// Draw the hit ratio and the server's memory of runs (their
    /// `--series` files) on one SVG chart.
    Chart {
        /// The chart's title.
        #[arg(long, default_value = "goldylox bench")]
        title: String,
        /// Where to write the SVG.
        #[arg(short, long)]
        output: PathBuf,
        /// The runs' series files.
        #[arg(required = true)]
        series: Vec<PathBuf>,
    },
}

/// Runs a `goldylox bench` subcommand, printing its report.
pub fn main(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Run(args) => {
            let result = run(&args)?;
            print!("{}", report::table(std::slice::from_ref(&result)));
            if let Some(path) = &args.csv {
                report::append_csv(path, &result)?;
            }
            if let Some(path) = &args.series {
                report::write_series(path, &result)?;
            }
            if result.outcome.counts.wrong > 0 {
                bail!(
                    "{} hits returned a value that was not the one written",
                    result.outcome.counts.wrong
                );
            }
            Ok(())
        }
        BenchCommand::Describe {
            trace,
            format,
            requests,
            value_size,
        } => {
            let t = trace::load(&trace, format.as_deref(), requests)?;
            let mut sizes = std::collections::HashMap::new();
            for i in 0..t.len() {
                let size = t.sizes.as_ref().map_or(value_size, |s| s[i] as usize);
                sizes.insert(t.keys[i], size as u64);
            }
            println!(
                "requests={} objects={} footprint_bytes={}",
                t.len(),
                sizes.len(),
                sizes.values().sum::<u64>()
            );
            Ok(())
        }
        BenchCommand::Chart {
            title,
            output,
            series,
        } => {
            let runs = series
                .iter()
                .map(|p| report::read_series(p))
                .collect::<Result<Vec<_>>>()?;
            std::fs::write(&output, chart::series_svg(&title, &runs))
                .with_context(|| format!("writing {}", output.display()))?;
            println!("chart: {}", output.display());
            Ok(())
        }
    }
}

/// A finished run with what describes it.
pub struct Run {
    /// Its name.
    pub label: String,
    /// The trace's file name.
    pub trace: String,
    /// The values' kind.
    pub payload: Payload,
    /// Connections and pipeline depth.
    pub connections: usize,
    /// Requests per batch.
    pub pipeline: usize,
    /// What happened.
    pub outcome: Outcome,
}

/// Runs one bench.
pub fn run(args: &RunArgs) -> Result<Run> {
    if args.connections == 0 || args.pipeline == 0 {
        bail!("--connections and --pipeline must be at least 1");
    }
    if !(0.0..1.0).contains(&args.warmup) {
        bail!("--warmup is a fraction of the requests, from 0 to below 1");
    }
    let trace = trace::load(&args.trace, args.format.as_deref(), args.requests)?;
    let tls = match &args.tls_ca {
        Some(ca) => {
            let host = args
                .server
                .rsplit_once(':')
                .map_or(&*args.server, |(h, _)| h);
            Some(conn::Tls::new(
                ca,
                host.trim_start_matches('[').trim_end_matches(']'),
            )?)
        }
        None => None,
    };
    let topology = if args.cluster {
        Some(cluster::Topology::discover(
            &args.server,
            tls.as_ref(),
            args.password.as_deref(),
        )?)
    } else {
        None
    };
    let servers = topology
        .as_ref()
        .map_or_else(|| vec![args.server.clone()], |t| t.nodes.clone());
    let mut pids = Vec::new();
    for server in &servers {
        let mut conn = conn::Conn::open(server, tls.as_ref(), args.password.as_deref())?;
        if args.flush {
            conn.command(&[b"FLUSHALL"]);
            conn.flush()?;
            conn.simple()
                .with_context(|| format!("FLUSHALL on {server}"))?;
        }
        pids.push(match args.pid {
            Some(pid) if !args.cluster => Some(pid),
            _ => local_pid(server, &mut conn),
        });
    }
    let plan = drive::Plan {
        servers: &servers,
        topology: topology.as_ref(),
        password: args.password.as_deref(),
        tls: tls.as_ref(),
        trace: &trace,
        value_size: args.value_size,
        payload: args.payload,
        ttl: args.ttl,
        connections: args.connections,
        pipeline: args.pipeline,
        warmup: (trace.len() as f64 * args.warmup) as usize,
        pids,
    };
    let outcome = drive::run(&plan)?;
    Ok(Run {
        label: args.label.clone().unwrap_or_else(|| args.server.clone()),
        trace: args
            .trace
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        payload: args.payload,
        connections: args.connections,
        pipeline: args.pipeline,
        outcome,
    })
}

/// INFO's process_id, when the server listens on loopback and /proc has it.
fn local_pid(server: &str, conn: &mut conn::Conn) -> Option<u32> {
    let local = server.to_socket_addrs().ok()?.all(|a| a.ip().is_loopback());
    if !local {
        return None;
    }
    let info = conn.info("server").ok()?;
    let pid = u32::try_from(conn::info_field(&info, "process_id")?).ok()?;
    proc_rss(pid).map(|_| pid)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn new_has_the_command_line_defaults() {
        let parsed = Cli::parse_from(["bench", "--server", "h:1", "--trace", "t"]).run;
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", RunArgs::new("h:1", "t"))
        );
    }
}
