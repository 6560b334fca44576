#!/usr/bin/python3
"""System calls (or instructions, or time) per proxied connection, binaries alternated.

    python3 bench/syscalls.py [--proxy [NAME=]BIN ...] [--tool strace|perf|callgrind|time]
                              [--clients C] [--rounds N] [--time SEC] [--proxy-args ARGS]

For each proxy binary given (default: build/dispatch-proxy), starts it on loopback with
one link (127.0.0.1), attaches the counter to it once it listens (start-up is not
counted), runs `loadgen rate` (connect -> SOCKS5 greeting -> CONNECT -> 32-byte echo ->
close, one cycle after another per client) and divides each system call's count by the
number of cycles. Several binaries are measured alternately, round after round (order
flipped each round), and every round is printed: a count that differs between rounds
is timing-dependent (epoll_wait batching), the rest is the code's.

strace stops the proxy at every system call, which gives its peer time to answer: a read
that races the peer (trying to read right after a reply) succeeds under strace and fails
without it. `--tool perf` counts the syscalls:sys_enter_* tracepoints instead, without
slowing the proxy, so such races count as they happen.

`--tool callgrind` runs the proxy under valgrind's callgrind, zeroes its counters once it
listens and reads the user-space instructions (Ir, every thread) after the cycles: the
proxy's own instructions per connection, kernel excluded, independent of load.
`--tool time` attaches nothing: connections/s, p99 and /proc/loadavg of each round, the
same rounds alternated, for a timed A/B next to the counts (noisy on a shared machine).

Counts do not depend on machine load the way timings do, so this runs any time. Every
process it starts is stopped by its PID; traffic stays on loopback.
"""

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, STARTED, Procs, loadavg, parse_result  # noqa: E402 (bench/run.py)

ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)\s*$")
stop = Procs().stop


def parse_strace_c(text):
    """{syscall: calls} from strace -c's table."""
    calls = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m and m.group(3) != "total":
            calls[m.group(3)] = calls.get(m.group(3), 0) + int(m.group(1))
    return calls


# What --tool perf counts (one tracepoint each); "other" is the rest of raw_syscalls.
PERF_SYSCALLS = ("accept4", "epoll_wait", "epoll_ctl", "recvfrom", "sendto", "read", "write",
                 "splice", "socket", "setsockopt", "bind", "connect", "getsockname",
                 "shutdown", "close", "futex")


def parse_perf(text):
    """{syscall: calls} from perf stat -x, output; the uncounted rest as "other"."""
    calls, total = {}, 0
    for line in text.splitlines():
        f = line.split(",")
        if len(f) < 3 or not f[0].strip().isdigit():
            continue
        if f[2] == "raw_syscalls:sys_enter":
            total = int(f[0])
        elif f[2].startswith("syscalls:sys_enter_"):
            calls[f[2][len("syscalls:sys_enter_"):]] = int(f[0])
    calls["other"] = max(0, total - sum(calls.values()))
    return calls


def callgrind_ir(pid):
    """Instructions counted so far in every thread of a callgrind run (callgrind_control -e)."""
    out = subprocess.run(["callgrind_control", "-e", "Ir", str(pid)], capture_output=True,
                         text=True, timeout=60).stdout
    return sum(int(m.group(1).replace(",", ""))
               for m in re.finditer(r"^\s*Th \d+\s+([\d,]+)\s*$", out, re.M))


def one_round(proxy, loadgen, target, args, tmp):
    log = tmp / "proxy.log"
    prefix = []
    if args.tool == "callgrind":
        prefix = ["valgrind", "--tool=callgrind", f"--log-file={tmp / 'valgrind.log'}",
                  f"--callgrind-out-file={tmp / 'callgrind.out'}"]
    with open(log, "w") as f:
        p = subprocess.Popen([*prefix, str(proxy), "-lport", "0", *args.proxy_args.split(),
                              "127.0.0.1"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
    st = None
    try:
        deadline = time.time() + 30
        port = None
        while time.time() < deadline and port is None:
            m = STARTED.search(log.read_text(errors="replace"))
            port = int(m.group(2)) if m else None
            time.sleep(0.05)
        if port is None:
            raise RuntimeError(f"{proxy} did not start: {log.read_text()[-500:]}")
        out = tmp / "counts.txt"
        if args.tool == "strace":
            st = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p", str(p.pid)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            # strace says "Process N attached" once per thread: wait for the first.
            line = st.stderr.readline()
            if "attached" not in line:
                raise RuntimeError(f"strace did not attach: {line}")
        elif args.tool == "callgrind":
            time.sleep(0.5)
            subprocess.run(["callgrind_control", "-z", str(p.pid)], capture_output=True,
                           check=True, timeout=60)
        elif args.tool == "perf":
            events = ",".join(f"syscalls:sys_enter_{n}" for n in PERF_SYSCALLS)
            st = subprocess.Popen(["perf", "stat", "-x,", "-o", str(out), "-e", events,
                                   "-e", "raw_syscalls:sys_enter", "-p", str(p.pid)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        load = loadavg()
        res = subprocess.run([str(loadgen), "rate", "-t", target, "-socks", f"127.0.0.1:{port}",
                              "-clients", str(args.clients), "-time", str(args.time)],
                             capture_output=True, text=True, timeout=120)
        m = re.search(r"cycles=(\d+)", res.stdout)
        if not m or " ok=1" not in res.stdout:
            raise RuntimeError(f"loadgen failed: {res.stdout} {res.stderr}")
        cycles = int(m.group(1))
        if args.tool == "time":
            r = parse_result(res.stdout)
            # Scaled by cycles so that the table's per-connection division gives them back.
            return cycles, {"conn_per_s": r["conn_per_s"] * cycles,
                            "p99_ms": r["p99_ms"] * cycles}, f"{load} -> {loadavg()}"
        time.sleep(0.2)
        if args.tool == "callgrind":
            return cycles, {"Ir": callgrind_ir(p.pid)}, load
        st.send_signal(signal.SIGINT)
        st.wait(10)
        text = out.read_text()
        return cycles, parse_strace_c(text) if args.tool == "strace" else parse_perf(text), load
    finally:
        if st is not None and st.poll() is None:
            st.kill()
            st.wait()
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxy", type=Path, action="append",
                    help="a proxy binary (repeat to compare; label with NAME=PATH)")
    ap.add_argument("--loadgen", type=Path, default=REPO / "build" / "loadgen")
    ap.add_argument("--proxy-args", default="-threads 1")
    ap.add_argument("--tool", choices=("strace", "perf", "callgrind", "time"), default="strace")
    ap.add_argument("--clients", type=int, default=1, help="loadgen rate clients")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=2, help="seconds of cycling per round")
    a = ap.parse_args()
    proxies = []
    for p in a.proxy or [REPO / "build" / "dispatch-proxy"]:
        name, _, path = str(p).rpartition("=")
        proxies.append((name or path, Path(path)))

    tmp = Path(tempfile.mkdtemp(prefix="dp-syscalls-"))
    server = subprocess.Popen([str(a.loadgen), "server", "-l", "127.0.0.1:0", "-lifetime", "900"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    results = {name: [] for name, _ in proxies}
    try:
        line = server.stdout.readline()
        if not line.startswith("READY"):
            raise SystemExit(f"loadgen server did not start: {line!r}")
        target = f"127.0.0.1:{line.split()[1]}"
        for rnd in range(a.rounds):
            order = proxies if rnd % 2 == 0 else list(reversed(proxies))
            for name, path in order:
                cycles, calls, load = one_round(path, a.loadgen, target, a, tmp)
                results[name].append((cycles, calls))
                each = ", ".join(f"{k} {v / cycles:.2f}" for k, v in calls.items()) \
                    if a.tool in ("time", "callgrind") else \
                    f"{sum(calls.values()) / cycles:.2f} syscalls each"
                print(f"round {rnd + 1} {name}: {cycles} connections, {each}; loadavg {load}",
                      file=sys.stderr)
    finally:
        stop(server)
    names = sorted({k for rs in results.values() for _, c in rs for k in c})
    head = "| syscall | " if a.tool in ("strace", "perf") else "| figure | "
    head += " | ".join(n for n, _ in proxies) + " |"
    lines = [head, "|---|" + "---:|" * len(proxies)]

    def per(name, key):
        vals = [c.get(key, 0) / n for n, c in results[name]]
        return vals

    for key in names:
        cells = []
        for name, _ in proxies:
            vals = per(name, key)
            cells.append(" / ".join(f"{v:.2f}" for v in vals))
            if a.tool == "time":  # timings scatter: the median is the figure to quote
                cells[-1] += f" (median {statistics.median(vals):.2f})"
        if all(max(per(n, key)) < 0.005 for n, _ in proxies):
            continue
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    if a.tool in ("strace", "perf"):
        cells = [" / ".join(f"{sum(c.values()) / n:.2f}" for n, c in results[name])
                 for name, _ in proxies]
        lines.append("| **total** | " + " | ".join(cells) + " |")
    what = {"strace": "System calls per connection (strace -f -c",
            "perf": "System calls per connection (perf stat, syscalls:sys_enter_*",
            "callgrind": "User-space instructions per connection (callgrind Ir, all threads",
            "time": "Timed, nothing attached (connections/s and p99 ms of each round"}[a.tool]
    print(f"{what}, loadgen rate, {a.clients} client(s), "
          f"{a.time:g} s per round, proxy args '{a.proxy_args}'; each cell: round 1 / 2 / ...)")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
