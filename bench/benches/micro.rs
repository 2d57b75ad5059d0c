//! Criterion micro benchmarks of brigade's primitives, for spotting regressions in one path at a
//! time (the side-by-side harness in `src/` is the comparison with tokio).
//!
//! `cargo bench -p brigade-bench --bench micro`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

fn runtime() -> brigade::Runtime {
    brigade::Runtime::builder()
        .workers(2)
        .build()
        .expect("runtime")
}

/// One task's whole life from inside a task: allocate, queue (LIFO slot), poll, complete,
/// wake the joiner, read the output, free the cell.
fn spawn_and_join(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("spawn_and_join_from_a_task", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(rt.spawn(async move {
                let start = std::time::Instant::now();
                for i in 0..iterations {
                    black_box(brigade::spawn(async move { i }).await);
                }
                start.elapsed()
            }))
        })
    });
}

/// The same from a thread outside the pool: the injector, unparking a worker, and waking the
/// blocked thread.
fn spawn_and_join_remote(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("spawn_and_join_from_outside", |b| {
        b.iter(|| black_box(rt.block_on(rt.spawn(async { 1u64 }))))
    });
}

/// A yield: wake during one's own poll, requeue at the back, poll again.
fn yield_now(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("yield_now", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(rt.spawn(async move {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    brigade::yield_now().await;
                }
                start.elapsed()
            }))
        })
    });
}

/// `when_all` over 100 tasks that finish at once.
fn when_all_100(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("when_all_100_tasks", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(rt.spawn(async move {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let tasks = (0..100u64).map(|i| brigade::spawn(async move { i }));
                    black_box(brigade::when_all(tasks).await);
                }
                start.elapsed()
            }))
        })
    });
}

criterion_group!(
    benches,
    spawn_and_join,
    spawn_and_join_remote,
    yield_now,
    when_all_100
);
criterion_main!(benches);
