//! The cooperative budget (Y9) beyond `brigade::sync`: a task that keeps finding its socket
//! ready, or keeps joining tasks that already finished, still lets the other tasks on its
//! worker run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brigade::net::TcpListener;
use brigade_test_support::{rt, wait_until, watchdog};

/// Marks the loop iteration at which the other task first ran (`usize::MAX`: never).
fn first_seen(mark: &AtomicUsize) -> usize {
    mark.load(Ordering::SeqCst)
}

#[test]
fn y9_a_reader_whose_socket_is_always_ready_still_lets_other_tasks_run() {
    watchdog("reader vs neighbour", Duration::from_secs(60), || {
        let rt = rt(1);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // A peer that has written far more than the reader will read before it looks up.
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                let _ = peer.write_all(&vec![7u8; 4 << 20]);
            });
            let (mut stream, _) = listener.accept().await.unwrap();
            // Let the kernel buffer fill, so every read below is ready at once.
            std::thread::sleep(Duration::from_millis(200));
            let mark = Arc::new(AtomicUsize::new(usize::MAX));
            let reader = {
                let mark = mark.clone();
                brigade::spawn(async move {
                    let iteration = Arc::new(AtomicUsize::new(0));
                    let mut neighbour = None;
                    let mut buf = [0u8; 64];
                    for i in 0..2_000 {
                        iteration.store(i, Ordering::SeqCst);
                        if stream.read(&mut buf).await.unwrap() == 0 {
                            break;
                        }
                        if i == 0 {
                            // Spawned from this worker, after the reading has begun: it waits
                            // for the reader to give the worker up.
                            let (mark, iteration) = (mark.clone(), iteration.clone());
                            neighbour = Some(brigade::spawn(async move {
                                mark.store(iteration.load(Ordering::SeqCst), Ordering::SeqCst);
                            }));
                        }
                    }
                    neighbour.expect("spawned after the first read").await;
                })
            };
            reader.await;
            assert!(
                first_seen(&mark) < 1_999,
                "the neighbour ran only after the reader's last read (at {})",
                first_seen(&mark)
            );
            drop(listener);
            writer.join().unwrap();
        });
    });
}

#[test]
fn y9_joining_finished_tasks_in_a_loop_still_lets_other_tasks_run() {
    watchdog("joiner vs neighbour", Duration::from_secs(60), || {
        let rt = rt(1);
        let finished: Vec<_> = (0..1_000).map(|i| rt.spawn(async move { i })).collect();
        wait_until("the tasks finished", Duration::from_secs(30), || {
            rt.metrics().alive_tasks == 0
        });
        let mark = Arc::new(AtomicUsize::new(usize::MAX));
        let joiner = {
            let mark = mark.clone();
            rt.spawn(async move {
                let iteration = Arc::new(AtomicUsize::new(0));
                let mut neighbour = None;
                let mut sum = 0;
                for (i, task) in finished.into_iter().enumerate() {
                    iteration.store(i, Ordering::SeqCst);
                    sum += task.await;
                    if i == 0 {
                        // Spawned from this worker once the joining has begun.
                        let (mark, iteration) = (mark.clone(), iteration.clone());
                        neighbour = Some(brigade::spawn(async move {
                            mark.store(iteration.load(Ordering::SeqCst), Ordering::SeqCst);
                        }));
                    }
                }
                neighbour.expect("spawned after the first join").await;
                sum
            })
        };
        assert_eq!(rt.block_on(joiner), (0..1_000).sum::<usize>());
        assert!(
            first_seen(&mark) < 999,
            "the neighbour ran only after the last join (at {})",
            first_seen(&mark)
        );
    });
}
