#!/usr/bin/env bash
# Where the I/O time goes: brigade vs tokio, counted per request (BENCHMARKS.md, "Where the I/O
# time goes (epoll driver)").
#
#   bench/profile.sh counts  [brigade|tokio ...]   HTTP/1 hello under wrk: syscalls, wake-ups,
#                                                  context switches per request (perf stat)
#   bench/profile.sh echo    [brigade|tokio ...]   the same per tcp_echo round trip (core bench)
#   bench/profile.sh wakers  [brigade|tokio ...]   who wakes the worker threads (perf record)
#   bench/profile.sh wakes   [brigade|tokio ...]   why the runtime wakes a thread: call stacks
#                                                  of futex wakes and eventfd writes, per request
#   bench/profile.sh cpu     [brigade|tokio ...]   where the CPU goes: runtime / hyper / kernel
#                                                  (perf record -e cpu-clock, self time)
#   bench/profile.sh latency [rounds]              wrk --latency, alternating sides
#   bench/profile.sh trace   [brigade|tokio ...]   each request's path: data ready -> epoll
#                                                  event -> read -> writev, which worker, and
#                                                  how long the reader waited for a CPU
#                                                  (bpftrace bench/io_trace.bt; apt-get install
#                                                  -y bpftrace; costs ~2x throughput: compare
#                                                  shapes, not absolute times)
#
# Environment: DURATION (s, default 10), WORKERS (2), CONNS (64), ROUNDS (echo: 5),
# OUT (scratch dir, default /tmp/brigade-profile; perf.data files go there, never into git).
# Needs: wrk, linux-perf (apt-get install -y wrk linux-perf), root or perf_event_paranoid <= 0.
# Count-based figures (syscalls, switches) are what to trust on a shared machine; times are not.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10}
WORKERS=${WORKERS:-2}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-/tmp/brigade-profile}
mkdir -p "$OUT"

build() {
    (cd "$ROOT" && cargo build --release -q -p brigade-bench --bin http --bin brigade-bench)
}

# start_server SIDE: sets PID and ADDR.
start_server() {
    : >"$OUT/serve.$1.out" # never read a previous run's address
    "$TARGET/release/http" --serve "$1" --workers "$WORKERS" >"$OUT/serve.$1.out" 2>"$OUT/serve.$1.err" &
    PID=$!
    for _ in $(seq 50); do
        ADDR=$(sed -n 's/^listening on //p' "$OUT/serve.$1.out")
        [ -n "$ADDR" ] && break
        sleep 0.1
    done
    [ -n "$ADDR" ] || { echo "server did not start" >&2; exit 1; }
    # Warm up (connections, allocator) so the measured window is steady state.
    wrk -t2 -c"$CONNS" -d1s "http://$ADDR/" >/dev/null
}

stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }
# A step that fails under `set -e` must not leave its server running.
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT

# wrk over the measured window; prints the number of requests served.
run_wrk() {
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "http://$ADDR/" >"$OUT/wrk.$1.txt"
    awk '/requests in/ {print $1}' "$OUT/wrk.$1.txt"
}

# The process's eventfds, as a tracepoint filter on `fd` (the runtime's driver wakers).
eventfd_filter() {
    local fds=() fd
    for fd in /proc/"$1"/fd/*; do
        if readlink "$fd" 2>/dev/null | grep -q 'anon_inode:\[eventfd\]'; then fds+=("fd == $(basename "$fd")"); fi
    done
    local IFS='|'
    local joined="${fds[*]}"
    echo "${joined//|/ || }"
}

# The worker threads' (truncated, 15-char) name, for filtering wake-ups by the wakee.
worker_comm() {
    case "$1" in
    brigade) echo "brigade-worker-" ;;
    tokio) echo "tokio-rt-worker" ;;
    esac
}

EVENTS=(read recvfrom readv write sendto writev epoll_wait epoll_pwait epoll_ctl futex sched_yield accept4 close)

# perf_counts_http SIDE: runs perf stat on the server (PID) (per-process counters) and, system-wide,
# counts wake-ups whose wakee is a worker thread, over one wrk window. Prints the counts per
# request.
perf_counts_http() {
    local side=$1 evf comm args=() e
    evf=$(eventfd_filter "$PID")
    comm=$(worker_comm "$side")
    for e in "${EVENTS[@]}"; do args+=(-e "syscalls:sys_enter_$e"); done
    args+=(-e syscalls:sys_enter_futex --filter 'op == 1 || op == 129')
    args+=(-e syscalls:sys_enter_write --filter "$evf")
    args+=(-e syscalls:sys_enter_read --filter "$evf")
    args+=(-e context-switches -e cpu-migrations -e task-clock)
    perf stat -x, -o "$OUT/stat.$side.csv" -p "$PID" "${args[@]}" &
    local stat=$!
    perf stat -x, -o "$OUT/wake.$side.csv" -a -e sched:sched_wakeup --filter "comm == \"$comm\"" \
        -e sched:sched_switch --filter "prev_comm == \"$comm\"" \
        -e sched:sched_switch --filter "prev_comm == \"$comm\" && prev_state == 0" &
    local wake=$!
    sleep 0.3
    local requests
    requests=$(run_wrk "$side")
    kill -INT "$stat" "$wake"
    wait "$stat" "$wake" 2>/dev/null || true
    report_counts "$side" "$requests" "request"
}

# report_counts SIDE N UNIT: the two perf stat files as a per-unit table.
report_counts() {
    local side=$1 n=$2 unit=$3
    echo "== $side: $n ${unit}s"
    cat "$OUT/stat.$side.csv" "$OUT/wake.$side.csv" | awk -F, -v n="$n" -v unit="$unit" '
        /^#/ || NF < 3 { next }
        {
            name = $3
            seen[name]++
            if (name == "syscalls:sys_enter_futex" && seen[name] == 2) name = "futex(FUTEX_WAKE)"
            if (name == "syscalls:sys_enter_write" && seen[name] == 2) name = "write to the eventfd (driver wake)"
            if (name == "syscalls:sys_enter_read" && seen[name] == 2) name = "read of the eventfd (drain)"
            if (name == "sched:sched_wakeup") name = "wake-ups of a worker thread (any waker)"
            if (name == "sched:sched_switch" && seen[name] == 1) name = "worker switched out (sched_switch)"
            if (name == "sched:sched_switch" && seen[name] == 2) name = "  of which preempted (still runnable)"
            sub(/^syscalls:sys_enter_/, "", name)
            if ($1 ~ /not/ || $1 + 0 == 0) next
            if (name == "task-clock") { printf "  %-42s %10.2f us/%s\n", "CPU time (task-clock)", $1 * 1000 / n, unit; next }
            printf "  %-42s %10.3f /%s   (%d)\n", name, $1 / n, unit, $1
        }'
}

counts() {
    build
    local side
    for side in "${@:-tokio brigade}"; do
        for s in $side; do
            start_server "$s"
            perf_counts_http "$s"
            stop_server
        done
    done
}

echo_counts() {
    build
    local side s
    for side in "${@:-tokio brigade}"; do
        for s in $side; do
            local comm args=() e
            comm=$(worker_comm "$s")
            for e in "${EVENTS[@]}"; do args+=(-e "syscalls:sys_enter_$e"); done
            args+=(-e syscalls:sys_enter_futex --filter 'op == 1 || op == 129')
            # The eventfd is not known before the process starts: count writes of 8 bytes
            # (an eventfd write is always 8; the echo's socket writes are 64).
            args+=(-e syscalls:sys_enter_write --filter 'count == 8')
            args+=(-e syscalls:sys_enter_read --filter 'count == 8')
            args+=(-e context-switches -e cpu-migrations -e task-clock)
            perf stat -x, -o "$OUT/wake.$s.csv" -a -e sched:sched_wakeup --filter "comm == \"$comm\"" \
                -e sched:sched_switch --filter "prev_comm == \"$comm\"" \
                -e sched:sched_switch --filter "prev_comm == \"$comm\" && prev_state == 0" &
            local wake=$!
            sleep 0.3
            BRIGADE_BENCH_ONLY=$s perf stat -x, -o "$OUT/stat.$s.csv" "${args[@]}" \
                "$TARGET/release/brigade-bench" --workers "$WORKERS" --filter tcp_echo \
                --warmup 0 --rounds "$ROUNDS" 2>"$OUT/echo.$s.txt"
            kill -INT "$wake"
            wait "$wake" 2>/dev/null || true
            # 64 connections x 1 000 round trips per round.
            report_counts "$s" $((ROUNDS * 64000)) "round trip"
        done
    done
}

# Who wakes the worker threads: the comm of the running task when a worker is woken
# (wrk = its request arrived on a socket, softirq in wrk's context; a worker = futex / eventfd
# from the runtime itself; swapper = an interrupt on an idle CPU).
wakers() {
    build
    local s
    for s in ${@:-tokio brigade}; do
        start_server "$s"
        local comm
        comm=$(worker_comm "$s")
        perf record -q -a -o "$OUT/wakers.$s.data" -e sched:sched_wakeup --filter "comm == \"$comm\"" &
        local rec=$!
        sleep 0.3
        local requests
        requests=$(run_wrk "$s")
        kill -INT "$rec"
        wait "$rec" 2>/dev/null || true
        stop_server
        echo "== $s: $requests requests; wake-ups of a worker thread per request, by waker"
        perf script -i "$OUT/wakers.$s.data" -F comm 2>/dev/null | sed 's/^ *//; s/[0-9]*$//' |
            sort | uniq -c | sort -rn | awk -v n="$requests" '{c=$1; $1=""; printf "  %-24s %8.3f   (%d)\n", $0, c/n, c}'
    done
}

# Why the runtime wakes threads: the call stack of every futex(FUTEX_WAKE) and eventfd write,
# classified by bench/wake_sources.py.
wakes() {
    build
    local s
    for s in ${@:-tokio brigade}; do
        start_server "$s"
        perf record -q -o "$OUT/wakes.$s.data" --call-graph dwarf,16384 -p "$PID" \
            -e syscalls:sys_enter_futex --filter 'op == 1 || op == 129' \
            -e syscalls:sys_enter_write --filter "$(eventfd_filter "$PID")" &
        local rec=$!
        sleep 0.3
        local requests
        requests=$(run_wrk "$s")
        kill -INT "$rec"
        wait "$rec" 2>/dev/null || true
        stop_server
        echo "== $s: $requests requests"
        perf script -i "$OUT/wakes.$s.data" -F event,ip,sym,dso 2>/dev/null |
            python3 "$ROOT/bench/wake_sources.py" "$requests"
    done
}

# Self time by owner: kernel (split by subsystem), runtime (brigade / tokio + mio), hyper
# (+ http, httparse, bytes), allocator / libc, other; in % of samples and in CPU microseconds
# per request (samples at 2999 Hz of cpu-clock, the software clock: this VM has no hardware
# counters).
cpu() {
    build
    local s
    for s in ${@:-tokio brigade}; do
        start_server "$s"
        perf record -q -F 2999 -e cpu-clock -p "$PID" -o "$OUT/cpu.$s.data" &
        local rec=$!
        sleep 0.3
        local requests
        requests=$(run_wrk "$s")
        kill -INT "$rec"
        wait "$rec" 2>/dev/null || true
        stop_server
        local samples
        samples=$(perf script -i "$OUT/cpu.$s.data" -F ip 2>/dev/null | wc -l)
        echo "== $s: $requests requests, $samples samples ($(awk -v s="$samples" -v n="$requests" 'BEGIN { printf "%.2f", s / 2999 / n * 1e6 }') us of CPU per request)"
        perf report -i "$OUT/cpu.$s.data" --no-children --sort dso,sym --stdio -F overhead,dso,sym 2>/dev/null |
            grep -v '^#' | grep -v '^$' | sort -rn >"$OUT/cpu.$s.txt"
        awk -v samples="$samples" -v n="$requests" '
            {
                pct = $1; sub(/%/, "", pct); dso = $2; line = $0; sym = $NF
                if (line ~ /\[k\]/) {
                    if (sym ~ /^(tcp_|__tcp|ip_|__ip|skb|__skb|kfree_skb|sock_|__sock|sk_|__sk|net_|__net|__dev|dev_|bbr_|loopback|process_backlog|__netif|netif|inet_|__inet|release_sock|lock_sock|__alloc_skb|__build_skb|napi|validate_xmit|eth_|__copy_skb|copy_|_copy|__check_object|__virt_addr|check_heap|simple_copy|skb_|dst_|ipv4_|raw_local_deliver|.*softirq|__local_bh|.*slab|kmem_|kmalloc|kfree|__kmalloc)/) k = "kernel: TCP/IP, softirq, skb memory, copies"
                    else if (sym ~ /(schedule|switch|^enqueue|^dequeue|pick_|update_curr|try_to_wake|ttwu|select_task|wake_up|__wake|_raw_spin_unlock_irqrestore|psi_|update_load|reweight|set_next|put_prev|place_entity|hrtick|cpuacct|sched)/) k = "kernel: scheduler, wake-ups (incl. irq-restore)"
                    else if (sym ~ /(^ep_|epoll|eventfd)/) k = "kernel: epoll, eventfd"
                    else if (sym ~ /futex/) k = "kernel: futex"
                    else if (sym ~ /(syscall|entry_|do_syscall|__x64_sys|exit_to_user|fpregs|restore_fpregs|__fdget|fdget|fput|vfs_|rw_verify|iovec|do_writev|do_iter|ksys_|security_file)/) k = "kernel: syscall entry/exit, vfs"
                    else k = "kernel: other"
                } else {
                    k = "other (std, core, bench)"
                    best = 1e9
                    m = split("brigade:: tokio:: mio:: hyper_util:: hyper:: http:: httparse:: bytes::", crates, " ")
                    for (i = 1; i <= m; i++) {
                        p = index(line, crates[i])
                        if (p > 0 && p < best) { best = p; k = crates[i] }
                    }
                    if (k == "other (std, core, bench)" && (dso ~ /libc/ || line ~ /malloc|free|memcpy|memmove|realloc|_int_/)) k = "libc (malloc, free, memcpy)"
                    if (k == "brigade::" || k == "tokio::" || k == "mio::" || k == "hyper_util::") k = "runtime (brigade / tokio, mio)"
                    if (k == "hyper::" || k == "http::" || k == "httparse::" || k == "bytes::") k = "hyper (hyper, http, httparse, bytes)"
                }
                share[k] += pct
            }
            END { for (k in share) printf "  %-48s %6.1f%%  %6.2f us/request\n", k, share[k], share[k] / 100 * samples / 2999 / n * 1e6 }' "$OUT/cpu.$s.txt" | sort -t'%' -k1.50 -rn
        echo "  top symbols:"
        head -12 "$OUT/cpu.$s.txt" | sed 's/^/    /'
    done
}

latency() {
    build
    local rounds=${1:-3} r s
    for r in $(seq "$rounds"); do
        local order="tokio brigade"
        [ $((r % 2)) -eq 0 ] && order="brigade tokio"
        for s in $order; do
            start_server "$s"
            run_wrk "$s" >/dev/null
            stop_server
            printf "round %d %-8s %s req/s  p50 %s  p75 %s  p90 %s  p99 %s\n" "$r" "$s" \
                "$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.$s.txt")" \
                "$(awk '$1 == "50%" {print $2}' "$OUT/wrk.$s.txt")" \
                "$(awk '$1 == "75%" {print $2}' "$OUT/wrk.$s.txt")" \
                "$(awk '$1 == "90%" {print $2}' "$OUT/wrk.$s.txt")" \
                "$(awk '$1 == "99%" {print $2}' "$OUT/wrk.$s.txt")"
        done
    done
}

# Each request's path through the runtime (bench/io_trace.bt), summarised by
# bench/io_trace_summary.py; the raw lines stay in $OUT/trace.SIDE.txt.
trace() {
    build
    local s
    for s in ${@:-tokio brigade}; do
        start_server "$s"
        local tids
        tids=$(for t in /proc/"$PID"/task/*; do grep -q worker "$t/comm" && basename "$t"; done | head -2 | tr '\n' ' ' || true)
        # shellcheck disable=SC2086
        bpftrace "$ROOT/bench/io_trace.bt" "$PID" $tids >"$OUT/trace.$s.txt" 2>"$OUT/trace.$s.err" &
        local tr=$!
        sleep 3 # bpftrace compiles and attaches
        local requests
        requests=$(run_wrk "$s")
        kill -INT "$tr"
        wait "$tr" 2>/dev/null || true
        stop_server
        echo "== $s: $requests requests; wrk: $(awk '$1 == "50%" {print "p50", $2} $1 == "99%" {print "p99", $2}' "$OUT/wrk.$s.txt" | tr '\n' ' ')"
        python3 "$ROOT/bench/io_trace_summary.py" "$OUT/trace.$s.txt"
    done
}

cmd=${1:-counts}
shift || true
case "$cmd" in
counts) counts "$@" ;;
echo) echo_counts "$@" ;;
wakers) wakers "$@" ;;
wakes) wakes "$@" ;;
cpu) cpu "$@" ;;
latency) latency "$@" ;;
trace) trace "$@" ;;
*) sed -n '2,24p' "$0"; exit 2 ;;
esac
