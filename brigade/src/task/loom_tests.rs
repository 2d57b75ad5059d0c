//! Loom models of the task state protocol: wake-ups racing a poll, a join handle racing
//! completion, cancellation racing a wake. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p brigade --lib --release loom`.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

use super::{new_task, Notified, RawTask, Schedule, TaskError, TaskId, TaskMeta};

/// A home that just queues; the model's threads run what it holds.
#[derive(Clone)]
struct Queue(Arc<Mutex<VecDeque<Notified>>>);

impl Schedule for Queue {
    fn schedule(&self, task: Notified) {
        self.0.lock().unwrap().push_back(task);
    }
    fn release(&self, _task: RawTask) -> bool {
        false
    }
    fn unhandled_panic(&self, _id: TaskId, _meta: &TaskMeta, _payload: Box<dyn Any + Send>) {}
}

impl Queue {
    fn new() -> Queue {
        Queue(Arc::new(Mutex::new(VecDeque::new())))
    }
    fn run_all(&self) {
        loop {
            let next = self.0.lock().unwrap().pop_front();
            match next {
                Some(task) => task.run(),
                None => return,
            }
        }
    }
}

/// Pending until `flag` is set; keeps the latest waker in `waker`.
struct WaitForFlag {
    flag: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
}

impl Future for WaitForFlag {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.fetch_add(1, SeqCst);
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.flag.load(SeqCst) {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    }
}

fn spawn_on<F>(queue: &Queue, future: F) -> (super::Task<F::Output>, Notified)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (task, notified, list_reference) =
        new_task(future, queue.clone(), None, Location::caller());
    // Not bound to any owned list.
    list_reference.drop_reference();
    (task, notified)
}

fn poll_once<T>(task: &mut super::Task<T>) -> Poll<T> {
    Pin::new(task).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_wake_racing_the_poll_is_never_lost() {
    loom::model(|| {
        let queue = Queue::new();
        let flag = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let future = WaitForFlag {
            flag: flag.clone(),
            waker: waker.clone(),
            polls: Arc::new(AtomicUsize::new(0)),
        };
        let (mut task, notified) = spawn_on(&queue, future);

        let waking = {
            let waker = waker.clone();
            loom::thread::spawn(move || {
                flag.store(true, SeqCst);
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            })
        };
        notified.run();
        waking.join().unwrap();
        // Whatever the interleaving, the wake either found the task idle (queued it) or
        // running (it will be requeued), or came before the poll (which then saw the flag).
        queue.run_all();
        assert_eq!(poll_once(&mut task), Poll::Ready(7));
        drop(waker);
    });
}

#[test]
fn dropping_the_join_handle_racing_completion_drops_the_output_once() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    loom::model(|| {
        let queue = Queue::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let output = Counted(drops.clone());
        let (mut task, notified) = spawn_on(&queue, async move { output });
        // Register a join waker first, so completion must hand the slot back.
        assert!(poll_once(&mut task).is_pending());
        let runner = loom::thread::spawn(move || notified.run());
        drop(task);
        runner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn cancel_racing_a_wake_drops_the_future_exactly_once() {
    loom::model(|| {
        let queue = Queue::new();
        let flag = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let future = WaitForFlag {
            flag: flag.clone(),
            waker: waker.clone(),
            polls: Arc::new(AtomicUsize::new(0)),
        };
        let (task, notified) = spawn_on(&queue, future);
        notified.run(); // now idle, waker stored
        let waking = {
            let waker = waker.clone();
            loom::thread::spawn(move || {
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            })
        };
        let mut join = task.cancel();
        waking.join().unwrap();
        queue.run_all();
        let result = Pin::new(&mut join).poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(result, Poll::Ready(Err(TaskError::Cancelled))),
            "{result:?}"
        );
        drop(waker);
    });
}

/// A context that only queues what is posted to it (a task's moved-to home).
struct Elsewhere(Mutex<VecDeque<crate::task::Runnable>>);

impl crate::task::SyncContext for Elsewhere {
    fn post(&self, task: crate::task::Runnable) {
        self.0.lock().unwrap().push_back(task);
    }
}

/// Moves its task to `to` on the first poll, then waits for `flag` like `WaitForFlag`.
struct MoveThenWait {
    to: std::sync::Arc<Elsewhere>,
    moved: bool,
    inner: WaitForFlag,
}

impl Future for MoveThenWait {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if !self.moved {
            self.moved = true;
            let task = super::running().expect("polled as a task");
            drop(task.move_home(self.to.clone()));
        }
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[test]
fn a_wake_racing_the_poll_that_moves_the_task_goes_to_the_new_home() {
    loom::model(|| {
        let home = Queue::new();
        let elsewhere = std::sync::Arc::new(Elsewhere(Mutex::new(VecDeque::new())));
        let flag = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let future = MoveThenWait {
            to: elsewhere.clone(),
            moved: false,
            inner: WaitForFlag {
                flag: flag.clone(),
                waker: waker.clone(),
                polls: Arc::new(AtomicUsize::new(0)),
            },
        };
        let (mut task, notified) = spawn_on(&home, future);

        let waking = {
            let waker = waker.clone();
            loom::thread::spawn(move || {
                flag.store(true, SeqCst);
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            })
        };
        notified.run();
        waking.join().unwrap();
        // The wake came during the poll (re-queued when it ended) or after it (submitted):
        // either way it must reach the new home, never the old one. Or it came before the
        // poll stored the waker, and the poll saw the flag and finished.
        assert!(
            home.0.lock().unwrap().is_empty(),
            "a wake went to the old home"
        );
        let posted = elsewhere.0.lock().unwrap().pop_front();
        if let Some(runnable) = posted {
            runnable.run();
        }
        assert!(elsewhere.0.lock().unwrap().is_empty());
        assert_eq!(poll_once(&mut task), Poll::Ready(7));
        drop(waker);
    });
}
