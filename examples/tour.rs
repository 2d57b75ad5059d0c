//! The brigade tour: how async/await works, built up the way the seed article does it.
//!
//! Run it with `cargo run --release --example tour`. Every chapter is one function below,
//! numbered like the article ("Deep Dive into Async/Await: Building It from Scratch"). Each
//! prints a few plain sentences, then does the thing and prints what really happened: thread
//! names, times and allocation counts are measured on your machine, never typed in.
//!
//! The small teaching pieces (a naive thread pool, a bare-bones task, a hand-written state
//! machine, a counting allocator) live in this file on purpose, so you can read the toy next to
//! the real brigade call that replaces it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::Any;
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brigade::cancel::{CancellationToken, CancellationTokenSource, Cancelled};
use brigade::context::{AsyncLocal, ExecutionContext};
use brigade::prelude::ConfigureAwaitExt;
use brigade::prelude::*;
use brigade::sync_context::{self, MainLoop};
use brigade::{Handle, Runtime, TaskError};

/// Worker threads for the tour's runtime and stations in the naive pool: a small fixed number,
/// so the output looks alike on a laptop and on a 64-core server.
const WORKERS: usize = 4;
/// Work items queued in chapters 2 and 7 (the same work, first on the toy pool, then on brigade).
const WORK_ITEMS: usize = 8;

fn main() -> std::io::Result<()> {
    let tour_started = Instant::now();
    println!("brigade tour: how async/await works, from a 60-line thread pool to a real runtime.");
    println!("Chapters follow the article's numbering; numbers printed are measured right now.");
    println!(
        "Every chapter is here, 1 to 13 (plus 2b on starvation); 13C, the UI thread, also has"
    );
    println!("an example of its own: cargo run --release --example main_loop_ui.");

    // One runtime for the whole tour, like the one process-wide thread pool in .NET.
    let rt = Runtime::builder().workers(WORKERS).build()?;

    ch01_the_magic(&rt);
    ch02_a_simple_thread_pool();
    ch02b_starvation()?;
    ch03_a_bare_bones_task(&rt);
    ch04_execution_context(&rt);
    ch05_await_a_number(&rt);
    ch05_06_awaiters_and_state_machines(&rt);
    ch07_method_builders(&rt);
    ch08_synchronization_context(&rt);
    ch09_task_vs_valuetask(&rt);
    ch10_best_practices(&rt);
    ch11_yield_now()?;
    ch12_cancellation(&rt);
    ch13_real_world(&rt);

    drop(rt); // shuts the workers down and joins them
    summary(tour_started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1. The async/await "magic"
// ---------------------------------------------------------------------------------------------

/// An ordinary async fn. The compiler turns its body into a state machine type; calling it
/// only builds that value.
async fn take_order(dish: &'static str) -> String {
    println!(
        "     (inside take_order: now cooking the {dish}, on thread {})",
        thread_name()
    );
    format!("{dish}, served")
}

fn ch01_the_magic(rt: &Runtime) {
    chapter("1. The async/await \"magic\"");
    say(
        "An `async fn` does not pause a thread. The compiler rewrites its body into a state \
         machine: a value that remembers where it stopped and what its local variables hold. \
         Calling the function only builds that value (a Future) and runs none of the body. \
         Someone has to poll it: an executor, which needs threads. Chapters 2 and 3 build \
         the threads, chapters 5 and 6 the state machine.",
    );

    let order = take_order("soup");
    show(&format!(
        "called take_order(\"soup\"): nothing cooked yet, we hold a {}-byte value",
        std::mem::size_of_val(&order)
    ));
    show(&format!(
        "its type is made by the compiler: {}",
        std::any::type_name_of_val(&order)
    ));
    let served = rt.block_on(order);
    show(&format!(
        "rt.block_on(order) polled it to the end and returned {served:?}"
    ));
}

// ---------------------------------------------------------------------------------------------
// 2. A simple thread pool (the seed's MyThreadPool)
// ---------------------------------------------------------------------------------------------

/// A work item: the seed's `Action`, a closure run once on whichever thread takes it.
type WorkItem = Box<dyn FnOnce() + Send>;

/// The seed's MyThreadPool: N threads consuming one blocking queue. No stealing, no local
/// queues, one lock for everyone. It works, and chapter 7 shows what the real thing adds.
struct NaivePool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
}

/// The seed's `BlockingCollection<Action>`: a queue, plus a Condvar to sleep on while it is empty.
struct PoolShared {
    queue: Mutex<PoolQueue>,
    not_empty: Condvar,
}

struct PoolQueue {
    items: VecDeque<WorkItem>,
    // The seed's threads are background threads that die with the process; ours are told to
    // stop, so dropping the pool joins them cleanly.
    shutting_down: bool,
}

impl NaivePool {
    fn new(threads: usize) -> NaivePool {
        let shared = Arc::new(PoolShared {
            queue: Mutex::new(PoolQueue {
                items: VecDeque::new(),
                shutting_down: false,
            }),
            not_empty: Condvar::new(),
        });
        let threads = (0..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("naive-pool-{i}"))
                    .spawn(move || loop {
                        // GetConsumingEnumerable: take the next item, or sleep until one arrives.
                        let item = {
                            let mut queue = shared.queue.lock().unwrap();
                            loop {
                                if let Some(item) = queue.items.pop_front() {
                                    break item;
                                }
                                if queue.shutting_down {
                                    return;
                                }
                                queue = shared.not_empty.wait(queue).unwrap();
                            }
                        };
                        // Run it with the lock released, so the other threads can take items.
                        item();
                    })
                    .expect("start a naive pool thread")
            })
            .collect();
        NaivePool { shared, threads }
    }

    /// QueueUserWorkItem: append to the queue and wake one sleeping thread.
    fn queue_user_work_item(&self, item: impl FnOnce() + Send + 'static) {
        self.shared
            .queue
            .lock()
            .unwrap()
            .items
            .push_back(Box::new(item));
        self.shared.not_empty.notify_one();
    }
}

impl Drop for NaivePool {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().shutting_down = true;
        self.shared.not_empty.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn ch02_a_simple_thread_pool() {
    chapter("2. A simple thread pool");
    say("A thread is one cook; a CPU core is one kitchen station. A thread pool keeps a few \
         cooks waiting by a queue of work items (closures) and hands each item to whoever is \
         free. Below, the article's MyThreadPool in about 60 lines of Rust (see NaivePool in tour.rs): threads that pop \
         closures from a Mutex<VecDeque> and sleep on a Condvar when it is empty. We queue \
         8 small CPU jobs (counting primes) and see which thread ran which.");

    let pool = NaivePool::new(WORKERS);
    let (done_tx, done_rx) = mpsc::channel();
    let started = Instant::now();
    for item in 0..WORK_ITEMS {
        let done_tx = done_tx.clone();
        pool.queue_user_work_item(move || {
            let answer = work_item(item);
            let _ = done_tx.send((item, answer, thread_name()));
        });
    }
    drop(done_tx); // the channel closes once every queued closure has run and dropped its sender
    let results: Vec<_> = done_rx.iter().collect();
    let elapsed = started.elapsed();

    show(&format!(
        "{WORK_ITEMS} items on {WORKERS} threads took {}:",
        ms(elapsed)
    ));
    print_by_thread(&results);
    drop(pool);
    show(&format!(
        "pool dropped: its {WORKERS} threads were told to stop and joined"
    ));
}

/// A small job queued behind `blockers` work items that each block their thread for `block`:
/// how long until the small job runs?
fn naive_pool_wait(blockers: usize, block: Duration) -> Duration {
    let pool = NaivePool::new(WORKERS);
    for _ in 0..blockers {
        pool.queue_user_work_item(move || std::thread::sleep(block));
    }
    let (tx, rx) = mpsc::channel();
    let queued = Instant::now();
    pool.queue_user_work_item(move || {
        let _ = tx.send(queued.elapsed());
    });
    let waited = rx.recv().unwrap();
    drop(pool);
    waited
}

fn ch02b_starvation() -> std::io::Result<()> {
    chapter("2b. Starvation: when work blocks the pool");
    say(
        "The naive pool has a weakness the article returns to in 13D: a work item that blocks \
         (a synchronous read, Thread.Sleep, a lock held too long) keeps its thread, and \
         everything queued behind it waits. Four items each blocking for 300 ms, then one tiny \
         job, on the 4-thread naive pool:",
    );
    let naive = naive_pool_wait(WORKERS, Duration::from_millis(300));
    show(&format!("the tiny job waited {}", ms(naive)));

    say(
        "The .NET pool notices starvation and adds threads. brigade does it per poll: each \
         worker publishes a poll counter (two plain stores per poll), a monitor thread sees a \
         poll that lasts past a threshold (10 ms by default), reports it with the task's name \
         and spawn location, and starts a spare worker that takes over the stuck worker's \
         queue. When the stuck worker comes back, the spare retires. The same four blockers \
         on brigade's 4 workers, while a task ticks every millisecond:",
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let rt = Runtime::builder()
        .workers(WORKERS)
        .on_stall(move |report| sink.lock().unwrap().push(report.to_string()))
        .build()?;
    let (largest_gap, tiny_wait, spares) = rt.block_on(rt.spawn(async move {
        let ticking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still = Arc::clone(&ticking);
        let ticker = brigade::spawn(async move {
            let mut ticks = brigade::time::interval(Duration::from_millis(1));
            let mut last = Instant::now();
            let mut largest = Duration::ZERO;
            while still.load(std::sync::atomic::Ordering::Relaxed) {
                ticks.tick().await;
                largest = largest.max(last.elapsed());
                last = Instant::now();
            }
            largest
        });
        brigade::time::sleep(Duration::from_millis(20)).await;
        let blockers: Vec<_> = (0..WORKERS)
            .map(|_| {
                brigade::spawn_named("sync-read", async {
                    std::thread::sleep(Duration::from_millis(300))
                })
            })
            .collect();
        // Let the blockers take all four workers, then queue the tiny job.
        brigade::time::sleep(Duration::from_millis(40)).await;
        let spares = Handle::current().metrics().spare_workers;
        let queued = Instant::now();
        let tiny_wait = brigade::spawn(async move { queued.elapsed() }).await;
        brigade::when_all(blockers).await;
        ticking.store(false, std::sync::atomic::Ordering::Relaxed);
        (ticker.await, tiny_wait, spares)
    }));
    show(&format!(
        "spare workers running 40 ms in: {spares}; the tiny job then waited {}; the 1 ms \
         ticker's largest gap was {}",
        ms(tiny_wait),
        ms(largest_gap)
    ));
    if let Some(first) = reports.lock().unwrap().first() {
        show(&format!("stall report: {first}"));
    }
    std::thread::sleep(Duration::from_millis(50));
    show(&format!(
        "after the blockers returned: {} spare workers (the surplus retired)",
        rt.metrics().spare_workers
    ));
    say(
        "Detection is the safety net. Code that knows it blocks says so: brigade::run(closure) \
         moves it to the blocking threads (Task.Run), and brigade::blocking(closure) hands the \
         worker's queue to a spare at once. Even the article's .Result — block_on called on a \
         worker — now works as a cooperative block, with a warning naming the call site.",
    );
    Ok(())
}

/// A couple of milliseconds of real CPU work: count the primes below a bound.
fn work_item(item: usize) -> u64 {
    let limit = 40_000 + 2_000 * item as u64;
    (2..limit)
        .filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

// ---------------------------------------------------------------------------------------------
// 3. A bare-bones task (the seed's MyTask)
// ---------------------------------------------------------------------------------------------

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

fn ch03_a_bare_bones_task(rt: &Runtime) {
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
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(30)); // the oven
            task.set_result(&pool);
        });
    });
    let (thread, ran_at) = ran_rx.recv().expect("the continuation runs");
    show(&format!(
        "continuation first: is_completed() was {completed_before}; the continuation ran on \
         {thread}, {} after it was registered (the oven took 30 ms)",
        ms(ran_at - registered_at)
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

// ---------------------------------------------------------------------------------------------
// 4. ExecutionContext: flowing the state
// ---------------------------------------------------------------------------------------------

/// The order this part of the kitchen is cooking: ambient state, like a request id.
static ORDER: AsyncLocal<&'static str> = AsyncLocal::new();

/// Where we are: thread name and id.
fn here() -> String {
    format!("{} ({:?})", thread_name(), std::thread::current().id())
}

fn ch04_execution_context(rt: &Runtime) {
    chapter("4. ExecutionContext: flowing the state");
    say(
        "A thread-local would lose the order ticket at the first await: the task may resume on \
         another thread. So .NET keeps such ambient state in the ExecutionContext, which the \
         runtime captures when work is queued and restores around running it, then clears. \
         brigade does the same: an AsyncLocal is a static key; its value lives in the task's \
         context, captured at every spawn (and run, spawn_local, timer and cancellation \
         callbacks). One task and its order ticket, with the thread each step ran on:",
    );

    let steps = rt.block_on(rt.spawn(async {
        let mut steps = Vec::new();
        ORDER.set("table 7: soup");
        steps.push(format!("set in the task on {}: {:?}", here(), ORDER.get()));
        let (on_blocking, seen) = brigade::run(|| (here(), ORDER.get())).await;
        steps.push(format!("inside brigade::run on {on_blocking}: {seen:?}"));
        steps.push(format!(
            "after that await, on {}: {:?}",
            here(),
            ORDER.get()
        ));
        brigade::yield_now().await;
        steps.push(format!("after yield_now, on {}: {:?}", here(), ORDER.get()));

        let (release, kitchen_door) = brigade::Promise::<()>::new();
        let child = brigade::spawn(async move {
            let _ = kitchen_door.await; // wait until the parent has changed its ticket
            (here(), ORDER.get())
        });
        ORDER.set("table 7: soup, then fish");
        let _ = release.set(());
        let (child_thread, child_saw) = child.await;
        steps.push(format!(
            "a child spawned before the parent changed its ticket sees the snapshot, on \
             {child_thread}: {child_saw:?}; the parent now has {:?}",
            ORDER.get()
        ));
        steps
    }));
    for step in steps {
        show(&step);
    }

    say(
        "The article's two lines, ExecutionContext.Capture() and ExecutionContext.Run(...), are \
         brigade's capture() and run(): a snapshot never changes, whatever is written later.",
    );
    ORDER.set("table 9: salad");
    let captured = ExecutionContext::capture();
    ORDER.set("table 9: salad, then cake");
    show(&format!(
        "captured, then changed: captured.run(|| ORDER.get()) = {:?}, ORDER.get() = {:?}",
        captured.run(|| ORDER.get()),
        ORDER.get()
    ));
    let suppressed = {
        let _no_flow = ExecutionContext::suppress_flow();
        rt.block_on(rt.spawn(async { ORDER.get() }))
    };
    show(&format!(
        "under ExecutionContext::suppress_flow() a spawned task starts empty: {suppressed:?}"
    ));

    // What flowing costs: a context is one pointer, shared, so a spawn still allocates once.
    rt.block_on(rt.spawn(async {}));
    let mut tasks = Vec::with_capacity(1_000);
    let before = allocations_on_this_thread();
    for _ in 0..1_000 {
        tasks.push(rt.spawn(async { ORDER.get().is_some() }));
    }
    let allocations = allocations_on_this_thread() - before;
    let all_saw_it = rt
        .block_on(brigade::when_all(tasks))
        .into_iter()
        .all(|saw| saw);
    show(&format!(
        "1000 spawns carrying the order ticket: {allocations} allocations (the task cells; the \
         context is shared by pointer); every task saw the ticket: {all_saw_it}"
    ));
    ORDER.clear();
    say(
        "Workers are clean between tasks: the context belongs to the task, so the next task \
         polled on the same thread never sees the previous one's values. And a task that never \
         touches an AsyncLocal pays for all this one thread-local pointer per poll.",
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The awaiter pattern   6. The state machine
// ---------------------------------------------------------------------------------------------

/// The awaiter: a leaf future that says "not yet" `pending` times, then hands over `value`.
/// Rust folds the seed's three members into one method, `poll`:
/// IsCompleted + GetResult = returning `Poll::Ready(value)`;
/// OnCompleted(continuation) = keeping `cx.waker()` and calling `wake()` when done.
struct ReadyAfter {
    pending: u32,
    value: u64,
}

impl Future for ReadyAfter {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        if self.pending == 0 {
            return Poll::Ready(self.value);
        }
        self.pending -= 1;
        // A timer or a socket would store the waker and call it later, from another thread.
        // Our "operation" is done at once, so we ask to be polled again straight away.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// What we write: two awaits, one local (`first`) that must live across the second await.
async fn add_two_orders() -> u64 {
    let first = ReadyAfter {
        pending: 2,
        value: 20,
    }
    .await;
    let second = ReadyAfter {
        pending: 3,
        value: 22,
    }
    .await;
    first + second
}

/// What the compiler makes of `add_two_orders`, written by hand. Each variant is one value of
/// the seed's `<>1__state` field; locals used after an await are "lifted" into the variant.
enum AddTwoOrders {
    /// -1: created, not started. (Calling the async fn only builds this.)
    Start,
    /// 0: suspended at the first await; holds the awaiter.
    Waiting0 { leaf: ReadyAfter },
    /// 1: suspended at the second await; `first` is the lifted local.
    Waiting1 { first: u64, leaf: ReadyAfter },
    /// -2: completed.
    Done,
}

impl Future for AddTwoOrders {
    type Output = u64;

    /// MoveNext: the big switch. Every poll resumes at the state we left it in.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        // Every field is Unpin, so we may use it as a plain `&mut`. (The compiler's version
        // may hold self-references, which is why poll takes `Pin`.)
        let this = self.get_mut();
        loop {
            match this {
                AddTwoOrders::Start => {
                    *this = AddTwoOrders::Waiting0 {
                        leaf: ReadyAfter {
                            pending: 2,
                            value: 20,
                        },
                    };
                }
                AddTwoOrders::Waiting0 { leaf } => match Pin::new(leaf).poll(cx) {
                    // Not complete: return, releasing the thread; the waker brings us back here.
                    Poll::Pending => return Poll::Pending,
                    // Complete: continue synchronously (the fast path) into the next state.
                    Poll::Ready(first) => {
                        *this = AddTwoOrders::Waiting1 {
                            first,
                            leaf: ReadyAfter {
                                pending: 3,
                                value: 22,
                            },
                        };
                    }
                },
                AddTwoOrders::Waiting1 { first, leaf } => match Pin::new(leaf).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(second) => {
                        let sum = *first + second;
                        *this = AddTwoOrders::Done;
                        return Poll::Ready(sum); // SetResult
                    }
                },
                AddTwoOrders::Done => panic!("polled after completion"),
            }
        }
    }
}

/// Drives `fut` to completion, counting how many times it was polled (MoveNext calls), and
/// notes the thread it finished on.
async fn count_polls<F: Future>(fut: F) -> (F::Output, u32, String) {
    let mut fut = std::pin::pin!(fut);
    let mut polls = 0;
    let output = std::future::poll_fn(|cx| {
        polls += 1;
        fut.as_mut().poll(cx)
    })
    .await;
    (output, polls, thread_name())
}

/// The seed's `await 5`: a number you can await. Rust will not let a crate add a trait to a
/// built-in integer from outside (the orphan rule), so a one-field newtype plays `int`.
struct Millis(u64);

/// `IntoFuture` is `GetAwaiter()`: `.await` calls `into_future()` first. The future it returns
/// is the awaiter — brigade's timer, the twin of the `Task.Delay` the article's awaiter uses.
impl std::future::IntoFuture for Millis {
    type Output = ();
    type IntoFuture = brigade::time::Sleep;

    fn into_future(self) -> brigade::time::Sleep {
        brigade::time::sleep(Duration::from_millis(self.0))
    }
}

fn ch05_await_a_number(rt: &Runtime) {
    chapter("5. The awaiter pattern: `await 5`");
    say(
        "The article makes an int awaitable by giving it a GetAwaiter() whose awaiter starts a \
         Task.Delay and calls the continuation when it ends. In Rust, .await works on anything \
         that implements IntoFuture: into_future() is GetAwaiter(), and the future it returns \
         is the awaiter. Its poll() answers IsCompleted and GetResult in one call, and the \
         waker it keeps is OnCompleted's continuation. Millis(u64) stands in for int; its \
         awaiter is brigade::time::sleep, which is Task.Delay.",
    );
    let (took, thread) = rt.block_on(rt.spawn(async {
        let started = Instant::now();
        Millis(5).await;
        (started.elapsed(), thread_name())
    }));
    show(&format!(
        "Millis(5).await on {thread}: resumed after {}",
        ms(took)
    ));

    say(
        "A delay is not Thread.Sleep: while a task waits on a timer its worker runs other \
         tasks. The timer is a node inside the Sleep future, linked into a timer wheel; the \
         worker that runs out of work parks only until the next deadline and then wakes the \
         tasks whose time has come. 1 000 tasks awaiting Millis(50) on the tour's 4 workers, \
         then 8 tasks calling std::thread::sleep(50 ms) instead:",
    );
    let (delays, delay_allocations, sleeps) = rt.block_on(rt.spawn(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..1_000)
            .map(|_| brigade::spawn(async { Millis(50).await }))
            .collect();
        brigade::when_all(tasks).await;
        let delays = started.elapsed();

        // What does a pending timer cost? Create, register and drop a thousand, counting.
        let before = allocations_on_this_thread();
        for _ in 0..1_000 {
            let mut sleep = std::pin::pin!(Millis(60_000).into_future());
            std::future::poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        }
        let delay_allocations = allocations_on_this_thread() - before;

        let started = Instant::now();
        let blockers: Vec<_> = (0..8)
            .map(|_| brigade::spawn(async { std::thread::sleep(Duration::from_millis(50)) }))
            .collect();
        brigade::when_all(blockers).await;
        (delays, delay_allocations, started.elapsed())
    }));
    show(&format!(
        "1 000 tasks x Millis(50).await: all done in {}",
        ms(delays)
    ));
    show(&format!(
        "8 tasks x thread::sleep(50 ms):  all done in {} (each held a worker)",
        ms(sleeps)
    ));
    show(&format!(
        "1 000 timers registered and dropped: {delay_allocations} heap allocations"
    ));
}

fn ch05_06_awaiters_and_state_machines(rt: &Runtime) {
    chapter("5 & 6. The awaiter pattern and the state machine");
    say(
        "In C# anything with GetAwaiter/IsCompleted/OnCompleted/GetResult can be awaited. Rust \
         has one trait, Future, with one method: poll(cx) returns Ready(value) or Pending, and \
         before returning Pending the future keeps cx.waker() to call when it can go on. Our \
         leaf future ReadyAfter says Pending a few times, then Ready.",
    );
    say(
        "An async fn with two awaits becomes an enum: one variant per await point, the locals \
         that live across an await stored inside it, and poll playing MoveNext. Below, the same \
         function twice: AddTwoOrders written by hand, and add_two_orders() as the compiler \
         makes it. Both run as tasks on brigade.",
    );

    let by_hand = AddTwoOrders::Start;
    let by_compiler = add_two_orders();
    let hand_size = std::mem::size_of_val(&by_hand);
    let compiler_size = std::mem::size_of_val(&by_compiler);

    let (hand_sum, hand_polls, hand_thread) = rt.block_on(rt.spawn(count_polls(by_hand)));
    let (compiler_sum, compiler_polls, compiler_thread) =
        rt.block_on(rt.spawn(count_polls(by_compiler)));

    show(&format!(
        "hand-written AddTwoOrders: {hand_size:>2} bytes, result {hand_sum}, {hand_polls} polls, \
         done on {hand_thread}"
    ));
    show(&format!(
        "compiler's add_two_orders: {compiler_size:>2} bytes, result {compiler_sum}, \
         {compiler_polls} polls, done on {compiler_thread}"
    ));
    show(&format!(
        "same answer: {}; each Pending released the worker, each wake() queued the task again",
        hand_sum == compiler_sum
    ));
}

// ---------------------------------------------------------------------------------------------
// 7. Method builders
// ---------------------------------------------------------------------------------------------

fn burn_the_soup(burn: bool) -> u32 {
    if burn {
        panic!("the oven caught fire");
    }
    42
}

fn ch07_method_builders(rt: &Runtime) {
    chapter("7. Method builders");
    say(
        "AsyncMethodBuilder is the glue between a state machine and its Task. In brigade, \
         spawn plays that part:",
    );
    say(
        "- Create + Start: spawn moves the state machine into one heap cell (header, future, \
         result slot) and queues it on a worker.",
    );
    say("- AwaitOnCompleted: the Waker handed to poll; wake() queues the cell again.");
    say(
        "- SetResult / SetException: the cell stores the output, or the panic caught around \
         poll, and join() reads it.",
    );
    say(
        "So a panicking task does not take a worker down. Awaiting its Task re-raises the panic, \
         as await rethrows in .NET; task.join() hands it over as a value instead:",
    );

    // The panic still happens; we only keep the default hook from printing it mid-tour.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let burnt = rt.spawn(async { burn_the_soup(std::hint::black_box(true)) });
    let outcome = rt.block_on(burnt.join());
    std::panic::set_hook(previous_hook);

    match outcome {
        Ok(value) => show(&format!(
            "the task returned {value} (it was meant to panic)"
        )),
        Err(TaskError::Panicked(payload)) => show(&format!(
            "task.join() gave Err(TaskError::Panicked(\"{}\"))",
            panic_message(&*payload)
        )),
        Err(_) => show("task.join() gave an error other than a panic (unexpected here)"),
    }
    let after = rt.spawn(async { (burn_the_soup(std::hint::black_box(false)), thread_name()) });
    let (value, thread) = rt.block_on(after);
    show(&format!(
        "the runtime keeps going: the next task returned {value} on {thread}"
    ));

    say(
        "Now chapter 2's work on brigade: the same 8 prime-counting jobs, spawned as tasks \
         and gathered with when_all.",
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..WORK_ITEMS)
        .map(|item| rt.spawn(async move { (item, work_item(item), thread_name()) }))
        .collect();
    let results = rt.block_on(brigade::when_all(tasks));
    show(&format!(
        "{WORK_ITEMS} tasks on {WORKERS} brigade workers took {}:",
        ms(started.elapsed())
    ));
    print_by_thread(&results);
    say(
        "Same answers (compare the checksums). With 8 jobs this small the two take about the \
         same time — either can win a run; the difference shows at scale (BENCHMARKS.md). \
         What the naive pool lacks and brigade adds: a queue per worker instead of one lock \
         for all, stealing between workers, parking without lost wake-ups, and a task that \
         can pause and resume, not just run once. (These spawns come from the main thread, so \
         they enter through the pool's shared injection queue; a task spawned inside a task \
         goes straight to its worker.)",
    );
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<not a string>"
    }
}

// ---------------------------------------------------------------------------------------------
// 8. SynchronizationContext and ConfigureAwait(false)
// ---------------------------------------------------------------------------------------------

fn ch08_synchronization_context(rt: &Runtime) {
    chapter("8. SynchronizationContext and configure_await(false)");
    say(
        "The ExecutionContext says who is running; the SynchronizationContext says where. On a \
         UI thread the code after an await must come back to that thread, because only it may \
         touch the window. brigade gives every task a home: the pool for spawn, a MainLoop (a \
         single-threaded loop this thread runs, like a UI thread) for the loop's tasks, or \
         your own event loop through the SyncContext trait. Wake-ups go home, so the code \
         after an await runs there. This thread becomes a UI thread now:",
    );

    let main_loop = MainLoop::with_runtime(rt.handle());
    let ui = here();
    let handler = main_loop.spawn(async {
        let mut lines = vec![format!("the click handler starts on {}", here())];
        let worked_on = brigade::run(here).await;
        lines.push(format!("brigade::run worked on {worked_on}"));
        lines.push(format!("... and the handler resumed on {}", here()));
        let cooked_on = brigade::spawn(async { here() }).await;
        lines.push(format!("a pool task cooked on {cooked_on}"));
        lines.push(format!("... and the handler resumed on {}", here()));
        lines
    });
    for line in main_loop.run(handler) {
        show(&line);
    }
    show(&format!("(the UI thread is {ui})"));

    say(
        "configure_await(false) is the library's side of the deal: \"I don't need the UI \
         thread\". The future's body runs on the pool; the code after the await is back home. \
         A future that is ready at once does not hop at all.",
    );
    let library_call = main_loop.spawn(async {
        let body_ran_on = async {
            brigade::yield_now().await; // the first real suspension: from here on, the pool
            here()
        }
        .configure_await(false)
        .await;
        (body_ran_on, here())
    });
    let (body, after) = main_loop.run(library_call);
    show(&format!(
        "the library body ran on {body}; the caller resumed on {after}"
    ));

    say(
        "And the famous deadlock. A UI handler that blocks on work which needs the UI thread \
         (.Result, .Wait(); in Rust, block_on) waits for the loop, while the loop waits for the \
         handler. .NET hangs. brigade sees the loop's thread blocked while its loop has work \
         waiting, and fails at once, naming the deadlock:",
    );
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let blocking_handler = main_loop.spawn_local(async {
        let refresh = sync_context::spawn_local(async { "fresh data" });
        brigade::block_on(refresh) // what .Result does
    });
    let outcome = main_loop.run(blocking_handler.join());
    std::panic::set_hook(previous_hook);
    match outcome {
        Err(TaskError::Panicked(payload)) => show(&format!(
            "the handler failed with: {}",
            panic_message(&*payload)
        )),
        Ok(value) => show(&format!("the handler returned {value:?} (unexpected here)")),
        Err(error) => show(&format!("the handler failed otherwise: {error}")),
    }
    drop(main_loop);
    say(
        "The cure is the seed's: async all the way (await instead of blocking) on the UI \
         thread, configure_await(false) in library code. examples/main_loop_ui.rs is the \
         article's upload button on a MainLoop, and examples/foreign_loop.rs plugs a GUI \
         toolkit's own loop in through SyncContext.",
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Task vs ValueTask
// ---------------------------------------------------------------------------------------------

/// A cache lookup that always hits: the ValueTask "fast path". It finishes on its first poll.
async fn cached_price(dish: u64) -> u64 {
    dish * 3
}

fn ch09_task_vs_valuetask(rt: &Runtime) {
    chapter("9. Task vs ValueTask: allocation discipline");
    say(
        "In .NET every Task is a heap object; ValueTask exists so a result that is already \
         there costs nothing. In Rust every future is a plain value, like ValueTask: an async \
         fn's state machine sits inside its caller's state machine, and awaiting it allocates \
         nothing. A heap allocation happens when a future needs a home of its own: when you \
         box it, or when you spawn it as a task. This program counts allocations with a small \
         #[global_allocator] wrapper around the system allocator (per thread, so the workers' \
         own bookkeeping is not mixed in).",
    );

    const ROUNDS: u64 = 1_000;
    let (inline_allocs, boxed_allocs, total) = rt.block_on(async {
        let mut total = 0;
        let before = allocations_on_this_thread();
        for dish in 0..ROUNDS {
            total += cached_price(dish).await;
        }
        let inline_allocs = allocations_on_this_thread() - before;

        let before = allocations_on_this_thread();
        for dish in 0..ROUNDS {
            // black_box keeps the optimiser from removing the box we are trying to count.
            let boxed: Pin<Box<dyn Future<Output = u64> + Send>> =
                std::hint::black_box(Box::pin(cached_price(dish)));
            total += boxed.await;
        }
        (inline_allocs, allocations_on_this_thread() - before, total)
    });
    show(&format!(
        "{ROUNDS} awaits of an already-ready async fn: {inline_allocs} allocations"
    ));
    show(&format!(
        "{ROUNDS} awaits of the same future boxed first: {boxed_allocs} allocations"
    ));

    // One warm-up spawn, so one-time setup (first use of a queue, a thread-local) is not counted.
    rt.block_on(rt.spawn(async {}));
    let mut tasks = Vec::with_capacity(ROUNDS as usize); // reserved up front: not counted below
    let before = allocations_on_this_thread();
    for dish in 0..ROUNDS {
        tasks.push(rt.spawn(cached_price(dish)));
    }
    let spawn_allocs = allocations_on_this_thread() - before;
    let spawned_total: u64 = rt.block_on(brigade::when_all(tasks)).into_iter().sum();
    let per_task = spawn_allocs as f64 / ROUNDS as f64;
    show(&format!(
        "{ROUNDS} spawns: {spawn_allocs} allocations, {per_task:.2} per task ({})",
        if spawn_allocs == ROUNDS {
            "exactly one each: the task cell"
        } else {
            "brigade's design aims for exactly one each: the task cell"
        }
    ));
    let handle_size = std::mem::size_of::<brigade::Task<u64>>();
    show(&format!(
        "a Task<u64> handle is {handle_size} bytes{}; results agree: {}",
        if handle_size == std::mem::size_of::<usize>() {
            ": one pointer to that cell"
        } else {
            ""
        },
        spawned_total * 2 == total
    ));
    say(
        "Rule of thumb: await directly when you can (free), spawn when work must run on its \
         own (one allocation), box only when you need a type-erased future.",
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Best practices
// ---------------------------------------------------------------------------------------------

fn ch10_best_practices(rt: &Runtime) {
    chapter("10. Best practices: start everything, then await together");
    say(
        "Async all the way: inside a task, await; never block a worker thread, since every \
         other task queued on it waits too. Blocking or heavy CPU work goes to brigade::run, \
         which is Task.Run: the closure runs on separate blocking threads and you await its \
         Task. And independent work should be started together and awaited with when_all, \
         not awaited one after another.",
    );
    say("Eight jobs, each blocking for 50 ms (think: a synchronous file read):");

    const JOBS: usize = 8;
    let job = || std::thread::sleep(Duration::from_millis(50));

    // Both runs happen inside a task, as real async code would: the task awaits, its worker
    // stays free, and the blocking happens on brigade::run's threads.
    let (sequential, together) = rt.block_on(rt.spawn(async move {
        let started = Instant::now();
        for _ in 0..JOBS {
            brigade::run(job).await;
        }
        let sequential = started.elapsed();
        let started = Instant::now();
        brigade::when_all((0..JOBS).map(|_| brigade::run(job))).await;
        (sequential, started.elapsed())
    }));
    println!("  > one after another: {}", ms(sequential));
    println!("  > when_all:          {}", ms(together));
    show(&format!(
        "speedup: {:.1}x",
        sequential.as_secs_f64() / together.as_secs_f64()
    ));
    say(
        "While the jobs slept, the workers were free: the awaiting task was parked, and the \
         sleeping happened on brigade::run's own threads.",
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Advanced optimizations: Task.Yield
// ---------------------------------------------------------------------------------------------

/// Two cooks share one worker thread; each logs three steps, yielding after each or not.
fn cook_two_orders(rt: &Runtime, yield_between_steps: bool) -> (Vec<String>, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let cooks_log = Arc::clone(&log);
    // Spawned from inside a task, so both cooks are queued before the only worker is free.
    let threads = rt.block_on(rt.spawn(async move {
        let cooks = ["A", "B"].map(|cook| {
            let log = Arc::clone(&cooks_log);
            brigade::spawn(async move {
                for step in 1..=3 {
                    log.lock().unwrap().push(format!("{cook}{step}"));
                    if yield_between_steps {
                        brigade::yield_now().await; // back of the queue: let the other cook in
                    }
                }
                thread_name()
            })
        });
        brigade::when_all(cooks).await
    }));
    let steps = std::mem::take(&mut *log.lock().unwrap());
    (steps, threads)
}

fn ch11_yield_now() -> std::io::Result<()> {
    chapter("11. Advanced optimizations: Task.Yield");
    say(
        "A task keeps its thread until it reaches an await that is not ready. A long loop that \
         never waits holds everyone else up. brigade::yield_now().await is Task.Yield: it \
         returns Pending once and puts the task at the back of the queue, so others get a \
         turn. Two tasks, A and B, three steps each, on a runtime with a single worker:",
    );

    let single = Runtime::builder().workers(1).build()?;
    let (without, threads_without) = cook_two_orders(&single, false);
    let (with, threads_with) = cook_two_orders(&single, true);
    println!("  > without yield_now: {}", without.join(" "));
    println!("  > with yield_now:    {}", with.join(" "));
    let mut threads = [threads_without, threads_with].concat();
    threads.sort();
    threads.dedup();
    show(&format!("every step ran on: {}", threads.join(", ")));
    say(
        "Why B before A? A task spawned (or woken) by the running task goes into the worker's \
         LIFO slot and runs right after it, while the data it was handed is still in the \
         CPU's cache; the task it displaces moves to the queue. B was spawned last, so B runs \
         first. A yield is different: it goes to the back of the queue, never the LIFO slot — \
         there it would simply run again at once and the yield would do nothing. (Two tasks \
         that keep waking each other through the LIFO slot are capped after 3 rounds, so \
         they cannot starve the queue either.)",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 12. Cancellation: the cooperative pattern
// ---------------------------------------------------------------------------------------------

/// The article's contractor: paints rooms, checking the walkie-talkie between rooms.
async fn paint_house(rooms: u32, token: CancellationToken) -> Result<u32, Cancelled> {
    let mut painted = 0;
    for _ in 0..rooms {
        token.error_if_cancelled()?; // ThrowIfCancellationRequested, made for `?`
        brigade::time::sleep(Duration::from_millis(10)).await; // one room
        painted += 1;
    }
    Ok(painted)
}

fn ch12_cancellation(rt: &Runtime) {
    chapter("12. Cancellation: the cooperative pattern");
    say(
        "You hire a contractor to paint your house and give them a walkie-talkie (a \
         CancellationToken); you keep the base station (the CancellationTokenSource). Nobody \
         drags the painter off the ladder: the painter checks the walkie-talkie between rooms \
         and packs up. Here the contractor has 100 rooms, 10 ms each, and we call it off \
         after 55 ms:",
    );
    let (outcome, took) = rt.block_on(rt.spawn(async {
        let base_station = CancellationTokenSource::new();
        let started = Instant::now();
        let job = brigade::spawn(paint_house(100, base_station.token()));
        brigade::time::sleep(Duration::from_millis(55)).await;
        base_station.cancel(); // "Stop painting!"
        (job.await, started.elapsed())
    }));
    show(&format!(
        "called off at 55 ms; the painter stopped at the next room, after {}: {outcome:?}",
        ms(took)
    ));

    say(
        "A painter who cannot keep checking leaves a number: register(callback) runs the \
         callback the moment cancel() is called, on the cancelling thread, newest first. And \
         an async wait needs no checks at all: with_cancellation(&token) ends the wait with \
         Err(Cancelled) and drops the waiting future, Rust's own way to cancel.",
    );
    let (calls, sleep_outcome, waited) = rt.block_on(rt.spawn(async {
        let base_station = CancellationTokenSource::new();
        let token = base_station.token();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let registrations: Vec<_> = ["the supplier", "the neighbour"]
            .into_iter()
            .map(|who| {
                let calls = Arc::clone(&calls);
                token.register(move || calls.lock().unwrap().push(format!("called {who}")))
            })
            .collect();
        let canceller = brigade::spawn(async move {
            brigade::time::sleep(Duration::from_millis(20)).await;
            base_station.cancel();
        });
        let started = Instant::now();
        let slept = brigade::time::sleep(Duration::from_secs(60))
            .with_cancellation(&token)
            .await;
        canceller.await;
        drop(registrations);
        let calls = calls.lock().unwrap().clone();
        (calls, slept, started.elapsed())
    }));
    show(&format!("callbacks ran in order: {}", calls.join(", ")));
    show(&format!(
        "a 60 s sleep under the token ended after {}: {sleep_outcome:?}",
        ms(waited)
    ));

    say(
        "Sources link and time out. A request gets its own source linked to the server's \
         shutdown token — cancelled by either, never cancelling its parent — and \
         with_timeout(d) calls itself off after d, on brigade's timer wheel:",
    );
    let (one_request, server_after_one, all_requests, timed_out, timeout_took) =
        rt.block_on(rt.spawn(async {
            let server = CancellationTokenSource::new();
            let first = CancellationTokenSource::linked(&[server.token()]);
            let second = CancellationTokenSource::linked(&[server.token()]);
            first.cancel(); // one request gives up...
            let server_after_one = server.is_cancellation_requested();
            server.cancel(); // ...then the server shuts down
            let all = first.is_cancellation_requested() && second.is_cancellation_requested();

            let deadline = CancellationTokenSource::with_timeout(Duration::from_millis(30));
            let started = Instant::now();
            deadline.token().cancelled().await;
            (
                first.is_cancellation_requested(),
                server_after_one,
                all,
                deadline.is_cancellation_requested(),
                started.elapsed(),
            )
        }));
    show(&format!(
        "one request cancelled: {one_request}; the server cancelled with it: {server_after_one}"
    ));
    show(&format!(
        "server cancelled: every linked request cancelled: {all_requests}"
    ));
    show(&format!(
        "with_timeout(30 ms): cancelled {timed_out} after {}",
        ms(timeout_took)
    ));
}

// ---------------------------------------------------------------------------------------------
// 13. Real-world scenarios
// ---------------------------------------------------------------------------------------------

/// A tiny "users" API for chapter 13: `/users/{id}` answers after 5 ms of pretend work;
/// `/slow` never answers in time.
async fn users_api(
    request: http::Request<brigade_http::Incoming>,
) -> Result<http::Response<brigade_http::Full<brigade_http::Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_string();
    if path == "/slow" {
        brigade::time::sleep(Duration::from_secs(30)).await;
    }
    brigade::time::sleep(Duration::from_millis(5)).await; // a database call, say
    let id = path.trim_start_matches("/users/");
    let body = format!(r#"{{"id":{id},"name":"cook {id}"}}"#);
    Ok(http::Response::new(brigade_http::Full::new(body.into())))
}

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)] // printed with Debug
struct User {
    id: u32,
    name: String,
}

fn ch13_real_world(rt: &Runtime) {
    chapter("13. Real-world scenarios");
    say(
        "The article ends where async pays for itself: waiting on the network. Every wait \
         below — a socket read, a database reply, a timer — returns the worker thread to the \
         pool until epoll says the bytes are there. The servers are real, on loopback, \
         started by the tour itself.",
    );

    // 13A and 13D share one HTTP server, running on the tour's runtime.
    let shutdown = CancellationTokenSource::new();
    let server_token = shutdown.token();
    let addr = rt.block_on(async move {
        let server = brigade_http::Server::bind("127.0.0.1:0")
            .await
            .expect("bind the tour's HTTP server")
            .shutdown_on(server_token);
        let addr = server.local_addr().expect("local address");
        brigade::spawn(server.serve(brigade_http::service_fn(users_api))).detach();
        addr
    });

    say(
        "A. Calling a web API (HttpClient): GET /users/7, the JSON read into a struct, with a \
         cancellation token; then a request the user gives up on after 50 ms.",
    );
    let client = brigade_http::Client::new();
    let (user, pooled, gave_up, gave_up_after) = rt.block_on({
        let client = client.clone();
        async move {
            let token = CancellationTokenSource::new();
            let user: User = client
                .get(format!("http://{addr}/users/7"))
                .cancellation_token(&token.token())
                .send()
                .await
                .and_then(|response| response.error_for_status())
                .expect("GET /users/7")
                .json()
                .await
                .expect("a user");
            let pooled = client.idle_connections("127.0.0.1", addr.port());
            let impatient = CancellationTokenSource::with_timeout(Duration::from_millis(50));
            let started = Instant::now();
            let gave_up = client
                .get(format!("http://{addr}/slow"))
                .cancellation_token(&impatient.token())
                .send()
                .await;
            (user, pooled, gave_up.err(), started.elapsed())
        }
    });
    show(&format!(
        "{user:?}; idle pooled connections afterwards: {pooled}"
    ));
    show(&format!(
        "the slow request ended after {}: {}",
        ms(gave_up_after),
        gave_up.map_or("no error?".to_string(), |e| e.to_string())
    ));

    say(
        "B. Database operations (EF Core): tokio-postgres over brigade sockets against a \
         throwaway PostgreSQL server the tour starts in a temporary directory. A pool, an \
         insert and a query, and a 30 s query stopped on the server by a token.",
    );
    ch13b_database(rt);

    say(
        "C. UI responsiveness: chapter 8 showed continuations resuming on a MainLoop; \
         `cargo run --release --example main_loop_ui` is the seed's upload button with a \
         spinner that never stops turning.",
    );

    say(
        "D. A high-throughput web API: 2 000 requests, 64 at a time, from the client to the \
         server, all on the same 4 worker threads — each waiting request costs a small \
         future, not a thread.",
    );
    let (took, served, threads) = rt.block_on({
        let client = client.clone();
        async move {
            let started = Instant::now();
            let mut served = 0;
            for batch in 0..(2_000 / 64 + 1) {
                let requests = (0..64).filter(|i| batch * 64 + i < 2_000).map(|i| {
                    let client = client.clone();
                    brigade::spawn(async move {
                        client
                            .get(format!("http://{addr}/users/{i}"))
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false)
                    })
                });
                served += brigade::when_all(requests)
                    .await
                    .into_iter()
                    .filter(|ok| *ok)
                    .count();
            }
            (
                started.elapsed(),
                served,
                Handle::current().metrics().active_workers,
            )
        }
    });
    show(&format!(
        "{served} of 2 000 requests answered in {} ({:.0} requests/s, each with 5 ms of pretend \
         work) on {threads} worker threads",
        ms(took),
        served as f64 / took.as_secs_f64()
    ));
    shutdown.cancel(); // graceful: the server finishes what is in flight and stops
}

fn ch13b_database(rt: &Runtime) {
    use brigade_postgres::testing::{TempCluster, TempClusterError};
    let cluster = match TempCluster::start() {
        Ok(cluster) => cluster,
        Err(TempClusterError::NotInstalled) => {
            show(
                "PostgreSQL is not installed here; `sudo apt-get install postgresql` and run \
                 the tour again to see this part (the tour goes on)",
            );
            return;
        }
        Err(error) => {
            show(&format!(
                "could not start a throwaway PostgreSQL ({error}); skipping 13B"
            ));
            return;
        }
    };
    let pool = match brigade_postgres::Pool::builder(cluster.tcp_config())
        .max_size(4)
        .build()
    {
        Ok(pool) => pool,
        Err(error) => {
            show(&format!("could not make a pool ({error}); skipping 13B"));
            return;
        }
    };
    let outcome: Result<(Vec<String>, String, Duration, Duration), brigade_postgres::Error> = rt
        .block_on(async move {
            let db = pool.get().await?;
            db.batch_execute("CREATE TABLE orders (customer int, item text)")
                .await?;
            for item in ["soup", "bread", "tart"] {
                db.execute("INSERT INTO orders VALUES (7, $1)", &[&item])
                    .await?;
            }
            let items = db
                .query(
                    "SELECT item FROM orders WHERE customer = $1 ORDER BY item",
                    &[&7],
                )
                .await?
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect();
            let impatient = CancellationTokenSource::with_timeout(Duration::from_millis(100));
            let started = Instant::now();
            let slow = db
                .query_with_cancellation(&impatient.token(), "SELECT pg_sleep(30)", &[])
                .await;
            let stopped_after = started.elapsed();
            let next = Instant::now();
            db.query("SELECT 1", &[]).await?;
            let outcome = match slow {
                Err(error) if error.is_cancelled() => "cancelled on the server".to_string(),
                Err(error) => format!("failed: {error}"),
                Ok(_) => "finished?".to_string(),
            };
            Ok((items, outcome, stopped_after, next.elapsed()))
        });
    match outcome {
        Ok((items, outcome, stopped_after, next)) => {
            show(&format!("customer 7 ordered: {}", items.join(", ")));
            show(&format!(
                "SELECT pg_sleep(30) under a 100 ms token: {outcome} after {}; the same \
                 connection answered the next query in {}",
                ms(stopped_after),
                ms(next)
            ));
        }
        Err(error) => show(&format!("the database part failed: {error}")),
    }
    drop(cluster); // stops the server and deletes its directory
}

// ---------------------------------------------------------------------------------------------
// The end
// ---------------------------------------------------------------------------------------------

fn summary(elapsed: Duration) {
    chapter("Summary");
    say(
        "An async fn is a state machine; poll is its MoveNext; a Waker is the continuation \
         an awaiter stores; a task is one heap cell holding the state machine and its result; \
         and a pool of worker threads polls whichever tasks are ready. brigade is that \
         design grown up: per-worker queues with stealing, one allocation per task, panics \
         caught into join(), run() for blocking work and a monitor that works around the \
         blocking nobody moved there, an ExecutionContext that flows, loops that keep \
         continuations at home, timers and sockets that hold no thread while they wait, and \
         cancellation that reaches every one of those waits.",
    );
    say(
        "Next: README.md for how to use brigade, ARCHITECTURE.md for how each part maps to \
         the article and to .NET, and the code under brigade/src, each module opening with \
         the section it re-creates.",
    );
    show(&format!("tour finished in {}", ms(elapsed)));
}

// ---------------------------------------------------------------------------------------------
// Helpers: output, thread names, the counting allocator
// ---------------------------------------------------------------------------------------------

const WIDTH: usize = 90;

fn chapter(title: &str) {
    println!();
    println!("{title}");
    println!("{}", "-".repeat(title.chars().count()));
}

/// Prints a paragraph, word-wrapped and indented. A leading "- " makes a bullet whose
/// continuation lines hang under its text.
fn say(text: &str) {
    match text.strip_prefix("- ") {
        Some(rest) => wrap("  - ", "    ", rest),
        None => wrap("  ", "  ", text),
    }
}

/// Prints one measured result.
fn show(text: &str) {
    wrap("  > ", "      ", text);
}

fn wrap(first_prefix: &str, next_prefix: &str, text: &str) {
    let mut prefix = first_prefix;
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty()
            && prefix.len() + line.chars().count() + 1 + word.chars().count() > WIDTH
        {
            println!("{prefix}{line}");
            prefix = next_prefix;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        println!("{prefix}{line}");
    }
}

fn print_by_thread(results: &[(usize, u64, String)]) {
    let mut by_thread: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (item, _, thread) in results {
        by_thread.entry(thread.as_str()).or_default().push(*item);
    }
    for (thread, mut items) in by_thread {
        items.sort_unstable();
        println!("  >   {thread:<18} ran items {items:?}");
    }
    let checksum: u64 = results.iter().map(|(_, answer, _)| answer).sum();
    println!("  >   checksum of the answers: {checksum}");
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_string()
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1_000.0)
}

/// Counts heap allocations per thread, then hands every call to the system allocator.
struct CountingAllocator;

thread_local! {
    // `const` and no destructor: reading it never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn count_allocation() {
    // try_with: during thread exit the slot may be gone; such allocations simply go uncounted.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only a thread-local Cell.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;
