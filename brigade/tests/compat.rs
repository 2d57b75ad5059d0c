//! The ecosystem's I/O traits on brigade sockets: futures-io (always), tokio's (feature
//! `tokio-io`, enabled for the tests) — read into uninitialised buffers, no zero-filling.
//! hyper's traits are exercised end to end by brigade-http's tests.

use brigade::net::{TcpListener, TcpStream};
use brigade::Runtime;

#[test]
fn tokio_io_traits_read_and_write_brigade_sockets() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"through tokio's traits")
            .await
            .unwrap();
        AsyncWriteExt::shutdown(&mut client).await.unwrap();
        let mut text = String::new();
        AsyncReadExt::read_to_string(&mut server, &mut text)
            .await
            .unwrap();
        assert_eq!(text, "through tokio's traits");
        // A ReadBuf with uninitialised capacity is filled without zeroing first.
        let (mut reader, mut writer) = server.into_split();
        AsyncWriteExt::write_all(&mut writer, b"x").await.unwrap();
        drop(writer);
        let mut buf = Vec::with_capacity(64);
        let n = AsyncReadExt::read_buf(&mut client, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"x");
        assert_eq!(
            AsyncReadExt::read(&mut reader, &mut [0; 4]).await.unwrap(),
            0
        );
    });
}

#[test]
fn futures_io_traits_read_and_write_brigade_sockets() {
    use std::future::poll_fn;
    use std::pin::Pin;
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let written = poll_fn(|cx| {
            futures_io::AsyncWrite::poll_write(Pin::new(&mut client), cx, b"futures-io")
        })
        .await
        .unwrap();
        assert_eq!(written, 10);
        poll_fn(|cx| futures_io::AsyncWrite::poll_close(Pin::new(&mut client), cx))
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0; 4];
        loop {
            let n =
                poll_fn(|cx| futures_io::AsyncRead::poll_read(Pin::new(&mut server), cx, &mut buf))
                    .await
                    .unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"futures-io");
    });
}
