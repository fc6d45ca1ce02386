//! `[server]`: where to listen, who may connect, what a client may send and
//! hold, and the limits on scripts and subscribers.

use std::net::SocketAddr;

use serde::Deserialize;

use super::super::units;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where to listen (default 127.0.0.1:6380).
    pub listen: SocketAddr,
    /// The password `AUTH` must give (none: no authentication).
    pub password: Option<String>,
    /// A file of users (`user name rule …` lines, as `ACL LIST` shows
    /// them): loaded at start and by each reload, written by `ACL SAVE`
    /// (Redis: `aclfile`; none by default).
    pub aclfile: Option<std::path::PathBuf>,
    /// Most clients connected at once (Redis: `maxclients`; 10000).
    pub maxclients: usize,
    /// Largest bulk argument (Redis: `proto-max-bulk-len`; 512 MiB).
    #[serde(deserialize_with = "units::size_usize")]
    pub max_bulk_bytes: usize,
    /// Most arguments in one request (1048576).
    pub max_args: usize,
    /// Longest inline request (64 KiB).
    #[serde(deserialize_with = "units::size_usize")]
    pub max_inline_bytes: usize,
    /// Most unparsed request bytes a client may hold (Redis:
    /// `client-query-buffer-limit`; 1 GiB).
    #[serde(deserialize_with = "units::size_usize")]
    pub max_query_buffer_bytes: usize,
    /// Replies buffered for a client before the server waits for it to read
    /// (Redis: `client-output-buffer-limit`, soft; 1 MiB).
    #[serde(deserialize_with = "units::size_usize")]
    pub output_buffer_bytes: usize,
    /// A client that reads nothing of its replies for this long is
    /// disconnected, in milliseconds (10000).
    pub output_stall_ms: u64,
    /// A script running longer than this, in milliseconds, makes other
    /// clients' commands answer `BUSY` until it ends or `SCRIPT KILL`
    /// stops it (Redis: `busy-reply-threshold`, `lua-time-limit`; 5000).
    pub busy_reply_threshold_ms: u64,
    /// The script interpreter's memory cap (64 MiB): a script that needs
    /// more fails with "not enough memory".
    #[serde(deserialize_with = "units::size_usize")]
    pub script_memory_bytes: usize,
    /// A subscriber with more than this many bytes of messages waiting is
    /// disconnected (Redis: `client-output-buffer-limit pubsub`, hard;
    /// 32 MiB; 0: no limit).
    #[serde(deserialize_with = "units::size_usize")]
    pub pubsub_hard_bytes: usize,
    /// … as is one past this many for `pubsub_soft_seconds` (8 MiB).
    #[serde(deserialize_with = "units::size_usize")]
    pub pubsub_soft_bytes: usize,
    /// How long a subscriber may stay past `pubsub_soft_bytes` (60).
    pub pubsub_soft_seconds: u64,
    /// Keyspace notifications, in Redis's letters (`notify-keyspace-events`:
    /// `K`, `E`, `g`, `$`, `h`, `x`, `e`, `n`, `m`, `A`, …; "": off).
    pub notify_keyspace_events: String,
    /// Most keys client-side caching remembers (Redis's
    /// `tracking-table-max-keys`; 1000000): past it, keys are forgotten at
    /// random and their readers told to drop them.
    pub tracking_table_max_keys: usize,
    /// Redis's protected mode (true): listening on a non-loopback address
    /// without a password, the server refuses clients that are not on the
    /// loopback interface, with Redis's explanation.
    pub protected_mode: bool,
    /// Commands that run at least this many microseconds are kept in the
    /// slow log (Redis: `slowlog-log-slower-than`; 10000; 0: every
    /// command; negative: none).
    pub slowlog_slower_than_us: i64,
    /// The slow log's length: the newest entries kept (Redis:
    /// `slowlog-max-len`; 128).
    pub slowlog_max_len: usize,
    /// Denials `ACL LOG` keeps (Redis: `acllog-max-len`; 128).
    pub acllog_max_len: usize,
    /// Events that take at least this many milliseconds are sampled for
    /// `LATENCY` (Redis: `latency-monitor-threshold`; 0: off).
    pub latency_monitor_threshold_ms: u64,
    /// A TLS listener beside the plain one (off when absent).
    pub tls: Option<super::super::tls::TlsConfig>,
}

impl ServerConfig {
    /// The limits on a subscriber's waiting messages.
    pub fn pubsub_output_limits(&self) -> super::super::push::OutputLimits {
        super::super::push::OutputLimits {
            hard_bytes: self.pubsub_hard_bytes,
            soft_bytes: self.pubsub_soft_bytes,
            soft_for: std::time::Duration::from_secs(self.pubsub_soft_seconds),
        }
    }

    /// Whether protected mode refuses clients from non-loopback addresses:
    /// it is on, there is no password, and some listener is not on
    /// loopback.
    pub fn protects(&self) -> bool {
        let exposed = std::iter::once(self.listen)
            .chain(self.tls.as_ref().map(|t| t.listen))
            .any(|a| !a.ip().to_canonical().is_loopback());
        self.protected_mode && self.password.is_none() && exposed
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 6380)),
            password: None,
            aclfile: None,
            maxclients: 10_000,
            max_bulk_bytes: 512 << 20,
            max_args: 1 << 20,
            max_inline_bytes: 64 << 10,
            max_query_buffer_bytes: 1 << 30,
            output_buffer_bytes: 1 << 20,
            output_stall_ms: 10_000,
            busy_reply_threshold_ms: 5_000,
            script_memory_bytes: 64 << 20,
            pubsub_hard_bytes: 32 << 20,
            pubsub_soft_bytes: 8 << 20,
            pubsub_soft_seconds: 60,
            notify_keyspace_events: String::new(),
            tracking_table_max_keys: 1_000_000,
            protected_mode: true,
            slowlog_slower_than_us: 10_000,
            slowlog_max_len: 128,
            acllog_max_len: 128,
            latency_monitor_threshold_ms: 0,
            tls: None,
        }
    }
}
