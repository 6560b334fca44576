"""Limits, hostile clients and faults (issue 3): nothing a client or a network does can
crash the proxy, make it spin, leak, or lose a byte.

Loopback tests run as any user; the link-death tests build a namespace lab (root).
Every bound below is a liveness bound with a wide margin, never a performance figure.
The proxy is watched from /proc/PID: fd count (fd/), VmRSS (status), CPU time (stat).
"""

import hashlib
import os
import resource
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from client import GREETING, REP_OK, open_proxy, recv_exact, request, socks5_connect
from conftest import FarServer, need_root
from farserver import RESET_AFTER, stream_digest
from lab import FAR_V4, WAN, Lab, netns

HERE = Path(__file__).resolve().parent
W1_V4, W2_V4 = WAN[1]["v4"], WAN[2]["v4"]


@pytest.fixture(scope="module")
def far():
    server = FarServer(["echo@127.0.0.1:0", "stream@127.0.0.1:0", "reset@127.0.0.1:0"])
    echo, stream, reset = server.ports
    yield dict(echo=echo, stream=stream, reset=reset)
    server.stop()


# --- watching the proxy -----------------------------------------------------------------

POOLED_PIPE_FDS_MAX = 2 * 32  # src/os/linux/os_splice.c: PIPE_MAX_FREE pairs per loop thread


def fd_count(pid):
    """Fds other than pipes: a leaked connection shows up here as a socket. Pipes are the
    splice pool's, kept for reuse and bounded (checked by settled_fds)."""
    kinds = fd_kinds(pid)
    return sum(n for kind, n in kinds.items() if kind != "pipe")


def all_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid):
    """{'socket': n, 'pipe': n, 'other': n}: what the proxy holds, for messages."""
    kinds = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        kind = target.split(":")[0] if target.startswith(("socket:", "pipe:")) else "other"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitized(pid):
    """True for an ASan build: its shadow memory and quarantine make RSS meaningless."""
    with open(f"/proc/{pid}/maps") as maps:
        return "libasan" in maps.read()


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def raise_own_fd_limit(need):
    """Raises this process's soft fd limit to hold `need` sockets; returns the old one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"fd hard limit {hard} below the {need} this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    return soft, hard


def roundtrip(proxy, echo_port, payload=b"still serving", timeout=10):
    """Greeting, CONNECT to the echo server, one echo; asserts every step."""
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", echo_port, timeout=timeout)
    with sock:
        assert reply.rep == REP_OK, reply
        sock.sendall(payload)
        assert recv_exact(sock, len(payload)) == payload


def warm_up(proxy, echo_port):
    """A bulk echo, so the proxy's pools (relay buffers, splice pipes: kept for reuse, a
    bounded number) are filled before a baseline is taken."""
    roundtrip(proxy, echo_port, payload=bytes(range(256)) * 1024)


def reset_close(sock):
    """Closes with SO_LINGER 0: the peer gets an RST, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def sees_end(sock):
    """Reads until the connection ends; True for EOF or RST, False for a timeout."""
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def quiet_fd_count(pid, still=0.5, timeout=10):
    """The proxy's fd count once it has not changed for `still` seconds (the sessions
    of connections the test just closed are gone): the baseline to come back to."""
    deadline = time.monotonic() + timeout
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() - since < still and time.monotonic() < deadline:
        time.sleep(0.05)
        now = fd_count(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def settled_fds(proxy, baseline, timeout=10):
    """Waits for the proxy's fd count to return to baseline; returns the last count."""
    wait_until(lambda: fd_count(proxy.proc.pid) == baseline, timeout)
    assert fd_kinds(proxy.proc.pid).get("pipe", 0) <= POOLED_PIPE_FDS_MAX
    return fd_count(proxy.proc.pid)


# --- limits -----------------------------------------------------------------------------

def test_max_clients_refuses_the_extra_client_cleanly_and_keeps_the_others(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-max-clients", "3")
    held = []
    try:
        for i in range(3):
            sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
            held.append(sock)
            assert reply.rep == REP_OK
            sock.sendall(b"before %d" % i)
            assert recv_exact(sock, 8) == b"before %d" % i

        with open_proxy(proxy.addr) as extra:  # the kernel accepts; the proxy closes it
            extra.sendall(GREETING)
            try:
                answer = extra.recv(16)
            except ConnectionResetError:
                answer = b""
            assert answer == b"", f"a client beyond -max-clients 3 got {answer!r}"

        for i, sock in enumerate(held):
            sock.sendall(b"after  %d" % i)
            assert recv_exact(sock, 8) == b"after  %d" % i

        held.pop().close()  # a slot frees up: a new client is served again
        served = wait_until(lambda: try_roundtrip(proxy, far["echo"]), timeout=10, interval=0.2)
        assert served, f"no client served after one of three left\n{proxy.log()}"
    finally:
        for sock in held:
            sock.close()
    assert proxy.proc.poll() is None


def try_roundtrip(proxy, echo_port):
    try:
        roundtrip(proxy, echo_port, timeout=5)
        return True
    except (AssertionError, OSError):
        return False


def test_emfile_on_accept_neither_spins_nor_crashes_and_accepting_resumes(start_proxy, far):
    """With 64 fds and -max-clients far above, accept() fails with EMFILE while clients
    wait in the backlog. The proxy must not retry in a busy loop (a spinning loop burns
    ~2 s of CPU in the 2 s window), must keep relaying for the clients it has, and must
    accept again once fds are free."""
    limit = 64
    proxy = start_proxy("127.0.0.1", "-max-clients", "10000", "-handshake-timeout", "60",
                        prefix=["prlimit", f"--nofile={limit}:{limit}"])
    pid = proxy.proc.pid
    relayed, flood = [], []
    try:
        for i in range(3):
            sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
            relayed.append(sock)
            assert reply.rep == REP_OK
        for _ in range(3 * limit):
            flood.append(socket.create_connection(proxy.addr, timeout=10))
        assert wait_until(lambda: all_fds(pid) >= limit - 2, timeout=10), \
            f"the proxy never ran out of fds: {all_fds(pid)} of {limit}\n{proxy.log()}"

        before = cpu_seconds(pid)
        time.sleep(2)
        spent = cpu_seconds(pid) - before
        print(f"out of fds: {spent:.2f} s of CPU in 2 s, {all_fds(pid)} fds")
        assert spent < 0.5, f"{spent:.2f} s of CPU in 2 s while out of fds: a busy loop?"
        assert proxy.proc.poll() is None, f"proxy died out of fds\n{proxy.log()}"

        for i, sock in enumerate(relayed):  # clients already relayed keep working
            sock.sendall(b"saturated %d" % i)
            assert recv_exact(sock, 11) == b"saturated %d" % i
    finally:
        for sock in flood:
            sock.close()
        for sock in relayed:
            sock.close()
    served = wait_until(lambda: try_roundtrip(proxy, far["echo"]), timeout=20, interval=0.2)
    assert served, f"accepting did not resume after fds were freed\n{proxy.log()}"
    assert proxy.proc.poll() is None


def test_5000_idle_half_handshakes_neither_delay_a_good_client_nor_outlive_the_timeout(
        start_proxy, far):
    count = 5000
    old = raise_own_fd_limit(count + 500)
    proxy = start_proxy("127.0.0.1", "-handshake-timeout", "1")
    pid = proxy.proc.pid
    idle = []
    try:
        for i in range(count):  # half send a greeting's first byte, half nothing at all
            sock = socket.create_connection(proxy.addr, timeout=10)
            if i % 2:
                sock.send(b"\x05")
            idle.append(sock)
        held = fd_count(pid)
        print(f"half-handshakes: proxy held {held} fds while the good client was served")
        roundtrip(proxy, far["echo"], b"well-behaved client", timeout=10)

        sel = selectors.DefaultSelector()
        for sock in idle:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        ended, got_bytes = 0, []
        deadline = time.monotonic() + 20
        while ended < count and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                try:
                    data = key.fileobj.recv(64)
                except ConnectionResetError:
                    data = b""
                if data:
                    got_bytes.append(data)
                sel.unregister(key.fileobj)
                ended += 1
        sel.close()
    finally:
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    assert not got_bytes, f"proxy answered clients that never finished a greeting: {got_bytes[:3]}"
    assert ended == count, f"only {ended} of {count} idle clients closed within 20 s"
    # The idle clients were really there while the good one was served (not timed out
    # already): the proxy held a socket for most of them.
    assert held > count // 2, f"proxy held only {held} fds for {count} idle clients"
    assert proxy.proc.poll() is None


@pytest.mark.parametrize("mode", [(), ("-no-splice",)], ids=["splice", "copy"])
def test_client_that_never_reads_cannot_make_the_proxy_buffer(start_proxy, far, mode):
    """300 MB stream toward a client that reads nothing for 4 s: the proxy's memory stays
    bounded (backpressure, not buffering); then the client reads every byte, exact."""
    size = 300 << 20
    proxy = start_proxy("127.0.0.1", *mode)
    pid = proxy.proc.pid
    roundtrip(proxy, far["echo"])  # warm: buffers, pipes and threads exist
    rss_before = vm_rss_kib(pid)
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["stream"], timeout=30)
    with sock:
        assert reply.rep == REP_OK
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"%d\n" % size)
        peak, deadline = rss_before, time.monotonic() + 4
        while time.monotonic() < deadline:
            peak = max(peak, vm_rss_kib(pid))
            time.sleep(0.05)
        digest, received = hashlib.sha256(), 0
        buf = bytearray(1 << 20)
        while True:
            n = sock.recv_into(buf)
            if n == 0:
                break
            digest.update(memoryview(buf)[:n])
            received += n
    growth = peak - rss_before
    print(f"never-reading client: VmRSS {rss_before} KiB, peak {peak} KiB")
    assert received == size
    assert digest.hexdigest() == stream_digest(size), "stream corrupted through the proxy"
    assert growth < 32 << 10, f"VmRSS grew {growth} KiB while the client read nothing"
    if not sanitized(pid):
        assert peak < 64 << 10, f"VmRSS peaked at {peak} KiB while the client read nothing"


# --- resets -----------------------------------------------------------------------------

def test_clients_reset_mid_handshake_leave_the_proxy_serving_and_nothing_behind(
        start_proxy, far):
    proxy = start_proxy("127.0.0.1")
    warm_up(proxy, far["echo"])
    baseline = quiet_fd_count(proxy.proc.pid)
    half_request = request("127.0.0.1", far["echo"])[:5]
    partial = [b"", b"\x05", b"\x05\x01", GREETING, GREETING + half_request]
    for _ in range(40):
        for prefix in partial:
            sock = open_proxy(proxy.addr)
            if prefix:
                sock.sendall(prefix)
            if prefix.startswith(GREETING):
                assert recv_exact(sock, 2) == b"\x05\x00"
            reset_close(sock)
    roundtrip(proxy, far["echo"])
    assert settled_fds(proxy, baseline) == baseline, \
        f"fds {baseline} -> {fd_count(proxy.proc.pid)} after 200 resets mid-handshake"
    assert proxy.proc.poll() is None


@pytest.mark.parametrize("far_sending", [False, True], ids=["far-idle", "far-sending"])
def test_client_reset_mid_transfer_closes_its_far_side(start_proxy, far, far_sending):
    proxy = start_proxy("127.0.0.1")
    warm_up(proxy, far["echo"])
    baseline = quiet_fd_count(proxy.proc.pid)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        sock, reply = socks5_connect(proxy.addr, "127.0.0.1", listener.getsockname()[1])
        assert reply.rep == REP_OK
        far_side, _ = listener.accept()
    with far_side:
        far_side.settimeout(15)
        sock.sendall(b"x" * 65536)
        recv_exact(far_side, 65536)
        outcome = {}
        if far_sending:
            def send_forever():
                chunk = bytes(1 << 20)
                try:
                    for _ in range(4096):  # 4 GiB: far more than any buffer on the way
                        far_side.sendall(chunk)
                    outcome["end"] = "sent everything"
                except TimeoutError:
                    outcome["end"] = "timeout"
                except OSError as e:
                    outcome["end"] = type(e).__name__
            sender = threading.Thread(target=send_forever, daemon=True)
            sender.start()
            recv_exact(sock, 100_000)  # a transfer really in flight
            reset_close(sock)
            sender.join(20)
            assert not sender.is_alive() and outcome.get("end") in (
                "ConnectionResetError", "BrokenPipeError"), \
                f"far side of a reset client: {outcome.get('end', 'still sending')}"
        else:
            reset_close(sock)
            assert sees_end(far_side), "far side of a reset client still open after 15 s"
    roundtrip(proxy, far["echo"])
    assert settled_fds(proxy, baseline) == baseline
    assert proxy.proc.poll() is None


def test_far_server_reset_mid_transfer_ends_the_client_connection(start_proxy, far):
    proxy = start_proxy("127.0.0.1")
    warm_up(proxy, far["echo"])
    baseline = quiet_fd_count(proxy.proc.pid)
    for _ in range(20):
        sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["reset"], timeout=15)
        with sock:
            assert reply.rep == REP_OK
            sock.sendall(b"go")
            received = 0
            try:
                while chunk := sock.recv(65536):
                    received += len(chunk)
            except ConnectionResetError:
                pass
            except TimeoutError:
                pytest.fail(f"client still open 15 s after the far server reset "
                            f"({received} bytes in)\n{proxy.log()}")
            assert received <= RESET_AFTER
    roundtrip(proxy, far["echo"])
    assert settled_fds(proxy, baseline) == baseline
    assert proxy.proc.poll() is None


# --- churn ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def churn_bin(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler for the churn client")
    out = tmp_path_factory.mktemp("churn") / "churn"
    res = subprocess.run([cc, "-O2", "-pthread", "-o", str(out), str(HERE / "churn.c")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return str(out)


def churn(churn_bin, proxy, echo_port, count, workers=4):
    res = subprocess.run([churn_bin, str(proxy.port), str(echo_port), str(count), str(workers)],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"churn: {res.stdout}{res.stderr}\n{proxy.log()}"


def test_100000_short_connections_leave_fd_count_and_rss_at_baseline(start_proxy, far,
                                                                      churn_bin):
    count = int(os.environ.get("DP_CHURN", "100000"))
    proxy = start_proxy("127.0.0.1")
    pid = proxy.proc.pid
    churn(churn_bin, proxy, far["echo"], 5000)  # warm-up: pools and arenas at their level
    fds0 = quiet_fd_count(pid)
    kinds0, rss0 = fd_kinds(pid), vm_rss_kib(pid)

    churn(churn_bin, proxy, far["echo"], count)
    fds1 = settled_fds(proxy, fds0)
    kinds1, rss1 = fd_kinds(pid), vm_rss_kib(pid)
    print(f"churn {count}: fds {fds0} {kinds0} -> {fds1} {kinds1}; "
          f"VmRSS {rss0} KiB -> {rss1} KiB")
    assert fds1 == fds0, f"fds {fds0} {kinds0} -> {fds1} {kinds1} after {count} connections"
    if sanitized(pid):
        return  # ASan's quarantine holds freed memory on purpose: RSS says nothing here
    allowed = max(rss0 * 5 // 100, 384)
    assert abs(rss1 - rss0) <= allowed, \
        f"VmRSS {rss0} -> {rss1} KiB after {count} connections (allowed ±{allowed} KiB)"


# --- a link dies mid-transfer (namespace lab, root) -------------------------------------

@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = Lab()
    try:
        lab.build()
        server = FarServer([f"stream@{FAR_V4}:0"], prefix=lab.exec_prefix(lab.far))
        try:
            lab.stream_port = server.ports[0]
            yield lab
        finally:
            server.stop()
    finally:
        lab.destroy()


class Download:
    """One stream download through the proxy from HOST, read at about `rate` bytes/s by
    its own thread so it is still running when the link dies."""

    def __init__(self, lab, proxy, size, rate):
        self.size, self.rate = size, rate
        self.received, self.error, self.digest = 0, None, hashlib.sha256()
        with netns(lab.host):
            self.sock, self.reply = socks5_connect(proxy.addr, FAR_V4, lab.stream_port,
                                                   timeout=30)
        assert self.reply.rep == REP_OK, self.reply
        self.sock.sendall(b"%d\n" % size)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        start, buf = time.monotonic(), bytearray(65536)
        try:
            while True:
                n = self.sock.recv_into(buf)
                if n == 0:
                    return
                self.digest.update(memoryview(buf)[:n])
                self.received += n
                ahead = self.received / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        except OSError as e:  # a reset, or the 30 s socket timeout (a hang: test fails)
            self.error = e
        finally:
            self.sock.close()

    def complete(self):
        return self.received == self.size and self.digest.hexdigest() == stream_digest(self.size)


def lab_roundtrips(lab, proxy, n=4, size=1 << 20):
    """n fresh downloads through the proxy; each must be byte-exact."""
    for _ in range(n):
        with netns(lab.host):
            sock, reply = socks5_connect(proxy.addr, FAR_V4, lab.stream_port, timeout=20)
        with sock:
            assert reply.rep == REP_OK, reply
            sock.sendall(b"%d\n" % size)
            data = bytearray()
            while chunk := sock.recv(1 << 20):
                data += chunk
        assert hashlib.sha256(data).hexdigest() == stream_digest(size)


@pytest.mark.parametrize("how", ["wan2-down", "isp2-dark"])
def test_link_dying_mid_transfer_fails_only_that_transfer(lab, start_proxy, how):
    """Two downloads, one per uplink; uplink 2 dies. Nothing comes back on it, so the
    proxy's -idle-timeout (3 s) is what ends that relay; without it TCP would wait for
    retransmissions to give up (many minutes). The download on wan1 completes."""
    proxy = start_proxy("-connect-timeout", "2", "-idle-timeout", "3", "wan1", "wan2",
                        prefix=lab.exec_prefix(lab.host))
    size, rate = 48 << 20, 8 << 20  # about 6 s each
    one = Download(lab, proxy, size, rate)
    two = Download(lab, proxy, size, rate)
    assert {one.reply.host, two.reply.host} == {W1_V4, W2_V4}, (one.reply, two.reply)
    on_wan1, on_wan2 = (one, two) if one.reply.host == W1_V4 else (two, one)
    assert wait_until(lambda: on_wan2.received >= 4 << 20, timeout=10), "no progress on wan2"

    dies = lab.wan_link_down(2) if how == "wan2-down" else lab.isp_dark(2)
    with dies:
        died_at = time.monotonic()
        on_wan2.thread.join(30)
        ended_after = time.monotonic() - died_at
        on_wan1.thread.join(30)
        assert not on_wan2.thread.is_alive(), "download on the dead link still hangs at 30 s"
        assert not on_wan1.thread.is_alive(), "download on the live link stuck"
        assert on_wan2.received < size, "the download on the dead link cannot have finished"
        assert not isinstance(on_wan2.error, TimeoutError), \
            f"dead link's download ended only by the client's own timeout\n{proxy.log()}"
        assert on_wan1.error is None and on_wan1.complete(), \
            f"wan1 download: {on_wan1.received} of {size} bytes, error {on_wan1.error!r}"
        lab_roundtrips(lab, proxy)  # still serving, by the link that is left
    print(f"{how}: dead link's download ended {ended_after:.1f} s after the link died "
          f"({on_wan2.received} of {size} bytes, {on_wan2.error!r})")
    lab_roundtrips(lab, proxy)
    assert proxy.proc.poll() is None
