//! Waiting costs nothing: a worker parked until a timer's deadline uses no CPU meanwhile.
//! In a file of its own, so that the process's CPU time is this test's alone.

use std::time::Duration;

use brigade::Runtime;

fn process_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[test]
fn pending_sleeps_do_not_spin_the_driving_worker() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {});
    let before = process_cpu_time();
    // 150 ms sleeps sit on the wheel's second level (64 ms slots) until they cascade; the
    // driving worker must park through to each deadline, not poll from the slot's start on.
    rt.block_on(async {
        for _ in 0..10 {
            brigade::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let used = process_cpu_time() - before;
    assert!(
        used < Duration::from_millis(50),
        "1.5 s of sleeping used {used:?} of CPU: a worker spun instead of parking"
    );
}
