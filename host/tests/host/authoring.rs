//! Writing a policy outside the repository, as a newcomer does: in a temp
//! directory with the built `goldylox` binary first on PATH, `policy new`
//! → `policy build` → `policy check` → `replay` on a shared trace → swap
//! into a running `goldylox serve` over RESP while it serves traffic. Rust
//! and C always; Python and JavaScript when their tools are present — and
//! under CI (`CI` set), a missing tool is a failure, not a skip.
//!
//! Also: the shipped Python and JavaScript policies decide exactly like
//! their Rust twins.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goldylox::EvictionPolicy;
use goldylox_sandbox::builtin;
use goldylox_sandbox::{Runtime, WasmPolicy};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_goldylox"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `program` runs; absent under CI is a failure.
fn tool(program: &str, why: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        crate::skip(&format!("{program} ({why})"));
    }
    found
}

/// A fresh directory outside the repository.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("goldylox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `goldylox ARGS` in `dir` with a PATH whose first entry holds only
/// the binary (the rest is the system's: the language toolchains), as a
/// newcomer who installed it would; returns stdout, and the seconds taken.
fn goldylox(dir: &Path, bin: &Path, args: &[&str]) -> (String, f64) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let out = Command::new(bin.join("goldylox"))
        .current_dir(dir)
        .args(args)
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "goldylox {args:?} in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8(out.stdout).unwrap(), secs)
}

/// `goldylox serve` (the binary) on an ephemeral port; killed on drop.
struct Served {
    child: Child,
    port: u16,
}

impl Served {
    fn start(dir: &Path, bin: &Path) -> Served {
        let config = dir.join("serve.toml");
        let text = include_str!("../../../examples/goldylox.toml")
            .replace("127.0.0.1:6380", "127.0.0.1:0")
            .replace("level = \"info\"", "level = \"warn\"");
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new(bin.join("goldylox"))
            .current_dir(dir)
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        for line in stderr.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                port = Some(addr.rsplit(':').next().unwrap().parse().unwrap());
                break;
            }
        }
        Served {
            child,
            port: port.expect("goldylox serve printed its address"),
        }
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Swaps `component` into the running server's hot tier with `max_freq=2`
/// while a client writes and reads, and checks that the swap is visible
/// (INFO, STATUS) and that no command failed.
fn swap_under_traffic(served: &Served, component: &Path, name: &str) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let traffic = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        let mut c = served.client();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", i % 5_000);
                let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut c).unwrap();
                let got: Option<String> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
                assert_eq!(got, Some(i.to_string()), "{key}");
                i += 1;
                done.store(i, Ordering::Relaxed);
            }
        })
    };
    while done.load(Ordering::Relaxed) < 2_000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut c = served.client();
    let started = Instant::now();
    let reply: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("SWAP")
        .arg("hot")
        .arg(component.to_str().unwrap())
        .arg("max_freq=2")
        .query(&mut c)
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let before = done.load(Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < before + 2_000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("no command failed during the swap");
    let running = format!("{name}(max_freq=2)");
    assert!(reply[0].contains(&format!("-> {running}")), "{reply:?}");
    let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    assert!(
        info.contains(&format!("maxmemory_policy:{running}")),
        "{info}"
    );
    let status: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("STATUS")
        .query(&mut c)
        .unwrap();
    assert!(
        status[0].starts_with(&format!("hot: {running} ")),
        "{status:?}"
    );
    secs
}

/// One language, start to finish. Returns the seconds of each step.
fn newcomer(language: &str) -> Vec<(&'static str, f64)> {
    let root = scratch(&format!("newcomer-{language}"));
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(binary(), bin.join("goldylox")).unwrap();
    let name = format!("my-{language}");
    let project = root.join(&name);
    let mut steps = Vec::new();
    let (_, secs) = goldylox(&root, &bin, &["policy", "new", &name, "--lang", language]);
    steps.push(("new", secs));
    let (_, secs) = goldylox(&project, &bin, &["policy", "build"]);
    steps.push(("build", secs));
    let component = project.join(format!("{name}.wasm"));
    assert!(component.is_file());
    let file = component.to_str().unwrap();
    let (report, secs) = goldylox(
        &project,
        &bin,
        &["policy", "check", file, "--param", "max_freq=2"],
    );
    steps.push(("check", secs));
    assert!(report.contains("type-checks"), "{report}");
    assert!(report.contains("0 the host would reject"), "{report}");
    let (report, secs) = goldylox(&project, &bin, &["policy", "test"]);
    steps.push(("test", secs));
    assert!(
        report.contains("scenario \"a hit buys a second chance\" ... ok")
            && report.contains("built-in churn")
            && report.contains(" passed, 0 failed"),
        "{report}"
    );
    let oltp = repo().join("../shared/traces/moka-cache-trace/OLTP.lis.zst");
    if oltp.is_file() {
        let (table, secs) = goldylox(
            &project,
            &bin,
            &[
                "replay",
                "--trace",
                oltp.to_str().unwrap(),
                "--sizes",
                "1000",
                "--policies",
                &format!("builtin:clock,{file},opt"),
            ],
        );
        steps.push(("replay", secs));
        // The template is CLOCK: without parameters it decides like the
        // built-in one, so the two columns agree.
        let row = table
            .lines()
            .find(|l| l.starts_with("| 1000 "))
            .expect("a row");
        let cells: Vec<&str> = row
            .split('|')
            .map(|c| c.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(cells[2], cells[3], "{table}");
    } else {
        crate::skip("../shared/traces is absent (the replay step)");
    }
    let served = Served::start(&root, &bin);
    let secs = swap_under_traffic(&served, &component, &name);
    steps.push(("swap", secs));
    drop(served);
    println!(
        "newcomer {language}: {}; component {} bytes",
        steps
            .iter()
            .map(|(s, t)| format!("{s} {t:.2} s"))
            .collect::<Vec<_>>()
            .join(", "),
        std::fs::metadata(&component).unwrap().len()
    );
    let _ = std::fs::remove_dir_all(&root);
    steps
}

#[test]
fn a_newcomer_writes_builds_checks_replays_and_swaps_a_rust_policy() {
    if tool("cargo", "Rust policies build with cargo") {
        newcomer("rust");
    }
}

#[test]
fn a_newcomer_writes_builds_checks_replays_and_swaps_a_c_policy() {
    if tool("clang", "C policies build with clang and lld") {
        newcomer("c");
    }
}

#[test]
fn a_newcomer_writes_builds_checks_replays_and_swaps_a_python_policy() {
    if tool("componentize-py", "pip install componentize-py") {
        newcomer("python");
    }
}

#[test]
fn a_newcomer_writes_builds_checks_replays_and_swaps_a_javascript_policy() {
    if tool("npm", "componentize-js is installed with npm") {
        newcomer("js");
    }
}

/// Builds a copy of a shipped policy project under `policies/` (so that
/// the build leaves the repository untouched) and returns the component.
fn build_shipped(project: &str) -> PathBuf {
    let dir = scratch(&format!("shipped-{project}"));
    let source = repo().join("policies").join(project);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let out = dir.join(format!("{project}.wasm"));
    goldylox(
        &dir,
        binary().parent().unwrap(),
        &["policy", "build", "-o", out.to_str().unwrap()],
    );
    out
}

/// Drives both policies with the same random batches (weights up to 200,
/// some heavier than the capacity; hits, inserts, updates, removes) and
/// compares every `evict` answer.
pub(crate) fn assert_decide_alike(
    a: &mut dyn EvictionPolicy,
    b: &mut dyn EvictionPolicy,
    rounds: u32,
) -> usize {
    let mut x = 0x5eed_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    let mut compared = 0;
    for round in 0..rounds {
        let mut batch = goldylox::EventBatch::with_capacity(256);
        for _ in 0..256 {
            let r = next();
            let hash = (r >> 20) % 600 + 1;
            let weight = if r % 997 == 0 {
                6_000
            } else {
                (r % 200) as u32 + 1
            };
            let kind = match r % 10 {
                0..=3 => goldylox::EventKind::Hit,
                4..=6 => goldylox::EventKind::Insert,
                7 | 8 => goldylox::EventKind::Update,
                _ => goldylox::EventKind::Remove,
            };
            batch.push(kind, hash, weight);
        }
        a.apply(&batch).unwrap();
        b.apply(&batch).unwrap();
        let (max, need) = ((round % 7) * 40 + 1, u64::from(round % 5) * 300);
        va.clear();
        vb.clear();
        a.evict(max, need, &mut va).unwrap();
        b.evict(max, need, &mut vb).unwrap();
        assert_eq!(
            va,
            vb,
            "round {round}: {} and {} chose different victims",
            a.name(),
            b.name()
        );
        compared += va.len();
    }
    compared
}

fn twins(project: &str, twin: &str, tool_name: &str, why: &str) {
    if !tool(tool_name, why) {
        return;
    }
    let component = build_shipped(project);
    let loaded = Runtime::offline().unwrap().load_file(&component).unwrap();
    let mut guest = WasmPolicy::new(&loaded, 5_000, &[]).unwrap();
    let mut native = builtin(twin, &[]).unwrap().build(5_000).unwrap();
    let compared = assert_decide_alike(&mut guest, native.as_mut(), 300);
    println!("{project} = builtin:{twin} on {compared} victims over 300 batches");
    assert!(compared > 1_000);
    let _ = std::fs::remove_dir_all(component.parent().unwrap());
}

#[test]
fn the_python_lfuda_decides_exactly_like_its_rust_twin() {
    twins(
        "lfuda-py",
        "lfuda",
        "componentize-py",
        "pip install componentize-py",
    );
}

#[test]
fn the_javascript_gdsf_decides_exactly_like_its_rust_twin() {
    twins(
        "gdsf-js",
        "gdsf",
        "npm",
        "componentize-js is installed with npm",
    );
}

/// The prefetch and failover templates of `language` build and pass
/// `policy check` too.
fn other_worlds(language: &str) {
    let root = scratch(&format!("worlds-{language}"));
    let bin = binary().parent().unwrap();
    for world in ["prefetch", "failover"] {
        let name = format!("{world}-{language}");
        goldylox(
            &root,
            bin,
            &["policy", "new", &name, "--lang", language, "--world", world],
        );
        let project = root.join(&name);
        goldylox(&project, bin, &["policy", "build"]);
        let file = project.join(format!("{name}.wasm"));
        let (report, _) = goldylox(&project, bin, &["policy", "check", file.to_str().unwrap()]);
        assert!(report.contains(&format!("{world}-policy")), "{report}");
        assert!(report.contains("type-checks"), "{report}");
        let (report, _) = goldylox(&project, bin, &["policy", "test"]);
        assert!(
            report.contains(&format!(
                "built-in {world}-policy suite (policy check) ... ok"
            )),
            "{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_prefetch_and_failover_templates_build_and_check_in_every_language() {
    let mut ran = Vec::new();
    for (language, program, why) in [
        ("rust", "cargo", "Rust policies build with cargo"),
        ("c", "clang", "C policies build with clang and lld"),
        ("python", "componentize-py", "pip install componentize-py"),
        ("js", "npm", "componentize-js is installed with npm"),
    ] {
        if tool(program, why) {
            other_worlds(language);
            ran.push(language);
        }
    }
    println!("prefetch and failover templates built and checked in {ran:?}");
}

/// A core module, binary or text, is refused with the way to make it a
/// component, and `policy build MODULE --world` makes one.
#[test]
fn a_core_module_is_told_how_to_become_a_component() {
    let dir = scratch("core-module");
    let bin = binary().parent().unwrap();
    let wat = dir.join("core.wat");
    std::fs::write(&wat, ";; a core module\n(module (func (export \"x\")))\n").unwrap();
    let out = Command::new(binary())
        .args(["policy", "check", wat.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("core WebAssembly module, not a component"),
        "{stderr}"
    );
    assert!(stderr.contains("goldylox policy build"), "{stderr}");
    if !tool("clang", "C policies build with clang and lld") {
        return;
    }
    let module = dir.join("lru.core.wasm");
    let status = Command::new("clang")
        .args([
            "--target=wasm32-unknown-unknown",
            "-O2",
            "-nostdlib",
            "-ffreestanding",
            "-mbulk-memory",
            "-Wl,--no-entry",
            "-I",
        ])
        .arg(repo().join("policies/sdk-c"))
        .arg("-o")
        .arg(&module)
        .arg(repo().join("policies/lru-c/lru.c"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(binary())
        .args(["policy", "check", module.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy build"));
    let component = dir.join("lru.wasm");
    goldylox(
        &dir,
        bin,
        &[
            "policy",
            "build",
            module.to_str().unwrap(),
            "--world",
            "eviction",
            "-o",
            component.to_str().unwrap(),
        ],
    );
    let (report, _) = goldylox(&dir, bin, &["policy", "check", component.to_str().unwrap()]);
    assert!(report.contains("eviction-policy"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `GOLDYLOX_PERFMAP=1`, the compiled policy code is named in
/// `/tmp/perf-<pid>.map`, which `perf report` reads: how an author
/// profiles a component (docs/writing-a-policy.md).
#[test]
fn perfmap_names_the_compiled_policy_code_for_perf() {
    let config = repo().join("examples").join("goldylox.toml");
    let child = Command::new(binary())
        .env(goldylox_sandbox::PERFMAP_ENV, "1")
        .args(["serve", "--check-config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&map).unwrap_or_default();
    let _ = std::fs::remove_file(&map);
    // One line per function: start address, size, name.
    let guest = text.lines().filter(|l| l.contains("wasm[")).count();
    assert!(
        guest > 0,
        "no guest functions in {}:\n{text}",
        map.display()
    );
}
