//! brigade::signal: real signals, sent to this process (SIGUSR1, SIGUSR2, SIGHUP, real-time
//! signals: each test its own, so parallel tests do not see each other's) or — for SIGINT and
//! SIGTERM, whose handlers would change how the test harness stops — to a child running this
//! same binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::prelude::*;
use brigade::signal::unix::{signal, SignalKind};
use brigade::time::timeout;
use brigade_test_support::{rt, watchdog};

const LIMIT: Duration = Duration::from_secs(20);

fn raise(signal: libc::c_int) {
    // SAFETY: kill(2) on our own pid with a signal whose handler brigade installed.
    let rc = unsafe { libc::kill(libc::getpid(), signal) };
    assert_eq!(rc, 0, "kill failed");
}

#[test]
fn o1_a_signal_delivered_before_recv_is_polled_is_not_lost() {
    watchdog("o1", LIMIT, || {
        rt(2).block_on(async {
            let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
            raise(libc::SIGUSR1);
            // Let the handler run and the reactor see the pipe before anyone polls recv.
            brigade::time::sleep(Duration::from_millis(100)).await;
            let got = timeout(LIMIT, usr1.recv()).await;
            assert_eq!(got, Ok(Some(())), "the early delivery was lost");
        })
    });
}

#[test]
fn o2_every_listener_of_a_signal_gets_it_even_on_other_runtimes() {
    watchdog("o2", LIMIT, || {
        let (first, second) = (rt(2), rt(1));
        let mut listeners = Vec::new();
        for runtime in [&first, &first, &second] {
            let mut usr2 = runtime.block_on(async { signal(SignalKind::user_defined2()).unwrap() });
            listeners.push(runtime.spawn(async move { timeout(LIMIT, usr2.recv()).await }));
        }
        std::thread::sleep(Duration::from_millis(50));
        raise(libc::SIGUSR2);
        for listener in listeners {
            assert_eq!(first.block_on(listener), Ok(Some(())));
        }
    });
}

#[test]
fn o1_a_waiting_listener_is_woken_and_the_next_delivery_counts_again() {
    watchdog("o1 wake", LIMIT, || {
        rt(2).block_on(async {
            let kind = SignalKind::from_raw(libc::SIGRTMIN() + 1);
            let mut rt_signal = signal(kind).unwrap();
            for _ in 0..3 {
                let waiter = brigade::spawn(async move {
                    let got = timeout(LIMIT, rt_signal.recv()).await;
                    (rt_signal, got)
                });
                brigade::time::sleep(Duration::from_millis(30)).await;
                raise(kind.as_raw_value());
                let (back, got) = waiter.await;
                assert_eq!(got, Ok(Some(())));
                rt_signal = back;
            }
            // Nothing new: the next recv waits.
            assert!(timeout(Duration::from_millis(100), rt_signal.recv())
                .await
                .is_err());
        })
    });
}

#[test]
fn o10_a_cancelled_recv_loses_nothing() {
    watchdog("cancel", LIMIT, || {
        rt(2).block_on(async {
            let mut hup = signal(SignalKind::hangup()).unwrap();
            let source = CancellationTokenSource::new();
            source.cancel_after(Duration::from_millis(50));
            assert!(hup.recv().with_cancellation(&source.token()).await.is_err());
            raise(libc::SIGHUP);
            assert_eq!(timeout(LIMIT, hup.recv()).await, Ok(Some(())));
        })
    });
}

#[test]
fn o9_forbidden_and_invalid_signals_are_clear_errors() {
    rt(1).block_on(async {
        for (number, word) in [
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGSTOP, "SIGSTOP"),
            (libc::SIGSEGV, "SIGSEGV"),
            (0, "not a signal"),
            (200, "not a signal"),
        ] {
            let error = signal(SignalKind::from_raw(number)).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert!(error.to_string().contains(word), "{error}");
        }
    });
}

#[test]
fn o9_listening_outside_a_runtime_is_a_clear_error() {
    let error = std::thread::spawn(|| signal(SignalKind::user_defined1()).unwrap_err())
        .join()
        .unwrap();
    assert!(
        error.to_string().contains("outside a brigade runtime"),
        "{error}"
    );
}

const CHILD_ROLE: &str = "BRIGADE_SIGNAL_TEST_ROLE";

/// The child half: listens for SIGINT (ctrl_c) and SIGTERM, says READY, reports which came.
#[test]
#[ignore = "the child half of o2_sigint_and_sigterm_reach_a_listening_process"]
fn signal_child() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("listen") {
        return;
    }
    rt(2).block_on(async {
        let ctrl_c = brigade::spawn(brigade::signal::ctrl_c());
        let mut terminate = signal(SignalKind::terminate()).unwrap();
        brigade::time::sleep(Duration::from_millis(50)).await; // ctrl_c's listener is made
        println!("READY");
        ctrl_c.await.unwrap();
        println!("GOT SIGINT");
        terminate.recv().await.unwrap();
        println!("GOT SIGTERM");
    });
}

#[test]
fn o2_sigint_and_sigterm_reach_a_listening_process() {
    watchdog("child signals", Duration::from_secs(60), || {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "signal_child", "--nocapture", "--ignored"])
            .env(CHILD_ROLE, "listen")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut expect = |wanted: &str| loop {
            let line = lines.next().expect("child output ended").unwrap();
            if line.contains(wanted) {
                break;
            }
        };
        expect("READY");
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        expect("GOT SIGINT");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        expect("GOT SIGTERM");
        assert!(child.wait().unwrap().success());
    });
}
