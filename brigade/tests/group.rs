//! Behaviour tests for task groups and their companions: promises G1-G10 of
//! docs/SEMANTICS.md. Timing margins are wide (seconds where a step takes microseconds): the
//! machine running them may be heavily loaded.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use brigade::cancel::{CancellationExt, CancellationTokenSource};
use brigade::group::{race, race_biased, GroupError, Race2, Race3};
use brigade::{Promise, Runtime, TaskError, TaskGroup};
use brigade_test_support::*;

const LIMIT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(10);

fn rt(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------- G1

#[test]
fn g1_no_child_outlives_a_dropped_group() {
    watchdog("g1", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let spinning_stopped = Arc::new(AtomicBool::new(false));
        let (d, s, spin) = (dropped.clone(), started.clone(), spinning_stopped.clone());
        rt.block_on(rt.spawn(async move {
            let mut group = TaskGroup::new();
            for _ in 0..5 {
                let (guard, started) = (DropCount(d.clone()), s.clone());
                group.spawn(async move {
                    let _guard = guard;
                    started.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                });
            }
            // A child that never waits on anything: it is cancelled between two polls.
            let guard = DropFlag(spin);
            group.spawn(async move {
                let _guard = guard;
                loop {
                    brigade::yield_now().await;
                }
            });
            while s.load(Ordering::SeqCst) < 5 {
                brigade::yield_now().await;
            }
            drop(group);
        }));
        assert_eq!(started.load(Ordering::SeqCst), 5);
        wait_until("every waiting child's future dropped", SETTLE, || {
            dropped.load(Ordering::SeqCst) == 5
        });
        wait_until("the spinning child dropped", SETTLE, || {
            spinning_stopped.load(Ordering::SeqCst)
        });
    });
}

#[test]
fn g1_shutdown_returns_only_after_every_child_has_stopped() {
    watchdog("g1 shutdown", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let seen = rt.block_on(async move {
            let mut group = TaskGroup::new();
            for _ in 0..8 {
                let guard = DropCount(d.clone());
                group.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
            }
            group.shutdown().await;
            assert!(group.is_empty());
            d.load(Ordering::SeqCst)
        });
        assert_eq!(
            seen, 8,
            "shutdown returned before every child's future was dropped"
        );
    });
}

#[test]
fn g1_outputs_of_children_never_joined_are_dropped_with_the_group() {
    watchdog("g1 outputs", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new();
        rt.block_on(async {
            for _ in 0..4 {
                let (output, finished) = (DropCount(dropped.clone()), finished.clone());
                group.spawn(async move {
                    finished.fetch_add(1, Ordering::SeqCst);
                    output
                });
            }
        });
        wait_until("every child to finish", SETTLE, || {
            finished.load(Ordering::SeqCst) == 4
        });
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            0,
            "an output was dropped before its join"
        );
        drop(group);
        // The group and its children point at each other (handles one way, the group pointer
        // the other): the outputs are freed only if that cycle is broken.
        wait_until("the unjoined outputs to be dropped", SETTLE, || {
            dropped.load(Ordering::SeqCst) == 4
        });
    });
}

// ---------------------------------------------------------------- G2

#[test]
fn g2_fail_fast_cancels_siblings_and_waits_for_them() {
    watchdog("g2", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let (outcome, dropped_when_joined) = rt.block_on(async move {
            let mut group = TaskGroup::<Result<u32, String>>::fail_fast();
            for _ in 0..4 {
                let guard = SlowDrop(d.clone());
                group.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<Result<u32, String>>().await
                });
            }
            group.spawn(async {
                brigade::time::sleep(Duration::from_millis(20)).await;
                Err("the database is down".to_string())
            });
            let outcome = group.try_join_all().await;
            (outcome, d.load(Ordering::SeqCst))
        });
        assert_eq!(
            outcome,
            Err(GroupError::Failed("the database is down".to_string()))
        );
        assert_eq!(
            dropped_when_joined, 4,
            "try_join_all returned before every sibling had stopped"
        );
    });
}

/// Takes a while to drop: a sibling that is slow to stop must still be waited for.
struct SlowDrop(Arc<AtomicUsize>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(30));
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn g2_a_panic_in_a_fail_fast_group_cancels_siblings_and_is_re_raised_after_they_stop() {
    quiet_expected_panics();
    watchdog("g2 panic", LIMIT, || {
        let rt = rt(2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let caught = rt.block_on(async move {
            let mut group = TaskGroup::<()>::fail_fast();
            for _ in 0..3 {
                let guard = SlowDrop(d.clone());
                group.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            group.spawn(async { std::panic::panic_any(Boom(7)) });
            let joined = brigade::spawn(group.join_all()).join().await;
            (joined, d.load(Ordering::SeqCst))
        });
        match caught {
            (Err(TaskError::Panicked(payload)), siblings_dropped) => {
                assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
                assert_eq!(
                    siblings_dropped, 3,
                    "the panic was raised before siblings stopped"
                );
            }
            (other, _) => panic!("expected the child's panic, got {:?}", other.map(|_| ())),
        }
    });
}

#[test]
fn g2_a_plain_group_lets_siblings_finish_and_then_re_raises_the_panic() {
    quiet_expected_panics();
    watchdog("g2 plain", LIMIT, || {
        let rt = rt(2);
        let finished = Arc::new(AtomicUsize::new(0));
        let f = finished.clone();
        let joined = rt.block_on(async move {
            let mut group = TaskGroup::new();
            for _ in 0..3 {
                let f = f.clone();
                group.spawn(async move {
                    brigade::time::sleep(Duration::from_millis(50)).await;
                    f.fetch_add(1, Ordering::SeqCst);
                });
            }
            group.spawn(async { panic!("[expected] one child broke") });
            brigade::spawn(group.join_all()).join().await
        });
        let payload = joined.map(|_| ()).unwrap_err().into_panic();
        assert_eq!(panic_text(payload.as_ref()), "[expected] one child broke");
        assert_eq!(
            finished.load(Ordering::SeqCst),
            3,
            "a plain group cut its children short"
        );
    });
}

// ---------------------------------------------------------------- G3

#[test]
fn g3_join_next_yields_in_completion_order() {
    watchdog("g3", LIMIT, || {
        let rt = rt(3);
        let order = [3usize, 1, 4, 0, 2];
        let mut promises = Vec::new();
        let stopped: Arc<Vec<AtomicBool>> =
            Arc::new((0..5).map(|_| AtomicBool::new(false)).collect());
        let mut group = TaskGroup::new();
        rt.block_on(async {
            for i in 0..5 {
                let (promise, wait) = Promise::<()>::new();
                promises.push(promise);
                let stopped = stopped.clone();
                group.spawn(async move {
                    wait.await.ok();
                    stopped[i].store(true, Ordering::SeqCst);
                    i
                });
            }
        });
        // Release the children one at a time, each only after the previous one has stopped,
        // so the order they stop in is known; join afterwards, when all are queued.
        for &i in &order {
            promises[i].set(()).ok();
            wait_until("the released child to stop", SETTLE, || {
                stopped[i].load(Ordering::SeqCst)
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        let joined: Vec<usize> = rt.block_on(async {
            let mut joined = Vec::new();
            while let Some(outcome) = group.join_next().await {
                joined.push(outcome.expect("no failure"));
            }
            joined
        });
        assert_eq!(joined, order);
    });
}

#[test]
fn g3_join_all_gives_outputs_in_spawn_order() {
    watchdog("g3 join_all", LIMIT, || {
        let rt = rt(2);
        let outputs = rt.block_on(async {
            let mut group = TaskGroup::new();
            for i in 0..20u64 {
                group.spawn(async move {
                    brigade::time::sleep(Duration::from_millis(40 - 2 * i)).await;
                    i
                });
            }
            group.join_all().await
        });
        assert_eq!(outputs.unwrap(), (0..20).collect::<Vec<_>>());
    });
}

// ---------------------------------------------------------------- G4

#[test]
fn g4_for_each_concurrent_never_exceeds_its_limit_and_runs_bodies_in_parallel() {
    watchdog("g4", LIMIT, || {
        let rt = rt(4);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let (i, m, d) = (in_flight.clone(), most.clone(), done.clone());
        let outcome = rt.block_on(brigade::for_each_concurrent(0..60u64, 3, move |n| {
            let (in_flight, most, done) = (i.clone(), m.clone(), d.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                brigade::time::sleep(Duration::from_millis(2 + n % 5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<(), String>(())
            }
        }));
        assert_eq!(outcome, Ok(()));
        assert_eq!(done.load(Ordering::SeqCst), 60);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= 3, "{most} bodies were in flight with a limit of 3");
        assert!(
            most >= 2,
            "bodies never overlapped: they did not run concurrently"
        );
    });
}

#[test]
fn g4_for_each_concurrent_stops_starting_bodies_at_the_first_error_and_returns_it() {
    watchdog("g4 error", LIMIT, || {
        let rt = rt(2);
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let outcome = rt.block_on(brigade::for_each_concurrent(0..1000u32, 2, move |n| {
            let started = s.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                brigade::time::sleep(Duration::from_millis(1)).await;
                if n == 5 {
                    Err(format!("item {n} is bad"))
                } else {
                    Ok(())
                }
            }
        }));
        assert_eq!(outcome, Err("item 5 is bad".to_string()));
        let started = started.load(Ordering::SeqCst);
        assert!(
            started < 10,
            "{started} bodies started; the loop went on after the failure"
        );
    });
}

// ---------------------------------------------------------------- G5

#[test]
fn g5_cancelling_a_parent_token_reaches_every_child() {
    watchdog("g5", LIMIT, || {
        let rt = rt(2);
        let server = CancellationTokenSource::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        let (parent, d) = (server.token(), dropped.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        let owner = rt.spawn(async move {
            let mut group = TaskGroup::<()>::builder().cancelled_by(&parent).build();
            let token = group.token();
            for i in 0..6 {
                let guard = DropCount(d.clone());
                if i % 2 == 0 {
                    // Ignores the token: cancelled as a task.
                    group.spawn(async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    });
                } else {
                    // Watches the token: its wait ends through it.
                    let token = token.clone();
                    group.spawn(async move {
                        let _guard = guard;
                        let _ = std::future::pending::<()>().with_cancellation(&token).await;
                    });
                }
            }
            ready_tx.send(()).unwrap();
            let mut cancelled = 0;
            while let Some(outcome) = group.join_next().await {
                match outcome {
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    Ok(()) => {} // a token watcher that returned on its own
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            (cancelled, token.is_cancellation_requested())
        });
        ready_rx.recv_timeout(SETTLE).expect("children spawned");
        server.cancel();
        let (cancelled, token_cancelled) = rt.block_on(owner);
        assert!(
            cancelled >= 3,
            "only {cancelled} children reported cancellation"
        );
        assert!(
            token_cancelled,
            "the group's token was not cancelled by its parent"
        );
        assert_eq!(dropped.load(Ordering::SeqCst), 6);
    });
}

#[test]
fn g5_a_child_spawned_into_a_cancelled_group_is_cancelled() {
    watchdog("g5 late", LIMIT, || {
        let rt = rt(2);
        let outcome = rt.block_on(async {
            let mut group = TaskGroup::new();
            group.cancel_all();
            group.spawn(std::future::pending::<()>());
            group.join_next().await
        });
        assert!(outcome.unwrap().unwrap_err().is_cancelled());
    });
}

// ---------------------------------------------------------------- G6

#[test]
fn g6_for_each_concurrent_stops_when_its_token_is_cancelled() {
    watchdog("g6", LIMIT, || {
        let rt = rt(2);
        let source = CancellationTokenSource::new();
        let started = Arc::new(AtomicUsize::new(0));
        let (token, s) = (source.token(), started.clone());
        let canceller = rt.spawn(async move {
            brigade::time::sleep(Duration::from_millis(50)).await;
            source.cancel();
        });
        let outcome = rt.block_on(brigade::group::for_each_concurrent_with_token(
            0..100_000u32,
            2,
            &token,
            move |_| {
                let started = s.clone();
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    brigade::time::sleep(Duration::from_millis(5)).await;
                    Ok::<(), ()>(())
                }
            },
        ));
        rt.block_on(canceller);
        assert_eq!(outcome, Err(GroupError::Cancelled));
        assert!(started.load(Ordering::SeqCst) < 100_000);
    });
}

// ---------------------------------------------------------------- G7

#[test]
fn g7_the_dump_shows_each_childs_group_and_parent_and_drops_them_once_cancelled() {
    watchdog("g7", LIMIT, || {
        let rt = rt(2);
        let (to_test, from_owner) = mpsc::channel();
        let (to_owner, from_test) = mpsc::channel::<()>();
        let owner = rt.spawn(async move {
            let mut group = TaskGroup::new();
            for i in 0..3 {
                group.spawn_named(format!("child-{i}"), std::future::pending::<()>());
            }
            to_test.send(group.id()).unwrap();
            brigade::run(move || from_test.recv()).await.unwrap();
            group.shutdown().await;
        });
        let owner_id = owner.id();
        let group_id = from_owner.recv_timeout(SETTLE).expect("group made");
        let dump = rt.dump();
        let children: Vec<_> = dump
            .tasks
            .iter()
            .filter(|t| t.group == Some(group_id))
            .collect();
        assert_eq!(children.len(), 3, "{dump}");
        assert!(
            children.iter().all(|t| t.parent == Some(owner_id)),
            "{dump}"
        );
        let text = dump.to_string();
        assert!(text.contains(&format!("g{group_id}<{owner_id}")), "{text}");
        to_owner.send(()).unwrap();
        rt.block_on(owner);
        wait_until("the cancelled children to leave the dump", SETTLE, || {
            !rt.dump().tasks.iter().any(|t| t.group == Some(group_id))
        });
    });
}

// ---------------------------------------------------------------- G8

#[test]
fn g8_when_each_yields_outputs_in_completion_order() {
    watchdog("g8", LIMIT, || {
        let rt = rt(2);
        let got = rt.block_on(async {
            let (promises, waits): (Vec<_>, Vec<_>) = (0..4).map(|_| Promise::<u32>::new()).unzip();
            let mut each = brigade::when_each(waits);
            let mut got = Vec::new();
            for &i in &[2usize, 0, 3, 1] {
                promises[i].set(i as u32 * 10).unwrap();
                let (index, value) = each.next().await.expect("one more");
                got.push((index, value.unwrap()));
            }
            assert!(each.next().await.is_none());
            got
        });
        assert_eq!(got, vec![(2, 20), (0, 0), (3, 30), (1, 10)]);
    });
}

// ---------------------------------------------------------------- G9

#[test]
fn g9_race_returns_the_first_and_drops_the_losers_before_returning() {
    watchdog("g9", LIMIT, || {
        let rt = rt(2);
        rt.block_on(async {
            let loser_dropped = Arc::new(AtomicBool::new(false));
            let guard = DropFlag(loser_dropped.clone());
            let loser = async move {
                let _guard = guard;
                std::future::pending::<u8>().await
            };
            let winner = async {
                brigade::time::sleep(Duration::from_millis(10)).await;
                "won"
            };
            let out = race((loser, winner, std::future::pending::<()>())).await;
            assert_eq!(out, Race3::Second("won"));
            assert!(
                loser_dropped.load(Ordering::SeqCst),
                "a loser outlived the race"
            );
        });
    });
}

#[test]
fn g9_race_rotates_between_ready_branches_and_race_biased_does_not() {
    let mut wins = [0usize; 2];
    let mut biased_wins = [0usize; 2];
    brigade::block_on(async {
        for _ in 0..100 {
            match race((async { 0 }, async { 1 })).await {
                Race2::First(_) => wins[0] += 1,
                Race2::Second(_) => wins[1] += 1,
            }
            match race_biased((async { 0 }, async { 1 })).await {
                Race2::First(_) => biased_wins[0] += 1,
                Race2::Second(_) => biased_wins[1] += 1,
            }
        }
    });
    assert_eq!(
        wins,
        [50, 50],
        "round-robin should split ready branches evenly"
    );
    assert_eq!(biased_wins, [100, 0]);
}

// ---------------------------------------------------------------- G10

#[test]
fn g10_join_all_reports_cancelled_children_as_an_error_not_a_panic() {
    watchdog("g10", LIMIT, || {
        let rt = rt(2);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                let mut group = TaskGroup::new();
                group.spawn(async { 1 });
                group.spawn(std::future::pending::<i32>());
                brigade::time::sleep(Duration::from_millis(20)).await;
                group.cancel_all();
                group.join_all().await
            })
        }));
        assert!(matches!(outcome, Ok(Err(GroupError::Cancelled))));
    });
}
