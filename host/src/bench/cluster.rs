//! Redis Cluster for the bench: which node serves which of the 16,384
//! slots, from `CLUSTER NODES` on a seed node, so each key goes to its
//! owner directly (no redirects on the request path). A MOVED or ASK
//! reply during the run means the map changed: the run stops and says so.

use anyhow::{Context, Result, bail};

use super::conn::{Conn, Tls};
use crate::server::cluster::slot;

/// The slots of a cluster's primaries.
pub(super) struct Topology {
    /// Each primary's HOST:PORT.
    pub(super) nodes: Vec<String>,
    /// For each slot, its node's index in `nodes`.
    owner: Vec<u16>,
}

const SLOTS: usize = 16384;
const UNOWNED: u16 = u16::MAX;

impl Topology {
    /// Reads the map from the node at `seed`.
    pub(super) fn discover(seed: &str, tls: Option<&Tls>, password: Option<&str>) -> Result<Self> {
        let mut conn = Conn::open(seed, tls, password)?;
        conn.command(&[b"CLUSTER", b"NODES"]);
        conn.flush()?;
        let mut text = Vec::new();
        if !conn.bulk(&mut text).context("CLUSTER NODES")? {
            bail!("{seed}: CLUSTER NODES answered nil");
        }
        Self::parse(&String::from_utf8_lossy(&text))
    }

    /// The map `CLUSTER NODES` text describes: every primary's slot ranges.
    fn parse(text: &str) -> Result<Self> {
        let mut topology = Topology {
            nodes: Vec::new(),
            owner: vec![UNOWNED; SLOTS],
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 || !fields[2].split(',').any(|f| f == "master") {
                continue;
            }
            let address = fields[1].split('@').next().unwrap_or(fields[1]);
            let index = topology.nodes.len() as u16;
            topology.nodes.push(address.to_owned());
            // Ranges `0-5460` or single slots; `[…]` are migrations.
            for range in fields[8..].iter().filter(|r| !r.starts_with('[')) {
                let (first, last) = range.split_once('-').unwrap_or((range, range));
                let bad = || format!("a bad slot range {range:?} in CLUSTER NODES");
                let (first, last): (usize, usize) = (
                    first.parse().with_context(bad)?,
                    last.parse().with_context(bad)?,
                );
                if first > last || last >= SLOTS {
                    bail!("{}", bad());
                }
                topology.owner[first..=last].fill(index);
            }
        }
        if let Some(free) = topology.owner.iter().position(|&o| o == UNOWNED) {
            bail!("slot {free} has no node: the cluster is not fully covered");
        }
        Ok(topology)
    }

    /// The index of the node that owns `key`.
    pub(super) fn node_of(&self, key: &[u8]) -> usize {
        usize::from(self.owner[usize::from(slot::of(key))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_and_their_slots_are_read_from_cluster_nodes() {
        let text = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8000 8002\n\
b2 127.0.0.1:7002@17002 master - 0 0 2 connected 8001 8003-16383 [5->-a1]\n\
c3 127.0.0.1:7003@17003 slave b2 0 0 2 connected\n";
        let t = Topology::parse(text).unwrap();
        assert_eq!(t.nodes, ["127.0.0.1:7001", "127.0.0.1:7002"]);
        assert_eq!(t.owner[8000], 0);
        assert_eq!(t.owner[8001], 1);
        assert_eq!(t.owner[8002], 0);
        assert_eq!(
            t.node_of(b"{x}"),
            usize::from(t.owner[usize::from(slot::of(b"x"))])
        );
        let gap = "a1 127.0.0.1:7001@17001 master - 0 0 1 connected 0-100\n";
        assert!(Topology::parse(gap).is_err());
    }
}
