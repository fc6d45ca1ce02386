//! `CLUSTER …`, `ASKING`, `READONLY`, `READWRITE`: the Redis Cluster
//! commands clients and proxies use to learn the slot map, answered from
//! the static map of `[cluster]` ([`crate::server::cluster`]). Without
//! cluster mode they answer Redis's "cluster support disabled".

use bytes::BytesMut;

use super::{Ctx, lower, not_integer, parse_i64};
use crate::server::cluster::{ClusterMap, Node, slot};
use crate::server::resp::reply;

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// The epoch every node reports: the map is static, so it never changes.
const CONFIG_EPOCH: u64 = 1;

/// `CLUSTER <subcommand> …`.
pub(super) fn cluster(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let Some(map) = c.client.cluster.clone() else {
        return reply::error(c.out, DISABLED);
    };
    let sub = lower(&args[1]);
    let out = &mut *c.out;
    match (sub.as_str(), args.len()) {
        ("myid", 2) => reply::bulk(out, map.myself().id.as_bytes()),
        ("info", 2) => reply::bulk(out, info(&map).as_bytes()),
        ("nodes", 2) => reply::bulk(out, nodes(&map).as_bytes()),
        ("slots", 2) => slots(out, &map),
        ("shards", 2) => shards(out, &map),
        ("keyslot", 3) => reply::int(out, i64::from(slot::of(&args[2]))),
        ("countkeysinslot", 3) => match slot_arg(&args[2]) {
            Ok(s) => {
                let mut n = 0;
                c.store
                    .for_each_key(|k| n += usize::from(slot::of(&k) == s));
                reply::int(out, n as i64);
            }
            Err(e) => reply::error(out, e),
        },
        ("getkeysinslot", 4) => getkeysinslot(c, args),
        ("help", 2) => help(out),
        (
            "addslots" | "addslotsrange" | "delslots" | "delslotsrange" | "flushslots" | "failover"
            | "forget" | "meet" | "replicate" | "reset" | "setslot" | "set-config-epoch"
            | "bumpepoch" | "saveconfig",
            _,
        ) => reply::error(
            out,
            &format!(
                "ERR CLUSTER {} is not supported: the slot map is static; change [cluster] in the \
                 configuration and reload it",
                sub.to_ascii_uppercase()
            ),
        ),
        _ => reply::error(
            out,
            &format!(
                "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLUSTER HELP."
            ),
        ),
    }
}

/// `ASKING`, `READONLY`, `READWRITE`: accepted in cluster mode. There are
/// no migrations (so `ASKING` changes nothing) and no replicas (so reads
/// are served by the slot's owner either way, as on a Redis primary).
pub(super) fn accepted_in_cluster(c: &mut Ctx<'_>, _: &mut [Vec<u8>]) {
    if c.client.cluster.is_some() {
        reply::ok(c.out);
    } else {
        reply::error(c.out, DISABLED);
    }
}

/// A slot argument, with Redis's errors.
fn slot_arg(arg: &[u8]) -> Result<u16, &'static str> {
    match parse_i64(arg) {
        Some(s) if (0..i64::from(slot::SLOTS)).contains(&s) => Ok(s as u16),
        Some(_) => Err("ERR Invalid slot"),
        None => Err("ERR Invalid or out of range slot"),
    }
}

/// `CLUSTER GETKEYSINSLOT slot count`: up to `count` keys of the slot (a
/// scan of this node's keys; the cost is in the number of keys, not in the
/// slot's).
fn getkeysinslot(c: &mut Ctx<'_>, args: &[Vec<u8>]) {
    let s = match slot_arg(&args[2]) {
        Ok(s) => s,
        Err(e) => return reply::error(c.out, e),
    };
    let Some(count) = parse_i64(&args[3]).and_then(|n| usize::try_from(n).ok()) else {
        return match parse_i64(&args[3]) {
            Some(_) => reply::error(c.out, "ERR Invalid number of keys"),
            None => not_integer(c.out),
        };
    };
    let mut found = Vec::new();
    let mut cursor = 0;
    while found.len() < count {
        let (keys, next) = c.store.scan(cursor, 1024);
        found.extend(keys.into_iter().filter(|k| slot::of(k) == s));
        if next == 0 {
            break;
        }
        cursor = next;
    }
    found.truncate(count);
    reply::array(c.out, found.len());
    for k in &found {
        reply::bulk(c.out, k);
    }
}

/// `CLUSTER INFO`: Redis's fields. The map is complete by construction,
/// so the state is always `ok`; there is no bus, so no messages.
fn info(map: &ClusterMap) -> String {
    let known = map.nodes().len();
    let size = map.nodes().iter().filter(|n| n.slot_count() > 0).count();
    let slots = slot::SLOTS;
    format!(
        "cluster_state:ok\r\ncluster_slots_assigned:{slots}\r\ncluster_slots_ok:{slots}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known}\r\n\
         cluster_size:{size}\r\ncluster_current_epoch:{CONFIG_EPOCH}\r\n\
         cluster_my_epoch:{CONFIG_EPOCH}\r\ncluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    )
}

/// `CLUSTER NODES`: one line per node, in Redis's format. The bus port is
/// 0 (there is no bus); every node is a connected primary.
fn nodes(map: &ClusterMap) -> String {
    let mut text = String::new();
    for node in map.nodes() {
        let flags = if node.id == map.myself().id {
            "myself,master"
        } else {
            "master"
        };
        text.push_str(&format!(
            "{} {}@0 {flags} - 0 0 {CONFIG_EPOCH} connected",
            node.id,
            node.endpoint()
        ));
        for &(first, last) in &node.ranges {
            if first == last {
                text.push_str(&format!(" {first}"));
            } else {
                text.push_str(&format!(" {first}-{last}"));
            }
        }
        text.push('\n');
    }
    text
}

/// `CLUSTER SLOTS`: `[first, last, [host, port, id, {}]]` per range.
fn slots(out: &mut BytesMut, map: &ClusterMap) {
    let ranges: Vec<(u16, u16, &Node)> = map
        .nodes()
        .iter()
        .flat_map(|n| n.ranges.iter().map(move |&(a, b)| (a, b, n)))
        .collect();
    reply::array(out, ranges.len());
    for (first, last, node) in ranges {
        reply::array(out, 3);
        reply::int(out, i64::from(first));
        reply::int(out, i64::from(last));
        reply::array(out, 4);
        reply::bulk(out, node.host.as_bytes());
        reply::int(out, i64::from(node.port));
        reply::bulk(out, node.id.as_bytes());
        reply::map(out, 0);
    }
}

/// `CLUSTER SHARDS`: one shard per node (each its own primary).
fn shards(out: &mut BytesMut, map: &ClusterMap) {
    reply::array(out, map.nodes().len());
    for node in map.nodes() {
        reply::map(out, 2);
        reply::bulk(out, b"slots");
        reply::array(out, 2 * node.ranges.len());
        for &(first, last) in &node.ranges {
            reply::int(out, i64::from(first));
            reply::int(out, i64::from(last));
        }
        reply::bulk(out, b"nodes");
        reply::array(out, 1);
        reply::map(out, 7);
        for (name, value) in [
            ("id", node.id.as_str()),
            ("ip", node.host.as_str()),
            ("endpoint", node.host.as_str()),
            ("role", "master"),
            ("health", "online"),
        ] {
            reply::bulk(out, name.as_bytes());
            reply::bulk(out, value.as_bytes());
        }
        reply::bulk(out, b"port");
        reply::int(out, i64::from(node.port));
        reply::bulk(out, b"replication-offset");
        reply::int(out, 0);
    }
}

fn help(out: &mut BytesMut) {
    let lines = [
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by this node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node.",
        "SHARDS",
        "    Return information about slot range mappings and the nodes of each shard.",
        "SLOTS",
        "    Return information about slots range mappings.",
        "The slot map is static: change [cluster] in the configuration and reload it.",
    ];
    reply::array(out, lines.len());
    for line in lines {
        reply::simple(out, line);
    }
}
