//! Behaviour tests for SynchronizationContext, MainLoop and configure_await: promises X1-X6 of
//! docs/SEMANTICS.md (seed sections 8 and 13C).

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use brigade::prelude::*;
use brigade::sync_context::{self, MainLoop, Runnable, SyncContext};
use brigade_test_support::*;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const LIMIT: Duration = Duration::from_secs(20);

fn is(a: &Option<Arc<dyn SyncContext>>, b: &Arc<dyn SyncContext>) -> bool {
    a.as_ref().is_some_and(|a| Arc::ptr_eq(a, b))
}

/// Pending until its flag is set from elsewhere; the waker is woken from that other thread.
fn completes_on_another_thread(after: Duration) -> impl Future<Output = ThreadId> + Send {
    let (promise, task) = Promise::new();
    thread::spawn(move || {
        thread::sleep(after);
        let _ = promise.set(thread::current().id());
    });
    async move { task.await.expect("the other thread sets it") }
}

// ---------------------------------------------------------------- X1

#[test]
fn x1_current_is_the_pool_in_a_pool_task_and_the_loop_in_a_loop_task() {
    watchdog("x1", LIMIT, || {
        let rt = rt(2);
        let pool = rt.handle().sync_context();
        let in_pool_task = rt.block_on(rt.spawn(async { sync_context::current() }));
        assert!(
            is(&in_pool_task, &pool),
            "a pool task's context is not the pool"
        );
        let in_run_closure = rt.block_on(rt.run(sync_context::current));
        assert!(
            is(&in_run_closure, &pool),
            "a run closure's context is not the pool"
        );

        assert!(
            sync_context::current().is_none(),
            "a plain thread has no context"
        );
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui = main_loop.sync_context();
        assert!(
            is(&sync_context::current(), &ui),
            "the loop's thread outside tasks"
        );
        let (in_loop_task, in_local_task, in_run_future) = main_loop.run(async {
            let send = main_loop.spawn(async { sync_context::current() });
            let local = main_loop.spawn_local(async { sync_context::current() });
            (send.await, local.await, sync_context::current())
        });
        assert!(is(&in_loop_task, &ui));
        assert!(is(&in_local_task, &ui));
        assert!(is(&in_run_future, &ui));

        // A pool task that switches to the loop is in the loop's context there.
        let moved = main_loop.handle();
        let switched = main_loop.run(rt.spawn(async move {
            sync_context::switch_to(&moved.sync_context()).await;
            sync_context::current()
        }));
        assert!(is(&switched, &ui));
    });
}

// ---------------------------------------------------------------- X2

#[test]
fn x2_in_a_loop_task_code_after_await_on_work_done_elsewhere_runs_on_the_loop_thread() {
    watchdog("x2", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui_thread = thread::current().id();
        let task = main_loop.spawn(async move {
            let mut resumed_on = Vec::new();
            for round in 0..10 {
                let pool_thread = brigade::spawn(async { thread::current().id() }).await;
                assert_ne!(pool_thread, ui_thread);
                resumed_on.push(thread::current().id());
                brigade::run(|| thread::sleep(Duration::from_millis(1))).await;
                resumed_on.push(thread::current().id());
                let setter = completes_on_another_thread(Duration::from_millis(round % 3)).await;
                assert_ne!(setter, ui_thread);
                resumed_on.push(thread::current().id());
            }
            resumed_on
        });
        let resumed_on = main_loop.run(task);
        assert_eq!(resumed_on.len(), 30);
        assert!(
            resumed_on.iter().all(|&t| t == ui_thread),
            "a continuation ran off the loop's thread"
        );
    });
}

#[test]
fn x2_tasks_spawned_on_the_loop_from_other_threads_run_on_the_loop_thread() {
    watchdog("x2 handle", LIMIT, || {
        let main_loop = MainLoop::new();
        let handle = main_loop.handle();
        let ui_thread = thread::current().id();
        let from_elsewhere = thread::spawn(move || {
            (0..5)
                .map(|_| handle.spawn(async { thread::current().id() }))
                .collect::<Vec<_>>()
        })
        .join()
        .expect("spawner thread");
        let ran_on = main_loop.run(brigade::when_all(from_elsewhere));
        assert!(ran_on.iter().all(|&t| t == ui_thread));
    });
}

// ---------------------------------------------------------------- X3

#[test]
fn x3_configure_await_false_runs_the_body_on_the_pool_and_resumes_on_the_loop() {
    watchdog("x3", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui_thread = thread::current().id();
        let task = main_loop.spawn(async move {
            let mut checks = Vec::new();
            for _ in 0..5 {
                let body_threads = async {
                    let first = thread::current().id(); // the first poll: where the task is
                    yield_now().await;
                    let after_yield = thread::current().id();
                    brigade::run(|| ()).await;
                    (first, after_yield, thread::current().id())
                }
                .configure_await(false)
                .await;
                checks.push((body_threads, thread::current().id()));
            }
            checks
        });
        for ((first, after_yield, after_run), resumed) in main_loop.run(task) {
            assert_eq!(first, ui_thread, "the first poll runs where the task is");
            assert_ne!(after_yield, ui_thread, "the body stayed on the loop");
            assert_ne!(after_run, ui_thread, "the body came back to the loop");
            assert_eq!(resumed, ui_thread, "did not resume on the loop");
        }
    });
}

#[test]
fn x3_a_future_ready_on_first_poll_neither_hops_nor_allocates() {
    watchdog("x3 fast path", LIMIT, || {
        let main_loop = MainLoop::new();
        let ui_thread = thread::current().id();
        let task = main_loop.spawn(async move {
            std::future::ready(0).configure_await(false).await; // warm-up
            let (sum, allocations) = count_allocations(|| {
                let mut sum = 0;
                let waker = std::task::Waker::noop();
                let mut cx = Context::from_waker(waker);
                for i in 0..1000u64 {
                    let mut ready = std::pin::pin!(async move { i }.configure_await(false));
                    match ready.as_mut().poll(&mut cx) {
                        Poll::Ready(v) => sum += v,
                        Poll::Pending => panic!("a ready future hopped"),
                    }
                }
                sum
            });
            (sum, allocations, thread::current().id())
        });
        let (sum, allocations, thread_after) = main_loop.run(task);
        assert_eq!(sum, 999 * 1000 / 2);
        assert_eq!(
            allocations, 0,
            "configure_await(false) of ready futures allocated"
        );
        assert_eq!(thread_after, ui_thread);
    });
}

#[test]
fn x3_configure_await_true_and_non_movable_tasks_stay_where_they_are() {
    watchdog("x3 stay", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui_thread = thread::current().id();
        let send = main_loop.spawn(async {
            async {
                yield_now().await;
                thread::current().id()
            }
            .configure_await(true)
            .await
        });
        // A spawn_local task cannot leave its loop: its body stays there.
        let local = main_loop.spawn_local(async {
            let not_send = Rc::new(());
            let ran_on = async {
                yield_now().await;
                thread::current().id()
            }
            .configure_await(false)
            .await;
            drop(not_send);
            ran_on
        });
        let (send, local) = main_loop.run(async { (send.await, local.await) });
        assert_eq!(send, ui_thread);
        assert_eq!(local, ui_thread);
    });
}

#[test]
fn x3_dropping_a_pending_configure_await_sends_the_task_home() {
    watchdog("x3 drop", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui_thread = thread::current().id();
        let task = main_loop.spawn(async move {
            let never = std::future::pending::<()>().configure_await(false);
            // Poll it once (the task moves to the pool), then give up on it, select-style.
            let mut never = Box::pin(never);
            let mut polled = false;
            std::future::poll_fn(|cx| {
                if !polled {
                    polled = true;
                    assert!(never.as_mut().poll(cx).is_pending());
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(())
            })
            .await;
            drop(never);
            // Now wait for work done elsewhere: the continuation must be back on the loop.
            completes_on_another_thread(Duration::from_millis(5)).await;
            thread::current().id()
        });
        assert_eq!(main_loop.run(task), ui_thread);
    });
}

#[test]
fn x3_explicit_switching_moves_a_send_task_between_contexts() {
    watchdog("x3 switch", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui = main_loop.sync_context();
        let pool = rt.handle().sync_context();
        let ui_thread = thread::current().id();
        let task = main_loop.spawn(async move {
            let start = thread::current().id();
            sync_context::switch_to(&pool).await;
            let on_pool = thread::current().id();
            let here_again = sync_context::current();
            sync_context::switch_to(&ui).await;
            (start, on_pool, here_again, thread::current().id())
        });
        let (start, on_pool, here_again, back) = main_loop.run(task);
        assert_eq!(start, ui_thread);
        assert_ne!(on_pool, ui_thread);
        assert!(is(&here_again, &rt.handle().sync_context()));
        assert_eq!(back, ui_thread);
    });
}

// ---------------------------------------------------------------- X4

#[test]
fn x4_a_user_context_receives_every_wake_up_and_runs_its_tasks_on_its_thread() {
    watchdog("x4", LIMIT, || {
        let foreign = foreign_loop("x4-foreign-loop");
        let context: Arc<dyn SyncContext> = foreign.clone();
        let foreign_thread = foreign.thread;
        const AWAITS: usize = 8;
        // Outside any runtime: the task's spawns and `run` closures use the default runtime.
        let task = {
            sync_context::spawn_on(&context, async move {
                let mut polled_on = vec![thread::current().id()];
                for _ in 0..AWAITS {
                    // Completes on a blocking thread and wakes us from there.
                    brigade::run(|| thread::sleep(Duration::from_millis(2))).await;
                    polled_on.push(thread::current().id());
                }
                (polled_on, sync_context::current())
            })
        };
        let (polled_on, current) = brigade::block_on(task);
        assert!(polled_on.iter().all(|&t| t == foreign_thread));
        assert!(is(&current, &context));
        let posts = foreign.posts.load(Ordering::SeqCst);
        // A first poll plus one post per wake-up; a `run` that finishes before its Task is first
        // polled (a loaded machine descheduling this thread) needs no wake-up, so allow some.
        assert!(
            posts > AWAITS / 2,
            "{posts} posts for a first poll and up to {AWAITS} wake-ups"
        );
    });
}

/// A context that throws away what it is given: a loop shutting down.
struct DropsEverything(AtomicUsize);

impl SyncContext for DropsEverything {
    fn post(&self, task: Runnable) {
        self.0.fetch_add(1, Ordering::SeqCst);
        drop(task);
    }
}

#[test]
fn x4_a_dropped_runnable_ends_its_task_instead_of_hanging_it() {
    watchdog("x4 dropped", LIMIT, || {
        let flag = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(flag.clone());
        let context: Arc<dyn SyncContext> = Arc::new(DropsEverything(AtomicUsize::new(0)));
        let task = sync_context::spawn_on(&context, async move {
            let _guard = guard;
        });
        let outcome = brigade::block_on(task.join());
        assert!(matches!(outcome, Err(TaskError::RuntimeShutdown)));
        assert!(flag.load(Ordering::SeqCst), "the future was not dropped");
    });
}

// ---------------------------------------------------------------- X5

#[test]
fn x5_blocking_the_loop_thread_on_a_task_homed_on_that_loop_fails_at_once() {
    quiet_expected_panics();
    watchdog("x5 local", LIMIT, || {
        let main_loop = MainLoop::new();
        let started = Instant::now();
        let outer = main_loop.spawn_local(async {
            let child = sync_context::spawn_local(async { 42 });
            brigade::block_on(child) // the .Result deadlock
        });
        let outcome = main_loop.run(outer.join());
        let message = match outcome {
            Err(TaskError::Panicked(payload)) => panic_text(&*payload),
            other => panic!("expected the deadlock to be refused, got {other:?}"),
        };
        assert!(message.contains("deadlock"), "unclear message: {message}");
        assert!(message.contains("MainLoop"), "unclear message: {message}");
        assert!(started.elapsed() < Duration::from_secs(5), "not at once");
    });
}

#[test]
fn x5_blocking_on_pool_work_that_comes_back_to_the_loop_fails_when_it_arrives() {
    quiet_expected_panics();
    watchdog("x5 pool", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui = main_loop.sync_context();
        let result = catch_unwind(AssertUnwindSafe(|| {
            main_loop.run(async {
                let needs_the_loop = brigade::spawn(async move {
                    brigade::run(|| thread::sleep(Duration::from_millis(20))).await;
                    sync_context::switch_to(&ui).await; // "update the label"
                    1
                });
                brigade::block_on(needs_the_loop)
            })
        }));
        let message = panic_text(&*result.expect_err("the deadlock must be refused"));
        assert!(message.contains("deadlock"), "unclear message: {message}");
    });
}

#[test]
fn x5_blocking_the_loop_thread_on_work_that_never_needs_the_loop_is_allowed() {
    watchdog("x5 allowed", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let sum =
            main_loop.run(async { brigade::block_on(brigade::run(|| (1..=10).sum::<i32>())) });
        assert_eq!(sum, 55);
    });
}

#[test]
fn x5_misuse_gets_a_clear_message() {
    quiet_expected_panics();
    watchdog("x5 misuse", LIMIT, || {
        let no_loop = catch_unwind(|| sync_context::spawn_local(async {}).detach());
        let message = panic_text(&*no_loop.expect_err("spawn_local without a loop"));
        assert!(message.contains("no MainLoop"), "unclear: {message}");

        let main_loop = MainLoop::new();
        let nested = catch_unwind(AssertUnwindSafe(|| {
            main_loop.run(async { main_loop.run(async {}) })
        }));
        let message = panic_text(&*nested.expect_err("nested run"));
        assert!(message.contains("already running"), "unclear: {message}");

        let second = catch_unwind(|| drop(MainLoop::new()));
        let message = panic_text(&*second.expect_err("two loops on one thread"));
        assert!(
            message.contains("already has a MainLoop"),
            "unclear: {message}"
        );

        let outside =
            catch_unwind(|| brigade::block_on(sync_context::switch_to(&sync_context::pool())));
        let message = panic_text(&*outside.expect_err("switch_to outside a task"));
        assert!(message.contains("outside a task"), "unclear: {message}");

        // The loop still works after all that.
        assert_eq!(main_loop.run(main_loop.spawn_local(async { 7 })), 7);
    });
}

// ---------------------------------------------------------------- X6

#[test]
fn x6_not_send_futures_run_on_the_main_loop() {
    watchdog("x6", LIMIT, || {
        let rt = rt(2);
        let main_loop = MainLoop::with_runtime(rt.handle());
        let ui_thread = thread::current().id();
        let label = Rc::new(RefCell::new(String::from("Uploading...")));
        let handler_label = label.clone();
        let handler = main_loop.spawn_local(async move {
            let bytes = brigade::run(|| vec![0u8; 1024].len()).await;
            *handler_label.borrow_mut() = format!("Upload complete! ({bytes} bytes)");
            (Rc::strong_count(&handler_label), thread::current().id())
        });
        let (_, ran_on) = main_loop.run(handler);
        assert_eq!(ran_on, ui_thread);
        assert_eq!(*label.borrow(), "Upload complete! (1024 bytes)");
        // (That the pool refuses such a future is a compile-time check: see the
        // `compile_fail` doc test on `MainLoop::spawn_local`.)
    });
}

#[test]
fn x6_dropping_the_loop_drops_its_futures_on_its_thread_and_ends_their_tasks() {
    watchdog("x6 drop", LIMIT, || {
        let dropped_on = Arc::new(std::sync::Mutex::new(None));
        struct RecordsThread {
            dropped_on: Arc<std::sync::Mutex<Option<ThreadId>>>,
            _not_send: Rc<()>,
        }
        impl Drop for RecordsThread {
            fn drop(&mut self) {
                *self.dropped_on.lock().unwrap() = Some(thread::current().id());
            }
        }
        let (join_tx, join_rx) = mpsc::channel();
        let recorder = dropped_on.clone();
        let loop_thread = thread::spawn(move || {
            let main_loop = MainLoop::new();
            let probe = RecordsThread {
                dropped_on: recorder,
                _not_send: Rc::new(()),
            };
            let task = main_loop.spawn_local(async move {
                let _probe = probe;
                std::future::pending::<()>().await;
            });
            main_loop.run(yield_now()); // the task starts and waits forever
                                        // Send the join of the (Send-output) task elsewhere, then drop the loop.
            join_tx.send(task).expect("send the task");
            drop(main_loop);
            thread::current().id()
        })
        .join()
        .expect("the loop thread");
        let task = join_rx.recv().expect("the task");
        assert!(matches!(
            brigade::block_on(task.join()),
            Err(TaskError::RuntimeShutdown)
        ));
        assert_eq!(*dropped_on.lock().unwrap(), Some(loop_thread));
    });
}

/// A future that is ready only once its flag is set by another thread's wake.
struct WaitFlag(Arc<AtomicBool>);

impl Future for WaitFlag {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let (flag, waker) = (self.0.clone(), cx.waker().clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            flag.store(true, Ordering::SeqCst);
            waker.wake();
        });
        Poll::Pending
    }
}

#[test]
fn x6_a_local_task_woken_from_another_thread_is_polled_on_the_loop() {
    watchdog("x6 wake", LIMIT, || {
        let main_loop = MainLoop::new();
        let ui_thread = thread::current().id();
        let task = main_loop.spawn_local(async move {
            let local_state = Rc::new(RefCell::new(0));
            for _ in 0..20 {
                WaitFlag(Arc::new(AtomicBool::new(false))).await;
                *local_state.borrow_mut() += 1;
                assert_eq!(thread::current().id(), ui_thread);
            }
            let total = *local_state.borrow();
            total
        });
        assert_eq!(main_loop.run(task), 20);
    });
}
