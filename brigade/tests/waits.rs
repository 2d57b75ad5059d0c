//! What each task waits on (issue 18): brigade's leaf futures record their wait when they go
//! pending, and `Runtime::dump` shows it — with where the future was made, socket addresses,
//! and chains through joins.

use std::sync::Arc;
use std::time::Duration;

use brigade::runtime::{RuntimeDump, TaskState, WaitDetail, WaitOn};
use brigade::task::WaitKind;
use brigade_test_support::{rt, wait_until, watchdog};

const LIMIT: Duration = Duration::from_secs(30);

/// Waits until the named task is idle with a recorded wait, and returns the dump.
fn dump_when_waiting(rt: &brigade::Runtime, names: &[&str]) -> RuntimeDump {
    dump_when_waiting_and(rt, names, |_| true)
}

/// As `dump_when_waiting`, and also until `also` holds (a task may pass through an earlier
/// wait first: a connect before the read).
fn dump_when_waiting_and(
    rt: &brigade::Runtime,
    names: &[&str],
    also: impl Fn(&RuntimeDump) -> bool,
) -> RuntimeDump {
    let mut last = String::new();
    let settled = |dump: &RuntimeDump| {
        names.iter().all(|name| {
            dump.tasks.iter().any(|t| {
                t.name.as_deref() == Some(*name) && t.state == TaskState::Idle && t.wait.is_some()
            })
        }) && also(dump)
    };
    wait_until("the tasks to settle in their waits", LIMIT, || {
        let dump = rt.dump();
        last = dump.to_string();
        settled(&dump)
    });
    let dump = rt.dump();
    assert!(settled(&dump), "{last}");
    dump
}

fn wait_of<'d>(dump: &'d RuntimeDump, name: &str) -> &'d WaitOn {
    dump.tasks
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .and_then(|t| t.wait.as_ref())
        .unwrap_or_else(|| panic!("{name} has no wait:\n{dump}"))
}

#[test]
fn a_sleep_shows_its_duration_time_left_and_where_it_was_made() {
    watchdog("sleep wait", LIMIT, || {
        let rt = rt(2);
        let line = line!() + 3;
        let sleeper = rt
            .handle()
            .spawn_named("sleeper", brigade::time::sleep(Duration::from_secs(50)));
        let dump = dump_when_waiting(&rt, &["sleeper"]);
        let wait = wait_of(&dump, "sleeper");
        assert_eq!(wait.kind, WaitKind::Sleep);
        let at = wait.location.expect("a sleep knows where it was made");
        assert!(at.file().ends_with("waits.rs") && at.line() == line, "{at}");
        let WaitDetail::Timer {
            duration,
            remaining,
        } = wait.detail.clone()
        else {
            panic!("{wait:?}")
        };
        assert_eq!(duration, Some(Duration::from_secs(50)));
        assert!(remaining > Duration::from_secs(20) && remaining <= Duration::from_secs(50));
        let text = dump.to_string();
        assert!(text.contains("waits on: sleep 50 s, "), "{text}");
        assert!(text.contains(&format!("waits.rs:{line}")), "{text}");
        drop(sleeper);
    });
}

#[test]
fn a_join_chain_leads_to_the_socket_at_its_end() {
    watchdog("join chain", LIMIT, || {
        let rt = rt(2);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = rt.handle().clone();
        // reader: connects and reads; nobody writes, so it waits on the socket.
        let reader = handle.spawn_named("reader", async move {
            let mut stream = brigade::net::TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 8];
            let _ = stream.read(&mut buf).await;
        });
        let reader_id = reader.id();
        let middle = handle.spawn_named("middle", reader);
        let middle_id = middle.id();
        let top = handle.spawn_named("top", middle);
        let (_peer, _) = listener.accept().unwrap();
        // The reader waits on its connect (a write wait) before it waits on the read.
        let dump = dump_when_waiting_and(&rt, &["reader", "middle", "top"], |dump| {
            wait_of(dump, "reader").kind == WaitKind::Readable
        });
        let top_id = dump
            .tasks
            .iter()
            .find(|t| t.name.as_deref() == Some("top"))
            .unwrap()
            .id;
        let chain = dump.wait_chain(top_id);
        let ids: Vec<_> = chain.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![top_id, middle_id, reader_id], "{dump}");
        let socket = chain[2].1;
        assert_eq!(socket.kind, WaitKind::Readable, "{dump}");
        let text = dump.to_string();
        assert!(
            text.contains(&format!("join task {middle_id} \"middle\"")),
            "{text}"
        );
        assert!(text.contains(&format!("read on {addr}")), "{text}");
        assert!(
            text.contains(&format!("→ task {reader_id} waits on: read on {addr}")),
            "{text}"
        );
        drop(top);
    });
}

#[test]
fn channel_lock_and_promise_waits_name_their_primitive_and_call_site() {
    watchdog("sync waits", LIMIT, || {
        let rt = rt(2);
        let handle = rt.handle().clone();
        let (tx, rx) = brigade::sync::channel::<u32>(1);
        let mutex = Arc::new(brigade::sync::Mutex::new(()));
        let (release, released) = brigade::sync::channel::<()>(1);
        let holder = handle.spawn_named("holder", {
            let mutex = mutex.clone();
            async move {
                let _guard = mutex.lock().await;
                released.recv().await;
            }
        });
        dump_when_waiting(&rt, &["holder"]);
        let (promise, promised) = brigade::Promise::<u32>::new();
        let receiver = handle.spawn_named("receiver", async move { rx.recv().await });
        let locker = handle.spawn_named("locker", async move { drop(mutex.lock().await) });
        let awaiter = handle.spawn_named("awaiter", promised);
        let dump = dump_when_waiting(&rt, &["receiver", "locker", "awaiter"]);
        let recv = wait_of(&dump, "receiver");
        assert_eq!(recv.kind, WaitKind::ChannelRecv, "{dump}");
        assert!(recv.location.unwrap().file().ends_with("waits.rs"));
        assert_eq!(wait_of(&dump, "locker").kind, WaitKind::Mutex, "{dump}");
        assert_eq!(wait_of(&dump, "awaiter").kind, WaitKind::Promise, "{dump}");
        let text = dump.to_string();
        assert!(text.contains("channel recv, at "), "{text}");
        assert!(text.contains("mutex lock, at "), "{text}");
        // Once the waits end, the tasks finish and leave the dump.
        tx.try_send(1).unwrap();
        release.try_send(()).unwrap();
        rt.block_on(holder);
        promise.set(2).unwrap();
        assert_eq!(rt.block_on(receiver), Some(1));
        rt.block_on(locker);
        assert_eq!(rt.block_on(awaiter), Ok(2));
    });
}

#[test]
fn a_wait_is_forgotten_when_the_task_runs_again() {
    watchdog("stale wait", LIMIT, || {
        let rt = rt(1);
        let (tx, rx) = brigade::sync::channel::<()>(1);
        let task = rt.handle().spawn_named("then-unknown", async move {
            rx.recv().await;
            // Pending on something brigade does not know: the dump must not keep showing recv.
            std::future::pending::<()>().await;
        });
        dump_when_waiting(&rt, &["then-unknown"]);
        tx.try_send(()).unwrap();
        wait_until("the task to go idle without a known wait", LIMIT, || {
            rt.dump().tasks.iter().any(|t| {
                t.name.as_deref() == Some("then-unknown")
                    && t.state == TaskState::Idle
                    && t.polls >= 2
                    && t.wait.is_none()
            })
        });
        drop(task);
    });
}

#[test]
fn signal_and_child_process_waits_say_what_they_wait_for() {
    watchdog("signal and child waits", LIMIT, || {
        let rt = rt(2);
        let mut listener = rt
            .block_on(async {
                brigade::signal::unix::signal(brigade::signal::unix::SignalKind::user_defined2())
            })
            .expect("a SIGUSR2 listener");
        let listening = rt.handle().spawn_named("listener", async move {
            listener.recv().await;
        });
        let mut child = rt
            .block_on(async {
                brigade::process::Command::new("sleep")
                    .arg("30")
                    .kill_on_drop(true)
                    .spawn()
            })
            .expect("sleep starts");
        let pid = child.id();
        let waiting = rt
            .handle()
            .spawn_named("reaper", async move { child.wait().await });
        let dump = dump_when_waiting(&rt, &["listener", "reaper"]);
        let signal = wait_of(&dump, "listener");
        assert_eq!(signal.kind, WaitKind::Signal, "{dump}");
        assert_eq!(signal.to_string(), "signal SIGUSR2", "{dump}");
        let exit = wait_of(&dump, "reaper");
        assert_eq!(exit.kind, WaitKind::ChildExit, "{dump}");
        assert_eq!(exit.detail, WaitDetail::Child(pid), "{dump}");
        // SAFETY: `pid` is our own child, still unreaped (its waiter is pending).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let status = rt.block_on(waiting).expect("the child is reaped");
        assert!(!status.success());
        drop(listening);
    });
}
