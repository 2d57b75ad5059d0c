//! Every connection parameter of tokio-postgres's `Config`, honoured by `brigade_postgres::connect`
//! against real servers: host lists, ports, hostaddr, load balancing, connect_timeout against a
//! peer that never answers, keepalives and the TCP user timeout read back from the socket,
//! target_session_attrs against a read-only server, and the TLS-only settings refused clearly.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use brigade_postgres::tokio_postgres::config::{
    ChannelBinding, LoadBalanceHosts, SslMode, TargetSessionAttrs,
};
use brigade_postgres::{connect, Config, Endpoint, Error};
use common::{cluster, dead_port, read_only_cluster, run, server_port};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A TCP configuration for `postgres` on 127.0.0.1 with one host per port given.
fn hosts_on_ports(ports: &[u16]) -> Config {
    let mut config = Config::new();
    for port in ports {
        config.host("127.0.0.1").port(*port);
    }
    config.user("postgres").dbname("postgres");
    config
}

fn expect_connect_error(
    result: Result<brigade_postgres::Client, Error>,
) -> (Vec<String>, io::Error, String) {
    match result {
        Err(error @ Error::Connect { .. }) => {
            let message = error.to_string();
            let Error::Connect { tried, source } = error else {
                unreachable!()
            };
            (tried, source, message)
        }
        Err(other) => panic!("expected Error::Connect, got {other:?}"),
        Ok(client) => panic!("expected a refusal, connected to {:?}", client.endpoint()),
    }
}

#[test]
fn target_session_attrs_read_write_refuses_a_read_only_server() {
    let Some(read_only) = read_only_cluster() else {
        return;
    };
    run(async move {
        let mut config = read_only.tcp_config();
        // The default (any) takes it; the session really is read-only.
        let client = connect(&config).await.unwrap();
        let error = client
            .batch_execute("CREATE TABLE t (x int)")
            .await
            .unwrap_err();
        assert!(format!("{error:?}").contains("read-only"), "{error:?}");

        config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        let (tried, source, message) = expect_connect_error(connect(&config).await);
        assert_eq!(tried, [format!("127.0.0.1:{}", read_only.port())]);
        assert_eq!(source.kind(), io::ErrorKind::PermissionDenied, "{source}");
        assert!(
            message.contains("read-only") && message.contains("target_session_attrs=read-write"),
            "the message should say the server is read-only and what asked for writes: {message}"
        );
        assert!(!message.contains("is the server running"), "{message}");

        config.target_session_attrs(TargetSessionAttrs::ReadOnly);
        connect(&config)
            .await
            .expect("read-only asks for exactly this server");
    });
}

#[test]
fn target_session_attrs_skips_hosts_that_do_not_suit() {
    let (Some(read_only), Some(writable)) = (read_only_cluster(), cluster()) else {
        return;
    };
    run(async move {
        let (ro, rw) = (read_only.port(), writable.port());
        let mut config = hosts_on_ports(&[ro, rw]);
        config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        let client = connect(&config).await.unwrap();
        assert_eq!(
            server_port(&client).await,
            rw,
            "landed on the writable server"
        );
        client
            .batch_execute("CREATE TABLE t (x int)")
            .await
            .unwrap();

        let mut config = hosts_on_ports(&[rw, ro]);
        config.target_session_attrs(TargetSessionAttrs::ReadOnly);
        let client = connect(&config).await.unwrap();
        assert_eq!(
            server_port(&client).await,
            ro,
            "landed on the read-only server"
        );

        // Without the attribute, the first host that answers is taken, whatever it is.
        let client = connect(&hosts_on_ports(&[ro, rw])).await.unwrap();
        assert_eq!(server_port(&client).await, ro);
    });
}

#[test]
fn a_dead_first_host_is_skipped_for_a_live_one_and_every_failure_is_named() {
    let (Some(read_only), Some(writable)) = (read_only_cluster(), cluster()) else {
        return;
    };
    run(async move {
        let dead = dead_port();
        let client = connect(&hosts_on_ports(&[dead, writable.port()]))
            .await
            .unwrap();
        assert_eq!(server_port(&client).await, writable.port());
        assert!(matches!(client.endpoint(), Endpoint::Tcp(addr) if addr.port() == writable.port()));

        // Nothing suits: each place is named with its own reason.
        let mut config = hosts_on_ports(&[dead, read_only.port()]);
        config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        let (tried, _, message) = expect_connect_error(connect(&config).await);
        assert_eq!(
            tried,
            [
                format!("127.0.0.1:{dead}"),
                format!("127.0.0.1:{}", read_only.port())
            ]
        );
        assert!(message.contains("refused"), "{message}");
        assert!(message.contains("read-only"), "{message}");
    });
}

#[test]
fn one_port_serves_every_host_and_a_host_without_port_uses_it() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .host("localhost")
            .port(server.port())
            .user("postgres");
        let client = connect(&config).await.unwrap();
        assert_eq!(server_port(&client).await, server.port());
    });
}

#[test]
fn hostaddr_is_dialled_and_host_only_names_it() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        // The name cannot resolve (.invalid is reserved): connecting proves the IP was used.
        let mut config = Config::new();
        config
            .host("db.invalid")
            .hostaddr(LOOPBACK)
            .port(server.port())
            .user("postgres");
        let client = connect(&config).await.unwrap();
        assert_eq!(
            client.endpoint(),
            &Endpoint::Tcp((LOOPBACK, server.port()).into())
        );

        // hostaddr alone is enough.
        let mut config = Config::new();
        config
            .hostaddr(LOOPBACK)
            .port(server.port())
            .user("postgres");
        connect(&config).await.unwrap();

        // Errors name the host with the address dialled.
        let dead = dead_port();
        let mut config = Config::new();
        config
            .host("db.invalid")
            .hostaddr(LOOPBACK)
            .port(dead)
            .user("postgres");
        let (tried, _, _) = expect_connect_error(connect(&config).await);
        assert_eq!(tried, [format!("db.invalid:{dead} (hostaddr 127.0.0.1)")]);
    });
}

#[brigade::test]
async fn mismatched_host_hostaddr_and_port_lists_are_refused() {
    let mut config = Config::new();
    config
        .host("a")
        .host("b")
        .hostaddr(LOOPBACK)
        .user("postgres");
    let error = connect(&config).await.unwrap_err();
    assert!(
        matches!(&error, Error::Config(text) if text.contains("2 hosts but 1 hostaddrs")),
        "{error}"
    );

    let mut config = Config::new();
    config
        .host("a")
        .host("b")
        .port(1)
        .port(2)
        .port(3)
        .user("postgres");
    let error = connect(&config).await.unwrap_err();
    assert!(
        matches!(&error, Error::Config(text) if text.contains("3 ports for 2 hosts")),
        "{error}"
    );
}

#[test]
fn load_balance_hosts_random_spreads_connections_and_disable_keeps_the_order() {
    const CONNECTIONS: usize = 24;
    let (Some(first), Some(second)) = (cluster(), cluster()) else {
        return;
    };
    run(async move {
        let ports = [first.port(), second.port()];
        let mut in_order = hosts_on_ports(&ports);
        in_order.load_balance_hosts(LoadBalanceHosts::Disable);
        let mut random = hosts_on_ports(&ports);
        random.load_balance_hosts(LoadBalanceHosts::Random);

        let mut seen_in_order = Vec::new();
        let mut seen_random = Vec::new();
        for _ in 0..CONNECTIONS {
            seen_in_order.push(server_port(&connect(&in_order).await.unwrap()).await);
            seen_random.push(server_port(&connect(&random).await.unwrap()).await);
        }
        assert!(
            seen_in_order.iter().all(|port| *port == ports[0]),
            "{seen_in_order:?}"
        );
        // Both servers are chosen; all 24 on one would happen 1 time in 8 million.
        assert!(
            ports.iter().all(|port| seen_random.contains(port)),
            "random load balancing never chose one of the hosts: {seen_random:?}"
        );
    });
}

/// A TCP peer that completes the handshake (the kernel does, into the backlog) and then never
/// says a word: the PostgreSQL startup waits forever without a timeout.
fn silent_peer() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

#[test]
fn connect_timeout_gives_up_on_a_server_that_never_answers() {
    const LIMIT: Duration = Duration::from_secs(1);
    let silent = silent_peer();
    let port = silent.local_addr().unwrap().port();
    run(async move {
        let mut config = hosts_on_ports(&[port]);
        config.connect_timeout(LIMIT);
        let started = Instant::now();
        // The outer bound makes a missing timeout a failure, not a hung test.
        let result = brigade::time::timeout(Duration::from_secs(60), connect(&config))
            .await
            .expect("connect_timeout did not bound the startup: still waiting after 60 s");
        let took = started.elapsed();
        let (tried, source, message) = expect_connect_error(result);
        assert_eq!(tried, [format!("127.0.0.1:{port}")]);
        assert_eq!(source.kind(), io::ErrorKind::TimedOut, "{source}");
        assert!(message.contains("connect_timeout"), "{message}");
        assert!(took >= LIMIT, "gave up early, after {took:?}");
        assert!(
            took < Duration::from_secs(20),
            "gave up late, after {took:?}"
        );
    });
    drop(silent);
}

#[test]
fn connect_timeout_moves_on_from_a_silent_host_to_a_live_one() {
    let Some(server) = cluster() else {
        return;
    };
    let silent = silent_peer();
    run(async move {
        let silent_port = silent.local_addr().unwrap().port();
        let mut config = hosts_on_ports(&[silent_port, server.port()]);
        // Long enough for the live server's startup on a loaded machine; the silent host
        // costs the whole of it.
        config.connect_timeout(Duration::from_secs(5));
        let client = brigade::time::timeout(Duration::from_secs(60), connect(&config))
            .await
            .expect("stuck on the silent host")
            .unwrap();
        assert_eq!(server_port(&client).await, server.port());
    });
}

#[test]
fn keepalive_and_user_timeout_options_are_set_on_the_socket() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        // tokio-postgres's defaults: keepalives on, first probe after 2 hours.
        let client = connect(&server.tcp_config()).await.unwrap();
        let options = socket_options(&client).await;
        assert_eq!((options.keepalive, options.idle), (1, 7200), "{options:?}");
        assert_eq!(options.nodelay, 1, "{options:?}");

        let mut config = server.tcp_config();
        config
            .keepalives_idle(Duration::from_secs(37))
            .keepalives_interval(Duration::from_secs(7))
            .keepalives_retries(4)
            .tcp_user_timeout(Duration::from_millis(9500));
        let client = connect(&config).await.unwrap();
        let options = socket_options(&client).await;
        assert_eq!(
            (
                options.keepalive,
                options.idle,
                options.interval,
                options.count
            ),
            (1, 37, 7, 4),
            "{options:?}"
        );
        assert_eq!(options.user_timeout_ms, 9500, "{options:?}");

        config.keepalives(false);
        let client = connect(&config).await.unwrap();
        assert_eq!(socket_options(&client).await.keepalive, 0);
    });
}

#[derive(Debug)]
struct SocketOptions {
    keepalive: i32,
    idle: i32,
    interval: i32,
    count: i32,
    user_timeout_ms: i32,
    nodelay: i32,
}

/// Reads `client`'s socket options back with getsockopt: the server tells which client port it
/// sees, and this process's descriptor with that local port is the connection's socket.
async fn socket_options(client: &brigade_postgres::Client) -> SocketOptions {
    let port: i32 = client
        .query_one("SELECT inet_client_port()", &[])
        .await
        .unwrap()
        .get(0);
    let fd = own_socket_with_local_port(u16::try_from(port).unwrap())
        .expect("the connection's socket among this process's descriptors");
    let get = |level, name| {
        let mut value: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: `fd` is open (the client holds it); `value`/`len` are live and sized.
        let result =
            unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) };
        assert_eq!(result, 0, "getsockopt: {}", io::Error::last_os_error());
        value
    };
    SocketOptions {
        keepalive: get(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        idle: get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        interval: get(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        count: get(libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        user_timeout_ms: get(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
        nodelay: get(libc::IPPROTO_TCP, libc::TCP_NODELAY),
    }
}

fn own_socket_with_local_port(port: u16) -> Option<i32> {
    std::fs::read_dir("/proc/self/fd").ok()?.find_map(|entry| {
        let entry = entry.ok()?;
        let target = std::fs::read_link(entry.path()).ok()?;
        if !target.to_string_lossy().starts_with("socket:") {
            return None;
        }
        let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
        // SAFETY: all-zero is a valid sockaddr_storage; getsockname writes at most `len` bytes.
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `addr` and `len` are live; a descriptor that is not ours to read fails cleanly.
        let result = unsafe {
            libc::getsockname(
                fd,
                (&mut addr as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if result != 0 || i32::from(addr.ss_family) != libc::AF_INET {
            return None;
        }
        // SAFETY: the family is AF_INET, so the storage holds a sockaddr_in.
        let inet =
            unsafe { &*(&addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        (u16::from_be(inet.sin_port) == port).then_some(fd)
    })
}

#[test]
fn startup_parameters_reach_the_server_and_tls_only_settings_are_refused_clearly() {
    let Some(server) = cluster() else {
        return;
    };
    run(async move {
        let mut config = server.tcp_config();
        config
            .application_name("brigade-test")
            .options("-c search_path=brigade_here")
            .channel_binding(ChannelBinding::Disable)
            .ssl_mode(SslMode::Disable);
        let client = connect(&config).await.unwrap();
        let row = client
            .query_one(
                "SELECT current_setting('application_name'), current_setting('search_path')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "brigade-test");
        assert_eq!(row.get::<_, String>(1), "brigade_here");

        let mut config = server.tcp_config();
        config.channel_binding(ChannelBinding::Require);
        let error = connect(&config).await.unwrap_err();
        assert!(
            matches!(&error, Error::Config(text) if text.contains("channel_binding") && text.contains("TLS")),
            "{error}"
        );

        let mut config = server.tcp_config();
        config.ssl_mode(SslMode::Require);
        let error = connect(&config).await.unwrap_err();
        assert!(
            matches!(&error, Error::Config(text) if text.contains("sslmode") && text.contains("TLS")),
            "{error}"
        );
    });
}
