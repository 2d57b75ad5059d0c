//! Sockets: I1 (allocation-free reads and writes live in allocations.rs), I3 and K9 for sockets
//! from docs/SEMANTICS.md, plus TCP, UDP and Unix round trips against real kernel sockets and std
//! peers.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::cancel::CancellationTokenSource;
use brigade::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use brigade::prelude::*;
use brigade::Runtime;
use brigade_test_support::{rt, watchdog};

const LIMIT: Duration = Duration::from_secs(30);

/// An echo server on a loopback port: echoes every connection until EOF.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    brigade::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            brigade::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .detach();
        }
    })
    .detach();
    addr
}

#[test]
fn tcp_echo_round_trips_from_many_concurrent_clients() {
    let rt = rt(2);
    watchdog("tcp echo", LIMIT, move || {
        rt.block_on(async {
            let addr = echo_server().await;
            let clients = (0..50u32).map(|client| {
                brigade::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).unwrap();
                    assert!(stream.nodelay().unwrap());
                    for round in 0..100u32 {
                        let message = format!("client {client} round {round}");
                        stream.write_all(message.as_bytes()).await.unwrap();
                        let mut back = vec![0; message.len()];
                        stream.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, message.as_bytes());
                    }
                })
            });
            brigade::when_all(clients).await;
        })
    });
}

#[test]
fn a_brigade_server_talks_to_a_blocking_std_client_and_back() {
    let rt = rt(2);
    let (listener, addr) = rt.block_on(async {
        let listener = TcpListener::bind("localhost:0")
            .await
            .expect("bind by host name");
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    });
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(b"ping").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    });
    rt.block_on(async {
        let (mut stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, stream.peer_addr().unwrap());
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        let mut peeked = [0; 1];
        stream.write_all(b"pong").await.unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        // Nothing more comes from the client: peek and read see EOF.
        assert_eq!(stream.peek(&mut peeked).await.unwrap(), 0);
    });
    assert_eq!(client.join().unwrap(), "pong");
}

#[test]
fn i3_eof_is_a_zero_byte_read_and_a_refused_connect_is_an_error() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = brigade::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (mut server_side, _) = listener.accept().await.unwrap();
        drop(client.await);
        let mut buf = [0; 8];
        assert_eq!(
            server_side.read(&mut buf).await.unwrap(),
            0,
            "EOF reads 0 bytes"
        );

        // A port nobody listens on: the listener is gone.
        drop(listener);
        let error = TcpStream::connect(addr).await.expect_err("nobody listens");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);

        let error = TcpListener::bind("not an address")
            .await
            .expect_err("bad address");
        assert!(!error.to_string().is_empty());
    });
}

/// Makes `stream`'s close send a reset (RST) instead of a FIN.
fn reset_on_close(stream: &std::net::TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a properly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}

#[test]
fn i3_a_peer_reset_surfaces_as_an_io_error_never_a_panic() {
    let rt = rt(2);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let (mut stream, _) = listener.accept().await.unwrap();
        reset_on_close(&peer);
        drop(peer);
        let mut buf = [0; 8];
        let read = stream.read(&mut buf).await;
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
                || matches!(read, Ok(0)),
            "read after reset: {read:?}"
        );
        // Writing into a reset connection fails (possibly after one buffered write).
        let mut failed = None;
        for _ in 0..10 {
            if let Err(error) = stream.write_all(&[7; 1024]).await {
                failed = Some(error);
                break;
            }
            brigade::time::sleep(Duration::from_millis(5)).await;
        }
        let error = failed.expect("writes to a reset connection must fail");
        assert!(
            matches!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{error:?}"
        );
    });
}

#[test]
fn k9_a_socket_read_under_a_token_ends_promptly_on_cancel_and_the_socket_stays_usable() {
    let rt = rt(2);
    watchdog("k9 socket", LIMIT, move || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (mut server_side, _) = listener.accept().await.unwrap();

            let source = CancellationTokenSource::new();
            let token = source.token();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                let cancelled_at = Instant::now();
                source.cancel();
                cancelled_at
            });
            let mut buf = [0; 16];
            let outcome = server_side.read(&mut buf).with_cancellation(&token).await;
            let woke_at = Instant::now();
            let cancelled_at = canceller.join().unwrap();
            assert!(
                outcome.is_err(),
                "the read must end as cancelled: {outcome:?}"
            );
            let reaction = woke_at - cancelled_at;
            assert!(
                reaction < Duration::from_millis(500),
                "reacted after {reaction:?}"
            );

            // The cancelled read consumed nothing: the next read gets the data.
            client.write_all(b"after").await.unwrap();
            let n = server_side.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"after");
        })
    });
}

#[test]
fn split_halves_read_and_write_from_different_tasks_and_dropping_the_writer_sends_eof() {
    let rt = rt(2);
    watchdog("split", LIMIT, move || {
        rt.block_on(async {
            let addr = echo_server().await;
            let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
            let total = 64 * 1024;
            let writing = brigade::spawn(async move {
                let chunk = [42u8; 1024];
                for _ in 0..total / chunk.len() {
                    writer.write_all(&chunk).await.unwrap();
                }
                // Dropping the write half shuts down the write direction: the echo server
                // sees EOF and closes, so the reader sees EOF after all the bytes.
            });
            let mut received = 0;
            let mut buf = [0; 4096];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                assert!(buf[..n].iter().all(|&b| b == 42));
                received += n;
            }
            writing.await;
            assert_eq!(received, total);
        })
    });
}

#[test]
fn several_tasks_can_accept_on_one_listener() {
    let rt = rt(2);
    watchdog("shared accept", LIMIT, move || {
        rt.block_on(async {
            let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
            let addr = listener.local_addr().unwrap();
            let accepted = Arc::new(AtomicUsize::new(0));
            let acceptors: Vec<_> = (0..4)
                .map(|_| {
                    let (listener, accepted) = (listener.clone(), accepted.clone());
                    brigade::spawn(async move {
                        for _ in 0..5 {
                            let (stream, _) = listener.accept().await.unwrap();
                            accepted.fetch_add(1, Ordering::SeqCst);
                            drop(stream);
                        }
                    })
                })
                .collect();
            let mut clients = Vec::new();
            for _ in 0..20 {
                clients.push(TcpStream::connect(addr).await.unwrap());
            }
            brigade::when_all(acceptors).await;
            assert_eq!(accepted.load(Ordering::SeqCst), 20);
        })
    });
}

#[test]
fn udp_datagrams_go_both_ways() {
    let rt = rt(2);
    rt.block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"one", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
        b.connect(a.local_addr().unwrap()).await.unwrap();
        b.send(b"two").await.unwrap();
        let (n, _) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
        assert_eq!(b.peer_addr().unwrap(), a.local_addr().unwrap());
    });
}

#[test]
fn unix_sockets_connect_by_path_and_echo() {
    let rt = rt(2);
    let dir = std::env::temp_dir().join(format!("brigade-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = brigade::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 5];
            stream.read_exact_compat(&mut buf).await;
            stream.write_all(&buf).await.unwrap();
        });
        let mut client = UnixStream::connect(&path).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        let mut got = 0;
        while got < 5 {
            got += client.read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(&buf, b"hello");
        server.await;

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").await.unwrap();
        drop(a);
        let mut all = Vec::new();
        let mut chunk = [0; 8];
        loop {
            match b.read(&mut chunk).await.unwrap() {
                0 => break,
                n => all.extend_from_slice(&chunk[..n]),
            }
        }
        assert_eq!(all, b"pair");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

trait ReadExactCompat {
    async fn read_exact_compat(&mut self, buf: &mut [u8]);
}

impl ReadExactCompat for UnixStream {
    async fn read_exact_compat(&mut self, buf: &mut [u8]) {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read(&mut buf[got..]).await.unwrap();
            assert!(n > 0, "unexpected EOF");
            got += n;
        }
    }
}

#[test]
fn sockets_whose_runtime_shut_down_report_an_error_instead_of_hanging() {
    let rt = rt(2);
    let (mut stream, _peer) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        (stream, peer)
    });
    drop(rt);
    let other = brigade_test_support::rt(2);
    let error = watchdog("read after shutdown", LIMIT, move || {
        other.block_on(async move {
            let mut buf = [0; 4];
            stream
                .read(&mut buf)
                .await
                .expect_err("the socket's runtime is gone")
        })
    });
    assert!(error.to_string().contains("shut down"), "{error}");
}

#[test]
fn the_metrics_count_registrations_and_events() {
    let rt = rt(2);
    let handle = rt.handle().clone();
    rt.block_on(async move {
        let before = handle.metrics().io_registrations;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server_side, _) = listener.accept().await.unwrap();
        let during = handle.metrics();
        assert_eq!(during.io_registrations, before + 3);
        assert!(during.io_events >= 1);
        drop((listener, client, server_side));
        assert_eq!(handle.metrics().io_registrations, before);
    });
}

#[test]
fn s9_a_yield_lets_a_ready_socket_run_before_the_yielder_runs_again() {
    use std::sync::atomic::AtomicBool;
    // One worker and no stall detection in play: only this worker can collect the event.
    let rt = Runtime::builder()
        .workers(1)
        .stall_threshold(Duration::from_secs(10))
        .build()
        .unwrap();
    watchdog("s9 io", LIMIT, move || {
        rt.block_on(rt.spawn(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let got = Arc::new(AtomicBool::new(false));
            let flag = got.clone();
            let reader = brigade::spawn(async move {
                let mut buf = [0; 4];
                stream.read_exact(&mut buf).await.unwrap();
                flag.store(true, Ordering::SeqCst);
            });
            // Let the reader park on the socket, then make it readable.
            brigade::yield_now().await;
            brigade::yield_now().await;
            // On loopback the bytes are in the receive buffer when write returns.
            peer.write_all(b"data").unwrap();
            // This task never parks: only its yields can let the reactor's event in.
            let mut yields = 0;
            while !got.load(Ordering::SeqCst) {
                brigade::yield_now().await;
                yields += 1;
                assert!(yields < 1000, "the ready socket never ran");
            }
            reader.await;
            assert!(yields <= 3, "the reader ran only after {yields} yields");
        }))
    });
}

#[test]
fn try_read_would_block_makes_readable_wait_for_new_data_instead_of_spinning() {
    let rt = rt(2);
    watchdog("try_read", LIMIT, move || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            peer.write_all(b"one").unwrap();
            stream.readable().await.unwrap();
            let mut buf = [0; 16];
            assert_eq!(stream.try_read(&mut buf).unwrap(), 3);
            let error = stream.try_read(&mut buf).expect_err("nothing more to read");
            assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
            // Now `readable` must wait for the reactor, not return at once.
            let early = brigade::time::timeout(Duration::from_millis(50), stream.readable()).await;
            assert!(early.is_err(), "readable() returned without new data");
            peer.write_all(b"two").unwrap();
            stream.readable().await.unwrap();
            assert_eq!(stream.try_read(&mut buf).unwrap(), 3);
        })
    });
}

#[test]
fn a_udp_error_reported_once_does_not_make_later_receives_spin() {
    let rt = rt(2);
    watchdog("udp error", LIMIT, move || {
        rt.block_on(async {
            // A port with nobody behind it: the send draws an ICMP "port unreachable".
            let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let target = closed.local_addr().unwrap();
            drop(closed);
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(target).await.unwrap();
            socket.send(b"anyone?").await.unwrap();
            let mut buf = [0; 16];
            let first =
                brigade::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await;
            assert!(
                matches!(&first, Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused)
                    || first.is_err(),
                "{first:?}"
            );
            // The error was reported; the next receive must wait (and time out), not spin.
            let second =
                brigade::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await;
            assert!(second.is_err(), "the second recv did not wait: {second:?}");
        })
    });
}

#[test]
fn a_socket_dropped_as_its_peer_writes_is_closed_for_the_peer() {
    // The server drops each connection the moment it accepts it, while the client's bytes
    // arrive. The peer must see the close (EOF or reset) at once. On io_uring a poll removal
    // that met the poll's wake-up in flight once left the poll armed, holding the closed
    // socket's file open: about 1 connection in 300 never closed.
    let rt = rt(2);
    let never_closed = watchdog("closing connections", Duration::from_secs(120), move || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            brigade::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    drop(socket);
                }
            })
            .detach();
            let mut never_closed = 0;
            for _ in 0..1500 {
                let closed = brigade::spawn(async move {
                    let mut client = TcpStream::connect(addr).await.unwrap();
                    let _ = client.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
                    let mut buf = [0u8; 8];
                    brigade::time::timeout(Duration::from_secs(2), client.read(&mut buf))
                        .await
                        .is_ok()
                });
                if !closed.await {
                    never_closed += 1;
                }
            }
            never_closed
        })
    });
    assert_eq!(
        never_closed, 0,
        "connections the server dropped but never closed"
    );
}
