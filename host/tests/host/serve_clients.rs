//! CLIENT LIST, INFO and KILL over real connections, and many writers
//! against a cache much smaller than what they write.

use std::time::Duration;

use crate::serve::TestServer;

fn list(c: &mut redis::Connection) -> Vec<String> {
    let text: String = redis::cmd("CLIENT").arg("LIST").query(c).unwrap();
    text.lines().map(str::to_owned).collect()
}

#[test]
fn clients_are_listed_named_and_killed() {
    let server = TestServer::start(|_| {});
    let mut a = server.client();
    let mut b = server.client();
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("alpha")
        .query(&mut a)
        .unwrap();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut b).unwrap();
    let lines = list(&mut a);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let alpha = lines.iter().find(|l| l.contains(" name=alpha ")).unwrap();
    assert!(
        alpha.contains("cmd=client") && alpha.contains("laddr="),
        "{alpha}"
    );
    let other = lines.iter().find(|l| !l.contains("name=alpha")).unwrap();
    assert!(other.contains("cmd=set"), "{other}");
    let b_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap();
    assert!(other.starts_with(&format!("id={b_id} ")), "{other}");

    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    assert!(
        info.contains(" name=alpha ") && info.ends_with('\n'),
        "{info}"
    );
    let only: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(b_id)
        .query(&mut a)
        .unwrap();
    assert_eq!(only.lines().count(), 1, "{only}");

    // KILL with filters answers how many; SKIPME (yes by default) spares
    // the caller.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(b_id)
        .query(&mut a)
        .unwrap();
    assert_eq!(killed, 1);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        redis::cmd("PING").query::<String>(&mut b).is_err(),
        "the killed connection is closed"
    );
    let none: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg("default")
        .query(&mut a)
        .unwrap();
    assert_eq!(none, 0, "only the caller is left, and SKIPME spares it");
    let err = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("127.0.0.1:1")
        .query::<()>(&mut a)
        .unwrap_err();
    assert_eq!(err.detail(), Some("No such client"), "{err:?}");
    assert_eq!(list(&mut a).len(), 1);
}

/// Eight connections write 100 MiB through a 1 MiB hot tier: every write
/// succeeds, the cache stays within its bound, and writes under pressure
/// awaited maintenance's pass (INFO `room_waits`) instead of blocking the
/// runtime worker that other connections share.
#[test]
fn writers_under_memory_pressure_await_room_and_all_succeed() {
    const WRITERS: usize = 8;
    const BATCHES: usize = 20;
    const PIPELINE: usize = 10;
    let server = TestServer::start(|c| c.cache.memory_bytes = 1 << 20);
    let value = vec![b'v'; 64 << 10];
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let mut c = server.client();
            let value = &value;
            scope.spawn(move || {
                for b in 0..BATCHES {
                    let mut pipe = redis::pipe();
                    for i in 0..PIPELINE {
                        pipe.cmd("SET").arg(format!("w{w}:{b}:{i}")).arg(value);
                    }
                    let replies: Vec<String> = pipe.query(&mut c).unwrap();
                    assert!(replies.iter().all(|r| r == "OK"), "{replies:?}");
                }
            });
        }
    });
    let mut c = server.client();
    let stat = |c: &mut redis::Connection, name| crate::serve_default::info_field(c, name);
    assert!(stat(&mut c, "room_waits") > 0);
    assert!(stat(&mut c, "evicted_keys") > 0);
    let keys: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    // 1 MiB and its slack hold at most 17 entries of 64 KiB.
    assert!(keys <= 17, "{keys} keys resident");
}
