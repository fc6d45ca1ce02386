//! `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, their `UN` forms, `PUBLISH`,
//! `SPUBLISH` and `PUBSUB`, over [`crate::server::pubsub`]. A connection's
//! subscriptions live in its [`Subscriptions`], which leave the registry
//! when the connection ends. A RESP2 connection with subscriptions may run
//! only the (un)subscribe commands, `PING`, `QUIT` and `RESET` (the table's
//! `SUBSCRIBED` flag), as in Redis; a RESP3 one runs anything, its messages
//! arriving as push frames between replies.

use std::sync::Arc;

use bytes::BytesMut;
use indexmap::IndexSet;

use super::{Ctx, lower};
use crate::server::clients::Connection;
use crate::server::pubsub::{Kind, PubSub};
use crate::server::resp::reply;

/// A connection's subscriptions.
#[derive(Debug)]
pub struct Subscriptions {
    channels: IndexSet<Vec<u8>>,
    patterns: IndexSet<Vec<u8>>,
    shard: IndexSet<Vec<u8>>,
    registry: Arc<PubSub>,
    connection: Arc<Connection>,
}

impl Subscriptions {
    /// None yet, for `connection`, registered in `registry`.
    pub fn new(registry: Arc<PubSub>, connection: Arc<Connection>) -> Self {
        Subscriptions {
            channels: IndexSet::new(),
            patterns: IndexSet::new(),
            shard: IndexSet::new(),
            registry,
            connection,
        }
    }

    /// Whether the connection has any subscription (in RESP2, it is then
    /// in subscribed mode).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// Enters `MONITOR` mode.
    pub fn monitor(&mut self) {
        self.registry.monitor(&self.connection, true);
    }

    /// Unsubscribes from everything and leaves `MONITOR` mode (`RESET`).
    pub fn clear(&mut self) {
        self.registry.monitor(&self.connection, false);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in std::mem::take(self.set(kind)) {
                self.registry.unsubscribe(kind, &name, self.connection.id);
            }
        }
        self.publish_counts();
    }

    fn set(&mut self, kind: Kind) -> &mut IndexSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscribe reply carries: channels and patterns
    /// together, shard channels apart, as in Redis.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    fn publish_counts(&self) {
        self.connection.set_subscriptions([
            self.channels.len(),
            self.patterns.len(),
            self.shard.len(),
        ]);
    }

    fn add(&mut self, kind: Kind, name: &[u8]) {
        if self.set(kind).insert(name.to_vec()) {
            self.registry.subscribe(kind, name, &self.connection);
        }
        self.publish_counts();
    }

    fn remove(&mut self, kind: Kind, name: &[u8]) {
        if self.set(kind).shift_remove(name) {
            self.registry.unsubscribe(kind, name, self.connection.id);
        }
        self.publish_counts();
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.clear();
    }
}

fn kind_of(command: &str) -> Kind {
    match command.trim_start_matches("un") {
        "psubscribe" | "punsubscribe" => Kind::Pattern,
        "ssubscribe" | "sunsubscribe" => Kind::Shard,
        _ => Kind::Channel,
    }
}

/// One (un)subscribe confirmation: `[kind, name or nil, count]`.
fn confirm(out: &mut BytesMut, resp3: bool, verb: &str, name: Option<&[u8]>, count: usize) {
    if resp3 {
        reply::push(out, 3);
    } else {
        reply::array(out, 3);
    }
    reply::bulk(out, verb.as_bytes());
    match name {
        Some(name) => reply::bulk(out, name),
        None => reply::nil(out),
    }
    reply::int(out, count as i64);
}

/// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`.
pub(super) fn subscribe(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let verb = lower(&args[0]);
    let kind = kind_of(&verb);
    let resp3 = c.client.resp3;
    for name in &args[1..] {
        c.client.subs.add(kind, name);
        confirm(c.out, resp3, &verb, Some(name), c.client.subs.count(kind));
    }
}

/// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`: the names given, or all.
pub(super) fn unsubscribe(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let verb = lower(&args[0]);
    let kind = kind_of(&verb);
    let resp3 = c.client.resp3;
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        c.client.subs.set(kind).iter().cloned().collect()
    };
    if names.is_empty() {
        return confirm(c.out, resp3, &verb, None, c.client.subs.count(kind));
    }
    for name in names {
        c.client.subs.remove(kind, &name);
        confirm(c.out, resp3, &verb, Some(&name), c.client.subs.count(kind));
    }
}

/// `MONITOR`: every command other clients run, as it runs.
pub(super) fn monitor(c: &mut Ctx<'_>, _args: &mut [Vec<u8>]) {
    c.client.subs.monitor();
    reply::ok(c.out);
}

/// `PUBLISH channel message` and `SPUBLISH shardchannel message`.
pub(super) fn publish(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let shard = lower(&args[0]) == "spublish";
    let n = c.server.pubsub().publish(&args[1], &args[2], shard);
    reply::int(c.out, n as i64);
}

/// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP`.
pub(super) fn pubsub(c: &mut Ctx<'_>, args: &mut [Vec<u8>]) {
    let registry = c.server.pubsub();
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("channels" | "shardchannels", 2 | 3) => {
            let kind = if sub == "channels" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            let names = registry.names(kind, args.get(2).map(Vec::as_slice));
            reply::array(c.out, names.len());
            for name in names {
                reply::bulk(c.out, &name);
            }
        }
        ("numsub" | "shardnumsub", n) => {
            let kind = if sub == "numsub" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            // A flat array, in RESP3 too, as Redis answers.
            reply::array(c.out, 2 * (n - 2));
            for name in &args[2..] {
                reply::bulk(c.out, name);
                reply::int(c.out, registry.subscribers(kind, name) as i64);
            }
        }
        ("numpat", 2) => reply::int(c.out, registry.count(Kind::Pattern) as i64),
        ("help", 2) => {
            let lines = [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "NUMPAT",
                "NUMSUB [<channel> ...]",
                "SHARDCHANNELS [<pattern>]",
                "SHARDNUMSUB [<shardchannel> ...]",
            ];
            reply::array(c.out, lines.len());
            for line in lines {
                reply::simple(c.out, line);
            }
        }
        ("channels" | "shardchannels" | "numpat", _) => {
            super::arity_error(c.out, &format!("pubsub|{sub}"))
        }
        _ => reply::error(
            c.out,
            &format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&args[1])
            ),
        ),
    }
}
