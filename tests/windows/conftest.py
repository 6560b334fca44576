"""Fixtures for the Windows build under wine: dispatch-proxy.exe (DP_EXE) started through
`wine` in the wine prefix the Makefile names (WINEPREFIX), stopped with Ctrl-C (wine turns
SIGINT into a console CTRL_C_EVENT), and the far servers and clients of the Linux suite.

`make windows-test` sets DP_EXE, WINEPREFIX, WINEARCH and WINEDEBUG. A missing wine or
.exe fails the tests: nothing here is skipped."""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
sys.path.insert(0, str(INTEGRATION))  # client.py, farserver.py

_spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)

FarServer = integration.FarServer
dns_isolated = integration.dns_isolated  # the fixture, re-exported for this folder

# The first start in a fresh prefix creates it (wineboot): about 10 s, more on a busy host.
WINE_START_TIMEOUT = 120


class WineProxy(integration.Proxy):
    """dispatch-proxy.exe under wine. Its lines end with CRLF (the Windows C library's
    text mode): the CR is dropped so the Linux suite's patterns apply."""

    def _drain(self):
        for line in self.proc.stderr:
            line = line.rstrip("\r\n")
            self.lines.append(line)
            m = integration.STARTED.search(line)
            if m and self.port is None:
                self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                self._started.set()
        self._started.set()

    def stop(self, timeout=15):
        """Ctrl-C (SIGINT -> CTRL_C_EVENT), then SIGKILL if still running."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def wine_exe():
    """argv prefix running the .exe: ["wine", path]. Fails when either is missing."""
    exe = os.environ.get("DP_EXE") or str(HERE.parents[1] / "build-win64" / "dispatch-proxy.exe")
    wine = shutil.which("wine")
    if wine is None:
        pytest.fail("wine not found: scripts/ensure-deps.sh installs it (wine, wine64)")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} not found: build it with `make windows` or set DP_EXE")
    if "WINEPREFIX" not in os.environ:
        pytest.fail("WINEPREFIX not set: run these tests with `make windows-test`")
    yield [wine, exe]
    # Our prefix's wineserver lingers a few seconds after its last program: end it now.
    subprocess.run(["wineserver", "-k"], capture_output=True, timeout=30)


@pytest.fixture
def run_exe(wine_exe):
    """run_exe(*args, prefix=()) -> CompletedProcess of the .exe (CR dropped from output)."""
    def run(*args, prefix=(), timeout=WINE_START_TIMEOUT):
        res = subprocess.run([*prefix, *wine_exe, *map(str, args)], capture_output=True,
                             text=True, errors="replace", timeout=timeout,
                             stdin=subprocess.DEVNULL)
        res.stdout = res.stdout.replace("\r\n", "\n")
        res.stderr = res.stderr.replace("\r\n", "\n")
        return res
    return run


@pytest.fixture
def start_proxy(wine_exe):
    """Factory: start_proxy(*args, prefix=()) -> a started WineProxy on 127.0.0.1, free
    port. Each one is stopped with Ctrl-C at teardown and must exit 0."""
    proxies = []

    def start(*args, prefix=(), listen=("-lhost", "127.0.0.1", "-lport", "0")):
        proxy = WineProxy([*prefix, *wine_exe, *listen, *map(str, args)])
        proxies.append(proxy)
        return proxy.wait_started(WINE_START_TIMEOUT)

    yield start
    problems = []
    for proxy in proxies:
        proxy.stop()
        problems.append(proxy.problems())
    problems = [p for p in problems if p]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
