//! What a connection is to the commands: its user, protocol, transaction,
//! subscriptions, tracking and the command running.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{AdminAnswer, Blocking, Subscriptions, TrackingState, Transaction};
use crate::server::acl::Acl;
use crate::server::clients::Connection;
use crate::server::cluster::ClusterMap;
use crate::server::keyspace::Keyspace;
use crate::server::pubsub::PubSub;

/// Per-connection state the commands see.
#[derive(Debug)]
pub struct Client {
    /// The connection as `CLIENT LIST` shows it (id, addresses, name).
    pub connection: Arc<Connection>,
    /// Whether `AUTH` succeeded (or the default user needs no password).
    pub authenticated: bool,
    /// The user it is logged in as (the default user until `AUTH`).
    pub user: crate::server::acl::Session,
    /// Whether `EXEC` is running its queue (for `ACL LOG`'s context).
    pub in_exec: bool,
    /// Whether the client chose RESP3 (`HELLO 3`).
    pub resp3: bool,
    /// The slot map when cluster mode is on (refreshed when the
    /// configuration changes).
    pub cluster: Option<Arc<ClusterMap>>,
    /// Whether a write command ran since the replies were last sent (what
    /// a durable acknowledgement waits for).
    pub wrote: bool,
    /// The answer of a `GOLDYLOX` command the policy loader is running: the
    /// connection awaits it, and writes it with [`admin_reply`](super::admin_reply), before it
    /// runs the next command.
    pub pending: Option<oneshot::Receiver<AdminAnswer>>,
    /// How long the connection waits before it delivers this command's
    /// reply (`WAIT` with replicas asked for: its timeout).
    pub delay: Option<std::time::Duration>,
    /// `MULTI`'s queue and `WATCH`'s keys.
    pub tx: Transaction,
    /// Its channels, patterns and shard channels.
    pub subs: Subscriptions,
    /// Its client-side caching options.
    pub tracking: TrackingState,
    /// Whether its replies are sent (`CLIENT REPLY`).
    pub replies: ReplyMode,
    /// The blocking command it waits on, set by the command for the
    /// connection to await.
    pub blocked: Option<Blocking>,
    /// Whether the command running was called by a script (`SORT` then
    /// orders a set's elements, as Redis does for determinism).
    pub in_script: bool,
    /// Whether the running script called a read-only command: then the
    /// script's declared keys are tracked for the client, not the keys
    /// its commands named (as Redis does).
    pub script_read: bool,
    /// The running command's arguments, as the slow log would keep them.
    pub slow_args: crate::server::slowlog::Captured,
    /// Error replies of commands scripts called (already counted in
    /// `INFO errorstats`: a script's error raised by one is not counted
    /// again).
    pub script_errors: u64,
}

/// `CLIENT REPLY`'s modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    /// Replies are sent.
    #[default]
    On,
    /// None are, until `CLIENT REPLY ON`.
    Off,
    /// Not this command's, nor the next one's.
    Skip,
    /// Not this command's (what `Skip` becomes after the `CLIENT REPLY`).
    SkipThis,
}

impl Client {
    /// A new connection's state: RESP2, nothing queued, watched or
    /// subscribed, logged in as the default user if it needs no password.
    pub fn new(
        connection: Arc<Connection>,
        keyspace: &Arc<Keyspace>,
        pubsub: &Arc<PubSub>,
        acl: &Acl,
        cluster: Option<Arc<ClusterMap>>,
    ) -> Client {
        let (user, authenticated) = acl.start();
        Client {
            authenticated,
            user,
            in_exec: false,
            resp3: false,
            cluster,
            wrote: false,
            pending: None,
            delay: None,
            tx: Transaction::new(Arc::clone(keyspace), Arc::clone(&connection)),
            subs: Subscriptions::new(Arc::clone(pubsub), Arc::clone(&connection)),
            tracking: TrackingState::new(Arc::clone(keyspace), Arc::clone(&connection)),
            replies: ReplyMode::On,
            blocked: None,
            in_script: false,
            script_read: false,
            slow_args: crate::server::slowlog::Captured::default(),
            script_errors: 0,
            connection,
        }
    }
}
