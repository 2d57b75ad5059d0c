#!/usr/bin/env python3
"""Why the runtime wakes a thread: classifies the call stacks of futex(FUTEX_WAKE) and eventfd
writes recorded by `bench/profile.sh wakes` (perf script output on stdin), per request."""
import collections
import re
import sys

# (event, pattern over the stack, innermost frame first, joined by " < "), first match wins.
RULES = [
    ("eventfd", r"brigade::io::driver::IoDriver::poll.*brigade::pool::worker::WorkerContext::park",
     "brigade: notify while dispatching its own epoll batch -> eventfd write to ITSELF"),
    ("eventfd", r"tokio::.*Unparker::unpark.*tokio::.*Context::run",
     "tokio: running worker wakes the worker parked in epoll (work to share)"),
    ("eventfd", r"wake_driver.*transition_from_searching",
     "brigade: searcher found work, wakes the worker parked in epoll (searcher hand-off)"),
    ("eventfd", r"wake_driver.*park_until_work",
     "brigade: a parking worker wakes the worker parked in epoll (last look / role hand-off)"),
    ("eventfd", r"wake_driver.*brigade::pool::Shared::schedule_task",
     "brigade: task scheduled, wakes the worker parked in epoll"),
    ("eventfd", r"brigade::.*wake_driver", "brigade: other wake of the worker parked in epoll"),
    ("eventfd", r".", "other eventfd write"),
    ("futex", r"__GI___libc_(free|malloc)|_int_free|_int_malloc", "glibc malloc/free lock (both)"),
    ("futex", r"brigade::timer::driver::Driving as core::ops::drop::Drop", "brigade: driving role released, wakes a sleeper to take it"),
    ("futex", r"brigade::pool::Shared::schedule_task.*brigade::io::driver::IoDriver::poll",
     "brigade: I/O batch dispatched in park, wakes a sleeper to share it"),
    ("futex", r"^[^<]*(<[^<]*)?brigade::pool::worker::WorkerContext::park", "brigade: leaving park (hand-off of the role / last look)"),
    ("futex", r"brigade::pool::worker::",
     "brigade: running worker wakes a sleeper (searcher handoff, queued work)"),
    ("futex", r"tokio::.*Context::park_internal", "tokio: after its park, wakes a sleeper to share the batch"),
    ("futex", r"tokio::.*Context::run_task", "tokio: running worker wakes a sleeper (searcher handoff)"),
    ("futex", r".", "other futex wake"),
]


def main():
    requests = float(sys.argv[1])
    counts = collections.Counter()
    event, frames = None, []

    def flush():
        if event is None:
            return
        stack = " < ".join(frames)
        for kind, pattern, label in RULES:
            if kind == event and re.search(pattern, stack):
                counts[label] += 1
                return

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            event, frames = None, []
        elif not line[0].isspace():
            flush()
            frames = []
            event = "eventfd" if "sys_enter_write" in line else "futex"
        else:
            match = re.match(r"\s*[0-9a-f]+\s+(.*?)(\+0x[0-9a-f]+)?\s+\(", line)
            if match:
                frames.append(match.group(1))
    flush()
    for label, count in counts.most_common():
        print(f"  {count / requests:7.4f} /request  {label}  ({count})")


main()
