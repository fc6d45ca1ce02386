//! Cluster mode: this node is one of several that share Redis Cluster's
//! 16,384 key slots by a static map (`[cluster]` in the configuration).
//!
//! There is no cluster bus, no gossip and no failover: every node reads the
//! same map, checked on load (every slot owned by exactly one node), and a
//! reload changes it. A command whose keys hash to a slot another node owns
//! gets `-MOVED <slot> <host>:<port>`, one whose keys span slots gets
//! `-CROSSSLOT`, so cluster-aware clients (`redis-cli -c`, redis-py's
//! `RedisCluster`, the `redis` crate's cluster client, `redis-benchmark
//! --cluster`) route by themselves. Resharding is a change of the map: a
//! slot that moves arrives empty at its new owner (it is a cache; nothing is
//! migrated), and the node it left removes that slot's keys in the
//! background, so a slot that later comes back never serves a stale value.

pub mod slot;

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use slot::SLOTS;

/// `[cluster]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Whether cluster mode is on (true when the section is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The name of this node among `nodes` (`goldylox serve --node NAME`
    /// wins, so one file can serve every node).
    #[serde(default)]
    pub myself: Option<String>,
    /// Every node of the cluster, this one included.
    pub nodes: Vec<NodeConfig>,
    /// The checked map, made by [`ClusterConfig::check`].
    #[serde(skip)]
    pub map: Option<Arc<ClusterMap>>,
}

fn yes() -> bool {
    true
}

/// `[[cluster.nodes]]`: one node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A name unique in the cluster.
    pub name: String,
    /// Its 40-hex-digit node ID (default: derived from the name, so every
    /// node computes the same one).
    #[serde(default)]
    pub id: Option<String>,
    /// Where clients reach it, `host:port` (what `-MOVED` and `CLUSTER
    /// SLOTS` tell them; it may differ from the node's `server.listen`,
    /// e.g. a public address for a wildcard bind).
    pub address: String,
    /// The slots it owns: `"0-5460"`, `"5461"`, …
    pub slots: Vec<String>,
}

/// One node of a checked map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its name in the configuration.
    pub name: String,
    /// Its node ID: 40 lower-case hex digits.
    pub id: String,
    /// The host clients connect to.
    pub host: String,
    /// The port clients connect to.
    pub port: u16,
    /// The slot ranges it owns, inclusive, in ascending order.
    pub ranges: Vec<(u16, u16)>,
}

impl Node {
    /// `host:port`, bracketing an IPv6 host, as `-MOVED` names it.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// How many slots it owns.
    pub fn slot_count(&self) -> usize {
        self.ranges
            .iter()
            .map(|&(a, b)| usize::from(b - a) + 1)
            .sum()
    }
}

/// A checked slot map: every slot has exactly one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMap {
    nodes: Vec<Node>,
    /// Slot → index into `nodes`.
    owner: Box<[u16]>,
    myself: usize,
}

/// Why a command may not run on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The keys' slot belongs to another node.
    Moved {
        /// The slot.
        slot: u16,
        /// The owner's `host:port`.
        endpoint: String,
    },
    /// The keys hash to different slots.
    CrossSlot,
}

impl Redirect {
    /// The error reply, as Redis words it.
    pub fn message(&self) -> String {
        match self {
            Redirect::Moved { slot, endpoint } => format!("MOVED {slot} {endpoint}"),
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
        }
    }
}

impl ClusterMap {
    /// Checks `config` and builds its map for the node named `myself`.
    pub fn build(config: &ClusterConfig) -> Result<ClusterMap> {
        ensure!(!config.nodes.is_empty(), "cluster.nodes names no node");
        ensure!(
            config.nodes.len() < usize::from(u16::MAX),
            "cluster.nodes names too many nodes"
        );
        let mut names = HashSet::new();
        let mut endpoints = HashSet::new();
        let mut ids = HashSet::new();
        let mut owner = vec![u16::MAX; usize::from(SLOTS)];
        let mut nodes = Vec::with_capacity(config.nodes.len());
        for (index, n) in config.nodes.iter().enumerate() {
            let node = node(n).with_context(|| format!("cluster node {:?}", n.name))?;
            ensure!(
                names.insert(node.name.clone()),
                "two nodes are named {:?}",
                node.name
            );
            ensure!(
                ids.insert(node.id.clone()),
                "two nodes have the ID {}",
                node.id
            );
            ensure!(
                endpoints.insert(node.endpoint()),
                "two nodes have the address {}",
                node.endpoint()
            );
            for &(first, last) in &node.ranges {
                for s in first..=last {
                    let previous = owner[usize::from(s)];
                    if previous != u16::MAX {
                        let other = &config.nodes[usize::from(previous)].name;
                        bail!("slot {s} is given to both {other:?} and {:?}", node.name);
                    }
                    owner[usize::from(s)] = index as u16;
                }
            }
            nodes.push(node);
        }
        if let Some(first) = owner.iter().position(|&o| o == u16::MAX) {
            let gap = owner[first..]
                .iter()
                .take_while(|&&o| o == u16::MAX)
                .count();
            bail!(
                "slots {first}-{} have no node (every slot 0-{} needs exactly one)",
                first + gap - 1,
                SLOTS - 1
            );
        }
        let Some(me) = &config.myself else {
            bail!("cluster.myself must name this node (or start with --node NAME)");
        };
        let Some(myself) = nodes.iter().position(|n| &n.name == me) else {
            bail!("cluster.myself is {me:?}, which is not one of cluster.nodes");
        };
        Ok(ClusterMap {
            nodes,
            owner: owner.into_boxed_slice(),
            myself,
        })
    }

    /// Every node, in the configuration's order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// This node.
    pub fn myself(&self) -> &Node {
        &self.nodes[self.myself]
    }

    /// The node that owns `slot`.
    pub fn owner(&self, slot: u16) -> &Node {
        &self.nodes[usize::from(self.owner[usize::from(slot)])]
    }

    /// Whether this node owns `slot`.
    pub fn is_mine(&self, slot: u16) -> bool {
        usize::from(self.owner[usize::from(slot)]) == self.myself
    }

    /// Whether a command on `keys` runs here, as Redis decides it: all keys
    /// in one slot, and that slot this node's.
    pub fn route<'k>(&self, mut keys: impl Iterator<Item = &'k [u8]>) -> Result<(), Redirect> {
        let Some(first) = keys.next() else {
            return Ok(());
        };
        let slot = slot::of(first);
        if keys.any(|k| slot::of(k) != slot) {
            return Err(Redirect::CrossSlot);
        }
        if self.is_mine(slot) {
            Ok(())
        } else {
            Err(Redirect::Moved {
                slot,
                endpoint: self.owner(slot).endpoint(),
            })
        }
    }
}

impl ClusterConfig {
    /// Checks the section and builds its map (kept in `map`).
    pub fn check(&mut self) -> Result<()> {
        self.map = if self.enabled {
            Some(Arc::new(ClusterMap::build(self).context("[cluster]")?))
        } else {
            None
        };
        Ok(())
    }
}

/// Checks one node's entry.
fn node(n: &NodeConfig) -> Result<Node> {
    ensure!(!n.name.is_empty(), "a node needs a name");
    ensure!(
        !n.name.contains(char::is_whitespace),
        "a node name has no spaces"
    );
    let (host, port) = n
        .address
        .rsplit_once(':')
        .with_context(|| format!("address {:?} is not host:port", n.address))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ensure!(!host.is_empty(), "address {:?} has no host", n.address);
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .with_context(|| format!("address {:?} has no valid port", n.address))?;
    let id = match &n.id {
        Some(id) => {
            ensure!(
                id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "id {id:?} is not 40 hex digits"
            );
            id.to_ascii_lowercase()
        }
        None => derived_id(&n.name),
    };
    let mut ranges = n
        .slots
        .iter()
        .map(|r| slot_range(r))
        .collect::<Result<Vec<_>>>()?;
    ranges.sort_unstable();
    Ok(Node {
        name: n.name.clone(),
        id,
        host: host.to_owned(),
        port,
        ranges,
    })
}

/// `"a-b"` or `"a"`: an inclusive slot range.
fn slot_range(text: &str) -> Result<(u16, u16)> {
    let parse = |s: &str| -> Result<u16> {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|&n| n < SLOTS)
            .with_context(|| format!("{s:?} is not a slot (0-{})", SLOTS - 1))
    };
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(text)?, parse(text)?),
    };
    ensure!(first <= last, "slot range {text:?} runs backwards");
    Ok((first, last))
}

/// A node ID from a name: five 32-bit words of a salted FNV-1a hash of the
/// name, each mixed by SplitMix64's finaliser, so every node derives the
/// same ID and similar names get unrelated ones.
pub fn derived_id(name: &str) -> String {
    let fnv = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (1u64..=5)
        .map(|salt| {
            let mut z = fnv.wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("{:08x}", (z ^ (z >> 31)) as u32)
        })
        .collect()
}

/// Removes, on a thread of its own, every key whose slot `map` gives to
/// another node: what a node keeps of a slot it no longer owns could be
/// stale if the slot came back. Writes to a slot that returns while the
/// purge runs may be removed too, which costs misses, never wrong values.
pub fn purge_in_background(store: super::value::Store, map: Arc<ClusterMap>) {
    let spawned = std::thread::Builder::new()
        .name("goldylox-cluster-purge".into())
        .spawn(move || {
            let removed = purge(&store, &map);
            if removed > 0 {
                log::info!("cluster: removed {removed} keys of slots other nodes own");
            }
        });
    if let Err(e) = spawned {
        log::error!("cluster: cannot start the purge of foreign slots: {e}");
    }
}

/// Removes every key whose slot `map` gives to another node; returns how
/// many it removed.
pub fn purge(store: &super::value::Store, map: &ClusterMap) -> usize {
    let mut foreign = Vec::new();
    store.for_each_key(|k| {
        if !map.is_mine(slot::of(&k)) {
            foreign.push(k);
        }
    });
    foreign
        .iter()
        .filter(|k| store.remove(k.as_slice()).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(nodes: &[(&str, &str, &[&str])], myself: &str) -> ClusterConfig {
        ClusterConfig {
            enabled: true,
            myself: Some(myself.to_owned()),
            nodes: nodes
                .iter()
                .map(|(name, address, slots)| NodeConfig {
                    name: (*name).to_owned(),
                    id: None,
                    address: (*address).to_owned(),
                    slots: slots.iter().map(|s| (*s).to_owned()).collect(),
                })
                .collect(),
            map: None,
        }
    }

    fn three(myself: &str) -> ClusterConfig {
        config(
            &[
                ("a", "127.0.0.1:7001", &["0-5460"]),
                ("b", "127.0.0.1:7002", &["5461-10922"]),
                ("c", "[::1]:7003", &["10923-16383"]),
            ],
            myself,
        )
    }

    #[test]
    fn a_full_map_routes_by_slot() {
        let map = ClusterMap::build(&three("a")).unwrap();
        assert_eq!(map.myself().name, "a");
        assert_eq!(map.myself().slot_count(), 5461);
        assert!(map.route([&b"bar"[..]].into_iter()).is_ok()); // slot 5061
        assert_eq!(
            map.route([&b"foo"[..]].into_iter()),
            Err(Redirect::Moved {
                slot: 12182,
                endpoint: "[::1]:7003".into()
            })
        );
        assert_eq!(
            map.route([&b"foo"[..], b"bar"].into_iter()),
            Err(Redirect::CrossSlot)
        );
        assert!(map.route([&b"{bar}1"[..], b"{bar}2"].into_iter()).is_ok());
        assert!(map.route(std::iter::empty()).is_ok());
        assert_eq!(map.myself().id.len(), 40);
        assert_ne!(map.nodes()[0].id, map.nodes()[1].id);
    }

    #[test]
    fn bad_maps_are_refused_with_the_reason() {
        let err = |c: ClusterConfig| format!("{:#}", ClusterMap::build(&c).unwrap_err());
        let gap = config(
            &[("a", "h:1", &["0-100"]), ("b", "h:2", &["200-16383"])],
            "a",
        );
        assert!(err(gap).contains("slots 101-199 have no node"));
        let twice = config(&[("a", "h:1", &["0-16383"]), ("b", "h:2", &["7"])], "a");
        assert!(err(twice).contains("slot 7 is given to both \"a\" and \"b\""));
        let stranger = three("d");
        assert!(err(stranger).contains("not one of cluster.nodes"));
        let backwards = config(&[("a", "h:1", &["16383-0"])], "a");
        assert!(err(backwards).contains("runs backwards"));
        let beyond = config(&[("a", "h:1", &["0-16384"])], "a");
        assert!(err(beyond).contains("is not a slot"));
        let no_port = config(&[("a", "h", &["0-16383"])], "a");
        assert!(err(no_port).contains("not host:port"));
        let same = config(&[("a", "h:1", &["0-10"]), ("a", "h:2", &["11-16383"])], "a");
        assert!(err(same).contains("two nodes are named"));
    }
}
