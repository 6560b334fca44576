"""The proxy on loopback with real clients: runs as any user.

Links are 127.0.0.1, 127.0.0.2 and ::1, all on lo, so the far server's view of the
client address tells which link carried each connection.
"""

import hashlib
import os
import pwd
import random
import re
import resource
import signal
import socket
import subprocess
import threading
import time
from collections import Counter, namedtuple

import pytest
import socks  # PySocks, Debian's python3-socks

from client import (GREETING, REP_ATYP_UNSUPPORTED, REP_CMD_UNSUPPORTED, REP_HOST_UNREACH,
                    REP_OK, REP_REFUSED, bound_device, curl, open_proxy, read_reply, recv_all,
                    recv_exact, request, socks5_connect)
from conftest import FarServer
from farserver import DIGEST_TAIL, pattern

Ports = namedtuple("Ports", "http echo digest peer http6 echo6")


@pytest.fixture(scope="module")
def far():
    server = FarServer(["http@127.0.0.1:0", "echo@127.0.0.1:0", "digest@127.0.0.1:0",
                        "peer@127.0.0.1:0", "http@[::1]:0", "echo@[::1]:0"])
    yield Ports(*server.ports)
    server.stop()


@pytest.fixture
def proxy(start_proxy):
    return start_proxy("127.0.0.1")


def fetch_sources(proxy_port, url, n, **kw):
    return [curl(url, proxy_port, **kw) for _ in range(n)]


# --- dispatch ---------------------------------------------------------------------------

def test_ratio_3_2_splits_ten_requests_6_4_in_smooth_order(start_proxy, far):
    proxy = start_proxy("127.0.0.1@3", "127.0.0.2@2")
    seen = fetch_sources(proxy.port, f"http://127.0.0.1:{far.http}/", 10)
    assert Counter(seen) == {"127.0.0.1": 6, "127.0.0.2": 4}
    a, b = "127.0.0.1", "127.0.0.2"
    assert seen == [a, b, a, b, a, a, b, a, b, a]


def assert_outgoing_socket_bound_to_lo(proxy, far):
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo)
    with sock:
        assert reply.rep == REP_OK
        assert bound_device(reply.host, reply.port, ("127.0.0.1", far.echo)) == "lo"


def test_outgoing_socket_is_bound_to_the_links_device(start_proxy, far):
    assert_outgoing_socket_bound_to_lo(start_proxy("127.0.0.2"), far)


def test_unprivileged_proxy_binds_links_to_lo(start_proxy, far):
    """SO_BINDTODEVICE without CAP_NET_RAW (Linux >= 5.7) must work for the proxy."""
    if os.geteuid() != 0:
        pytest.skip("this whole run is unprivileged already; root is needed to switch to nobody")
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    proxy = start_proxy("127.0.0.1@3", "127.0.0.2@2", prefix=as_nobody)
    assert proc_uid(proxy.proc.pid) == pwd.getpwnam("nobody").pw_uid
    seen = fetch_sources(proxy.port, f"http://127.0.0.1:{far.http}/", 10)
    assert Counter(seen) == {"127.0.0.1": 6, "127.0.0.2": 4}
    assert_outgoing_socket_bound_to_lo(proxy, far)


def proc_uid(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("Uid:")).split()[2])


def test_ipv6_link_reaches_ipv6_destination(start_proxy, far):
    proxy = start_proxy("::1")
    sock, reply = socks5_connect(proxy.addr, "::1", far.echo6)
    with sock:
        assert reply.rep == REP_OK and reply.host == "::1"
        sock.sendall(b"over six")
        assert recv_exact(sock, 8) == b"over six"
    assert curl(f"http://[::1]:{far.http6}/", proxy.port) == "::1"


def test_destination_family_picks_the_link_of_that_family(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "::1")
    v6 = fetch_sources(proxy.port, f"http://[::1]:{far.http6}/", 4)
    v4 = fetch_sources(proxy.port, f"http://127.0.0.1:{far.http}/", 4)
    assert v6 == ["::1"] * 4
    assert v4 == ["127.0.0.1"] * 4


def test_reply_bnd_addr_is_the_source_the_server_saw(start_proxy, far):
    proxy = start_proxy("127.0.0.2")
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.peer)
    with sock:
        assert reply.rep == REP_OK
        seen_ip, seen_port = recv_all(sock).decode().split()
    assert (reply.host, reply.port) == (seen_ip, int(seen_port))
    assert reply.host == "127.0.0.2"


# --- real clients -----------------------------------------------------------------------

def test_curl_socks5_hostname_localhost(start_proxy, far, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    assert curl(f"http://localhost:{far.http}/", proxy.port, hostname=True) == "127.0.0.1"


def test_pysocks_client_fetches_through_proxy(proxy, far):
    sock = socks.socksocket()
    sock.set_proxy(socks.SOCKS5, "127.0.0.1", proxy.port)
    sock.settimeout(10)
    with sock:
        sock.connect(("127.0.0.1", far.http))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: far\r\n\r\n")
        response = recv_all(sock)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"\r\n\r\n127.0.0.1")


# --- SOCKS5 protocol on the wire --------------------------------------------------------

def test_greeting_request_and_payload_in_one_send_are_all_handled(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(GREETING + request("127.0.0.1", far.echo) + b"early payload")
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_OK
        assert recv_exact(sock, 13) == b"early payload"


def test_request_sent_one_byte_at_a_time(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in GREETING + request("127.0.0.1", far.echo):
            sock.sendall(bytes([byte]))
            time.sleep(0.005)
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_OK
        sock.sendall(b"ping")
        assert recv_exact(sock, 4) == b"ping"


def test_partial_greeting_does_not_stall_other_clients(proxy, far):
    with open_proxy(proxy.addr) as slow:
        slow.sendall(b"\x05")  # a greeting's first byte, the rest never comes
        time.sleep(0.2)
        assert curl(f"http://127.0.0.1:{far.http}/", proxy.port, timeout=5) == "127.0.0.1"


@pytest.mark.parametrize("greeting", [b"\x05\x00", b"\x05\x01\x02", b"\x05\x02\x01\x02"],
                         ids=["no-methods", "userpass-only", "gssapi-and-userpass"])
def test_greeting_without_no_auth_method_gets_05_ff(proxy, greeting):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(greeting)
        assert recv_exact(sock, 2) == b"\x05\xff"


def test_bind_command_gets_rep_7(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(GREETING + request("127.0.0.1", far.echo, cmd=2))
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_CMD_UNSUPPORTED


def test_unknown_address_type_gets_rep_8(proxy):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(GREETING + b"\x05\x01\x00\x09" + b"\x7f\x00\x00\x01\x00\x50")
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_ATYP_UNSUPPORTED


def test_refused_port_gets_rep_5(proxy):
    with socket.socket() as closed:  # bound, never listening: connecting to it is refused
        closed.bind(("127.0.0.1", 0))
        sock, reply = socks5_connect(proxy.addr, "127.0.0.1", closed.getsockname()[1])
        sock.close()
    assert reply.rep == REP_REFUSED


def test_unresolvable_name_gets_rep_4(start_proxy, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    sock, reply = socks5_connect(proxy.addr, "nonexistent.invalid", 80, timeout=20)
    sock.close()
    assert reply.rep == REP_HOST_UNREACH


def test_listens_on_ipv6_loopback(start_proxy, far):
    proxy = start_proxy("127.0.0.1", listen=("--listen", "[::1]:0"))
    assert proxy.host == "::1"
    sock, reply = socks5_connect(("::1", proxy.port), "127.0.0.1", far.echo)
    with sock:
        assert reply.rep == REP_OK
        sock.sendall(b"hi")
        assert recv_exact(sock, 2) == b"hi"


# --- relaying ---------------------------------------------------------------------------

def test_half_close_client_still_receives_the_full_reply(proxy, far):
    sent = pattern(100_000)
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.digest)
    with sock:
        assert reply.rep == REP_OK
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        answer = recv_all(sock)
    head, _, tail = answer.partition(b"\n")
    assert head == b"%d %s" % (len(sent), hashlib.sha256(sent).hexdigest().encode())
    assert tail == pattern(DIGEST_TAIL)


def test_one_mebibyte_each_way_is_byte_exact(proxy, far):
    data = random.Random(1).randbytes(1 << 20)
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo, timeout=30)
    with sock:
        assert reply.rep == REP_OK

        def send_then_eof():
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_then_eof)
        sender.start()
        echoed = recv_all(sock)
        sender.join()
    assert len(echoed) == len(data)
    assert echoed == data


def test_5000_concurrent_connections_through_one_link_all_relay(start_proxy, far):
    """Also shows the proxy raises its own soft fd limit: it starts with 1024."""
    count, batch = 5000, 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * count + 500:
        pytest.skip(f"fd hard limit {hard} too low for the proxy's {2 * count} sockets")
    proxy = start_proxy("127.0.0.1", prefix=["prlimit", f"--nofile=1024:{hard}"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    socks_open, failures = [], []
    try:
        for start in range(0, count, batch):  # pipelined handshakes, batch at a time
            fresh = []
            for i in range(start, start + batch):
                try:
                    sock = open_proxy(proxy.addr, timeout=15)
                    sock.sendall(GREETING + request("127.0.0.1", far.echo))
                    fresh.append((i, sock))
                except OSError as e:
                    failures.append((i, f"connect/send: {e!r}"))
            for i, sock in fresh:
                socks_open.append((i, sock))
                try:
                    method, reply = recv_exact(sock, 2), read_reply(sock)
                    if method != b"\x05\x00" or reply.rep != REP_OK:
                        failures.append((i, f"method {method!r} reply {reply}"))
                except (OSError, ConnectionError) as e:
                    failures.append((i, f"handshake: {e!r}"))
            assert len(failures) < 20, f"giving up at {start + batch}: {failures[:5]}"
        for i, sock in socks_open:
            sock.sendall(b"%08d" % i)
        for i, sock in socks_open:
            try:
                got = recv_exact(sock, 8)
                if got != b"%08d" % i:
                    failures.append((i, f"echo {got!r}"))
            except (OSError, ConnectionError) as e:
                failures.append((i, f"echo: {e!r}"))
    finally:
        for _, sock in socks_open:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert not failures, f"{len(failures)} of {count} failed, first: {failures[:5]}\n{proxy.log()}"


def test_silent_client_is_closed_after_handshake_timeout(start_proxy):
    proxy = start_proxy("127.0.0.1", "-handshake-timeout", "1")
    with open_proxy(proxy.addr, timeout=10) as sock:
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
    assert data == b"", "proxy sent bytes to a client that never greeted"


def test_client_arriving_after_idle_gets_the_full_handshake_timeout(start_proxy):
    """A timer armed when a client arrives counts from its arrival, not from when the
    proxy went idle (a stale clock closes such a client at once)."""
    proxy = start_proxy("127.0.0.1", "-handshake-timeout", "2")
    time.sleep(3)  # idle for longer than the handshake timeout
    with open_proxy(proxy.addr) as sock:
        time.sleep(0.3)  # well inside the 2 s allowed
        sock.sendall(GREETING)
        assert recv_exact(sock, 2) == b"\x05\x00"


# --- event loops ------------------------------------------------------------------------

def listening_sockets(port):
    """How many sockets listen on 127.0.0.1:port (/proc/net/tcp, state 0A)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for r in rows if r[3] == "0A" and r[1] == f"0100007F:{port:04X}")


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_every_event_loop_accepts_and_32_concurrent_clients_all_get_their_bytes(
        start_proxy, far, threads):
    """-threads N: N loops, each with its own listener where the kernel spreads connections
    over listeners (SO_REUSEPORT), else all sharing one (the proxy says so); either way
    every client is served, whichever loop accepts it."""
    proxy = start_proxy("-threads", threads, "127.0.0.1")
    n = int(threads)
    assert any(f"({n} event loop" in line for line in proxy.lines), proxy.log()
    shared = any("share one listener" in line for line in proxy.lines)
    assert listening_sockets(proxy.port) == (1 if shared else n), proxy.log()

    socks_open = [socks5_connect(proxy.addr, "127.0.0.1", far.echo) for _ in range(32)]
    try:
        for i, (sock, reply) in enumerate(socks_open):
            assert reply.rep == REP_OK
            sock.sendall(b"client %02d" % i)
        for i, (sock, _) in enumerate(socks_open):
            assert recv_exact(sock, 9) == b"client %02d" % i
    finally:
        for sock, _ in socks_open:
            sock.close()
    assert proxy.proc.poll() is None


def test_threads_auto_is_the_default_one_loop_per_cpu_at_most_8(start_proxy):
    proxy = start_proxy("127.0.0.1")
    n = min(os.sysconf("SC_NPROCESSORS_ONLN"), 8)
    assert any(f"({n} event loop" in line for line in proxy.lines), proxy.log()


# --- command line -----------------------------------------------------------------------

def run_cli(dp_bin, *args):
    return subprocess.run([dp_bin, *args], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("spec", ["127.0.0.1@abc", "127.0.0.1@", "::1@x", "127.0.0.1@-3"])
def test_bad_link_spec_exits_2_naming_the_spec(dp_bin, spec):
    res = run_cli(dp_bin, "-lport", "0", spec)
    assert res.returncode == 2
    assert spec in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_unknown_option_exits_2_with_one_line(dp_bin):
    res = run_cli(dp_bin, "--no-such-option", "127.0.0.1")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_list_shows_lo_and_exits_0(dp_bin):
    res = run_cli(dp_bin, "-list")
    assert res.returncode == 0, res.stderr
    assert re.search(r"\blo\b", res.stdout + res.stderr)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_stops_proxy_with_status_0(start_proxy, sig):
    proxy = start_proxy("127.0.0.1")
    proxy.proc.send_signal(getattr(signal, sig))
    assert proxy.proc.wait(10) == 0


def ss_timers(local, peer):
    """`ss -o` line(s) of the established socket local -> peer (each "host:port")."""
    res = subprocess.run(["ss", "-tnoH", "state", "established", "src", local, "dst", peer],
                         capture_output=True, text=True, timeout=10, check=True)
    return res.stdout


def test_both_sides_of_a_relayed_connection_use_tcp_keepalive(proxy, far):
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo)
    with sock:
        assert reply.rep == REP_OK
        sock.sendall(b"ping")  # a round trip, so no byte waits for an ACK (that would
        assert recv_exact(sock, 4) == b"ping"  # show the retransmit timer instead)
        client_host, client_port = sock.getsockname()
        for _ in range(50):
            outgoing = ss_timers(f"{reply.host}:{reply.port}", f"127.0.0.1:{far.echo}")
            accepted = ss_timers(f"{proxy.addr[0]}:{proxy.addr[1]}",
                                 f"{client_host}:{client_port}")
            if "keepalive" in outgoing and "keepalive" in accepted:
                break
            time.sleep(0.05)
    assert "timer:(keepalive" in outgoing, outgoing
    assert "timer:(keepalive" in accepted, accepted
