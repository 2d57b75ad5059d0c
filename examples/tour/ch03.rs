//! 3. A bare-bones task (the seed's MyTask)

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use brigade::Runtime;

use crate::ch02::{NaivePool, WorkItem};
use crate::common::{chapter, ms, say, show, thread_name};

/// The seed's MyTask: a completed flag and at most one stored continuation. The Mutex stands in
/// for the care the real Task takes when SetResult and OnCompleted race on two threads.
#[derive(Default)]
struct MyTask {
    state: Mutex<MyTaskState>,
}

#[derive(Default)]
struct MyTaskState {
    completed: bool,
    continuation: Option<WorkItem>,
}

impl MyTask {
    fn is_completed(&self) -> bool {
        self.state.lock().unwrap().completed
    }

    /// SetResult: mark completed, and if someone is waiting, queue their continuation.
    fn set_result(&self, pool: &NaivePool) {
        let continuation = {
            let mut state = self.state.lock().unwrap();
            state.completed = true;
            state.continuation.take()
        };
        if let Some(continuation) = continuation {
            pool.queue_user_work_item(continuation);
        }
    }

    /// OnCompleted: store the continuation. If the task already finished, the seed's version
    /// would keep it forever and never run it; we queue it at once instead, as Task does.
    fn on_completed(&self, pool: &NaivePool, continuation: impl FnOnce() + Send + 'static) {
        let mut state = self.state.lock().unwrap();
        if state.completed {
            drop(state);
            pool.queue_user_work_item(continuation);
        } else {
            state.continuation = Some(Box::new(continuation));
        }
    }
}

pub(crate) fn ch03_a_bare_bones_task(rt: &Runtime) {
    chapter("3. A bare-bones task");
    say(
        "A task is a box that will hold a result, plus a continuation: the code to run once the \
         result is there. SetResult marks it done and queues the continuation on the pool; \
         OnCompleted stores the continuation. Either can come first, so we try both orders \
         with the article's MyTask on a fresh 2-thread naive pool. An \"oven\" thread finishes \
         the work after 30 ms.",
    );
    say(
        "Two differences from the article's version: its OnCompleted only stores the \
         continuation, so when the result is already there the continuation never runs — ours \
         queues it at once, as the real Task does. The article's also captures the ExecutionContext; \
         that is chapter 4's subject, left out here.",
    );

    let pool = NaivePool::new(2);
    let (ran_tx, ran_rx) = mpsc::channel::<(String, Instant)>();

    // Order 1: the continuation is registered first, the result comes later.
    let task = MyTask::default();
    let completed_before = task.is_completed();
    let registered_at = Instant::now();
    let ran = ran_tx.clone();
    task.on_completed(&pool, move || {
        let _ = ran.send((thread_name(), Instant::now()));
    });
    let oven_took = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let oven_started = Instant::now();
                std::thread::sleep(Duration::from_millis(30)); // the oven
                let oven_took = oven_started.elapsed();
                task.set_result(&pool);
                oven_took
            })
            .join()
            .expect("the oven thread finishes")
    });
    let (thread, ran_at) = ran_rx.recv().expect("the continuation runs");
    show(&format!(
        "continuation first: is_completed() was {completed_before}; the continuation ran on \
         {thread}, {} after it was registered (the oven thread's 30 ms sleep measured {})",
        ms(ran_at - registered_at),
        ms(oven_took)
    ));

    // Order 2: the result is already there when the continuation arrives.
    let task = MyTask::default();
    task.set_result(&pool); // nobody is waiting yet: nothing to queue
    let completed_before = task.is_completed();
    let registered_at = Instant::now();
    let ran = ran_tx.clone();
    task.on_completed(&pool, move || {
        let _ = ran.send((thread_name(), Instant::now()));
    });
    let (thread, ran_at) = ran_rx.recv().expect("the continuation runs");
    show(&format!(
        "result first: is_completed() was {completed_before}; on_completed queued the \
         continuation at once and it ran on {thread} after {}",
        ms(ran_at - registered_at)
    ));
    drop(pool);

    say(
        "The real thing behind MyTask is .NET's TaskCompletionSource; in brigade it is \
         brigade::Promise. Promise::new() gives the setter and a future to await. Here a plain \
         OS thread sets it after 30 ms while the main thread awaits it.",
    );
    let (promise, order) = brigade::Promise::<&'static str>::new();
    let waited_from = Instant::now();
    let oven = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        promise.set("soup's ready").is_ok()
    });
    let outcome = rt.block_on(order);
    let accepted = oven.join().expect("the oven thread finishes");
    match outcome {
        Ok(value) => show(&format!(
            "awaited the promise: got {value:?} after {} (set() accepted it: {accepted})",
            ms(waited_from.elapsed())
        )),
        Err(_) => show("awaited the promise: it was abandoned (unexpected here)"),
    }

    // A promise dropped unset does not leave its awaiter hanging forever.
    let (promise, order) = brigade::Promise::<u32>::new();
    drop(promise);
    match rt.block_on(order) {
        Ok(value) => show(&format!("dropped promise: got {value} (unexpected here)")),
        Err(_) => {
            show("dropped a promise without setting it: the awaiter got Err(Abandoned), not a hang")
        }
    }
}
