//! Single-flight loading: concurrent `get_or_insert_with` callers for one
//! missing key run one loader; the others wait for its result.
//!
//! A flight is registered per key in a small sharded table. The first caller
//! (the leader) runs the loader; waiters block on the flight's condition
//! variable, or, in the async API, await it (their wakers are kept with the
//! outcome). If the leader's loader panics, or its task is cancelled, the
//! flight is *abandoned*: a panic propagates to the leader's caller and each
//! waiter retries, so one of them becomes the next leader. Nothing is left
//! locked or poisoned.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use hashbrown::HashTable;
use parking_lot::{Condvar, Mutex};

/// The outcome a flight publishes.
pub(crate) enum Outcome<V> {
    Running,
    Loaded(V),
    Failed(Arc<dyn Any + Send + Sync>),
    Abandoned,
}

impl<V: Clone> Clone for Outcome<V> {
    fn clone(&self) -> Self {
        match self {
            Outcome::Running => Outcome::Running,
            Outcome::Loaded(v) => Outcome::Loaded(v.clone()),
            Outcome::Failed(e) => Outcome::Failed(Arc::clone(e)),
            Outcome::Abandoned => Outcome::Abandoned,
        }
    }
}

pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
    done: Condvar,
}

/// The outcome, and the tasks awaiting it (under one lock, so that a
/// waker registered after a check of the outcome cannot miss its change).
struct State<V> {
    outcome: Outcome<V>,
    wakers: Vec<Waker>,
}

impl<V: Clone> Flight<V> {
    /// Blocks until the leader publishes, then returns what it published.
    pub(crate) fn wait(&self) -> Outcome<V> {
        let mut state = self.state.lock();
        while matches!(state.outcome, Outcome::Running) {
            self.done.wait(&mut state);
        }
        state.outcome.clone()
    }

    /// Waits without blocking the thread: the future resolves to what the
    /// leader published.
    pub(crate) fn wait_async(self: Arc<Self>) -> FlightWait<V> {
        FlightWait(self)
    }

    fn publish(&self, outcome: Outcome<V>) {
        let wakers = {
            let mut state = self.state.lock();
            state.outcome = outcome;
            std::mem::take(&mut state.wakers)
        };
        self.done.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// A task waiting for a flight ([`Flight::wait_async`]).
pub(crate) struct FlightWait<V>(Arc<Flight<V>>);

impl<V: Clone> Future for FlightWait<V> {
    type Output = Outcome<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        let mut state = self.0.state.lock();
        if matches!(state.outcome, Outcome::Running) {
            if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                state.wakers.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(state.outcome.clone())
    }
}

/// Whether this caller runs the loader or waits for another.
pub(crate) enum Role<V> {
    Leader(Arc<Flight<V>>),
    Waiter(Arc<Flight<V>>),
}

type Table<K, V> = HashTable<(u64, K, Arc<Flight<V>>)>;

pub(crate) struct Flights<K, V> {
    shards: Box<[Mutex<Table<K, V>>]>,
    mask: usize,
}

impl<K: Eq + Clone, V: Clone> Flights<K, V> {
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        Flights {
            shards: (0..n).map(|_| Mutex::new(HashTable::new())).collect(),
            mask: n - 1,
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<Table<K, V>> {
        &self.shards[(hash >> 40) as usize & self.mask]
    }

    /// Joins the flight for `key`, starting one if there is none.
    pub(crate) fn join(&self, hash: u64, key: &K) -> Role<V> {
        let mut table = self.shard(hash).lock();
        if let Some((_, _, flight)) = table.find(hash, |(h, k, _)| *h == hash && k == key) {
            return Role::Waiter(Arc::clone(flight));
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(State {
                outcome: Outcome::Running,
                wakers: Vec::new(),
            }),
            done: Condvar::new(),
        });
        table.insert_unique(
            hash,
            (hash, key.clone(), Arc::clone(&flight)),
            |(h, _, _)| *h,
        );
        Role::Leader(flight)
    }

    /// Publishes the leader's outcome and retires the flight.
    pub(crate) fn finish(&self, hash: u64, key: &K, flight: &Arc<Flight<V>>, outcome: Outcome<V>) {
        {
            let mut table = self.shard(hash).lock();
            if let Ok(entry) = table.find_entry(hash, |(h, k, f)| {
                *h == hash && k == key && Arc::ptr_eq(f, flight)
            }) {
                entry.remove();
            }
        }
        flight.publish(outcome);
    }
}

/// Abandons the flight if the leader unwinds before publishing.
pub(crate) struct LeaderGuard<'a, K: Eq + Clone, V: Clone> {
    pub(crate) flights: &'a Flights<K, V>,
    pub(crate) hash: u64,
    pub(crate) key: &'a K,
    pub(crate) flight: Arc<Flight<V>>,
    pub(crate) published: bool,
}

impl<K: Eq + Clone, V: Clone> LeaderGuard<'_, K, V> {
    pub(crate) fn publish(mut self, outcome: Outcome<V>) {
        self.published = true;
        self.flights
            .finish(self.hash, self.key, &self.flight, outcome);
    }
}

impl<K: Eq + Clone, V: Clone> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if !self.published {
            self.flights
                .finish(self.hash, self.key, &self.flight, Outcome::Abandoned);
        }
    }
}
