//! The connected clients, as `CLIENT LIST`, `CLIENT INFO` and `CLIENT KILL`
//! see them: each connection registers itself while it lives.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One connection.
#[derive(Debug)]
pub struct Connection {
    /// The id `CLIENT ID` reports.
    pub id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// The local address it connected to.
    pub laddr: SocketAddr,
    created: Instant,
    /// Milliseconds after `created` of the last command.
    last_active_ms: AtomicU64,
    /// The last command's position in the command table (`usize::MAX`:
    /// none yet).
    last_command: AtomicUsize,
    /// The name `CLIENT SETNAME` set.
    name: Mutex<Option<Vec<u8>>>,
    killed: AtomicBool,
    kill: tokio::sync::Notify,
}

impl Connection {
    /// A connection from `addr` to `laddr`.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> Self {
        Connection {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            last_command: AtomicUsize::new(usize::MAX),
            name: Mutex::new(None),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
        }
    }

    /// The client's name, if it set one.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets (or, with `None`, clears) the client's name.
    pub fn set_name(&self, name: Option<Vec<u8>>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// Records that the command at `index` of the command table started
    /// at `now` (the caller's clock read, so the hot path reads it once).
    pub fn touch(&self, index: usize, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
        self.last_command.store(index, Ordering::Relaxed);
    }

    /// Asks the connection to close (`CLIENT KILL`).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Whether it was asked to close.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Returns once the connection is asked to close.
    pub async fn killed(&self) {
        if !self.is_killed() {
            self.kill.notified().await;
        }
    }

    /// The index in the command table of the command it ran last
    /// (`usize::MAX` before its first).
    pub fn last_command(&self) -> usize {
        self.last_command.load(Ordering::Relaxed)
    }

    /// The `CLIENT LIST` line (without the newline): the fields goldylox
    /// tracks, in Redis's order and spelling; `cmd` names the last command.
    pub fn describe(&self, cmd: &str) -> String {
        let age = self.created.elapsed();
        let idle_ms =
            (age.as_millis() as u64).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let name = self
            .name()
            .map(|n| String::from_utf8_lossy(&n).into_owned());
        format!(
            "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 \
             multi=-1 cmd={cmd} user=default redir=-1 resp=2",
            self.id,
            self.addr,
            self.laddr,
            name.unwrap_or_default(),
            age.as_secs(),
            idle_ms / 1000,
        )
    }
}

/// Every live connection, by id.
#[derive(Debug, Default)]
pub struct Registry {
    live: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

/// Removes a connection from the registry when its task ends.
pub struct Registered<'a> {
    registry: &'a Registry,
    /// The connection.
    pub connection: Arc<Connection>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.connection.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `connection` until the returned guard drops.
    pub fn register(&self, connection: Connection) -> Registered<'_> {
        let connection = Arc::new(connection);
        self.lock().insert(connection.id, Arc::clone(&connection));
        Registered {
            registry: self,
            connection,
        }
    }

    /// Every live connection, by id.
    pub fn all(&self) -> Vec<Arc<Connection>> {
        self.lock().values().cloned().collect()
    }
}
