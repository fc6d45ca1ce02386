//! Bad input gets a clear error or documented behaviour: never a hang, never a
//! poisoned cache.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use goldylox::{Cache, Error};

#[test]
fn zero_capacity_is_refused_at_build() {
    let err = Cache::<u64, u64>::builder(0).build().unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("max_capacity"));
    let err = Cache::<u64, u64>::builder(10)
        .shards(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }));
    let err = Cache::<u64, u64>::builder(10)
        .time_to_live(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }));
}

#[test]
fn an_entry_larger_than_the_cache_is_refused_and_nothing_is_evicted() {
    let cache: Cache<u64, Vec<u8>> = Cache::new(1_000).unwrap();
    cache.insert(1, vec![1; 100]).unwrap();
    let err = cache.insert(2, vec![2; 5_000]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::EntryTooLarge {
                capacity: 1_000,
                ..
            }
        ),
        "{err}"
    );
    cache.run_pending_tasks();
    assert_eq!(cache.get(&1), Some(vec![1; 100]));
    assert_eq!(cache.get(&2), None);
    // The loader path returns the value even though it cannot be stored.
    assert_eq!(cache.get_or_insert_with(3, || vec![3; 5_000]).len(), 5_000);
    assert!(!cache.contains_key(&3));
}

#[test]
fn a_panicking_weigher_fails_the_write_and_nothing_else() {
    let cache: Cache<u64, u64> = Cache::builder(1_000)
        .weigher(|k, _| if *k == 13 { panic!("unlucky") } else { 8 })
        .build()
        .unwrap();
    cache.insert(1, 1).unwrap();
    assert_eq!(cache.insert(13, 13).unwrap_err(), Error::WeigherPanicked);
    cache.insert(2, 2).unwrap();
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(cache.get(&2), Some(2));
    assert_eq!(cache.get(&13), None);
    assert_eq!(cache.weighted_size(), 16);
    assert_eq!(cache.stats().weigher_panics, 1);
}

#[test]
fn a_panicking_loader_propagates_and_waiters_retry() {
    let cache: Cache<u64, u64> = Cache::new(1_000).unwrap();
    let started = Arc::new(std::sync::Barrier::new(2));
    let leader = {
        let (cache, started) = (cache.clone(), Arc::clone(&started));
        thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                cache.get_or_insert_with(5, || {
                    started.wait();
                    thread::sleep(Duration::from_millis(50));
                    panic!("loader exploded")
                })
            }))
        })
    };
    started.wait();
    // This caller joins the doomed flight, sees it abandoned, and loads itself.
    let v = cache.get_or_insert_with(5, || 55);
    assert_eq!(v, 55);
    assert!(
        leader.join().unwrap().is_err(),
        "the panic reaches the leader's caller"
    );
    assert_eq!(cache.get(&5), Some(55));
    let stats = cache.stats();
    assert_eq!(stats.loader.panics, 1);
    // Nothing is poisoned: the key's flight is gone and loads work again.
    cache.remove(&5);
    assert_eq!(cache.get_or_insert_with(5, || 56), 56);
}

#[test]
fn a_loader_error_is_returned_and_counted() {
    let cache: Cache<u64, u64> = Cache::new(1_000).unwrap();
    let err = cache
        .try_get_or_insert_with(1, || Err::<u64, _>(std::io::Error::other("nope")))
        .unwrap_err();
    assert_eq!(err.to_string(), "nope");
    assert_eq!(cache.stats().loader.errors, 1);
    assert_eq!(cache.get(&1), None);
}

#[test]
fn a_panicking_listener_is_counted_and_ignored() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let cache: Cache<u64, u64> = Cache::builder(1_000)
        .removal_listener(move |_, _, _| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("listener bug")
        })
        .build()
        .unwrap();
    cache.insert(1, 1).unwrap();
    cache.insert(1, 2).unwrap(); // replaced
    assert_eq!(cache.remove(&1), Some(2)); // removed
    cache.insert(3, 3).unwrap();
    assert_eq!(cache.get(&3), Some(3));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().listener_panics, 2);
}

#[test]
fn shutdown_drains_and_refuses_writes_but_serves_reads() {
    let cache: Cache<u64, u64> = Cache::builder(100).slack(1_000).build().unwrap();
    for i in 0..200 {
        cache.insert(i, i).unwrap();
    }
    cache.shutdown();
    // The final pass brought the cache under its capacity.
    assert!(cache.weighted_size() <= 100);
    assert_eq!(cache.insert(1_000, 1).unwrap_err(), Error::Closed);
    let present: Vec<u64> = (0..200).filter(|i| cache.get(i).is_some()).collect();
    assert!(!present.is_empty());
    cache.shutdown(); // idempotent
    assert!(cache.remove(&present[0]).is_some());
}

#[test]
fn dropping_the_last_handle_stops_maintenance() {
    // The cache's state, which the maintenance thread holds while it runs,
    // owns a listener holding `token`: once the last handle is dropped
    // (which joins the thread), nothing holds the token but the test.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..50 {
            let token = Arc::new(());
            let held = Arc::clone(&token);
            let cache: Cache<u64, u64> = Cache::builder(1_000)
                .departure_listener(move |_, _| {
                    let _ = &held;
                })
                .build()
                .unwrap();
            let clone = cache.clone();
            clone.insert(1, 1).unwrap();
            drop(cache);
            assert_eq!(Arc::strong_count(&token), 2, "one handle left: running");
            drop(clone);
            assert_eq!(
                Arc::strong_count(&token),
                1,
                "the last handle dropped: maintenance stopped and let go of the state"
            );
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("dropping the handles returns (a hang would be a maintenance thread never joined)");
}

#[test]
fn a_listener_may_write_back_into_its_cache() {
    // Evicted entries are re-inserted under another key from the maintenance
    // thread; that must not deadlock on backpressure.
    let slot: Arc<std::sync::OnceLock<Cache<u64, u64>>> = Arc::default();
    let s = Arc::clone(&slot);
    let cache: Cache<u64, u64> = Cache::builder(200)
        .removal_listener(move |k, v, cause| {
            if cause == goldylox::RemovalCause::Evicted
                && k < 1_000_000
                && let Some(c) = s.get()
            {
                let _ = c.insert(k + 1_000_000, v);
            }
        })
        .build()
        .unwrap();
    let _ = slot.set(cache.clone());
    for i in 0..5_000 {
        cache.insert(i, i).unwrap();
    }
    cache.run_pending_tasks();
    assert!(cache.stats().removals.evicted > 0);
    // Break the cycle so the cache can shut down.
    cache.shutdown();
}
