//! S11: allocation counts, with a counting global allocator (one per test binary, so these
//! tests live alone here). Only allocations made on a thread that has switched counting on are
//! counted, so other tests running in parallel do not disturb the numbers.

use std::time::Duration;

use brigade::Task;
use brigade_test_support::{
    allocations_on_this_thread, count_allocations, rt, watchdog, CountingAllocator,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn s11_awaiting_an_already_ready_future_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let allocations = watchdog("s11 ready", Duration::from_secs(10), || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async {
            // Warm up anything lazily initialised on this worker.
            std::future::ready(0u32).await;
            let before = allocations_on_this_thread();
            let mut sum = 0u64;
            for i in 0..1000u64 {
                sum += std::future::ready(i).await;
                sum += async { 1 }.await;
            }
            assert_eq!(sum, 1000 * 999 / 2 + 1000);
            allocations_on_this_thread() - before
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
    let rt = rt(1);
    rt.block_on(rt.spawn(async move {
        // Warm-up: first spawns may initialise per-thread state; the handle vector is made now.
        for _ in 0..100 {
            brigade::spawn(async { 1u32 }).await;
        }
        let mut handles: Vec<Task<u32>> = Vec::with_capacity(n);
        let (sum, allocations) = {
            let before = allocations_on_this_thread();
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
            (sum, allocations_on_this_thread() - before)
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
    let (_v, n) = count_allocations(|| std::hint::black_box(vec![1u8; 10]));
    assert!(
        n >= 1,
        "the counting allocator did not count a Vec allocation"
    );
}

/// Creates a sleep, polls it once (registering its timer) and drops it (removing it), `n`
/// times, on the one worker; returns the allocations made.
fn sleep_cycles(n: usize) -> (u64, usize) {
    use std::future::{poll_fn, Future};
    use std::pin::pin;
    use std::task::Poll;
    let rt = rt(1);
    let allocations = rt.block_on(rt.spawn(async move {
        let cycle = || async {
            let mut pending = pin!(brigade::time::sleep(Duration::from_secs(3600)));
            poll_fn(|cx| {
                assert!(pending.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
        };
        // Warm-up: anything lazily made on first use.
        cycle().await;
        let before = allocations_on_this_thread();
        for _ in 0..n {
            cycle().await;
        }
        allocations_on_this_thread() - before
    }));
    (allocations, rt.metrics().timers_pending)
}

#[test]
fn t5_a_pending_sleep_allocates_nothing_beyond_its_own_future() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (allocations, pending) =
        watchdog("t5 sleep", Duration::from_secs(20), || sleep_cycles(10_000));
    assert_eq!(
        allocations, 0,
        "10 000 sleeps registered and dropped allocated {allocations} times"
    );
    assert_eq!(pending, 0);
}

#[test]
fn t2_a_million_sleeps_created_polled_and_dropped_leave_nothing_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // No allocation per cycle means the heap cannot grow; an empty wheel means no timer leaked.
    let (allocations, pending) = watchdog("t2 sleep churn", Duration::from_secs(60), || {
        sleep_cycles(1_000_000)
    });
    assert_eq!(
        allocations, 0,
        "1 000 000 sleep cycles allocated {allocations} times"
    );
    assert_eq!(pending, 0, "{pending} timers left in the wheel");
}

#[test]
fn i1_socket_reads_and_writes_allocate_nothing_after_setup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let allocations = watchdog("i1 sockets", Duration::from_secs(30), || {
        let rt = rt(1);
        rt.block_on(rt.spawn(async {
            use brigade::net::{TcpListener, TcpStream};
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            // The echoing side is its own task, so every round trip parks and wakes both.
            let echo = brigade::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    match server.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => server.write_all(&buf[..n]).await.unwrap(),
                    }
                }
            });
            let message = [7u8; 64];
            let mut back = [0u8; 64];
            // Warm-up round trips.
            for _ in 0..10 {
                client.write_all(&message).await.unwrap();
                client.read_exact(&mut back).await.unwrap();
            }
            let before = allocations_on_this_thread();
            for _ in 0..1000 {
                client.write_all(&message).await.unwrap();
                client.read_exact(&mut back).await.unwrap();
            }
            let allocations = allocations_on_this_thread() - before;
            drop(client);
            echo.await;
            allocations
        }))
    });
    assert_eq!(
        allocations, 0,
        "1 000 TCP round trips of 64 B allocated {allocations} times"
    );
}
