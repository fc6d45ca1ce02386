//! Pub/sub, keyspace notifications and client-side caching through the
//! server, over raw RESP so that every push frame is seen as sent: a slow
//! subscriber is cut off at its limit, `expired` fires for a key whose time
//! ran out below the hot tier, and a tracked key is invalidated when it is
//! written, deleted, evicted or flushed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::serve::{TestServer, cmd};

/// One RESP value, as the test reads it.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    /// An array (`*`), a set (`~`) or a map (`%`, flattened).
    Array(Vec<Frame>),
    /// A RESP3 push (`>`).
    Push(Vec<Frame>),
    Null,
}

struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(server: &TestServer) -> Raw {
        let s = server.raw();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer.write_all(out.as_bytes()).unwrap();
    }

    fn call(&mut self, args: &[&str]) -> Frame {
        self.send(args);
        self.read()
    }

    fn read(&mut self) -> Frame {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        let n = || rest.parse::<i64>().unwrap();
        match kind {
            "+" => Frame::Simple(rest.to_owned()),
            "-" => Frame::Error(rest.to_owned()),
            ":" => Frame::Int(n()),
            "_" => Frame::Null,
            "$" if n() < 0 => Frame::Bulk(None),
            "$" => {
                let mut buf = vec![0; n() as usize + 2];
                self.reader.read_exact(&mut buf).unwrap();
                buf.truncate(buf.len() - 2);
                Frame::Bulk(Some(String::from_utf8(buf).unwrap()))
            }
            "*" if n() < 0 => Frame::Null,
            "*" | "~" => Frame::Array((0..n()).map(|_| self.read()).collect()),
            "%" => Frame::Array((0..2 * n()).map(|_| self.read()).collect()),
            ">" => Frame::Push((0..n()).map(|_| self.read()).collect()),
            other => panic!("unexpected frame {other}{rest}"),
        }
    }

    /// Reads frames until one is a push (or, in RESP2, an array starting
    /// with `kind`), within `within`.
    fn next_message(&mut self, within: Duration) -> Option<Vec<Frame>> {
        self.writer.set_read_timeout(Some(within)).unwrap();
        self.reader
            .get_ref()
            .set_read_timeout(Some(within))
            .unwrap();
        let mut line = [0u8; 1];
        if self.reader.get_mut().peek(&mut line).is_err() && self.reader.buffer().is_empty() {
            return None;
        }
        match self.read() {
            Frame::Push(items) | Frame::Array(items) => Some(items),
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Some(s.to_owned()))
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers_in_both_protocols() {
    let server = TestServer::start(|_| {});
    let mut resp2 = Raw::connect(&server);
    assert_eq!(
        resp2.call(&["SUBSCRIBE", "news"]),
        Frame::Array(vec![bulk("subscribe"), bulk("news"), Frame::Int(1)])
    );
    assert_eq!(
        resp2.call(&["PSUBSCRIBE", "n*"]),
        Frame::Array(vec![bulk("psubscribe"), bulk("n*"), Frame::Int(2)])
    );
    // Subscribed RESP2 connections run only the pub/sub commands and PING.
    assert!(
        matches!(resp2.call(&["GET", "x"]), Frame::Error(e) if e.contains("only (P|S)SUBSCRIBE"))
    );
    assert_eq!(
        resp2.call(&["PING"]),
        Frame::Array(vec![bulk("pong"), bulk("")])
    );
    let mut resp3 = Raw::connect(&server);
    assert!(matches!(resp3.call(&["HELLO", "3"]), Frame::Array(_)));
    assert!(matches!(resp3.call(&["SUBSCRIBE", "news"]), Frame::Push(_)));
    assert_eq!(
        resp3.call(&["SET", "x", "1"]),
        Frame::Simple("OK".into()),
        "RESP3 subscribers run anything"
    );
    let mut publisher = server.client();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(receivers, 3, "a channel subscription each, and a pattern");
    let m = resp2.next_message(Duration::from_secs(5)).unwrap();
    let p = resp2.next_message(Duration::from_secs(5)).unwrap();
    let mut got = [m, p];
    got.sort_by_key(|m| m.len());
    assert_eq!(got[0], vec![bulk("message"), bulk("news"), bulk("hello")]);
    assert_eq!(
        got[1],
        vec![bulk("pmessage"), bulk("n*"), bulk("news"), bulk("hello")]
    );
    assert_eq!(
        resp3.next_message(Duration::from_secs(5)).unwrap(),
        vec![bulk("message"), bulk("news"), bulk("hello")]
    );
    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(numsub.len(), 2);
    assert_eq!(numsub[1], redis::Value::Int(2));
    drop(resp2);
    drop(resp3);
    // Closed connections leave the registry.
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let n: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("news")
            .query(&mut publisher)
            .unwrap();
        n[1] == redis::Value::Int(0)
    });
    assert!(gone, "subscriptions of closed connections are removed");
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off_and_counted() {
    let server = TestServer::start(|config| {
        config.server.pubsub_hard_bytes = 1 << 20;
    });
    let mut sleeper = Raw::connect(&server);
    sleeper.call(&["SUBSCRIBE", "firehose"]);
    let mut publisher = server.client();
    let payload = "p".repeat(64 << 10);
    // 64 MiB offered to a subscriber that reads none of it.
    for _ in 0..1_000 {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("firehose")
            .arg(&payload)
            .query(&mut publisher)
            .unwrap();
    }
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut publisher)
        .unwrap();
    let cut: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("client_output_buffer_limit_disconnections:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(cut, 1, "{info}");
    assert_eq!(
        cmd(&mut publisher, &["PING"]).unwrap(),
        redis::Value::SimpleString("PONG".into())
    );
    let used: u64 = redis::cmd("INFO")
        .arg("memory")
        .query::<String>(&mut publisher)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("used_memory_rss:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    assert!(
        used < 1 << 30,
        "the server did not keep 64 MiB per message: rss {used}"
    );
}

#[test]
fn keyspace_events_fire_for_changes_and_for_expiry_below_the_hot_tier() {
    let server = TestServer::start(|config| {
        config.server.notify_keyspace_events = "KEAn".into();
        config.cache.memory_bytes = 1 << 20;
        config.cache.warm_bytes = 4 << 20;
    });
    // Only these two keys' channels: a subscriber that the test does not
    // read while it writes must not fall behind (and be dropped).
    let mut sub = Raw::connect(&server);
    sub.call(&[
        "SUBSCRIBE",
        "__keyspace@0__:doomed",
        "__keyspace@0__:never-existed",
    ]);
    sub.read();
    let mut c = server.client();
    cmd(&mut c, &["SET", "doomed", "v", "PX", "3000"]).unwrap();
    cmd(&mut c, &["DEL", "never-existed"]).unwrap();
    // Push "doomed" down to the warm tier before its time runs out.
    let filler = "x".repeat(1000);
    for i in 0..3_000 {
        cmd(&mut c, &["SET", &format!("filler:{i}"), &filler]).unwrap();
    }
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(m) = sub.next_message(Duration::from_secs(1)) else {
            continue;
        };
        let (Frame::Bulk(Some(channel)), Frame::Bulk(Some(event))) = (&m[1], &m[2]) else {
            panic!("{m:?}")
        };
        assert_eq!(
            channel, "__keyspace@0__:doomed",
            "a DEL that deleted nothing raises nothing"
        );
        events.push(event.clone());
        if event == "expired" {
            break;
        }
    }
    assert_eq!(events, ["new", "set", "expire", "expired"]);
}

#[test]
fn a_tracked_key_is_invalidated_on_every_change() {
    let server = TestServer::start(|config| {
        config.cache.memory_bytes = 1 << 20;
    });
    let mut tracker = Raw::connect(&server);
    tracker.call(&["HELLO", "3"]);
    assert_eq!(
        tracker.call(&["CLIENT", "TRACKING", "ON"]),
        Frame::Simple("OK".into())
    );
    let mut writer = server.client();
    let read = |tracker: &mut Raw, key: &str, writer: &mut redis::Connection, set: &[&str]| {
        cmd(writer, set).unwrap();
        assert_eq!(tracker.call(&["GET", key]), bulk("v"));
    };
    let invalidated = |tracker: &mut Raw| {
        tracker
            .next_message(Duration::from_secs(20))
            .expect("an invalidation")
    };
    let keys = |names: &[&str]| {
        vec![
            bulk("invalidate"),
            Frame::Array(names.iter().map(|k| bulk(k)).collect()),
        ]
    };
    read(&mut tracker, "a", &mut writer, &["SET", "a", "v"]);
    cmd(&mut writer, &["SET", "a", "w"]).unwrap();
    assert_eq!(invalidated(&mut tracker), keys(&["a"]), "written");
    read(&mut tracker, "b", &mut writer, &["SET", "b", "v"]);
    cmd(&mut writer, &["DEL", "b"]).unwrap();
    assert_eq!(invalidated(&mut tracker), keys(&["b"]), "deleted");
    read(
        &mut tracker,
        "c",
        &mut writer,
        &["SET", "c", "v", "PX", "200"],
    );
    assert_eq!(
        invalidated(&mut tracker),
        keys(&["c"]),
        "expired, with no command"
    );
    read(&mut tracker, "e", &mut writer, &["SET", "e", "v"]);
    let filler = "x".repeat(1000);
    for i in 0..3_000 {
        cmd(&mut writer, &["SET", &format!("filler:{i}"), &filler]).unwrap();
    }
    assert_eq!(
        invalidated(&mut tracker),
        keys(&["e"]),
        "evicted from the last tier"
    );
    read(&mut tracker, "f", &mut writer, &["SET", "f", "v"]);
    cmd(&mut writer, &["FLUSHALL"]).unwrap();
    assert_eq!(
        invalidated(&mut tracker),
        vec![bulk("invalidate"), Frame::Null],
        "flushed"
    );
    // A key read once is told once: reading again re-arms it.
    cmd(&mut writer, &["SET", "g", "v"]).unwrap();
    cmd(&mut writer, &["SET", "g", "w"]).unwrap();
    assert_eq!(
        tracker.next_message(Duration::from_millis(300)),
        None,
        "g was never read"
    );
}

#[test]
fn tracking_redirects_to_a_resp2_subscriber_and_the_table_is_bounded() {
    let server = TestServer::start(|config| {
        config.server.tracking_table_max_keys = 100;
    });
    let mut listener = Raw::connect(&server);
    let Frame::Int(id) = listener.call(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    listener.call(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut reader = server.client();
    let tracking = cmd(
        &mut reader,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", &id.to_string()],
    );
    assert_eq!(tracking.unwrap(), redis::Value::Okay);
    assert_eq!(
        cmd(&mut reader, &["CLIENT", "GETREDIR"]).unwrap(),
        redis::Value::Int(id)
    );
    // 300 keys read into a table of 100: 200 are forgotten, and told so.
    for i in 0..300 {
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut reader)
            .unwrap();
    }
    let mut told = 0;
    while let Some(m) = listener.next_message(Duration::from_millis(500)) {
        assert_eq!(m[1], bulk("__redis__:invalidate"));
        let Frame::Array(keys) = &m[2] else {
            panic!("{m:?}")
        };
        told += keys.len();
    }
    assert_eq!(told, 200, "every key forgotten was invalidated");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut reader).unwrap();
    assert!(info.contains("tracking_total_keys:100"), "{info}");
}
