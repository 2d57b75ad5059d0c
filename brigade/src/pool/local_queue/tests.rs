//! Unit and stress tests of the local queue.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Mutex;
use std::thread;

/// Collects overflowed items.
struct Sink<T>(Mutex<Vec<T>>);

impl<T> Sink<T> {
    fn new() -> Self {
        Sink(Mutex::new(Vec::new()))
    }

    fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<T> Overflow<T> for Sink<T> {
    fn push_batch(&self, batch: impl Iterator<Item = T>) {
        self.0.lock().unwrap().extend(batch);
    }
}

/// An overflow that must never be used.
struct NoOverflow;

impl<T> Overflow<T> for NoOverflow {
    fn push_batch(&self, _: impl Iterator<Item = T>) {
        panic!("unexpected overflow");
    }
}

/// An item that counts its drops.
#[derive(Debug)]
struct Counted(usize, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

fn drain<T>(local: &mut Local<T>) -> Vec<T> {
    iter::from_fn(|| local.pop()).collect()
}

#[test]
fn push_pop_is_fifo() {
    let (mut owner, stealer) = local::<usize>();
    assert!(owner.is_empty() && stealer.is_empty());
    assert_eq!(owner.remaining_slots(), LOCAL_QUEUE_CAPACITY);
    for i in 0..10 {
        owner.push_back(i, &NoOverflow);
    }
    assert_eq!(owner.len(), 10);
    assert_eq!(stealer.len(), 10);
    assert_eq!(owner.remaining_slots(), LOCAL_QUEUE_CAPACITY - 10);
    assert_eq!(drain(&mut owner), (0..10).collect::<Vec<_>>());
    assert_eq!(owner.pop(), None);
    assert!(owner.is_empty());
}

#[test]
fn fifo_across_index_wraparound() {
    let (mut owner, stealer) = local_at::<usize>(u32::MAX - 5);
    let mut expected = 0..;
    for round in 0..4 {
        for i in 0..LOCAL_QUEUE_CAPACITY {
            owner.push_back(round * LOCAL_QUEUE_CAPACITY + i, &NoOverflow);
        }
        let mut dst = local_at::<usize>(u32::MAX - 1).0;
        let first = stealer.steal_half_into(&mut dst).unwrap();
        let mut got = drain(&mut dst);
        got.push(first);
        got.extend(drain(&mut owner));
        assert!(got
            .iter()
            .copied()
            .eq(expected.by_ref().take(LOCAL_QUEUE_CAPACITY)));
    }
}

#[test]
fn overflow_moves_half_plus_one_and_loses_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    let sink = Sink::new();
    let (mut owner, _stealer) = local();
    for i in 0..LOCAL_QUEUE_CAPACITY {
        owner.push_back(Counted(i, drops.clone()), &sink);
    }
    assert!(sink.take().is_empty(), "no overflow until full");
    assert_eq!(owner.remaining_slots(), 0);

    owner.push_back(Counted(LOCAL_QUEUE_CAPACITY, drops.clone()), &sink);
    let overflowed = sink.take();
    let half = LOCAL_QUEUE_CAPACITY / 2;
    assert_eq!(overflowed.len(), half + 1);
    let ids: Vec<_> = overflowed.iter().map(|c| c.0).collect();
    let want: Vec<_> = (0..half).chain([LOCAL_QUEUE_CAPACITY]).collect();
    assert_eq!(ids, want, "oldest half, then the new task");
    assert_eq!(owner.len(), half);

    let left: Vec<_> = drain(&mut owner).iter().map(|c| c.0).collect();
    assert_eq!(left, (half..LOCAL_QUEUE_CAPACITY).collect::<Vec<_>>());
    drop(overflowed);
    assert_eq!(drops.load(Ordering::Relaxed), LOCAL_QUEUE_CAPACITY + 1);
}

#[test]
fn partially_consumed_overflow_batch_drops_the_rest() {
    struct TakeOne<T>(Mutex<Vec<T>>);
    impl<T> Overflow<T> for TakeOne<T> {
        fn push_batch(&self, mut batch: impl Iterator<Item = T>) {
            self.0.lock().unwrap().extend(batch.next());
        }
    }

    let drops = Arc::new(AtomicUsize::new(0));
    let sink = TakeOne(Mutex::new(Vec::new()));
    let (mut owner, _stealer) = local();
    for i in 0..=LOCAL_QUEUE_CAPACITY {
        owner.push_back(Counted(i, drops.clone()), &sink);
    }
    assert_eq!(drops.load(Ordering::Relaxed), LOCAL_QUEUE_CAPACITY / 2);
    drop(owner);
    drop(sink);
    assert_eq!(drops.load(Ordering::Relaxed), LOCAL_QUEUE_CAPACITY + 1);
}

#[test]
fn full_queue_with_steal_in_flight_overflows_only_the_task() {
    let sink = Sink::new();
    let (mut owner, stealer) = local::<usize>();
    for i in 0..LOCAL_QUEUE_CAPACITY {
        owner.push_back(i, &sink);
    }
    // Fake a steal in flight of the first item.
    owner.inner.head.store(pack(0, 1), Ordering::Relaxed);
    owner.push_back(999, &sink);
    assert_eq!(sink.take(), vec![999]);
    let mut dst = local::<usize>().0;
    assert_eq!(
        stealer.steal_half_into(&mut dst),
        None,
        "one steal at a time"
    );
    // Finish the fake steal (item 0 counts as taken by it).
    owner.inner.head.store(pack(1, 1), Ordering::Relaxed);
    assert_eq!(
        drain(&mut owner),
        (1..LOCAL_QUEUE_CAPACITY).collect::<Vec<_>>()
    );
}

#[test]
fn steal_half_moves_ceil_half() {
    for n in [
        1,
        2,
        3,
        7,
        8,
        LOCAL_QUEUE_CAPACITY - 1,
        LOCAL_QUEUE_CAPACITY,
    ] {
        let (mut src, stealer) = local::<usize>();
        let (mut dst, _) = local::<usize>();
        src.push_back_batch(0..n);
        let stolen = n.div_ceil(2);

        let first = stealer.steal_half_into(&mut dst).expect("non-empty");
        assert_eq!(first, stolen - 1, "n = {n}: returns the newest stolen item");
        assert_eq!(dst.len(), stolen - 1);
        assert_eq!(src.len(), n - stolen);
        assert_eq!(drain(&mut dst), (0..stolen - 1).collect::<Vec<_>>());
        assert_eq!(drain(&mut src), (stolen..n).collect::<Vec<_>>());
    }
}

#[test]
fn steal_from_empty_or_into_crowded_dst_is_none() {
    let (mut src, stealer) = local::<usize>();
    let (mut dst, _) = local::<usize>();
    assert_eq!(stealer.steal_half_into(&mut dst), None);

    src.push_back_batch(0..4);
    dst.push_back_batch(0..LOCAL_QUEUE_CAPACITY / 2 + 1);
    assert_eq!(stealer.steal_half_into(&mut dst), None, "dst too full");
    assert_eq!(src.len(), 4, "nothing taken");
    dst.pop();
    assert_eq!(stealer.clone().steal_half_into(&mut dst), Some(1));
}

#[test]
fn push_back_batch_fills_exactly_remaining_slots() {
    let (mut owner, _) = local::<usize>();
    owner.push_back_batch(0..LOCAL_QUEUE_CAPACITY);
    assert_eq!(owner.remaining_slots(), 0);
    assert_eq!(
        drain(&mut owner),
        (0..LOCAL_QUEUE_CAPACITY).collect::<Vec<_>>()
    );
}

#[test]
#[should_panic(expected = "free slots")]
fn push_back_batch_asserts_capacity() {
    let (mut owner, _) = local::<usize>();
    owner.push_back(0, &NoOverflow);
    owner.push_back_batch(0..LOCAL_QUEUE_CAPACITY);
}

#[test]
fn drop_drops_leftovers() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut owner, stealer) = local();
    for i in 0..10 {
        owner.push_back(Counted(i, drops.clone()), &NoOverflow);
    }
    drop(owner);
    assert_eq!(drops.load(Ordering::Relaxed), 10);
    assert!(stealer.is_empty());
}

#[test]
fn handles_are_send_and_sync_as_documented() {
    fn send<S: Send>() {}
    fn send_sync<S: Send + Sync + Clone>() {}
    send::<Local<Box<u8>>>();
    send_sync::<Stealer<Box<u8>>>();
}

#[test]
fn stress_owner_and_two_stealers() {
    const N: usize = 100_000;
    const STEALERS: usize = 2;

    let (mut owner, stealer) = local::<usize>();
    let sink = Sink::new();
    let done = Arc::new(AtomicBool::new(false));

    let thieves: Vec<_> = (0..STEALERS)
        .map(|_| {
            let stealer = stealer.clone();
            let done = done.clone();
            thread::spawn(move || {
                let (mut dst, _) = local::<usize>();
                let mut seen = Vec::new();
                loop {
                    // Read `done` before stealing: once set, the owner pushes no more, so a
                    // failed steal after it means the queue is (and stays) drained.
                    let finished = done.load(Ordering::Acquire);
                    match stealer.steal_half_into(&mut dst) {
                        Some(task) => {
                            seen.push(task);
                            seen.extend(drain(&mut dst));
                        }
                        None if finished && stealer.is_empty() => return seen,
                        None => thread::yield_now(),
                    }
                }
            })
        })
        .collect();

    let mut seen = Vec::new();
    for i in 0..N {
        owner.push_back(i, &sink);
        if i % 3 == 0 {
            seen.extend(owner.pop());
        }
    }
    done.store(true, Ordering::Release);
    seen.extend(drain(&mut owner));
    for thief in thieves {
        seen.extend(thief.join().unwrap());
    }
    seen.extend(drain(&mut owner));
    seen.extend(sink.take());

    let mut count = vec![0u8; N];
    for item in seen {
        count[item] += 1;
    }
    let bad: Vec<_> = (0..N).filter(|&i| count[i] != 1).take(10).collect();
    assert!(bad.is_empty(), "items seen != once: {bad:?}");
}
