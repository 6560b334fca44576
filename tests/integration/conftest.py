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


class Proxy:
    """One running dispatch-proxy; stderr is drained into .lines by a thread."""

    def __init__(self, argv):
        self.argv = argv
        self.lines = []
        self.port = None
        self._started = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        threading.Thread(target=self._drain, daemon=True).start()

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

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL if still running; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
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
    for proxy in proxies:
        proxy.stop()


def need_root():
    """Skips (or, under CI=true, fails) a test that needs root."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("needs root for network namespaces (CI=true: not skipping)")
    pytest.skip("needs root for network namespaces")
