//! Behaviour tests for ExecutionContext and AsyncLocal: promises C1-C7 of docs/SEMANTICS.md
//! (seed section 4).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use brigade::context::{AsyncLocal, ExecutionContext};
use brigade::sync_context::{self, MainLoop};
use brigade::{yield_now, Promise, Runtime, Task, TaskError};
use brigade_test_support::*;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- C1

static C1_FLOWING: AsyncLocal<u32> = AsyncLocal::new();
static C1_TASK_ONLY: AsyncLocal<&'static str> = AsyncLocal::task_only();

#[test]
fn c1_a_value_set_in_a_task_stays_visible_across_awaits_and_thread_hops() {
    watchdog("c1", LIMIT, || {
        let rt = rt(2);
        let foreign = foreign_loop("c1-foreign-loop");
        let foreign_context: Arc<dyn sync_context::SyncContext> = foreign.clone();
        let pool = rt.handle().sync_context();
        let foreign_thread = foreign.thread;
        let threads = rt.block_on(rt.spawn(async move {
            C1_FLOWING.set(0);
            C1_TASK_ONLY.set("mine");
            let mut threads = HashSet::new();
            for round in 0..10u32 {
                yield_now().await;
                assert_eq!(C1_FLOWING.get(), Some(round), "after yield_now");
                brigade::run(|| thread::sleep(Duration::from_millis(1))).await;
                assert_eq!(C1_FLOWING.get(), Some(round), "after awaiting brigade::run");
                // A forced hop: onto another thread entirely, and back to the pool.
                sync_context::switch_to(&foreign_context).await;
                assert_eq!(thread::current().id(), foreign_thread);
                threads.insert(thread::current().id());
                assert_eq!(C1_FLOWING.get(), Some(round), "on the foreign thread");
                assert_eq!(
                    C1_TASK_ONLY.get(),
                    Some("mine"),
                    "task-only, foreign thread"
                );
                sync_context::switch_to(&pool).await;
                threads.insert(thread::current().id());
                assert_eq!(C1_FLOWING.get(), Some(round), "back on the pool");
                assert_eq!(
                    C1_TASK_ONLY.get(),
                    Some("mine"),
                    "task-only, back on the pool"
                );
                // Writes made after hops stay too.
                C1_FLOWING.set(round + 1);
            }
            threads
        }));
        assert!(
            threads.len() >= 2,
            "the task was meant to run on at least two threads, ran on {threads:?}"
        );
    });
}

// ---------------------------------------------------------------- C2

static C2: AsyncLocal<&'static str> = AsyncLocal::new();

#[test]
fn c2_a_spawned_task_sees_the_spawners_snapshot_and_later_writes_stay_on_their_side() {
    watchdog("c2 spawn", LIMIT, || {
        let rt = rt(2);
        rt.block_on(rt.spawn(async {
            C2.set("before the spawn");
            let (go, gate) = Promise::<()>::new();
            let child = brigade::spawn(async move {
                let at_start = C2.get();
                gate.await.expect("the parent opens the gate");
                let after_parent_wrote = C2.get();
                C2.set("written by the child");
                (at_start, after_parent_wrote)
            });
            C2.set("after the spawn");
            go.set(()).expect("set once");
            let (at_start, after_parent_wrote) = child.await;
            assert_eq!(at_start, Some("before the spawn"));
            assert_eq!(
                after_parent_wrote,
                Some("before the spawn"),
                "the parent's later write reached the child"
            );
            assert_eq!(
                C2.get(),
                Some("after the spawn"),
                "the child's write reached the parent"
            );
        }));
    });
}

#[test]
fn c2_spawning_from_outside_any_task_captures_the_threads_context() {
    watchdog("c2 outside", LIMIT, || {
        let rt = rt(1);
        C2.set("set on this thread");
        let child = rt.spawn(async { C2.get() });
        C2.set("changed after");
        assert_eq!(rt.block_on(child), Some("set on this thread"));
        C2.clear();
    });
}

#[test]
fn c2_run_closures_see_the_snapshot_and_their_writes_stay_inside() {
    watchdog("c2 run", LIMIT, || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async {
            C2.set("task value");
            let (seen, after_own_write) = brigade::run(|| {
                let seen = C2.get();
                C2.set("written in the closure");
                (seen, C2.get())
            })
            .await;
            assert_eq!(seen, Some("task value"));
            assert_eq!(after_own_write, Some("written in the closure"));
            assert_eq!(C2.get(), Some("task value"));
            // The blocking thread is clean for the next closure.
            let next = ExecutionContext::empty().run(|| brigade::run(|| C2.get()));
            assert_eq!(next.await, None);
        }));
    });
}

#[test]
fn c2_spawn_local_sees_the_snapshot_taken_at_spawn() {
    watchdog("c2 spawn_local", LIMIT, || {
        let main_loop = MainLoop::new();
        C2.set("loop thread value");
        let child = main_loop.spawn_local(async { C2.get() });
        C2.set("changed after");
        assert_eq!(main_loop.run(child), Some("loop thread value"));
        C2.clear();
    });
}

#[test]
fn c2_captured_contexts_run_callbacks_in_the_registration_snapshot() {
    // What timers and cancellation tokens do with their callbacks.
    C2.set("at registration");
    let captured = ExecutionContext::capture();
    C2.set("later");
    let inside = captured.run(|| {
        let seen = C2.get();
        C2.set("written by the callback");
        seen
    });
    assert_eq!(inside, Some("at registration"));
    assert_eq!(C2.get(), Some("later"));
    assert_eq!(
        captured.run(|| C2.get()),
        Some("at registration"),
        "the callback's write changed the captured snapshot"
    );
    C2.clear();
}

#[test]
fn c2_run_restores_the_previous_context_when_the_callback_panics() {
    quiet_expected_panics();
    C2.set("outer");
    let captured = ExecutionContext::empty();
    let result = catch_unwind(AssertUnwindSafe(|| {
        captured.run(|| panic!("[expected] callback failed"));
    }));
    assert!(result.is_err());
    assert_eq!(C2.get(), Some("outer"));
    C2.clear();
}

// ---------------------------------------------------------------- C3

static C3: AsyncLocal<&'static str> = AsyncLocal::new();
static C3_OTHER: AsyncLocal<u32> = AsyncLocal::new();

#[test]
fn c3_scope_sets_the_value_only_while_the_future_runs() {
    brigade::block_on(async {
        C3.set("outer");
        let inside = C3
            .scope("inner", async {
                yield_now().await;
                C3_OTHER.set(5); // a write inside the scope stays inside
                (C3.get(), C3_OTHER.get())
            })
            .await;
        assert_eq!(inside, (Some("inner"), Some(5)));
        assert_eq!(C3.get(), Some("outer"));
        assert_eq!(C3_OTHER.get(), None);
    });
}

#[test]
fn c3_between_polls_and_after_a_drop_the_previous_value_is_back() {
    C3.set("outer");
    let mut scope = Box::pin(C3.scope("inner", async {
        yield_now().await;
        C3.get()
    }));
    assert!(poll_once(&mut scope.as_mut()).is_pending());
    assert_eq!(
        C3.get(),
        Some("outer"),
        "the scope's value leaked between polls"
    );
    assert_eq!(poll_once(&mut scope.as_mut()), Poll::Ready(Some("inner")));

    let mut dropped_early = Box::pin(C3.scope("inner", yield_now()));
    assert!(poll_once(&mut dropped_early.as_mut()).is_pending());
    drop(dropped_early);
    assert_eq!(C3.get(), Some("outer"), "dropping the scope left its value");
    C3.clear();
}

#[test]
fn c3_the_scoped_future_is_dropped_inside_its_scope() {
    struct ReadsOnDrop(Arc<Mutex<Option<&'static str>>>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = C3.get();
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let probe = ReadsOnDrop(seen.clone());
    let mut scope = Box::pin(C3.scope("inner", async move {
        let _probe = probe;
        yield_now().await;
    }));
    assert!(poll_once(&mut scope.as_mut()).is_pending());
    drop(scope);
    assert_eq!(*seen.lock().unwrap(), Some("inner"));
}

#[test]
fn c3_a_panic_inside_the_scope_still_restores_the_outer_value() {
    quiet_expected_panics();
    C3.set("outer");
    let mut scope = pin!(C3.scope("inner", async {
        panic!("[expected] inside the scope");
    }));
    let result = catch_unwind(AssertUnwindSafe(|| poll_once(&mut scope.as_mut())));
    assert!(result.is_err());
    assert_eq!(C3.get(), Some("outer"));
    C3.clear();
}

// ---------------------------------------------------------------- C4

static C4: AsyncLocal<u64> = AsyncLocal::new();
static C4_TASK_ONLY: AsyncLocal<u64> = AsyncLocal::task_only();

#[test]
fn c4_capturing_twice_gives_the_same_context_and_allocates_nothing() {
    thread::spawn(|| {
        let empty = ExecutionContext::capture();
        C4.set(1);
        C4_TASK_ONLY.set(2); // a captured map without it is built once, at this write
        let ((first, second, value), allocations) = count_allocations(|| {
            let first = ExecutionContext::capture();
            let second = ExecutionContext::capture();
            (first, second, C4.get())
        });
        assert!(ExecutionContext::ptr_eq(&first, &second));
        assert!(!ExecutionContext::ptr_eq(&first, &empty));
        assert_eq!(value, Some(1));
        assert_eq!(allocations, 0, "capture and get allocated");
        assert_eq!(C4_TASK_ONLY.get_in(&first), None);
        assert_eq!(C4.get_in(&first), Some(1));
        C4.set(3);
        assert!(
            !ExecutionContext::ptr_eq(&first, &ExecutionContext::capture()),
            "a write must give a new snapshot"
        );
    })
    .join()
    .expect("the test thread");
}

#[test]
fn c4_spawning_with_a_value_set_still_costs_one_allocation_per_task() {
    const N: u64 = 2_000;
    let allocations = watchdog("c4 spawn", LIMIT, || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async {
            C4.set(7);
            for _ in 0..50 {
                brigade::spawn(async { C4.get() }).await; // warm-up
            }
            let mut handles: Vec<Task<Option<u64>>> = Vec::with_capacity(N as usize);
            let ((), allocations) = count_allocations(|| {
                for _ in 0..N {
                    handles.push(brigade::spawn(async { C4.get() }));
                }
            });
            for handle in handles {
                assert_eq!(handle.await, Some(7));
            }
            allocations
        }))
    });
    assert!(
        allocations <= N + N / 10,
        "{allocations} allocations for {N} spawns with a value set: capturing allocates"
    );
}

// ---------------------------------------------------------------- C5

static C5: AsyncLocal<&'static str> = AsyncLocal::new();

#[test]
fn c5_while_flow_is_suppressed_spawned_work_starts_empty() {
    watchdog("c5", LIMIT, || {
        let rt = rt(1);
        C5.set("secret");
        let guard = ExecutionContext::suppress_flow();
        assert!(ExecutionContext::is_flow_suppressed());
        assert_eq!(
            C5.get(),
            Some("secret"),
            "the current code keeps its values"
        );
        assert!(ExecutionContext::capture().is_empty());
        let spawned = rt.spawn(async { C5.get() });
        let ran = rt.run(|| C5.get());
        let callback = ExecutionContext::capture();
        drop(guard);
        assert!(!ExecutionContext::is_flow_suppressed());
        assert_eq!(rt.block_on(spawned), None);
        assert_eq!(rt.block_on(ran), None);
        assert_eq!(callback.run(|| C5.get()), None);
        // Flow is back once the guard is gone.
        assert_eq!(rt.block_on(rt.spawn(async { C5.get() })), Some("secret"));
        C5.clear();
    });
}

#[test]
fn c5_suppression_does_not_reach_into_the_spawned_work_itself() {
    watchdog("c5 child", LIMIT, || {
        let rt = rt(1);
        let guard = ExecutionContext::suppress_flow();
        let child = rt.spawn(async {
            let suppressed_in_child = ExecutionContext::is_flow_suppressed();
            C5.set("child value");
            let grandchild = brigade::spawn(async { C5.get() }).await;
            (suppressed_in_child, grandchild)
        });
        drop(guard);
        assert_eq!(rt.block_on(child), (false, Some("child value")));
    });
}

#[test]
fn c5_a_second_suppress_flow_while_one_is_active_panics_with_an_explanation() {
    let _guard = ExecutionContext::suppress_flow();
    let second = catch_unwind(ExecutionContext::suppress_flow).expect_err("must panic");
    let message = panic_text(&*second);
    assert!(
        message.contains("already suppressed"),
        "unclear message: {message}"
    );
}

// ---------------------------------------------------------------- C6

static C6_TASK_ONLY: AsyncLocal<&'static str> = AsyncLocal::task_only();
static C6_FLOWING: AsyncLocal<&'static str> = AsyncLocal::new();

#[test]
fn c6_a_task_only_local_does_not_flow_into_spawned_children() {
    watchdog("c6", LIMIT, || {
        let rt = rt(2);
        rt.block_on(rt.spawn(async {
            C6_TASK_ONLY.set("transaction callbacks");
            C6_FLOWING.set("request id");
            assert!(C6_TASK_ONLY.is_task_only());
            let child = brigade::spawn(async { (C6_TASK_ONLY.get(), C6_FLOWING.get()) }).await;
            assert_eq!(child, (None, Some("request id")));
            let closure = brigade::run(|| (C6_TASK_ONLY.get(), C6_FLOWING.get())).await;
            assert_eq!(closure, (None, Some("request id")));
            assert_eq!(
                ExecutionContext::capture().run(|| C6_TASK_ONLY.get()),
                None,
                "a captured context carried a task-only value"
            );
            // ... while the task itself keeps it across awaits.
            yield_now().await;
            assert_eq!(C6_TASK_ONLY.get(), Some("transaction callbacks"));
        }));
    });
}

#[test]
fn c6_a_context_of_only_task_only_values_captures_as_empty() {
    thread::spawn(|| {
        C6_TASK_ONLY.set("only this");
        assert!(ExecutionContext::capture().is_empty());
        assert_eq!(C6_TASK_ONLY.get(), Some("only this"));
    })
    .join()
    .expect("the test thread");
}

// ---------------------------------------------------------------- C7

static C7: AsyncLocal<&'static str> = AsyncLocal::new();

#[test]
fn c7_a_value_never_leaks_into_an_unrelated_task_polled_next_on_the_same_worker() {
    quiet_expected_panics();
    watchdog("c7", LIMIT, || {
        // One worker: every task below runs on the same thread, one after the other.
        let rt = rt(1);
        let (release, parked) = Promise::<()>::new();
        let setter_pending = rt.spawn(async {
            C7.set("pending task's value");
            parked.await.expect("released at the end");
            C7.get()
        });
        let setter_done = rt.spawn(async {
            C7.set("finished task's value");
        });
        let setter_panics = rt.spawn(async {
            C7.set("panicked task's value");
            panic!("[expected] after setting a value");
        });
        let observers: Vec<_> = (0..20)
            .map(|_| {
                rt.spawn(async {
                    let first = C7.get();
                    yield_now().await;
                    (first, C7.get(), thread_name())
                })
            })
            .collect();
        for (first, after_yield, thread) in rt.block_on(brigade::when_all(observers)) {
            assert_eq!(first, None, "leaked into a task on {thread}");
            assert_eq!(after_yield, None, "leaked after a yield on {thread}");
        }
        rt.block_on(setter_done);
        assert!(matches!(
            rt.block_on(setter_panics.join()),
            Err(TaskError::Panicked(_))
        ));
        release.set(()).expect("set once");
        assert_eq!(rt.block_on(setter_pending), Some("pending task's value"));
    });
}

#[test]
fn c7_a_value_set_on_a_worker_thread_outside_tasks_is_not_seen_by_tasks() {
    watchdog("c7 hook", LIMIT, || {
        let hooks_ran = Arc::new(AtomicUsize::new(0));
        let counter = hooks_ran.clone();
        let rt = Runtime::builder()
            .workers(1)
            .on_thread_start(move || {
                C7.set("set by the thread-start hook");
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(rt.spawn(async { C7.get() })), None);
        assert!(hooks_ran.load(Ordering::SeqCst) >= 1);
    });
}

// ---------------------------------------------------------------- misuse

#[test]
fn changing_the_context_inside_with_panics_with_an_explanation() {
    quiet_expected_panics();
    C7.set("value");
    let result = catch_unwind(|| C7.with(|_| C7.set("again")));
    let message = panic_text(&*result.expect_err("must panic"));
    assert!(message.contains("AsyncLocal::with"), "unclear: {message}");
    assert_eq!(
        C7.get(),
        Some("value"),
        "the failed write changed the value"
    );
    C7.clear();
}

#[test]
fn a_non_static_local_has_its_own_values() {
    let first: AsyncLocal<u8> = AsyncLocal::new();
    let second: AsyncLocal<u8> = AsyncLocal::new();
    first.set(1);
    assert_eq!(second.get(), None);
    second.set(2);
    assert_eq!((first.get(), second.get()), (Some(1), Some(2)));
    assert_eq!(first.with(|v| v.copied()), Some(1));
}
