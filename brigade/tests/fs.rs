//! brigade::fs against the real file system (a fresh directory under the temp dir per test).

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brigade::cancel::CancellationTokenSource;
use brigade::context::AsyncLocal;
use brigade::fs::{self, File, OpenOptions};
use brigade::prelude::*;
use brigade_test_support::{
    allocations_on_this_thread, large_allocations_on_this_thread, rt, watchdog, CountingAllocator,
};
use futures_core::Stream;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("brigade-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static REQUEST_ID: AsyncLocal<u32> = AsyncLocal::new();
static SEEN_WITH_VALUE: AtomicUsize = AtomicUsize::new(0);
/// Operations made by the read-ahead test (its tasks carry `REQUEST_ID` 4 242).
static READ_AHEAD_TRIPS: AtomicUsize = AtomicUsize::new(0);
/// The operation hook is one per process: the tests that install it take turns.
static HOOK_IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn record_context() {
    match REQUEST_ID.get() {
        Some(7_777) => SEEN_WITH_VALUE.fetch_add(1, Ordering::SeqCst),
        Some(4_242) => READ_AHEAD_TRIPS.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
}

#[test]
fn o7_fs_operations_carry_async_local_values() {
    let dir = TempDir::new("o7");
    let _turn = HOOK_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    fs::set_operation_hook(Some(record_context));
    let operations = rt(2).block_on(async {
        brigade::spawn(async move {
            REQUEST_ID.set(7_777);
            let path = dir.join("a.txt");
            fs::write(&path, b"hello").await.unwrap(); // 1
            assert_eq!(fs::read(&path).await.unwrap(), b"hello"); // 2
            fs::metadata(&path).await.unwrap(); // 3
            let mut file = File::open(&path).await.unwrap(); // 4
            let mut buf = [0u8; 16];
            assert_eq!(file.read(&mut buf).await.unwrap(), 5); // 5
            let mut entries = fs::read_dir(&dir.0).await.unwrap(); // 6
            assert!(entries.next_entry().await.unwrap().is_some()); // 7 (one batch)
            7
        })
        .await
    });
    fs::set_operation_hook(None);
    assert_eq!(SEEN_WITH_VALUE.load(Ordering::SeqCst), operations);
}

#[test]
fn whole_file_functions_round_trip() {
    let dir = TempDir::new("whole");
    rt(2).block_on(async {
        let nested = dir.join("x/y/z");
        fs::create_dir_all(&nested).await.unwrap();
        let a = nested.join("a.txt");
        fs::write(&a, "contents").await.unwrap();
        assert_eq!(fs::read_to_string(&a).await.unwrap(), "contents");
        assert_eq!(fs::copy(&a, nested.join("b.txt")).await.unwrap(), 8);
        fs::rename(nested.join("b.txt"), nested.join("c.txt"))
            .await
            .unwrap();
        assert!(!fs::try_exists(nested.join("b.txt")).await.unwrap());
        assert_eq!(fs::metadata(nested.join("c.txt")).await.unwrap().len(), 8);
        let mut names = Vec::new();
        let mut listing = fs::read_dir(&nested).await.unwrap();
        while let Some(entry) = listing.next_entry().await.unwrap() {
            assert!(entry.file_type().await.unwrap().is_file());
            names.push(entry.file_name().into_string().unwrap());
        }
        names.sort();
        assert_eq!(names, ["a.txt", "c.txt"]);
        fs::remove_file(&a).await.unwrap();
        fs::remove_file(nested.join("c.txt")).await.unwrap();
        fs::remove_dir(&nested).await.unwrap();
        let error = fs::read(&a).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn read_dir_is_a_stream_over_many_batches() {
    let dir = TempDir::new("stream");
    for i in 0..100 {
        std::fs::write(dir.join(&format!("f{i}")), []).unwrap();
    }
    rt(2).block_on(async {
        let mut listing = fs::read_dir(&dir.0).await.unwrap();
        let mut count = 0;
        while let Some(entry) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut listing).poll_next(cx)).await
        {
            entry.unwrap();
            count += 1;
        }
        assert_eq!(count, 100);
    });
}

#[test]
fn file_reads_writes_and_seeks_like_std() {
    let dir = TempDir::new("file");
    rt(2).block_on(async {
        let path = dir.join("data");
        let pattern: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = File::create(&path).await.unwrap();
        for chunk in pattern.chunks(7_000) {
            file.write_all(chunk).await.unwrap();
        }
        file.sync_all().await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), pattern.len() as u64);
        file.close().await.unwrap();

        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut buf = [0u8; 10];
        file.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..], &pattern[..10]);
        // The read fetched more than 10 bytes ahead; a relative seek counts from byte 10.
        assert_eq!(file.seek(SeekFrom::Current(5)).await.unwrap(), 15);
        file.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..], &pattern[15..25]);
        // A write lands right after what was handed out, not after the read-ahead.
        file.write_all(b"XYZ").await.unwrap();
        file.flush().await.unwrap();
        assert_eq!(file.seek(SeekFrom::Start(22)).await.unwrap(), 22);
        let mut five = [0u8; 5];
        file.read(&mut five).await.unwrap();
        assert_eq!(&five, &[pattern[22], pattern[23], pattern[24], b'X', b'Y']);
        file.set_len(100).await.unwrap();
        assert_eq!(file.seek(SeekFrom::End(0)).await.unwrap(), 100);
        let mut all = Vec::new();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        assert_eq!(file.read_to_end(&mut all).await.unwrap(), 100);
    });
}

#[test]
fn file_implements_futures_io_and_tokio_traits() {
    let dir = TempDir::new("traits");
    rt(2).block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let path = dir.join("t");
        let mut file = File::create(&path).await.unwrap();
        AsyncWriteExt::write_all(&mut file, b"tokio says hi")
            .await
            .unwrap();
        AsyncWriteExt::shutdown(&mut file).await.unwrap();
        let mut file = File::open(&path).await.unwrap();
        let mut text = String::new();
        AsyncReadExt::read_to_string(&mut file, &mut text)
            .await
            .unwrap();
        assert_eq!(text, "tokio says hi");
        fn futures_io<T: futures_io::AsyncRead + futures_io::AsyncWrite + futures_io::AsyncSeek>(
            _: &T,
        ) {
        }
        futures_io(&file);
    });
}

#[test]
fn o9_a_file_used_after_close_is_a_clear_error() {
    let dir = TempDir::new("closed");
    rt(1).block_on(async {
        let mut file = File::create(dir.join("c")).await.unwrap();
        file.write_all(b"x").await.unwrap();
        file.close().await.unwrap();
        file.close().await.unwrap(); // harmless
        for error in [
            file.write(b"y").await.unwrap_err(),
            file.read(&mut [0u8; 1]).await.unwrap_err(),
            file.seek(SeekFrom::Start(0)).await.unwrap_err(),
            file.sync_all().await.unwrap_err(),
        ] {
            assert!(error.to_string().contains("used after close"), "{error}");
        }
        assert_eq!(
            fs::read(dir.join("c")).await.unwrap(),
            b"x",
            "close flushed"
        );
    });
}

#[test]
fn o8_a_read_allocates_nothing_beyond_the_pools_task() {
    let dir = TempDir::new("alloc");
    let path = dir.join("big");
    std::fs::write(&path, vec![1u8; 4 << 20]).unwrap();
    let runtime = rt(2);
    let (reads, allocations) = runtime.block_on(async {
        let mut file = File::open(&path).await.unwrap();
        let mut chunk = vec![0u8; 64 * 1024];
        // Warm up: the file's buffer is allocated once, and the blocking pool starts the
        // threads it needs (a closure submitted while the last one's thread is still on its way
        // back to idle starts another thread, until enough are around).
        while file.read(&mut chunk).await.unwrap() > 0 {}
        file.seek(SeekFrom::Start(64 * 1024)).await.unwrap();
        let before = allocations_on_this_thread();
        let large_before = large_allocations_on_this_thread();
        let mut reads = 0u64;
        while file.read(&mut chunk).await.unwrap() > 0 {
            reads += 1;
        }
        (
            reads,
            (
                allocations_on_this_thread() - before,
                large_allocations_on_this_thread() - large_before,
            ),
        )
    });
    let (allocations, buffers) = allocations;
    assert_eq!(reads, 63);
    // The file's buffer is reused: no read allocates one (a buffer is a large allocation).
    assert_eq!(buffers, 0, "{buffers} buffers allocated for {reads} reads");
    // Otherwise one task cell per trip to the blocking pool (64 trips: 63 reads and the EOF).
    // The slack covers blocking threads started on a loaded machine (each start allocates a
    // little on this thread: 46 extra were seen with the machine at full load).
    assert!(
        allocations <= reads * 3,
        "{allocations} allocations for {reads} reads"
    );
}

#[test]
fn o10_a_stuck_file_operation_is_abandoned_by_its_token() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    watchdog("fifo", LIMIT, move || {
        rt(2).block_on(async {
            // Opening a FIFO for reading blocks until a writer comes: a stuck system call.
            let source = CancellationTokenSource::new();
            source.cancel_after(Duration::from_millis(100));
            let result = fs::read(&fifo).with_cancellation(&source.token()).await;
            assert!(result.is_err(), "the wait must stop at the cancellation");
            // Release the blocking thread still inside open(2).
            drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
        })
    });
}

#[test]
fn a_sequential_reader_is_read_ahead_and_the_read_ahead_is_given_back() {
    let dir = TempDir::new("ahead");
    let path = dir.join("pattern");
    let pattern: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &pattern).unwrap();
    let _turn = HOOK_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    fs::set_operation_hook(Some(record_context));
    rt(2).block_on(async {
        REQUEST_ID.set(4_242);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut chunk = vec![0u8; 10_000];
        let mut consumed = 0;
        let before = READ_AHEAD_TRIPS.load(Ordering::SeqCst);
        for _ in 0..7 {
            let n = file.read(&mut chunk).await.unwrap();
            assert_eq!(&chunk[..n], &pattern[consumed..consumed + n]);
            consumed += n;
        }
        // Two full reads of 10 000 bytes, then one of 40 000 serves the next four: 4 trips
        // for 7 reads (7 without read-ahead).
        let trips = READ_AHEAD_TRIPS.load(Ordering::SeqCst) - before;
        assert_eq!(trips, 4, "{trips} trips for 7 sequential reads");
        // Reads 3.. fetched 40 000 bytes each: the position handed out is still `consumed`.
        assert_eq!(
            file.seek(SeekFrom::Current(0)).await.unwrap(),
            consumed as u64
        );
        for _ in 0..5 {
            let n = file.read(&mut chunk).await.unwrap();
            assert_eq!(&chunk[..n], &pattern[consumed..consumed + n]);
            consumed += n;
        }
        file.write_all(b"HERE").await.unwrap();
        file.close().await.unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(&written[consumed..consumed + 4], b"HERE");
        assert_eq!(&written[..consumed], &pattern[..consumed]);
        assert_eq!(written.len(), pattern.len());
    });
    fs::set_operation_hook(None);
}
