"""Fixtures: the proxy binary, proxy processes, far servers, and the root check."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STARTED = re.compile(r"SOCKS server started at (\[[^\]]+\]|[^\s:]+):(\d+)")
SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                       r"SUMMARY: \w+Sanitizer")


class Proxy:
    """One running dispatch-proxy; stderr is drained into .lines by a thread."""

    def __init__(self, argv):
        self.argv = argv
        self.lines = []
        self.port = None
        self.killed = False
        self._started = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            m = STARTED.search(line)
            if m and self.port is None:
                self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                self._started.set()
        self._started.set()  # EOF: wake the waiter, it will see no port

    def wait_started(self, timeout=10):
        self._started.wait(timeout)
        if self.port is None:
            self.stop()
            pytest.fail(f"proxy did not report 'SOCKS server started at' within {timeout}s\n"
                        f"argv: {self.argv}\nstderr:\n{self.log()}")
        return self

    @property
    def addr(self):
        return (self.host, self.port)

    def log(self):
        return "\n".join(self.lines[-60:])

    def problems(self):
        """After stop(): why this proxy's run was not clean (a sanitizer report on stderr
        or in a log_path file, a non-zero exit, no exit on SIGTERM), or None."""
        self._drainer.join(5)
        found = [line for line in self.lines if SANITIZER.search(line)]
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):  # make SAN=1 sends reports to files
            m = re.search(r"(?:^|:)log_path=([^:]+)", os.environ.get(var, ""))
            report = m and Path(f"{m.group(1)}.{self.proc.pid}")
            if report and report.exists():
                found.append(f"{report}:\n{report.read_text(errors='replace')[:20000]}")
        status = self.proc.returncode
        if not found and status == 0:
            return None
        # All of stderr from the first report on: a stack trace is useless cut short.
        first = next((i for i, line in enumerate(self.lines) if SANITIZER.search(line)), None)
        stderr = "\n".join(self.lines[first:first + 400]) if first is not None else self.log()
        what = "sanitizer report" if found else \
            "no exit on SIGTERM (killed)" if self.killed else f"exit status {status}"
        return f"proxy {self.argv}: {what}\nstderr:\n{stderr}" + \
            "".join(f"\n{f}" for f in found if f.startswith("/"))

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL if still running; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class FarServer:
    """farserver.py in its own process; .ports in the order the specs were given."""

    def __init__(self, specs, prefix=()):
        argv = [*prefix, sys.executable, str(HERE / "farserver.py"), *specs]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"far server did not start: {argv}")
        self.ports = [int(p) for p in line.split()[1:]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def dp_bin():
    path = os.environ.get("DP_BIN") or str(REPO / "build" / "dispatch-proxy")
    if not os.access(path, os.X_OK):
        pytest.fail(f"proxy binary {path} not found: build it with `make build/dispatch-proxy` "
                    "or set DP_BIN")
    return path


@pytest.fixture
def start_proxy(dp_bin):
    """Factory: start_proxy(*args, prefix=(), listen=..., binary=None) -> started Proxy.

    The proxy listens on 127.0.0.1 with a free port unless listen is given; prefix
    wraps the command (ip netns exec, setpriv, ...). Every proxy is stopped at teardown.
    """
    proxies = []

    def start(*args, prefix=(), listen=("-lhost", "127.0.0.1", "-lport", "0"), binary=None):
        proxy = Proxy([*prefix, binary or dp_bin, *listen, *map(str, args)])
        proxies.append(proxy)
        return proxy.wait_started()

    yield start
    problems = []
    for proxy in proxies:
        proxy.stop()
        problems.append(proxy.problems())
    # A sanitizer report, a crash or a hang at exit fails the test even if it passed.
    problems = [p for p in problems if p]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def need_root():
    """Skips (or, under CI=true, fails) a test that needs root."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("needs root for network namespaces (CI=true: not skipping)")
    pytest.skip("needs root for network namespaces")


@pytest.fixture(scope="module")
def dns_isolated(tmp_path_factory):
    """argv prefix that runs the proxy with a resolv.conf naming only an unused loopback
    address, so looking up a name never sends a query off this machine."""
    conf = tmp_path_factory.mktemp("dns") / "resolv.conf"
    conf.write_text("nameserver 127.77.0.53\noptions attempts:1 timeout:1\n")
    conf.chmod(0o644)
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--mount"]
    prefix = [*unshare, "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(conf)]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot isolate DNS (unshare --mount not permitted): "
                    "refusing to send name lookups off this machine")
    return prefix
