//! `auto` in the host: components racing in sandboxes of their own (a
//! trapping or looping one is dropped from the race, never from the cache),
//! the server's configuration and what it reports, and `replay --policies
//! auto` against the candidates it races.

use std::sync::Arc;
use std::time::Duration;

use goldylox::{AutoConfig, Cache, Candidate, PolicyChoice, PolicyTier};
use goldylox_host::replay::{self, Contender};
use goldylox_host::server::config::Config;
use goldylox_sandbox::{Limits, Runtime, WasmFactory};

use super::animals::{Animal, TAME, wat};
use super::serve::TestServer;

#[test]
fn trapping_and_looping_components_leave_the_race_not_the_cache() {
    let limits = Limits {
        call_deadline_ticks: 5,
        max_memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::with(limits, None).unwrap();
    let component = |name: &str, animal: &Animal| {
        let loaded = runtime.load(name, wat(animal).as_bytes()).unwrap();
        Candidate::new(
            name,
            PolicyChoice::Custom(WasmFactory::new(loaded, Vec::new()).unwrap()),
        )
    };
    let trap = Animal {
        apply: "unreachable",
        ..TAME
    };
    let looping = Animal {
        apply: "(loop (br 0))",
        ..TAME
    };
    let config = AutoConfig::new(vec![
        Candidate::new("lru", PolicyChoice::Lru),
        component("trap", &trap),
        component("loop", &looping),
        Candidate::new("sieve", PolicyChoice::Sieve),
    ])
    .unwrap();
    let cache: Cache<u64, u64> = Cache::builder(2_000)
        .weigher(|_, _| 1)
        .policy(PolicyChoice::Auto(Arc::new(config)))
        .build()
        .unwrap();
    for k in 0..50_000u64 {
        let key = k % 3_000;
        match cache.get(&key) {
            Some(v) => assert_eq!(v, key + 1),
            None => cache.insert(key, key + 1).unwrap(),
        }
        assert!(cache.weighted_size() <= cache.bound());
    }
    cache.run_pending_tasks();
    let status = cache.policy_status(PolicyTier::Hot).unwrap();
    let auto = status.auto.clone().unwrap();
    let failure = |name: &str| {
        let c = auto.candidates.iter().find(|c| c.name == name).unwrap();
        c.failure.clone().unwrap_or_default()
    };
    assert!(failure("trap").contains("unreachable"), "{auto:?}");
    assert!(failure("loop").contains("deadline"), "{auto:?}");
    assert!(
        failure("lru").is_empty() && failure("sieve").is_empty(),
        "{auto:?}"
    );
    assert_eq!(
        status.failures, 0,
        "the live policy never failed: {status:?}"
    );
    assert!(auto.epochs > 0, "{auto:?}");
}

#[test]
fn an_unknown_candidate_is_refused_with_the_reason() {
    let runtime = Runtime::offline().unwrap();
    let mut config = Config::embedded();
    config.cache.policy = "auto".to_owned();
    config.cache.auto_candidates = vec!["builtin:lru".into(), "builtin:nope".into()];
    let Err(err) = goldylox_host::server::build_cache(&config, &runtime) else {
        panic!("an unknown candidate must be refused");
    };
    let text = format!("{err:#}");
    assert!(
        text.contains("cache.policy")
            && text.contains("builtin:nope")
            && text.contains("unknown built-in policy"),
        "{text}"
    );
    // Candidates without `auto` are a mistake too, not silently ignored.
    config.cache.policy = "builtin:lru".to_owned();
    let Err(err) = goldylox_host::server::build_cache(&config, &runtime) else {
        panic!("candidates without auto must be refused");
    };
    assert!(format!("{err:#}").contains("not \"auto\""), "{err:#}");
}

#[test]
fn the_server_reports_the_race_in_info_and_policy_status() {
    let server = TestServer::start(|c| {
        c.cache.memory_bytes = 200_000;
        c.cache.policy = "auto".to_owned();
        c.cache.auto_candidates = vec![
            "builtin:lru".into(),
            "wasm:s3fifo".into(),
            "builtin:sieve".into(),
        ];
    });
    let mut c = server.client();
    for i in 0..30_000u64 {
        let key = format!("k{}", (i * 7919) % 5_000);
        let got: Option<String> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
        if got.is_none() {
            let () = redis::cmd("SET").arg(&key).arg("v").query(&mut c).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let info: String = redis::cmd("INFO").arg("policies").query(&mut c).unwrap();
    for field in [
        "hot_auto_current:",
        "hot_auto_switches:",
        "hot_auto_sample_rate:",
        "hot_auto_shadow_hit_ratio_builtin_lru:",
        "hot_auto_shadow_hit_ratio_wasm_s3fifo:",
    ] {
        assert!(info.contains(field), "{field} missing from {info}");
    }
    let lines: Vec<String> = redis::cmd("GOLDYLOX")
        .arg("POLICY")
        .arg("STATUS")
        .query(&mut c)
        .unwrap();
    let text = lines.join("\n");
    assert!(text.contains("hot auto: current="), "{text}");
    assert!(text.contains("hot auto candidate wasm:s3fifo:"), "{text}");
    // INFO names the policy that runs, whichever the race chose.
    let memory: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
    let running = lines[0].split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        memory.contains(&format!("maxmemory_policy:{running}")),
        "{memory} / {text}"
    );
    // A swap to a fixed policy ends the race; `auto` with candidates starts
    // a new one.
    let reply: Vec<String> = redis::cmd("GOLDYLOX")
        .arg(&["POLICY", "SWAP", "hot", "builtin:arc"])
        .query(&mut c)
        .unwrap();
    assert!(reply[0].contains("-> arc"), "{reply:?}");
    let status: Vec<String> = redis::cmd("GOLDYLOX")
        .arg(&["POLICY", "STATUS"])
        .query(&mut c)
        .unwrap();
    assert!(!status.join("\n").contains("auto"), "{status:?}");
    let reply: Vec<String> = redis::cmd("GOLDYLOX")
        .arg(&[
            "POLICY",
            "SWAP",
            "hot",
            "auto",
            "builtin:sieve",
            "builtin:lru",
        ])
        .query(&mut c)
        .unwrap();
    assert!(reply[0].contains("-> sieve"), "{reply:?}");
}

#[test]
fn replayed_auto_stays_near_its_best_candidate() {
    // The embedded workload mixes a skewed hot set, a loop and a scan:
    // candidates differ widely. `auto` must end up within 1 pp of the best
    // of them and well ahead of the worst.
    let trace = replay::synthetic();
    let names = ["lru", "fifo", "s3fifo", "arc"];
    let auto = Contender::parse(&format!("auto:{}", names.join("+"))).unwrap();
    for size in [1_000u64, 4_000] {
        let n = trace.len() as f64;
        let ratios: Vec<f64> = names
            .iter()
            .map(|p| replay::hits(&Contender::parse(p).unwrap(), &trace, size).unwrap() as f64 / n)
            .collect();
        let best = ratios.iter().cloned().fold(0.0, f64::max);
        let worst = ratios.iter().cloned().fold(1.0, f64::min);
        let got = replay::hits(&auto, &trace, size).unwrap() as f64 / n;
        println!("size {size}: auto {got:.4}, best {best:.4}, worst {worst:.4}");
        assert!(got > best - 0.01, "size {size}: auto {got} vs best {best}");
        assert!(got > worst + (best - worst) / 2.0, "size {size}");
    }
}
