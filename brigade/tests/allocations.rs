//! S11: allocation counts, with a counting global allocator (one per test binary, so these
//! tests live alone here). Only allocations made on a thread that has switched counting on are
//! counted, so other tests running in parallel do not disturb the numbers.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use brigade::{Runtime, Task};
use common::watchdog;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn counting_here() -> bool {
    COUNT_HERE.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting_here() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the allocations this thread makes while `f` runs. The counter is global but only
/// threads with the flag on add to it; each test using this runs its measured section on a
/// single-worker runtime and the tests are serialised by a lock.
fn count_here<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNT_HERE.with(|c| c.set(true));
    let out = f();
    COUNT_HERE.with(|c| c.set(false));
    (out, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_worker() -> Runtime {
    Runtime::builder().workers(1).build().expect("runtime")
}

#[test]
fn s11_awaiting_an_already_ready_future_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let allocations = watchdog("s11 ready", Duration::from_secs(10), || {
        let rt = one_worker();
        rt.block_on(rt.spawn(async {
            // Warm up anything lazily initialised on this worker.
            std::future::ready(0u32).await;
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            COUNT_HERE.with(|c| c.set(true));
            let mut sum = 0u64;
            for i in 0..1000u64 {
                sum += std::future::ready(i).await;
                sum += async { 1 }.await;
            }
            COUNT_HERE.with(|c| c.set(false));
            assert_eq!(sum, 1000 * 999 / 2 + 1000);
            ALLOCATIONS.load(Ordering::SeqCst) - before
        }))
    });
    assert_eq!(
        allocations, 0,
        "awaiting 2000 ready futures allocated {allocations} times"
    );
}

/// Spawns `n` tasks that complete on their first poll and awaits them, all from one task on a
/// one-worker runtime (so every poll happens on the counting thread). Returns allocations made.
fn spawn_ready_tasks(n: usize, batch: bool) -> u64 {
    let rt = one_worker();
    rt.block_on(rt.spawn(async move {
        // Warm-up: first spawns may initialise per-thread state; the handle vector is made now.
        for _ in 0..100 {
            brigade::spawn(async { 1u32 }).await;
        }
        let mut handles: Vec<Task<u32>> = Vec::with_capacity(n);
        let (sum, allocations) = {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            COUNT_HERE.with(|c| c.set(true));
            let mut sum = 0u64;
            if batch {
                for i in 0..n {
                    handles.push(brigade::spawn(async move { i as u32 }));
                }
                for handle in handles.drain(..) {
                    sum += u64::from(handle.await);
                }
            } else {
                for i in 0..n {
                    sum += u64::from(brigade::spawn(async move { i as u32 }).await);
                }
            }
            COUNT_HERE.with(|c| c.set(false));
            (sum, ALLOCATIONS.load(Ordering::SeqCst) - before)
        };
        assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
        drop(handles);
        allocations
    }))
}

#[test]
fn s11_a_task_ready_on_first_poll_costs_one_allocation_its_cell() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 10_000;
    let allocations = watchdog("s11 spawn", Duration::from_secs(20), || {
        spawn_ready_tasks(N, false)
    });
    let per_task = allocations as f64 / N as f64;
    assert!(
        per_task <= 1.1,
        "spawn + await of a ready task: {allocations} allocations for {N} tasks ({per_task:.3} each)"
    );
    assert!(
        allocations >= N as u64,
        "counted {allocations} allocations for {N} spawns: the counter is not working"
    );
}

#[test]
fn s11_many_ready_tasks_spawned_in_a_batch_cost_about_one_allocation_each() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 10_000;
    let allocations = watchdog("s11 batch", Duration::from_secs(20), || {
        spawn_ready_tasks(N, true)
    });
    let per_task = allocations as f64 / N as f64;
    assert!(
        per_task <= 1.1,
        "{N} spawns in a batch: {allocations} allocations ({per_task:.3} each; queue growth \
         must amortise)"
    );
}

#[test]
fn s11_the_counting_allocator_sees_allocations() {
    let (_v, n) = count_here(|| std::hint::black_box(vec![1u8; 10]));
    assert!(
        n >= 1,
        "the counting allocator did not count a Vec allocation"
    );
}
