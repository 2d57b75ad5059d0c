//! The io_uring reactor's own costs, where they differ from epoll's: which threads the kernel
//! disturbs for a socket's events.

use brigade::net::{TcpListener, TcpStream};
use brigade::runtime::IoDriver;
use brigade::Runtime;

/// A runtime on the io_uring reactor, if this kernel gives one.
fn uring_runtime(workers: usize) -> Option<Runtime> {
    Runtime::builder()
        .workers(workers)
        .io_driver(IoDriver::Uring)
        .build()
        .ok()
}

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
    let Some(rt) = uring_runtime(2) else {
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

/// Names of the threads the fs operation hook ran on (for the file test).
static HOOK_THREADS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn record_hook_thread() {
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    HOOK_THREADS.lock().unwrap().push(name);
}

/// On an io_uring runtime a regular file's reads and writes go through the ring: no trip to a
/// blocking thread, and the bytes are the same as std's.
#[test]
fn files_on_an_io_uring_runtime_read_and_write_through_the_ring() {
    let Some(rt) = uring_runtime(2) else {
        return;
    };
    let path = std::env::temp_dir().join(format!("brigade-uring-file-{}", std::process::id()));
    let pattern: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    brigade::fs::set_operation_hook(Some(record_hook_thread));
    let read_back = rt.block_on({
        let (path, pattern) = (path.clone(), pattern.clone());
        rt.spawn(async move {
            let mut file = brigade::fs::File::create(&path).await.unwrap();
            // Three writes, one larger than a trip's 2 MiB cap.
            for part in pattern.chunks(1_200_000) {
                file.write_all(part).await.unwrap();
            }
            file.close().await.unwrap();
            let mut file = brigade::fs::File::open(&path).await.unwrap();
            let mut back = Vec::new();
            file.read_to_end(&mut back).await.unwrap();
            back
        })
    });
    brigade::fs::set_operation_hook(None);
    let _ = std::fs::remove_file(&path);
    assert_eq!(read_back.len(), pattern.len());
    assert!(read_back == pattern, "the bytes read back differ");
    let threads = HOOK_THREADS.lock().unwrap().clone();
    // create, close's flush, open run on blocking threads; the reads and writes on workers.
    let on_workers = threads
        .iter()
        .filter(|name| name.contains("worker"))
        .count();
    assert!(
        on_workers >= 4,
        "reads and writes should run on the workers through the ring: {threads:?}"
    );
}

/// A read dropped while its buffer is with the kernel, then its runtime dropped: the buffer is
/// freed only after the kernel is done (AddressSanitizer runs this in CI), and never leaked.
#[test]
fn a_file_read_dropped_in_flight_frees_its_buffer_after_the_kernel() {
    let path = std::env::temp_dir().join(format!("brigade-uring-drop-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; 4 << 20]).unwrap();
    for round in 0..50 {
        let Some(rt) = uring_runtime(1) else {
            break;
        };
        let path = path.clone();
        // Even rounds start the read on the worker (submitted at once), odd ones on this thread
        // (queued for the reactor's next turn, which may never come before the drop).
        let start = async move {
            let mut file = brigade::fs::File::open(&path).await.unwrap();
            let mut chunk = vec![0u8; 2 << 20];
            let read = file.read(&mut chunk);
            let mut read = std::pin::pin!(read);
            let _ = futures_poll_once(read.as_mut()).await;
            // Dropped here, with the file, its operation maybe in flight.
        };
        if round % 2 == 0 {
            rt.block_on(rt.spawn(start));
        } else {
            rt.block_on(start);
        }
        drop(rt);
    }
    let _ = std::fs::remove_file(&path);
}

/// Polls `future` once; its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
