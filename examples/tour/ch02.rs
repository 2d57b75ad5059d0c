//! 2. A simple thread pool (the seed's MyThreadPool)

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::common::{
    chapter, ms, print_by_thread, say, show, thread_name, work_item, WORKERS, WORK_ITEMS,
};

/// A work item: the seed's `Action`, a closure run once on whichever thread takes it.
pub(crate) type WorkItem = Box<dyn FnOnce() + Send>;

/// The seed's MyThreadPool: N threads consuming one blocking queue. No stealing, no local
/// queues, one lock for everyone. It works, and chapter 7 shows what the real thing adds.
pub(crate) struct NaivePool {
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
    pub(crate) fn new(threads: usize) -> NaivePool {
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
    pub(crate) fn queue_user_work_item(&self, item: impl FnOnce() + Send + 'static) {
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

pub(crate) fn ch02_a_simple_thread_pool() {
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
    *crate::common::NAIVE_POOL_TOOK.lock().unwrap() = Some(elapsed);

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
