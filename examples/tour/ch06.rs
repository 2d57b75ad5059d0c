//! 5 & 6. The awaiter pattern and the state machine

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use brigade::Runtime;

use crate::common::{chapter, say, show, thread_name};

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

impl AddTwoOrders {
    /// The state, as the seed's `<>1__state` plus what the awaiter has left to do.
    fn describe(&self) -> String {
        match self {
            AddTwoOrders::Start => "Start".into(),
            AddTwoOrders::Waiting0 { leaf } => {
                format!("Waiting0 (awaiter: {} more Pending)", leaf.pending)
            }
            AddTwoOrders::Waiting1 { first, leaf } => format!(
                "Waiting1 (first = {first}; awaiter: {} more Pending)",
                leaf.pending
            ),
            AddTwoOrders::Done => "Done".into(),
        }
    }
}

/// Polls the hand-written machine like `count_polls`, noting its state before and after each
/// poll: the path through the states that explains the poll count.
async fn trace_states(mut machine: AddTwoOrders) -> (u64, Vec<String>) {
    let mut trace = Vec::new();
    let output = std::future::poll_fn(|cx| {
        let before = machine.describe();
        let poll = Pin::new(&mut machine).poll(cx);
        let outcome = match poll {
            Poll::Ready(sum) => format!("Ready({sum})"),
            Poll::Pending => "Pending".into(),
        };
        trace.push(format!(
            "poll {}: {before} -> {} => {outcome}",
            trace.len() + 1,
            machine.describe()
        ));
        poll
    })
    .await;
    (output, trace)
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

pub(crate) fn ch05_06_awaiters_and_state_machines(rt: &Runtime) {
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
    say(
        "Why that many polls? The first awaiter says Pending twice, the second three times, \
         and every Pending is a return from poll, so a later poll must come back in. Each \
         poll resumes in the state the last one left, and one poll can pass several states \
         when an awaiter is ready at once (the fast path). The hand-written machine's states, \
         poll by poll:",
    );
    let (traced_sum, trace) = rt.block_on(rt.spawn(trace_states(AddTwoOrders::Start)));
    for line in &trace {
        show(line);
    }
    show(&format!(
        "{} polls for {traced_sum}: one per Pending ({} in all) plus the one that finished",
        trace.len(),
        trace
            .iter()
            .filter(|line| line.ends_with("Pending"))
            .count()
    ));
}
