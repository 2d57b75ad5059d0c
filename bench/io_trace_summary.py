#!/usr/bin/env python3
"""Summarises bench/io_trace.bt's per-request lines (see that file for the fields)."""
import sys


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def mean(values):
    return sum(values) / len(values) if values else 0.0


def describe(rows, label):
    n = len(rows)
    if not n:
        return
    ev = [r for r in rows if r[0] >= 0]
    print(f"-- {label}: {n} requests")
    print(f"   data ready -> read:  mean {mean([r[2] for r in rows]) / 1e3:7.0f} us"
          f"  of which the reader waited for a CPU {mean([r[9] for r in rows]) / 1e3:5.0f} us"
          f"  (runtime queueing {mean([r[2] - r[9] for r in rows]) / 1e3:5.0f} us)")
    print(f"   read -> writev:      mean {mean([r[3] for r in rows]) / 1e3:7.0f} us")
    if ev:
        print(f"   ready -> epoll event {mean([r[0] for r in ev]) / 1e3:.0f} us, event -> read "
              f"{mean([r[1] for r in ev]) / 1e3:.0f} us; events per epoll_wait (mean, weighted "
              f"by request) {mean([r[6] for r in ev]):.1f}")
        print(f"   event from a parked worker's epoll_wait {100 * mean([r[5] == 1 for r in ev]):.0f}%,"
              f" from a busy worker's zero-timeout look {100 * mean([r[5] == 0 for r in ev]):.0f}%;"
              f" read on the other worker {100 * mean([r[4] == 0 for r in ev]):.0f}%")
    print(f"   no worker waiting in epoll_wait when the data arrived: "
          f"{100 * mean([r[7] == 0 for r in rows]):.0f}%")


def main():
    rows = [list(map(int, line.split()[1:])) for line in open(sys.argv[1]) if line.startswith("REQ ")]
    # A socket whose address was reused without an end-of-stream read can carry a stale "ready"
    # time (seconds old): drop those few.
    rows = [r for r in rows if r[2] < 1_000_000_000]
    # The run-queue figure comes from per-CPU map reads that can race by a few microseconds:
    # clamp it to [0, ready -> read].
    for r in rows:
        r[9] = min(max(r[9], 0), r[2])
    total = [r[2] + r[3] for r in rows]
    print(f"requests traced: {len(rows)}")
    print("   data ready -> writev: " + ", ".join(
        f"p{p} {pct(total, p) / 1e3:.0f} us" for p in (50, 90, 99, 99.9)))
    threshold = pct(total, 99)
    describe(rows, "all")
    describe([r for r, t in zip(rows, total) if t >= threshold], "slowest 1%")
    # By who fetched the event: a worker parked in epoll_wait, or a busy worker's periodic
    # zero-timeout look (every 61 ticks); what happens between that epoll_wait and the read.
    delivered = [r for r in rows if r[0] >= 0]
    for kind, label in ((1, "parked worker's epoll_wait"), (0, "busy worker's zero-timeout look")):
        sel = [r for r in delivered if r[5] == kind]
        if not sel:
            continue
        wait = [r[1] for r in sel]
        print(f"-- delivered by a {label}: {100 * len(sel) / len(delivered):.0f}% of requests;"
              f" event -> read p50 {pct(wait, 50) / 1e3:.0f} us, p90 {pct(wait, 90) / 1e3:.0f} us,"
              f" p99 {pct(wait, 99) / 1e3:.0f} us; read on the looking/parked worker"
              f" {100 * mean([r[4] for r in sel]):.0f}%")


main()
