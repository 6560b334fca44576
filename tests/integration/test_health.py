"""Links that take care of themselves, in the namespace lab (needs root).

Health: an ISP going dark is noticed within a few connections and avoided while
transfers on the other link keep going, and the link is used again when the ISP comes
back (with -probe, and without it through the one-connection trial); an interface going
down and up, and its address changing, are followed without a restart; racing connects
hide a link that drops SYNs. Policies: lc, sticky and adaptive each do what they claim,
judged by the source address the far server saw and by byte counts.
"""

import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from client import recv_exact, socks5_connect, try_curl
from conftest import HERE, FarServer, need_root
from lab import FAR_V4, WAN, Lab, netns, sh

W1_V4, W2_V4 = WAN[1]["v4"], WAN[2]["v4"]
URL_V4 = f"http://{FAR_V4}/"
STICKY_DESTS = [f"10.200.0.{i}" for i in range(11, 18)]  # 7: odd, so wrr alternates them
BULK_PORT = 9000


class BulkServer:
    """bulkserver.py in the far namespace."""

    def __init__(self, lab, port):
        self.proc = subprocess.Popen(
            [*lab.exec_prefix(lab.far), sys.executable, str(HERE / "bulkserver.py"),
             f"{FAR_V4}:{port}"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if not self.proc.stdout.readline().startswith("READY"):
            self.stop()
            raise RuntimeError("bulk server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = Lab()
    servers = []
    try:
        lab.build()
        for dest in STICKY_DESTS:
            lab.ip(lab.far, f"addr add {dest}/32 dev lo")
        servers.append(FarServer([f"http@{FAR_V4}:80", f"echo@{FAR_V4}:7", "http@0.0.0.0:8080"],
                                 prefix=lab.exec_prefix(lab.far)))
        servers.append(BulkServer(lab, BULK_PORT))
        yield lab
    finally:
        for server in servers:
            server.stop()
        lab.destroy()


@pytest.fixture
def host_proxy(lab, start_proxy):
    """start_proxy inside HOST with -v (the tests read its log lines)."""
    def start(*args, connect_timeout=2):
        return start_proxy("-v", "-connect-timeout", connect_timeout, *args,
                           prefix=lab.exec_prefix(lab.host))
    return start


def fetch(lab, proxy, url=URL_V4, timeout=10):
    """The source address the far server saw for one fetch through proxy, or None."""
    return try_curl(url, proxy.port, prefix=lab.exec_prefix(lab.host), timeout=timeout)


def wait_log(proxy, pattern, timeout, start=0):
    """Index of the first log line from `start` on matching pattern; fails after timeout."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for i, line in enumerate(list(proxy.lines[start:])):
            if regex.search(line):
                return start + i
        if time.monotonic() > deadline:
            pytest.fail(f"no log line matching {pattern!r} within {timeout} s\n{proxy.log()}")
        time.sleep(0.05)


def connections_via(proxy, label, start):
    """Log lines from `start` on that show a client connection attempted through label
    (the per-connection lines carry '#id'; probe lines do not)."""
    return [line for line in proxy.lines[start:] if "#" in line and f"via {label}" in line]


def connection_ids(lines):
    return {m.group(1) for m in (re.search(r"#(\d+)", line) for line in lines) if m}


def fetch_until(lab, proxy, wanted, timeout, url=URL_V4):
    """Fetches until the far server sees `wanted`; returns every source seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(fetch(lab, proxy, url))
        if seen[-1] == wanted:
            return seen
        time.sleep(0.2)
    pytest.fail(f"{wanted} not seen within {timeout} s: {seen}\n{proxy.log()}")


class EchoSession:
    """A relayed connection to the far echo server, kept open across a test."""

    def __init__(self, lab, proxy):
        with netns(lab.host):
            self.sock, self.reply = socks5_connect(proxy.addr, FAR_V4, 7, timeout=10)

    def roundtrip(self, size=65536):
        data = bytes(range(256)) * (size // 256)
        self.sock.sendall(data)
        assert recv_exact(self.sock, len(data)) == data

    def close(self):
        self.sock.close()


def echo_on(lab, proxy, source, tries=6):
    """An EchoSession whose connection left by `source` (others are closed)."""
    for _ in range(tries):
        session = EchoSession(lab, proxy)
        if session.reply.host == source:
            return session
        session.close()
    pytest.fail(f"no connection via {source} in {tries} tries")


# --- an ISP goes dark and comes back -----------------------------------------------------

@pytest.mark.parametrize("probe", [True, False], ids=["with-probe", "one-trial-backoff"])
def test_dark_isp_is_avoided_and_used_again_when_it_returns(lab, host_proxy, probe):
    args = ["-probe", f"{FAR_V4}:80", "-probe-interval", "1"] if probe else []
    proxy = host_proxy("wan1", "wan2", *args)
    transfer = echo_on(lab, proxy, W1_V4)  # in flight on the other link throughout
    with lab.isp_dark(2):
        # Every request still succeeds (raced or failed over to wan1) while the proxy
        # learns; within a few connections wan2 is declared down.
        seen = []
        deadline = time.monotonic() + 40
        while not any("link wan2 down" in line for line in proxy.lines):
            assert time.monotonic() < deadline, f"wan2 never went down\n{proxy.log()}"
            seen.append(fetch(lab, proxy))
            transfer.roundtrip()
            time.sleep(0.05)
        assert None not in seen, seen
        mark = len(proxy.lines)
        sent = connection_ids(connections_via(proxy, "wan2", 0))
        assert 1 <= len(sent) <= 4, f"{len(sent)} connections sent into wan2 before it went down"
        after = [fetch(lab, proxy) for _ in range(8)]
        assert after == [W1_V4] * 8
        tried = connections_via(proxy, "wan2", mark)
        if probe:
            assert tried == [], "a connection was sent to the down link:\n" + "\n".join(tried)
        else:
            # Without probes only the one-connection trials go there (1 s, then 2 s...).
            trials = [line for line in proxy.lines[mark:] if "trying down link wan2" in line]
            assert len(trials) <= 2, "\n".join(proxy.lines[mark:])
        transfer.roundtrip()
    if probe:
        wait_log(proxy, r"link wan2 up again", 15, mark)
    seen = fetch_until(lab, proxy, W2_V4, 40)
    assert None not in seen
    if not probe:
        assert any("link wan2 up again" in line for line in proxy.lines)
    transfer.roundtrip()
    transfer.close()


# --- hot-plug ----------------------------------------------------------------------------

def test_interface_down_and_up_is_followed_without_traffic(lab, host_proxy):
    proxy = host_proxy("wan1", "wan2")
    mark = len(proxy.lines)
    with lab.wan_link_down(2):
        # Noticed from the kernel's notification: no connection had to fail first.
        wait_log(proxy, r"\[WARN\] link wan2 down: interface down", 5, mark)
        assert connections_via(proxy, "wan2", mark) == []
        assert [fetch(lab, proxy) for _ in range(6)] == [W1_V4] * 6
        assert connections_via(proxy, "wan2", mark) == []
    wait_log(proxy, r"\[INFO\] link wan2 up again", 5, mark)
    seen = fetch_until(lab, proxy, W2_V4, 10)
    assert None not in seen


def test_interface_address_change_is_followed(lab, host_proxy):
    new = "10.202.1.3"
    proxy = host_proxy("wan1", "wan2")
    assert Counter(fetch(lab, proxy) for _ in range(4)) == {W1_V4: 2, W2_V4: 2}
    try:
        lab.ip(lab.host, f"addr del {W2_V4}/24 dev wan2", f"addr add {new}/24 dev wan2")
        lab.wan_up(2)  # the default route went with the old address
        seen = fetch_until(lab, proxy, new, 10)
        assert W2_V4 not in seen[1:] and None not in seen, seen
        assert set(fetch(lab, proxy) for _ in range(4)) == {W1_V4, new}
    finally:
        lab.ip(lab.host, f"addr del {new}/24 dev wan2", f"addr add {W2_V4}/24 dev wan2")
        lab.wan_up(2)
    seen = fetch_until(lab, proxy, W2_V4, 10)
    assert new not in seen[1:], seen


def test_address_link_is_down_while_its_address_is_gone(lab, host_proxy):
    proxy = host_proxy(W1_V4, W2_V4)
    mark = len(proxy.lines)
    try:
        lab.ip(lab.host, f"addr del {W2_V4}/24 dev wan2")
        wait_log(proxy, rf"link {re.escape(W2_V4)} down: address gone", 5, mark)
        assert [fetch(lab, proxy) for _ in range(4)] == [W1_V4] * 4
        assert connections_via(proxy, W2_V4, mark) == []
    finally:
        lab.ip(lab.host, f"addr add {W2_V4}/24 dev wan2")
        lab.wan_up(2)
    wait_log(proxy, rf"link {re.escape(W2_V4)} up again", 5, mark)
    fetch_until(lab, proxy, W2_V4, 10)


# --- racing connects ---------------------------------------------------------------------

def test_racing_hides_a_link_that_drops_syns(lab, host_proxy):
    # wan2 is picked first; its ISP drops everything. With a 30 s connect timeout only
    # the race (after 1.5 s) can make the request succeed within the client's 15 s.
    proxy = host_proxy("wan2", "wan1", connect_timeout=30)
    with lab.isp_dark(2):
        seen = [fetch(lab, proxy, timeout=15) for _ in range(3)]
    assert seen == [W1_V4] * 3
    assert any("racing another link" in line for line in proxy.lines), proxy.log()


def test_without_racing_the_same_request_waits_for_the_timeout(lab, host_proxy):
    proxy = host_proxy("-race-delay", "0", "wan2", "wan1", connect_timeout=30)
    with lab.isp_dark(2):
        assert fetch(lab, proxy, timeout=5) is None


# --- policies ----------------------------------------------------------------------------

def test_lc_sends_new_connections_to_the_least_loaded_link(lab, host_proxy):
    proxy = host_proxy("-policy", "lc", "wan1", "wan2")
    held = [EchoSession(lab, proxy) for _ in range(6)]
    assert Counter(s.reply.host for s in held) == {W1_V4: 3, W2_V4: 3}
    for s in held:
        if s.reply.host == W1_V4:
            s.close()
    # wan2 carries 3 open connections, wan1 none: every new one goes to wan1
    # (round robin would alternate).
    assert [fetch(lab, proxy) for _ in range(6)] == [W1_V4] * 6
    for s in held:
        if s.reply.host == W2_V4:
            s.roundtrip()
            s.close()


def sticky_rounds(lab, proxy, rounds=4):
    seen = {dest: [] for dest in STICKY_DESTS}
    for _ in range(rounds):
        for dest in STICKY_DESTS:
            seen[dest].append(fetch(lab, proxy, f"http://{dest}:8080/"))
    return seen


def test_sticky_keeps_each_client_and_host_on_one_link(lab, host_proxy):
    proxy = host_proxy("-policy", "sticky", "wan1", "wan2")
    seen = sticky_rounds(lab, proxy)
    for dest, sources in seen.items():
        assert len(set(sources)) == 1 and None not in sources, (dest, sources)
    # New hosts are spread by wrr: 4 and 3 of the 7.
    assert sorted(Counter(s[0] for s in seen.values()).values()) == [3, 4]
    # The same rounds under wrr move hosts between links.
    wrr = host_proxy("wan1", "wan2")
    assert any(len(set(s)) > 1 for s in sticky_rounds(lab, wrr).values())
    # A pair whose link goes down falls back to the other link.
    dest = next(d for d, s in seen.items() if s[0] == W2_V4)
    with lab.wan_link_down(2):
        wait_log(proxy, r"link wan2 down", 5)
        assert fetch(lab, proxy, f"http://{dest}:8080/") == W1_V4


def shape(lab, isp, rate):
    sh(*lab.exec_prefix(lab.isp(isp)), "tc", "qdisc", "replace", "dev", "cust", "root", "tbf",
       "rate", rate, "burst", "64kb", "latency", "200ms")


def unshape(lab, isp):
    sh(*lab.exec_prefix(lab.isp(isp)), "tc", "qdisc", "del", "dev", "cust", "root", check=False)


def run_downloads(lab, proxy, seconds, workers=8, size=1 << 20):
    """workers threads download `size` bytes each, over and over, for `seconds`.
    Returns (connections per source, bytes per source, aggregate Mbit/s)."""
    conns, nbytes = Counter(), Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        while time.monotonic() < stop:
            try:
                with netns(lab.host):
                    sock, reply = socks5_connect(proxy.addr, FAR_V4, BULK_PORT, timeout=30)
            except OSError:
                continue
            got = 0
            with sock:
                sock.sendall(b"%d\n" % size)
                while True:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    got += len(data)
                    with lock:
                        nbytes[reply.host] += len(data)
                    if time.monotonic() > stop:
                        break
            with lock:
                conns[reply.host] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return conns, nbytes, sum(nbytes.values()) * 8 / elapsed / 1e6


@pytest.fixture
def shaped(lab):
    """ISP1 delivers 30 Mbit/s, ISP2 10 Mbit/s toward HOST (the download direction)."""
    try:
        shape(lab, 1, "30mbit")
        shape(lab, 2, "10mbit")
        yield lab
    finally:
        unshape(lab, 1)
        unshape(lab, 2)


def test_adaptive_sends_more_connections_to_the_faster_link(shaped, host_proxy):
    proxy = host_proxy("-policy", "adaptive", "wan1", "wan2")
    conns, nbytes, mbps = run_downloads(shaped, proxy, 20)
    print(f"adaptive: connections {dict(conns)}, bytes {dict(nbytes)}, {mbps:.1f} Mbit/s")
    assert conns[W1_V4] >= 1.5 * conns[W2_V4], (conns, nbytes)
    assert nbytes[W1_V4] >= 1.5 * nbytes[W2_V4], (conns, nbytes)
