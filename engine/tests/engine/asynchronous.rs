//! The async API, on tokio and on a minimal executor of our own: loads
//! coalesced per key, cancellation and panics that poison nothing, errors
//! shared with every waiter, cold reads awaited off the executor's thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use goldylox::{AsyncCache, Cache};

use crate::support::{FILL, filled_three_tiers, noise};

fn memory_cache() -> AsyncCache<String, String> {
    AsyncCache::new(Cache::new(1 << 20).unwrap()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// A thousand tasks miss one key at once: one loader runs, all get its value.
#[test]
fn a_thousand_concurrent_misses_run_one_loader() {
    let cache = memory_cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let rt = runtime();
    let values = rt.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (cache, calls) = (cache.clone(), Arc::clone(&calls));
                tokio::spawn(async move {
                    cache
                        .get_with("k".to_owned(), async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            "loaded".to_owned()
                        })
                        .await
                })
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one backend call");
    assert!(values.iter().all(|v| v == "loaded"));
    let loader = cache.sync().stats().loader;
    assert_eq!(loader.runs, 1, "{loader:?}");
    assert!(loader.waits > 0, "others waited: {loader:?}");
    assert_eq!(cache.sync().get("k").as_deref(), Some("loaded"));
}

/// An error reaches every task waiting on the load, and nothing is stored.
#[test]
fn a_failed_load_is_every_waiters_error_and_stores_nothing() {
    let cache = memory_cache();
    let rt = runtime();
    let errors = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .try_get_with("k".to_owned(), async move {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Err::<String, _>(format!("backend down ({i})"))
                        })
                        .await
                })
            })
            .collect();
        let mut errors = Vec::new();
        for t in tasks {
            errors.push(t.await.unwrap().unwrap_err());
        }
        errors
    });
    // Tasks that joined the one flight share its error (the same Arc).
    let shared = errors.iter().filter(|e| Arc::ptr_eq(e, &errors[0])).count();
    assert!(shared > 1, "waiters got the leader's error");
    assert!(cache.sync().get("k").is_none(), "an error is not stored");
    assert!(cache.sync().stats().loader.errors >= 1);
    // `optionally_get_with`: nothing found is `None`, not stored either.
    let none = rt.block_on(cache.optionally_get_with("n".to_owned(), async { None }));
    assert_eq!(none, None);
    assert!(cache.sync().get("n").is_none());
}

/// The loading task is cancelled mid-load: the waiters wake, one of them
/// loads, and the key is loaded and stored as if nothing happened.
#[test]
fn a_cancelled_loader_hands_the_load_to_a_waiter() {
    let cache = memory_cache();
    let rt = runtime();
    let (value, runs) = rt.block_on(async {
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_with("k".to_owned(), async {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        "never".to_owned()
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_with("k".to_owned(), async { "second".to_owned() })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        let value = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter is woken")
            .unwrap();
        (value, cache.sync().stats().loader.runs)
    });
    assert_eq!(value, "second");
    assert_eq!(runs, 2, "the cancelled load and the waiter's");
    assert_eq!(cache.sync().get("k").as_deref(), Some("second"));
}

/// A loader panics: the panic reaches its own task only, the waiters load
/// again, and the cache and its flights keep working.
#[test]
fn a_panicking_loader_poisons_nothing() {
    let cache = memory_cache();
    let rt = runtime();
    let (panicked, value) = rt.block_on(async {
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_with("k".to_owned(), async {
                        tokio::time::sleep(Duration::from_millis(40)).await;
                        panic!("loader bug");
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_with("k".to_owned(), async { "recovered".to_owned() })
                    .await
            })
        };
        let panicked = leader.await.unwrap_err().is_panic();
        (panicked, waiter.await.unwrap())
    });
    assert!(panicked, "the panic reached the loading task");
    assert_eq!(value, "recovered");
    assert_eq!(cache.sync().stats().loader.panics, 1);
    // The synchronous API shares the flights and still works.
    assert_eq!(
        cache
            .sync()
            .get_or_insert_with("j".to_owned(), || "sync".to_owned()),
        "sync"
    );
}

/// Reads of keys only on disk are awaited on the blocking workers and find
/// every value; writes and removes of a three-tier cache go there too.
#[test]
fn cold_reads_and_writes_are_awaited_off_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let cache = AsyncCache::with_workers(filled_three_tiers(dir.path()), 2).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cold_hits_before = cache.sync().stats().cold.hits;
    rt.block_on(async {
        for k in 0..FILL {
            assert_eq!(cache.get(&k).await, Some(noise(k)), "key {k}");
        }
        cache.insert(FILL, noise(FILL)).await.unwrap();
        assert_eq!(cache.remove(&0).await, Some(noise(0)));
        assert_eq!(cache.get(&0).await, None);
        assert_eq!(cache.get(&FILL).await, Some(noise(FILL)));
    });
    assert!(
        cache.sync().stats().cold.hits > cold_hits_before,
        "some reads were served from disk"
    );
}

/// The futures need no particular executor: a `block_on` of a dozen lines,
/// on several threads at once, coalesces loads the same way.
#[test]
fn any_executor_runs_the_futures() {
    let cache = memory_cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (cache.clone(), Arc::clone(&calls));
            std::thread::spawn(move || {
                block_on(cache.get_with("k".to_owned(), async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    "v".to_owned()
                }))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "v");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    block_on(async {
        cache.insert("a".into(), "1".into()).await.unwrap();
        assert_eq!(cache.get("a").await.as_deref(), Some("1"));
        assert_eq!(cache.remove("a").await.as_deref(), Some("1"));
    });
}

/// Parks the thread until the future is woken: an executor with nothing in it.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
