//! The io_uring reactor's own costs, where they differ from epoll's: which threads the kernel
//! disturbs for a socket's events.

use brigade::net::{TcpListener, TcpStream};
use brigade::runtime::IoDriver;
use brigade::Runtime;

/// Context switches of the calling thread so far (voluntary and not).
fn context_switches_of_this_thread() -> i64 {
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD reads the calling thread.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage
    };
    usage.ru_nvcsw + usage.ru_nivcsw
}

/// Sockets made on a `block_on` thread and then used only by tasks must not wake that thread:
/// the kernel completes an io_uring poll in the thread that submitted it, so a poll submitted
/// by the sleeping `block_on` thread would wake it for every event on the socket.
#[test]
fn sockets_made_in_block_on_do_not_wake_its_thread_for_their_events() {
    let Ok(rt) = Runtime::builder()
        .workers(2)
        .io_driver(IoDriver::Uring)
        .build()
    else {
        return; // no io_uring here: nothing to check
    };
    const ROUND_TRIPS: usize = 2_000;
    let (switches, round_trips) = rt.block_on(async {
        // Both ends are registered from this (the test's) thread.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();

        let before = context_switches_of_this_thread();
        let echo = brigade::spawn(async move {
            let mut buf = [0u8; 64];
            while server.read_exact(&mut buf).await.is_ok() {
                server.write_all(&buf).await.unwrap();
            }
        });
        let ping = brigade::spawn(async move {
            let mut back = [0u8; 64];
            for round in 0..ROUND_TRIPS {
                client.write_all(&[round as u8; 64]).await.unwrap();
                client.read_exact(&mut back).await.unwrap();
                assert_eq!(back, [round as u8; 64]);
            }
            ROUND_TRIPS
        });
        let round_trips = ping.await;
        echo.await;
        (context_switches_of_this_thread() - before, round_trips)
    });
    assert_eq!(round_trips, ROUND_TRIPS);
    // Waiting for the two joins costs this thread a few switches; one per event would be
    // thousands (4 000 readiness changes at least).
    assert!(
        switches < 200,
        "the block_on thread switched {switches} times during {ROUND_TRIPS} round trips it \
         took no part in"
    );
}
