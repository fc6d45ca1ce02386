//! The connected clients, as `CLIENT LIST`, `CLIENT INFO` and `CLIENT KILL`
//! see them: each connection registers itself while it lives.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
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
    /// The client library's name and version (`CLIENT SETINFO`).
    library: Mutex<(String, String)>,
    killed: AtomicBool,
    kill: tokio::sync::Notify,
    /// What the server pushes to it (pub/sub messages, invalidations).
    pub mailbox: super::push::Mailbox,
    /// Its channels, patterns and shard channels (`CLIENT LIST`'s `sub`,
    /// `psub`, `ssub`).
    subscriptions: [AtomicUsize; 3],
    /// Whether it speaks RESP3.
    resp3: AtomicBool,
    /// Whether it has gone (its task ended): a client redirecting its
    /// invalidations here is told its redirection is broken.
    closed: AtomicBool,
    /// `CLIENT NO-EVICT on` (shown as `e` in `CLIENT LIST`'s flags).
    no_evict: AtomicBool,
    /// The user it is logged in as (`CLIENT LIST`'s `user`).
    user: Mutex<Arc<str>>,
    /// Its socket's file descriptor (`fd`; -1 for none).
    fd: i32,
    /// Its buffers and transaction as of its latest command.
    gauges: Gauges,
}

/// What `CLIENT LIST` shows of a connection's input and transaction, as
/// of its latest command: a relaxed store each, on the connection's own
/// task.
#[derive(Debug)]
struct Gauges {
    /// Bytes received and not yet run, the running request included
    /// (`qbuf`).
    query: AtomicUsize,
    /// The read buffer's size and its largest (`rbs`, `rbp`).
    read_size: AtomicUsize,
    read_peak: AtomicUsize,
    /// Commands queued in `MULTI`, or -1 outside it (`multi`), and their
    /// arguments' bytes (`multi-mem`).
    multi: AtomicIsize,
    multi_bytes: AtomicUsize,
    /// The subcommand of the last command, if it was a container's
    /// (`cmd=client|list`).
    sub: Mutex<Option<String>>,
    has_sub: AtomicBool,
}

impl Default for Gauges {
    fn default() -> Self {
        Gauges {
            query: AtomicUsize::new(0),
            read_size: AtomicUsize::new(0),
            read_peak: AtomicUsize::new(0),
            multi: AtomicIsize::new(-1),
            multi_bytes: AtomicUsize::new(0),
            sub: Mutex::new(None),
            has_sub: AtomicBool::new(false),
        }
    }
}

impl Connection {
    /// Whether it has gone.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks it gone before its last reply is written (QUIT, a kill of
    /// itself): by the time its peer reads that reply, the server treats
    /// it as closed, as Redis frees a client in the write of its last reply.
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// A connection from `addr` to `laddr` on the socket `fd`, and the inbox
    /// of its mailbox.
    pub fn new(
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i32,
    ) -> (Self, super::push::Inbox) {
        let (mailbox, inbox) = super::push::mailbox();
        let connection = Connection {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            last_command: AtomicUsize::new(usize::MAX),
            name: Mutex::new(None),
            library: Mutex::new((String::new(), String::new())),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
            mailbox,
            subscriptions: Default::default(),
            resp3: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            user: Mutex::new(Arc::from("default")),
            fd,
            gauges: Gauges::default(),
        };
        (connection, inbox)
    }

    /// The user it is logged in as.
    pub fn user(&self) -> Arc<str> {
        Arc::clone(&self.user.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records a login as `user`.
    pub fn set_user(&self, user: &str) {
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) = Arc::from(user);
    }

    /// How long ago it connected.
    pub fn age(&self) -> std::time::Duration {
        self.created.elapsed()
    }

    /// `CLIENT NO-EVICT on|off`.
    pub fn set_no_evict(&self, on: bool) {
        self.no_evict.store(on, Ordering::Relaxed);
    }

    /// `CLIENT LIST`'s flags: `P` subscribed, `e` no-evict, else `N`.
    fn flags(&self, subscribed: bool) -> String {
        let mut flags = String::new();
        if subscribed {
            flags.push('P');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }

    /// Records its subscription counts: channels, patterns, shard channels.
    pub fn set_subscriptions(&self, counts: [usize; 3]) {
        for (slot, n) in self.subscriptions.iter().zip(counts) {
            slot.store(n, Ordering::Relaxed);
        }
    }

    /// Whether it speaks RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    /// Whether it has any subscription.
    pub fn is_subscribed(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Records the protocol it speaks (`HELLO`).
    pub fn set_resp3(&self, resp3: bool) {
        self.resp3.store(resp3, Ordering::Relaxed);
    }

    /// The client's name, if it set one.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets (or, with `None`, clears) the client's name.
    pub fn set_name(&self, name: Option<Vec<u8>>) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// `CLIENT SETINFO LIB-NAME|LIB-VER value` (`attr` lower-cased): kept
    /// and shown by `CLIENT LIST` and `CLIENT INFO`. As in Redis, the
    /// value may not hold spaces or newlines, nor the name braces.
    pub fn set_info(&self, attr: &str, value: &[u8]) -> Result<(), String> {
        let bad = |b: &u8| {
            *b < b'!'
                || *b > b'~'
                || (attr == "lib-name" && matches!(b, b'(' | b')' | b'{' | b'}' | b'[' | b']'))
        };
        let mut library = self.library.lock().unwrap_or_else(|e| e.into_inner());
        let field = match attr {
            "lib-name" => &mut library.0,
            "lib-ver" => &mut library.1,
            other => return Err(format!("ERR Unrecognized option '{other}'")),
        };
        if value.iter().any(bad) {
            return Err(format!(
                "ERR {attr} cannot contain spaces, newlines or special characters."
            ));
        }
        *field = String::from_utf8_lossy(value).into_owned();
        Ok(())
    }

    /// Records that the command at `index` of the command table started
    /// at `now` (the caller's clock read, so the hot path reads it once),
    /// with its subcommand if it is a container's.
    pub fn touch(&self, index: usize, now: Instant, sub: Option<&[u8]>) {
        let ms = now.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
        self.last_command.store(index, Ordering::Relaxed);
        let g = &self.gauges;
        if let Some(sub) = sub {
            let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
            *g.sub.lock().unwrap_or_else(|e| e.into_inner()) = Some(sub);
            g.has_sub.store(true, Ordering::Relaxed);
        } else if g.has_sub.swap(false, Ordering::Relaxed) {
            *g.sub.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// Records the input as a request is about to run: `unprocessed`
    /// bytes (the request included) in a buffer of `size` bytes.
    pub fn note_input(&self, unprocessed: usize, size: usize) {
        let g = &self.gauges;
        g.query.store(unprocessed, Ordering::Relaxed);
        g.read_size.store(size, Ordering::Relaxed);
        // Only this connection raises it: a load first spares every
        // request a locked read-modify-write.
        if size > g.read_peak.load(Ordering::Relaxed) {
            g.read_peak.fetch_max(size, Ordering::Relaxed);
        }
    }

    /// Records how many commands `MULTI` has queued and their bytes
    /// (`None`: not in one).
    pub fn note_multi(&self, queued: Option<(usize, usize)>) {
        let (n, bytes) = queued.map_or((-1, 0), |(n, b)| (n as isize, b));
        self.gauges.multi.store(n, Ordering::Relaxed);
        self.gauges.multi_bytes.store(bytes, Ordering::Relaxed);
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

    /// The `CLIENT LIST` line (without the newline), in Redis's order and
    /// spelling: `cmd` names the last command (its subcommand is added for
    /// a container's), `argv` is the bytes of the arguments it is running
    /// (0 for a connection between commands).
    pub fn describe(&self, cmd: &str, argv: usize) -> String {
        let age = self.age();
        let idle_ms =
            (age.as_millis() as u64).saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let name = self
            .name()
            .map(|n| String::from_utf8_lossy(&n).into_owned());
        let subs = self
            .subscriptions
            .each_ref()
            .map(|n| n.load(Ordering::Relaxed));
        let (lib_name, lib_ver) = self
            .library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let g = &self.gauges;
        let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        let (query, size) = (load(&g.query), load(&g.read_size));
        let (multi_bytes, omem) = (load(&g.multi_bytes), self.mailbox.waiting_bytes());
        let sub = g.sub.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let cmd = match sub {
            Some(sub) if g.has_sub.load(Ordering::Relaxed) => format!("{cmd}|{sub}"),
            _ => cmd.to_owned(),
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} \
             ssub={} multi={} qbuf={query} qbuf-free={} argv-mem={argv} multi-mem={multi_bytes} \
             rbs={size} rbp={} obl=0 oll=0 omem={omem} tot-mem={} events={} cmd={cmd} user={} \
             redir=-1 resp={} lib-name={lib_name} lib-ver={lib_ver}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name.unwrap_or_default(),
            age.as_secs(),
            idle_ms / 1000,
            self.flags(subs.iter().any(|&n| n > 0)),
            subs[0],
            subs[1],
            subs[2],
            g.multi.load(Ordering::Relaxed),
            size.saturating_sub(query),
            load(&g.read_peak),
            size + argv + multi_bytes + omem,
            if omem > 0 { "rw" } else { "r" },
            self.user(),
            if self.resp3.load(Ordering::Relaxed) {
                3
            } else {
                2
            },
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
        self.connection.mark_closed();
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
