//! `GOLDYLOX TRACE`: a live capture of a real client's workload, finished
//! and replayed — the replay's infinite cache must see exactly the hits the
//! server reported — plus the `[capture]` section and the refusals.

use goldylox_host::replay::{self, Requests};
use goldylox_host::server::capture::CaptureSection;
use goldylox_host::trace::{self, TraceOp};
use redis::Value;

use super::serve::{TestServer, cmd, err_text};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gx-serve-capture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(c: &mut redis::Connection, args: &[&str]) -> String {
    let all: Vec<String> = redis::cmd(args[0])
        .arg(&args[1..])
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    all.join("\n")
}

fn info_field(c: &mut redis::Connection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

/// A cache-aside client over a skewed key space: GET, and SET on a miss
/// (some with a TTL); now and then a DEL.
fn cache_aside(c: &mut redis::Connection, requests: u64) {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..requests {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Squared-uniform skew over 2 000 keys.
        let u = (x % 1000) as f64 / 1000.0;
        let key = format!("user:{}", (u * u * 2000.0) as u64);
        if i % 50 == 49 {
            let _: i64 = redis::cmd("DEL").arg(&key).query(c).unwrap();
            continue;
        }
        let got: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(c).unwrap();
        if got.is_none() {
            let value = vec![b'v'; 20 + (x % 300) as usize];
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value);
            if i % 3 == 0 {
                set.arg("EX").arg(1000);
            }
            let () = set.query(c).unwrap();
        }
    }
}

#[test]
fn a_captured_workload_replays_to_the_hits_the_server_reported() {
    let d = dir("replay");
    let path = d.join("live.oracleSysTwrNS.bin");
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    assert_eq!(
        lines(&mut c, &["GOLDYLOX", "TRACE", "STATUS"]),
        "capture: off"
    );
    let started = lines(
        &mut c,
        &["GOLDYLOX", "TRACE", "START", "FILE", path.to_str().unwrap()],
    );
    assert!(started.contains("capturing to"), "{started}");
    cache_aside(&mut c, 6000);
    let status = lines(&mut c, &["GOLDYLOX", "TRACE", "STATUS"]);
    assert!(
        status.contains("capture: on") && status.contains("dropped=0"),
        "{status}"
    );
    assert_eq!(info_field(&mut c, "capture_active"), 1);
    assert!(info_field(&mut c, "capture_records") > 6000);
    let (hits, misses) = (
        info_field(&mut c, "keyspace_hits"),
        info_field(&mut c, "keyspace_misses"),
    );
    let stopped = lines(&mut c, &["GOLDYLOX", "TRACE", "STOP"]);
    assert!(stopped.contains("dropped=0 truncated=0"), "{stopped}");
    assert!(
        stopped.contains("replay it: goldylox replay --trace"),
        "{stopped}"
    );
    assert_eq!(info_field(&mut c, "capture_active"), 0);

    let t = trace::load(&path, None, None).unwrap();
    assert_eq!(t.reads() as u64, hits + misses, "every GET was recorded");
    let ops = t.ops.as_deref().unwrap();
    assert_eq!(
        ops.iter().filter(|&&o| o == TraceOp::Delete).count(),
        6000 / 50
    );
    assert_eq!(
        ops.iter().filter(|&&o| o == TraceOp::Set).count() as u64,
        misses
    );
    let requests = Requests {
        keys: &t.keys,
        weights: t.sizes.as_deref(),
        sizes: t.sizes.as_deref(),
        ops: t.ops.as_deref(),
    };
    let infinite = replay::infinite(requests);
    assert_eq!(
        infinite.hits, hits,
        "the live cache held everything: the same hits"
    );
    let lru = replay::Contender::parse("builtin:lru").unwrap();
    let progress = replay::Progress::silent();
    let roomy = replay::measure(&lru, requests, 64 << 20, &progress).unwrap();
    assert_eq!(roomy.hits, hits, "LRU with room for all replays the same");
    let tight = replay::measure(&lru, requests, 16 << 10, &progress).unwrap();
    let opt = replay::opt(requests, 16 << 10);
    assert!(
        tight.hits < hits && tight.hits <= opt.hits,
        "{tight:?} {opt:?} {hits}"
    );

    // The records themselves: a third of the sets carried EX 1000.
    let records = goldylox::capture::file::read(&std::fs::read(&path).unwrap()).unwrap();
    let ttls = records.iter().filter(|r| r.ttl > 0).count();
    assert!(
        ttls > 0
            && records
                .iter()
                .all(|r| r.ttl == 0 || (999..=1000).contains(&r.ttl))
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_trace_commands_are_refused_and_leave_the_capture_alone() {
    let d = dir("refused");
    let server = TestServer::start(|_| {});
    let mut c = server.client();
    let e = err_text(cmd(&mut c, &["GOLDYLOX", "TRACE", "STOP"]));
    assert!(e.contains("no capture is running"), "{e}");
    let e = err_text(cmd(&mut c, &["GOLDYLOX", "TRACE", "START", "RATE", "2"]));
    assert!(e.contains("sample rate"), "{e}");
    let e = err_text(cmd(&mut c, &["GOLDYLOX", "TRACE", "START", "RATE"]));
    assert!(e.contains("needs a value"), "{e}");
    let e = err_text(cmd(&mut c, &["GOLDYLOX", "TRACE", "START", "SPEED", "1"]));
    assert!(e.contains("unknown TRACE START option"), "{e}");
    let bad = d.join("no/such/dir/x.bin");
    let e = err_text(cmd(
        &mut c,
        &["GOLDYLOX", "TRACE", "START", "FILE", bad.to_str().unwrap()],
    ));
    assert!(e.contains("cannot create"), "{e}");
    assert_eq!(
        lines(&mut c, &["GOLDYLOX", "TRACE", "STATUS"]),
        "capture: off"
    );

    let one = d.join("one.bin");
    let two = d.join("two.bin");
    lines(
        &mut c,
        &[
            "GOLDYLOX",
            "TRACE",
            "START",
            "RATE",
            "0.5",
            "MAXBYTES",
            "1KiB",
            "FILE",
            one.to_str().unwrap(),
        ],
    );
    let e = err_text(cmd(
        &mut c,
        &["GOLDYLOX", "TRACE", "START", "FILE", two.to_str().unwrap()],
    ));
    assert!(e.contains("already running"), "{e}");
    for k in 0..400 {
        let _: Value = cmd(&mut c, &["SET", &format!("k{k}"), "v"]).unwrap();
    }
    let stopped = lines(&mut c, &["GOLDYLOX", "TRACE", "STOP"]);
    assert!(
        stopped.contains("records=30 "),
        "1 KiB holds 30 records: {stopped}"
    );
    assert_eq!(std::fs::metadata(&one).unwrap().len(), 30 * 34);
    assert!(!two.exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_capture_section_starts_with_the_server_and_stopping_finishes_it() {
    let d = dir("section");
    let path = d.join("boot.oracleSysTwrNS.bin");
    let section = CaptureSection {
        file: path.clone(),
        rate: 1.0,
        max_bytes: 1 << 20,
    };
    let server = TestServer::start(move |config| config.capture = Some(section));
    let mut c = server.client();
    let status = lines(&mut c, &["GOLDYLOX", "TRACE", "STATUS"]);
    assert!(status.contains("capture: on"), "{status}");
    let _: Value = cmd(&mut c, &["SET", "a", "1"]).unwrap();
    let _: Value = cmd(&mut c, &["GET", "a"]).unwrap();
    drop(c);
    drop(server); // a stopping server finishes the file
    let t = trace::load(&path, None, None).unwrap();
    assert_eq!(t.ops.as_deref(), Some(&[TraceOp::Set, TraceOp::Get][..]));
    std::fs::remove_dir_all(&d).unwrap();
}
