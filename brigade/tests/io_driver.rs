//! Choosing the reactor's backend: `Builder::io_driver` and `BRIGADE_IO_DRIVER` (one test,
//! alone in its binary, because it changes the process environment).

use brigade::runtime::{IoDriver, IO_DRIVER_ENV};
use brigade::Runtime;

#[test]
fn the_builder_and_the_environment_choose_the_reactor_and_metrics_say_which() {
    std::env::remove_var(IO_DRIVER_ENV);
    let epoll = Runtime::builder()
        .io_driver(IoDriver::Epoll)
        .build()
        .unwrap();
    assert_eq!(epoll.metrics().io_driver, IoDriver::Epoll);
    let default = Runtime::builder().build().unwrap();
    assert_eq!(
        default.metrics().io_driver,
        IoDriver::Epoll,
        "epoll by default"
    );

    // Auto is io_uring where the kernel allows it; asking for io_uring outright either gets
    // it or fails saying why and what to use instead.
    let auto = Runtime::builder()
        .io_driver(IoDriver::Auto)
        .build()
        .unwrap();
    match Runtime::builder().io_driver(IoDriver::Uring).build() {
        Ok(uring) => {
            assert_eq!(uring.metrics().io_driver, IoDriver::Uring);
            assert_eq!(auto.metrics().io_driver, IoDriver::Uring);
            let echoed = uring.block_on(async {
                let listener = brigade::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                let server = brigade::spawn(async move {
                    let (mut socket, _) = listener.accept().await?;
                    let mut buf = [0; 5];
                    socket.read_exact(&mut buf).await?;
                    socket.write_all(&buf).await?;
                    Ok::<_, std::io::Error>(())
                });
                let mut client = brigade::net::TcpStream::connect(addr).await?;
                client.write_all(b"hello").await?;
                let mut back = [0; 5];
                client.read_exact(&mut back).await?;
                server.await?;
                Ok::<_, std::io::Error>(back)
            });
            assert_eq!(&echoed.unwrap(), b"hello");
        }
        Err(error) => {
            assert_eq!(auto.metrics().io_driver, IoDriver::Epoll);
            assert!(error.to_string().contains("IoDriver::Epoll"), "{error}");
        }
    }

    // The environment decides for builders that did not; a typo is an error, not a silent
    // fallback.
    std::env::set_var(IO_DRIVER_ENV, "auto");
    let from_env = Runtime::builder().build().unwrap();
    assert_eq!(from_env.metrics().io_driver, auto.metrics().io_driver);
    let explicit = Runtime::builder()
        .io_driver(IoDriver::Epoll)
        .build()
        .unwrap();
    assert_eq!(
        explicit.metrics().io_driver,
        IoDriver::Epoll,
        "the builder wins"
    );
    std::env::set_var(IO_DRIVER_ENV, "kqueue");
    let error = Runtime::builder().build().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("epoll, uring or auto"),
        "{error}"
    );
    std::env::remove_var(IO_DRIVER_ENV);
}
