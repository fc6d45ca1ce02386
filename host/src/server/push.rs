//! What the server sends a client without being asked: pub/sub messages
//! and client-side-caching invalidations. Each connection has a mailbox
//! ([`Mailbox`]); publishers drop [`Push`]es in it from any thread, and the
//! connection writes them out between batches of replies, as RESP3 push
//! frames (`>`) or, in RESP2, as the arrays a subscribed connection reads.
//!
//! A client that does not read cannot make the server hold its messages
//! without bound: a mailbox counts the bytes waiting in it and, like
//! Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`, a client past
//! the hard limit, or past the soft limit for longer than its seconds, is
//! disconnected (counted in `INFO`'s
//! `client_output_buffer_limit_disconnections`) and its messages dropped.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::resp::reply;

/// Bytes counted per message beyond its channel, pattern and payload (the
/// frame's headers).
const FRAME_OVERHEAD: usize = 48;

/// One unrequested message.
#[derive(Debug, Clone)]
pub enum Push {
    /// A message on a channel the client subscribed to.
    Message {
        /// The channel.
        channel: Bytes,
        /// What was published.
        payload: Bytes,
    },
    /// A message on a channel matching a pattern the client subscribed to.
    PMessage {
        /// The pattern.
        pattern: Bytes,
        /// The channel.
        channel: Bytes,
        /// What was published.
        payload: Bytes,
    },
    /// A message on a shard channel (`SPUBLISH`).
    SMessage {
        /// The channel.
        channel: Bytes,
        /// What was published.
        payload: Bytes,
    },
    /// Tracked keys changed (`None`: all of them, the database was flushed).
    Invalidate(Option<Vec<Bytes>>),
    /// A command another client ran (`MONITOR`): its line.
    Monitor(Bytes),
    /// The client this one redirects its invalidations to has gone (its
    /// id): RESP3's `tracking-redir-broken`.
    RedirBroken(u64),
}

impl Push {
    /// The bytes it costs while it waits.
    fn weight(&self) -> usize {
        FRAME_OVERHEAD
            + match self {
                Push::Message { channel, payload } | Push::SMessage { channel, payload } => {
                    channel.len() + payload.len()
                }
                Push::PMessage {
                    pattern,
                    channel,
                    payload,
                } => pattern.len() + channel.len() + payload.len(),
                Push::Invalidate(keys) => keys.iter().flatten().map(|k| k.len() + 16).sum(),
                Push::Monitor(line) => line.len(),
                Push::RedirBroken(_) => 0,
            }
    }

    /// Writes it as a RESP3 push frame or, for a RESP2 connection, as the
    /// array a subscriber reads (invalidations arrive as messages on
    /// `__redis__:invalidate`, which a RESP2 client subscribes to).
    pub fn render(&self, out: &mut BytesMut, resp3: bool) {
        let header = |out: &mut BytesMut, n: usize| {
            if resp3 {
                reply::push(out, n)
            } else {
                reply::array(out, n)
            }
        };
        match self {
            Push::Message { channel, payload } | Push::SMessage { channel, payload } => {
                header(out, 3);
                let kind: &[u8] = match self {
                    Push::Message { .. } => b"message",
                    _ => b"smessage",
                };
                reply::bulk(out, kind);
                reply::bulk(out, channel);
                reply::bulk(out, payload);
            }
            Push::PMessage {
                pattern,
                channel,
                payload,
            } => {
                header(out, 4);
                reply::bulk(out, b"pmessage");
                reply::bulk(out, pattern);
                reply::bulk(out, channel);
                reply::bulk(out, payload);
            }
            Push::Monitor(line) => {
                out.extend_from_slice(b"+");
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            Push::RedirBroken(id) => {
                header(out, 2);
                reply::bulk(out, b"tracking-redir-broken");
                reply::int(out, *id as i64);
            }
            Push::Invalidate(keys) => {
                if resp3 {
                    header(out, 2);
                    reply::bulk(out, b"invalidate");
                } else {
                    header(out, 3);
                    reply::bulk(out, b"message");
                    reply::bulk(out, INVALIDATE_CHANNEL);
                }
                match keys {
                    None => reply::with_protocol(resp3, || reply::nil_array(out)),
                    Some(keys) => {
                        reply::array(out, keys.len());
                        for k in keys {
                            reply::bulk(out, k);
                        }
                    }
                }
            }
        }
    }
}

/// The channel RESP2 clients receive invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// The limits on what may wait in a mailbox (Redis's
/// `client-output-buffer-limit pubsub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Past this many bytes the client is disconnected (0: no limit).
    pub hard_bytes: usize,
    /// Past this many bytes for [`OutputLimits::soft_for`], too.
    pub soft_bytes: usize,
    /// How long the soft limit may be exceeded.
    pub soft_for: Duration,
}

impl Default for OutputLimits {
    /// Redis's `client-output-buffer-limit pubsub 32mb 8mb 60`.
    fn default() -> Self {
        OutputLimits {
            hard_bytes: 32 << 20,
            soft_bytes: 8 << 20,
            soft_for: Duration::from_secs(60),
        }
    }
}

/// A connection's mailbox.
#[derive(Debug)]
pub struct Mailbox {
    tx: mpsc::UnboundedSender<Push>,
    /// Bytes waiting (sent, not yet taken by the connection).
    waiting: AtomicUsize,
    /// Since when `waiting` has been over the soft limit.
    over_soft_since: Mutex<Option<Instant>>,
    /// Pushes queued so far (a mark a blocked client's answer carries).
    queued: AtomicU64,
}

/// The connection's end of its mailbox.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Push>,
    /// Pushes taken so far.
    taken: u64,
}

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Waiting for the connection.
    Queued,
    /// Dropped: the connection is gone.
    Gone,
    /// Dropped, and the connection must be closed: it is over its limit.
    OverLimit,
}

/// A mailbox and its inbox.
pub fn mailbox() -> (Mailbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Mailbox {
            tx,
            waiting: AtomicUsize::new(0),
            over_soft_since: Mutex::new(None),
            queued: AtomicU64::new(0),
        },
        Inbox { rx, taken: 0 },
    )
}

impl Mailbox {
    /// Leaves `push` for the connection, unless that would put it over
    /// `limits`.
    pub fn send(&self, push: Push, limits: &OutputLimits) -> Delivered {
        let weight = push.weight();
        let waiting = self.waiting.fetch_add(weight, Ordering::AcqRel) + weight;
        if self.over(waiting, limits) {
            self.waiting.fetch_sub(weight, Ordering::AcqRel);
            return Delivered::OverLimit;
        }
        if self.tx.send(push).is_err() {
            self.waiting.fetch_sub(weight, Ordering::AcqRel);
            return Delivered::Gone;
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        Delivered::Queued
    }

    /// How many pushes were queued so far.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    fn over(&self, waiting: usize, limits: &OutputLimits) -> bool {
        if limits.hard_bytes != 0 && waiting > limits.hard_bytes {
            return true;
        }
        let mut since = self
            .over_soft_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if limits.soft_bytes == 0 || waiting <= limits.soft_bytes {
            *since = None;
            return false;
        }
        let started = *since.get_or_insert_with(Instant::now);
        started.elapsed() > limits.soft_for
    }

    /// The bytes waiting.
    pub fn waiting_bytes(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn taken(&self, push: &Push) {
        self.waiting.fetch_sub(push.weight(), Ordering::AcqRel);
    }
}

impl Inbox {
    /// Waits for the next push.
    pub async fn next(&mut self) -> Option<Push> {
        let push = self.rx.recv().await;
        self.taken += u64::from(push.is_some());
        push
    }

    /// Renders the pushes already waiting that were queued before the
    /// mark `upto` ([`Mailbox::queued`]) into `out` (a blocked client's
    /// pushes that came while it waited, which go before its answer; those
    /// its own answer raised go after it), telling `mailbox` they are
    /// taken.
    pub fn drain_waiting(&mut self, mailbox: &Mailbox, out: &mut BytesMut, resp3: bool, upto: u64) {
        while self.taken < upto {
            let Ok(push) = self.rx.try_recv() else {
                break;
            };
            self.taken += 1;
            mailbox.taken(&push);
            push.render(out, resp3);
        }
    }

    /// Renders `first` and every push already waiting (at most
    /// `max_bytes` of output) into `out`, telling `mailbox` they are taken.
    pub fn drain_into(
        &mut self,
        first: Push,
        mailbox: &Mailbox,
        out: &mut BytesMut,
        resp3: bool,
        max_bytes: usize,
    ) {
        mailbox.taken(&first);
        first.render(out, resp3);
        while out.len() < max_bytes {
            let Ok(push) = self.rx.try_recv() else {
                break;
            };
            self.taken += 1;
            mailbox.taken(&push);
            push.render(out, resp3);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};

    use super::{Delivered, OutputLimits, Push, mailbox};

    fn message(n: usize) -> Push {
        Push::Message {
            channel: Bytes::from_static(b"ch"),
            payload: Bytes::from(vec![b'x'; n]),
        }
    }

    #[test]
    fn a_mailbox_past_its_hard_limit_refuses_and_drains_back_under_it() {
        let (mailbox, mut inbox) = mailbox();
        let limits = OutputLimits {
            hard_bytes: 1000,
            soft_bytes: 0,
            soft_for: Duration::ZERO,
        };
        assert_eq!(mailbox.send(message(400), &limits), Delivered::Queued);
        assert_eq!(mailbox.send(message(400), &limits), Delivered::Queued);
        assert_eq!(mailbox.send(message(400), &limits), Delivered::OverLimit);
        let first = inbox.rx.try_recv().unwrap();
        let mut out = BytesMut::new();
        inbox.drain_into(first, &mailbox, &mut out, false, usize::MAX);
        assert_eq!(mailbox.waiting_bytes(), 0);
        assert!(out.starts_with(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$400\r\n"));
        drop(inbox);
        assert_eq!(mailbox.send(message(1), &limits), Delivered::Gone);
    }

    #[test]
    fn the_soft_limit_allows_a_burst_for_its_seconds_only() {
        let (mailbox, _inbox) = mailbox();
        let limits = OutputLimits {
            hard_bytes: 0,
            soft_bytes: 100,
            soft_for: Duration::from_millis(50),
        };
        assert_eq!(mailbox.send(message(200), &limits), Delivered::Queued);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(mailbox.send(message(10), &limits), Delivered::OverLimit);
    }

    #[test]
    fn invalidations_render_for_either_protocol() {
        let keys = Push::Invalidate(Some(vec![Bytes::from_static(b"k")]));
        let mut out = BytesMut::new();
        keys.render(&mut out, true);
        assert_eq!(&out[..], b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
        out.clear();
        Push::Invalidate(None).render(&mut out, false);
        assert_eq!(
            &out[..],
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n"
        );
    }
}
