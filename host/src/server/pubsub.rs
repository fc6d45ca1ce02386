//! Publish/subscribe: who listens to which channel, pattern or shard
//! channel, and publishing to them. A publish finds the subscribers of its
//! channel and of every pattern that matches it (Redis's glob, as `KEYS`),
//! and leaves each a [`Push`] in its connection's mailbox; the number it
//! answers counts the pushes left, as Redis's does (a client subscribed to
//! the channel and to a matching pattern receives two). A subscriber over
//! its output limit is disconnected instead (see [`super::push`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::clients::Connection;
use super::push::{Delivered, OutputLimits, Push};

/// What a subscription names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A channel (`SUBSCRIBE`).
    Channel,
    /// A glob pattern over channels (`PSUBSCRIBE`).
    Pattern,
    /// A shard channel (`SSUBSCRIBE`; in cluster mode, routed by slot).
    Shard,
}

type Subscribers = HashMap<u64, Arc<Connection>>;

/// Every subscription of the server.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard: RwLock<HashMap<Bytes, Subscribers>>,
    /// Subscribers disconnected for being over their output limit.
    disconnections: AtomicU64,
    /// What may wait for a subscriber.
    limits: RwLock<OutputLimits>,
    /// The connections in `MONITOR` mode.
    monitors: RwLock<Subscribers>,
    /// How many: the fast path's test.
    monitoring: std::sync::atomic::AtomicUsize,
}

impl PubSub {
    fn table(&self, kind: Kind) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Subscribes `connection` to `name`.
    pub fn subscribe(&self, kind: Kind, name: &[u8], connection: &Arc<Connection>) {
        let mut table = self.table(kind).write().unwrap_or_else(|e| e.into_inner());
        table
            .entry(Bytes::copy_from_slice(name))
            .or_default()
            .insert(connection.id, Arc::clone(connection));
    }

    /// Calls `f` with every subscription: its kind, its name and its
    /// subscriber.
    pub fn each_subscription(&self, mut f: impl FnMut(Kind, &[u8], &Arc<Connection>)) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let table = self.table(kind).read().unwrap_or_else(|e| e.into_inner());
            for (name, subscribers) in table.iter() {
                subscribers.values().for_each(|c| f(kind, name, c));
            }
        }
    }

    /// Unsubscribes the connection `id` from `name`.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut table = self.table(kind).write().unwrap_or_else(|e| e.into_inner());
        if let Some(subscribers) = table.get_mut(name) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                table.remove(name);
            }
        }
    }

    /// `PUBLISH` (or, with `shard`, `SPUBLISH`): the number of pushes left.
    pub fn publish(&self, channel: &[u8], payload: &[u8], shard: bool) -> usize {
        let limits = &self.limits();
        let channel = Bytes::copy_from_slice(channel);
        let payload = Bytes::copy_from_slice(payload);
        let mut delivered = 0;
        let kind = if shard { Kind::Shard } else { Kind::Channel };
        {
            let table = self.table(kind).read().unwrap_or_else(|e| e.into_inner());
            for subscriber in table.get(&channel).into_iter().flat_map(HashMap::values) {
                let push = if shard {
                    Push::SMessage {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    }
                } else {
                    Push::Message {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    }
                };
                delivered += usize::from(self.send(subscriber, push, limits));
            }
        }
        if shard {
            return delivered;
        }
        let patterns = self.patterns.read().unwrap_or_else(|e| e.into_inner());
        for (pattern, subscribers) in patterns.iter() {
            if !super::glob::matches(pattern, &channel) {
                continue;
            }
            for subscriber in subscribers.values() {
                let push = Push::PMessage {
                    pattern: pattern.clone(),
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                delivered += usize::from(self.send(subscriber, push, limits));
            }
        }
        delivered
    }

    /// Adds (`on`) or removes a `MONITOR` connection.
    pub fn monitor(&self, connection: &Arc<Connection>, on: bool) {
        let mut monitors = self.monitors.write().unwrap_or_else(|e| e.into_inner());
        let changed = if on {
            monitors
                .insert(connection.id, Arc::clone(connection))
                .is_none()
        } else {
            monitors.remove(&connection.id).is_some()
        };
        if changed && on {
            self.monitoring.fetch_add(1, Ordering::Relaxed);
        } else if changed {
            self.monitoring.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether any connection monitors.
    pub fn monitored(&self) -> bool {
        self.monitoring.load(Ordering::Relaxed) != 0
    }

    /// Shows `args`, run by `from` (by its script if `in_script`), to every
    /// monitor: Redis's line, `<seconds>.<micros> [0 <addr>|lua] "cmd"
    /// "arg" …`, quoted as Redis quotes (`sdscatrepr`), secrets redacted.
    pub fn feed_monitors(&self, from: &Connection, in_script: bool, args: &[Vec<u8>]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let source = if in_script {
            "lua".to_owned()
        } else {
            from.addr.to_string()
        };
        let mut line = format!("{}.{:06} [0 {source}]", now.as_secs(), now.subsec_micros());
        let secret = super::slowlog::secrets(args);
        for (i, arg) in args.iter().enumerate() {
            line.push(' ');
            if secret(i) {
                line.push_str("\"(redacted)\"");
            } else {
                quote(&mut line, arg);
            }
        }
        let line = Bytes::from(line);
        let limits = self.limits();
        let monitors = self.monitors.read().unwrap_or_else(|e| e.into_inner());
        for monitor in monitors.values().filter(|m| m.id != from.id) {
            self.send(monitor, Push::Monitor(line.clone()), &limits);
        }
    }

    /// The limits on what may wait for a subscriber.
    pub fn limits(&self) -> OutputLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets them (the configuration changed).
    pub fn set_limits(&self, limits: OutputLimits) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// Leaves `push` for `connection`; disconnects it if over its limit.
    pub fn send(&self, connection: &Connection, push: Push, limits: &OutputLimits) -> bool {
        match connection.mailbox.send(push, limits) {
            Delivered::Queued => true,
            Delivered::Gone => false,
            Delivered::OverLimit => {
                if !connection.is_killed() {
                    log::warn!(
                        "client {} ({}) is over its pub/sub output limit ({} bytes waiting): disconnecting it",
                        connection.id,
                        connection.addr,
                        connection.mailbox.waiting_bytes()
                    );
                    self.disconnections.fetch_add(1, Ordering::Relaxed);
                    connection.kill();
                }
                false
            }
        }
    }

    /// The names subscribed to (`PUBSUB CHANNELS|SHARDCHANNELS`), matching
    /// `pattern` if given.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let table = self.table(kind).read().unwrap_or_else(|e| e.into_inner());
        table
            .keys()
            .filter(|name| pattern.is_none_or(|p| super::glob::matches(p, name)))
            .cloned()
            .collect()
    }

    /// How many connections subscribe to `name` (`PUBSUB NUMSUB`).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        let table = self.table(kind).read().unwrap_or_else(|e| e.into_inner());
        table.get(name).map_or(0, HashMap::len)
    }

    /// How many names of `kind` have subscribers (`PUBSUB NUMPAT`, INFO).
    pub fn count(&self, kind: Kind) -> usize {
        self.table(kind)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Subscribers disconnected for being over their output limit.
    pub fn disconnections(&self) -> u64 {
        self.disconnections.load(Ordering::Relaxed)
    }
}

/// Appends `arg` in double quotes, escaped as Redis's `sdscatrepr` does.
fn quote(line: &mut String, arg: &[u8]) {
    line.push('"');
    for &b in arg {
        match b {
            b'\\' => line.push_str("\\\\"),
            b'"' => line.push_str("\\\""),
            b'\n' => line.push_str("\\n"),
            b'\r' => line.push_str("\\r"),
            b'\t' => line.push_str("\\t"),
            0x07 => line.push_str("\\a"),
            0x08 => line.push_str("\\b"),
            0x20..=0x7e => line.push(b as char),
            _ => line.push_str(&format!("\\x{b:02x}")),
        }
    }
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn monitor_lines_quote_as_redis_does() {
        let mut line = String::new();
        quote(&mut line, b"a \"b\"\n\x01");
        assert_eq!(line, r#""a \"b\"\n\x01""#);
    }
}
