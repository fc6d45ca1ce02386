//! `goldylox`: the cache engine's command-line host.
//!
//! `goldylox replay` runs a cache trace (or, with no trace, an embedded
//! synthetic workload) through eviction policies at several cache sizes and
//! prints hit ratios next to Belady's OPT and the infinite-cache ceiling.
//! `goldylox policy` checks, lists and exports policy components.
//! `goldylox serve` serves the cache over the Redis protocol.
//! `goldylox cluster info` shows a cluster's nodes in one table.
//! `goldylox bench` drives any Redis-protocol server with a cache trace.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use goldylox_host::replay::{self, Contender};
use goldylox_host::trace;
use goldylox_host::{author, server};
use goldylox_sandbox as wasm;

#[derive(Parser)]
#[command(
    name = "goldylox",
    version,
    about = "A multi-tier cache engine with pluggable eviction policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the cache over the Redis protocol.
    Serve(ServeArgs),
    /// Replay a cache trace through policies and report hit ratios.
    Replay(ReplayArgs),
    /// Check, list or export policy components.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Look at a running cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Drive a Redis-protocol server (goldylox, redis-server, a proxy) with
    /// a cache trace, cache-aside, and report hits, throughput, latency and
    /// the server's memory.
    #[command(subcommand)]
    Bench(goldylox_host::bench::BenchCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// One table over every node: slots, keys, memory per tier, hit ratio,
    /// commands, policies. Name one node of a cluster (the others are found
    /// from CLUSTER NODES) or several plain nodes (behind a proxy).
    Info {
        /// HOST:PORT of one cluster node, or of every plain node.
        #[arg(required = true)]
        nodes: Vec<String>,
        /// The password to AUTH with (also from GOLDYLOX_PASSWORD).
        #[arg(long, env = "GOLDYLOX_PASSWORD")]
        password: Option<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML configuration file; it names only what it changes (default:
    /// the embedded one, which is examples/goldylox.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The port to listen on (wins over server.listen).
    #[arg(long)]
    port: Option<u16>,
    /// The address to listen on (wins over server.listen).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// The cold tier's data directory (wins over cache.cold.dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// This node's name in the configuration's `[cluster]` (wins over
    /// cluster.myself), so one file can serve every node.
    #[arg(long)]
    node: Option<String>,
    /// Check FILE (with the overrides given), load every policy it names,
    /// print what would run, and exit without serving.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Load a component, type-check it against wit/policy.wit, smoke-test it
    /// and report its exports and cost per event.
    Check {
        /// A component file (.wasm, or .wat text), or wasm:NAME for one built
        /// into this binary.
        component: String,
        /// A parameter for the policy's init, as key=value (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Write a new policy project into ./NAME: a small working policy with
    /// its native tests, the WIT, and (Rust) the SDK or (C) the header.
    New {
        /// The policy's name (lowercase letters, digits, - and _).
        name: String,
        /// Its language: rust, c, python or js.
        #[arg(long = "lang", default_value = "rust")]
        language: String,
        /// The world it exports: eviction, prefetch or failover.
        #[arg(long, default_value = "eviction")]
        world: String,
    },
    /// Build a policy project (or make a component of a core module) with
    /// the language's toolchain; the component is made in-process.
    Build {
        /// The project directory (default: the current one), or a core
        /// WebAssembly module to make into a component.
        path: Option<PathBuf>,
        /// Where to write the component (default: DIR/NAME.wasm).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// For a core module without embedded WIT (e.g. from C): its world.
        #[arg(long)]
        world: Option<String>,
    },
    /// Test a policy like code: the project's scenario file
    /// (policy-test.toml: events in, victims out), the built-in adversarial
    /// suite (the checks the engine applies to every answer) and the
    /// budget it declares, through the real component boundary; a non-zero
    /// exit on any failure.
    Test {
        /// A project directory (default: the current one) or a scenario
        /// file.
        path: Option<PathBuf>,
        /// The component to test (default: the project's NAME.wasm):
        /// a file, wasm:NAME or builtin:NAME.
        #[arg(long)]
        component: Option<String>,
        /// A parameter for the policy's init, as key=value (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// List the policy components built into this binary.
    List,
    /// Write a built-in component to a file, e.g. to inspect it with
    /// wasm-tools or load it in another host.
    Export {
        /// The component's name (see `goldylox policy list`).
        name: String,
        /// Where to write it.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Trace file (.gz / .zst / .xz allowed). Without one, an embedded
    /// synthetic workload is replayed.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Trace format: lirs, plain (txt), arc, adaptsize, oracle, lcs-csv,
    /// vscsi, i32be, i64be, u32be (guessed from the file name when omitted).
    #[arg(long)]
    format: Option<String>,
    /// Cache sizes, comma-separated: entries (1000), or bytes with a unit
    /// (64MiB, 512KB) for traces with object sizes, which then also report
    /// byte hit ratios.
    #[arg(long, value_delimiter = ',', default_values_t = ["250".to_string(), "500".to_string(), "1000".to_string(), "2000".to_string(), "4000".to_string(), "8000".to_string()])]
    sizes: Vec<String>,
    /// Policies, comma-separated: builtin:NAME (lru, sieve, fifo, clock,
    /// s3fifo, arc, wtinylfu, lecar), opt, wasm:NAME (a component built into
    /// this binary, run in the sandbox), the path of a component file, or
    /// auto (the selector racing every built-in policy; auto:A+B+… names
    /// the candidates).
    #[arg(long, value_delimiter = ',', default_values_t = ["builtin:lru".to_string(), "builtin:sieve".to_string(), "builtin:s3fifo".to_string(), "builtin:arc".to_string(), "opt".to_string()])]
    policies: Vec<String>,
    /// A parameter for every component's init, as key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// `auto`: the lead, in percentage points, a candidate needs to replace
    /// the live policy (default 2).
    #[arg(long)]
    auto_margin: Option<f64>,
    /// `auto`: epochs in a row it must lead (default 3).
    #[arg(long)]
    auto_streak: Option<u32>,
    /// `auto`: weight of the newest epoch in a candidate's score (default 0.2).
    #[arg(long)]
    auto_smoothing: Option<f64>,
    /// Replay only the trace's first N requests.
    #[arg(long)]
    requests: Option<usize>,
    /// Print CSV instead of a markdown table.
    #[arg(long)]
    csv: bool,
    /// Also draw the hit ratios as an SVG chart into this file (and, for
    /// each `auto` contender, which policy ran when, into FILE.auto.svg).
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// jemalloc, as Redis: it keeps RSS close to what the tiers account for
/// under values of every size (see `host/src/allocator.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<()> {
    goldylox_host::allocator::use_jemalloc();
    match Cli::parse().command {
        Command::Serve(args) => run_serve(args),
        Command::Replay(args) => run_replay(args),
        Command::Policy(cmd) => run_policy(cmd),
        Command::Bench(command) => goldylox_host::bench::main(command),
        Command::Cluster(ClusterCommand::Info { nodes, password }) => {
            print!(
                "{}",
                goldylox_host::cluster_info::report(&nodes, password.as_deref())?
            );
            Ok(())
        }
    }
}

fn run_serve(args: ServeArgs) -> Result<()> {
    let overrides = server::config::Overrides {
        port: args.port,
        bind: args.bind,
        dir: args.dir,
        node: args.node,
    };
    if let Some(file) = args.check_config {
        let config = server::config::Config::load_with(Some(&file), &overrides)?;
        let runtime = wasm::Runtime::shared()?;
        server::resolve_policies(&config, &runtime)?;
        if let Some(tls) = &config.server.tls {
            server::tls::acceptor(tls).context("server.tls")?;
        }
        println!("{}: valid", file.display());
        print!("{}", server::describe(&config));
        return Ok(());
    }
    // Absolute, so that reloads find the file whatever the working directory.
    let path = args.config.map(|p| std::path::absolute(&p).unwrap_or(p));
    let config = server::config::Config::load_with(path.as_deref(), &overrides)?;
    env_logger::Builder::new()
        .parse_filters(&config.log.level)
        .parse_env("RUST_LOG")
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("goldylox-serve")
        .thread_stack_size(SERVE_THREAD_STACK_BYTES)
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let policies = wasm::Runtime::shared()?;
        let running = server::start(config, path, policies).await?;
        eprint!("{}", running.banner());
        wait_for_signals(&running).await?;
        log::info!("stopping: finishing in-flight requests");
        running.shutdown().await;
        Ok(())
    })
}

/// The stack of each thread serving clients. Scripts run there, and
/// converting a script's deeply nested result (up to the scripting
/// engine's depth limit, as Redis allows) recurses once per level: 2 MiB,
/// tokio's default, is not enough in a debug build.
const SERVE_THREAD_STACK_BYTES: usize = 16 << 20;

/// Returns on SIGINT or SIGTERM; reloads the configuration on SIGHUP.
async fn wait_for_signals(running: &server::Running) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return r.context("waiting for SIGINT"),
            _ = term.recv() => return Ok(()),
            () = running.stop_requested() => return Ok(()),
            _ = hup.recv() => match running.reload().await {
                Ok(changes) => log::info!("SIGHUP reload: {}", changes.join("; ")),
                Err(e) => log::error!("SIGHUP: {e:#}"),
            },
        }
    }
}

fn run_policy(cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Check { component, params } => {
            let params = parse_params(&params)?;
            let runtime = wasm::Runtime::checking()?;
            let loaded = runtime.load_spec(&component)?;
            let report = wasm::check(&loaded, &params)
                .with_context(|| format!("{component} failed its smoke test"))?;
            print!("{report}");
            Ok(())
        }
        PolicyCommand::New {
            name,
            language,
            world,
        } => {
            let language: author::Language = language.parse()?;
            let world = author::parse_world(&world)?;
            let dir = PathBuf::from(&name);
            let files = author::new_project(&dir, &name, language, world)?;
            eprintln!(
                "wrote a {language} {world} into ./{name} ({} files). Next:\n  cd {name}\n  goldylox policy build\n  goldylox policy check {name}.wasm\n  goldylox policy test",
                files.len()
            );
            Ok(())
        }
        PolicyCommand::Build {
            path,
            output,
            world,
        } => run_build(path, output, world),
        PolicyCommand::Test {
            path,
            component,
            params,
        } => {
            let target = author::Target::find(path.as_deref(), component)?;
            author::test_command(&target, &parse_params(&params)?)
        }
        PolicyCommand::List => {
            println!("| name | world | bytes |");
            println!("|---|---|---:|");
            for e in wasm::EMBEDDED {
                println!("| wasm:{} | {} | {} |", e.name, e.world, e.bytes.len());
            }
            Ok(())
        }
        PolicyCommand::Export { name, output } => {
            let e = wasm::embedded(&name)
                .with_context(|| format!("no component {name:?} in this build"))?;
            std::fs::write(&output, e.bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "{} ({}, {} bytes) written to {}",
                e.name,
                e.world,
                e.bytes.len(),
                output.display()
            );
            Ok(())
        }
    }
}

/// `--param key=value` arguments.
fn parse_params(params: &[String]) -> Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--param {p:?} is not key=value"))
        })
        .collect()
}

fn run_build(path: Option<PathBuf>, output: Option<PathBuf>, world: Option<String>) -> Result<()> {
    let path = path.unwrap_or_else(|| PathBuf::from("."));
    if path.is_file() {
        let module = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let world = world.as_deref().map(author::parse_world).transpose()?;
        let component = author::componentize_module(&module, world)
            .with_context(|| format!("making a component of {}", path.display()))?;
        let output = output.unwrap_or_else(|| path.with_extension("component.wasm"));
        std::fs::write(&output, &component)
            .with_context(|| format!("writing {}", output.display()))?;
        eprintln!("{} ({} bytes) written", output.display(), component.len());
        return Ok(());
    }
    let built = author::build(&path, output.as_deref())?;
    eprintln!(
        "built {} ({}, {} bytes) in {:.1?}; check it: goldylox policy check {}",
        built.output.display(),
        built.world,
        built.bytes,
        built.toolchain_time,
        built.output.display()
    );
    Ok(())
}

/// Which policy an `auto` contender ran when, on stderr.
fn print_switches(labels: &[String], rows: &[replay::Row]) {
    for row in rows {
        for ((label, switches), shadows) in labels.iter().zip(&row.switches).zip(&row.shadows) {
            if !label.starts_with("auto") {
                continue;
            }
            let ratios: Vec<String> = shadows
                .iter()
                .map(|(name, ratio)| format!("{name}={:.4}", ratio * 100.0))
                .collect();
            eprintln!(
                "{label} at {}: shadow hit ratios (%) {}",
                row.size,
                ratios.join(" ")
            );
            let path: Vec<String> = switches
                .iter()
                .map(|s| format!("{}@{}", s.to, s.at))
                .collect();
            // With no switch, the first candidate ran throughout.
            let first = switches.first().map_or_else(
                || shadows.first().map_or("-", |(name, _)| name.as_str()),
                |s| s.from.as_str(),
            );
            eprintln!(
                "{label} at {}: {} switches; started on {first}, then {}",
                row.size,
                switches.len(),
                if path.is_empty() {
                    "none".to_owned()
                } else {
                    path.join(" ")
                }
            );
        }
    }
}

fn run_replay(args: ReplayArgs) -> Result<()> {
    let (name, trace) = replay_trace(&args)?;
    let capacities = replay_capacities(&args, &name, &trace)?;
    let contenders = replay_contenders(&args)?;
    let distinct = trace
        .keys
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let writes = match trace.len() - trace.reads() {
        0 => String::new(),
        n => format!(", {n} sets and deletes"),
    };
    eprintln!(
        "{name}: {} requests{writes}, {distinct} distinct keys",
        trace.reads()
    );
    if trace.sizes.is_some() {
        eprintln!("with object sizes: {} bytes requested", trace.total_bytes());
    }
    let requests = replay::Requests {
        keys: &trace.keys,
        weights: None,
        sizes: trace.sizes.as_deref(),
        ops: trace.ops.as_deref(),
    };
    let infinite = replay::infinite(requests);
    let ceiling = infinite.hits as f64 / trace.reads().max(1) as f64;
    let byte_ceiling = trace
        .sizes
        .is_some()
        .then(|| infinite.hit_bytes as f64 / trace.total_bytes().max(1) as f64);
    let started = Instant::now();
    let passes = (capacities.len() * contenders.len()) as u64;
    let bar = replay::Bar::start("replaying", passes * trace.len() as u64);
    let rows = replay::run(&trace, &contenders, &capacities, bar.progress())?;
    drop(bar);
    eprintln!("replayed in {:.2?}", started.elapsed());

    let labels: Vec<String> = contenders.iter().map(Contender::label).collect();
    if let Some(path) = &args.svg {
        write_charts(
            path,
            &args,
            &name,
            &labels,
            &rows,
            ceiling,
            trace.len() as u64,
        )?;
    }
    if args.csv {
        print!("{}", replay::report::csv(&labels, &rows, ceiling));
    } else {
        print!(
            "{}",
            replay::report::markdown(&labels, &rows, ceiling, byte_ceiling)
        );
    }
    print_switches(&labels, &rows);
    Ok(())
}

/// The trace `replay` reads (or its embedded synthetic workload), named.
fn replay_trace(args: &ReplayArgs) -> Result<(String, trace::Trace)> {
    match &args.trace {
        Some(path) => Ok((
            path.display().to_string(),
            trace::load(path, args.format.as_deref(), args.requests)?,
        )),
        None => {
            let mut trace = trace::Trace::unsized_keys(replay::synthetic());
            if let Some(n) = args.requests {
                trace.truncate(n);
            }
            if trace.is_empty() {
                bail!("--requests 0 leaves nothing to replay");
            }
            Ok(("embedded synthetic workload".to_owned(), trace))
        }
    }
}

/// `--sizes`: positive, and in bytes only for a trace with object sizes.
fn replay_capacities(
    args: &ReplayArgs,
    name: &str,
    trace: &trace::Trace,
) -> Result<Vec<replay::Capacity>> {
    let capacities = args
        .sizes
        .iter()
        .map(|s| replay::Capacity::parse(s))
        .collect::<Result<Vec<_>>>()?;
    if capacities.is_empty() || capacities.iter().any(|c| c.value() == 0) {
        bail!("--sizes must be positive (entries, or bytes with a unit: 64MiB)");
    }
    if capacities
        .iter()
        .any(|c| matches!(c, replay::Capacity::Bytes(_)))
        && trace.sizes.is_none()
    {
        bail!("{name} has no object sizes, so cache sizes must be in entries (no unit)");
    }
    Ok(capacities)
}

/// `--policies`, with `--param`s and `auto`'s tuning.
fn replay_contenders(args: &ReplayArgs) -> Result<Vec<Contender>> {
    let params = parse_params(&args.params)?;
    let tuning = replay::AutoTuning {
        margin: args.auto_margin.map(|pp| pp / 100.0),
        streak: args.auto_streak,
        smoothing: args.auto_smoothing,
    };
    args.policies
        .iter()
        .map(|p| match p.as_str() {
            auto if auto == "auto" || auto.starts_with("auto:") => Contender::auto(auto, &tuning),
            other => Contender::parse(other)?.with_params(&params),
        })
        .collect()
}

/// The hit-ratio chart (legend entries carry each policy's mean gap to
/// OPT) and, per `auto` contender, its timeline.
fn write_charts(
    path: &std::path::Path,
    args: &ReplayArgs,
    name: &str,
    labels: &[String],
    rows: &[replay::Row],
    ceiling: f64,
    requests: u64,
) -> Result<()> {
    let short = args
        .trace
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or(name.to_owned(), |f| f.to_string_lossy().into_owned());
    let title = format!("{short}: hit ratio by cache size");
    let legend: Vec<String> = labels
        .iter()
        .zip(replay::report::mean_gaps(labels, rows))
        .map(|(l, gap)| match gap {
            Some(g) => format!("{l} (−{g:.1} pp to OPT)"),
            None => l.clone(),
        })
        .collect();
    let svg = goldylox_host::plot::hit_ratio_svg(&title, &legend, rows, ceiling);
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("chart written to {}", path.display());
    for (c, label) in labels.iter().enumerate() {
        if !label.starts_with("auto") {
            continue;
        }
        // Which policy `auto` ran when, beside the chart.
        let timeline = path.with_extension(format!("{}.svg", label.replace([':', '+'], "-")));
        let title = format!("{short}: the policy {label} ran, by request");
        let svg = goldylox_host::plot::timeline_svg(&title, c, rows, requests);
        std::fs::write(&timeline, svg)
            .with_context(|| format!("writing {}", timeline.display()))?;
        eprintln!("{label}'s timeline written to {}", timeline.display());
    }
    Ok(())
}
