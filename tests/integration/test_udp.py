"""SOCKS5 UDP ASSOCIATE (RFC 1928 §7) with real clients: PySocks' UDP socket, a DNS query
(python3-dnslib) through an association, and a raw client that shows every byte.

The far end is farserver.py's udpecho: each datagram comes back prefixed with the source
address it saw, and "SEEN?" (sent to it directly, not through the proxy) lists every
datagram it ever received, so a test can show that a datagram never arrived without
waiting for a timeout. Links 127.0.0.1 and 127.0.0.2 are address links on loopback: the
source the echo server reports says which link a datagram left by.
"""

import os
import socket
import struct
import threading
import time

import pytest
import socks
from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from client import (GREETING, REP_CMD_UNSUPPORTED, REP_OK, read_reply, recv_exact, request)
from conftest import FarServer, need_root
from lab import FAR_V4, WAN, Lab, netns
from test_dns import DnsServer

L1, L2 = "127.0.0.1", "127.0.0.2"
GENERAL_FAILURE = 1


@pytest.fixture(scope="module")
def echo():
    """udpecho on 127.0.0.1 and [::1]: (v4 port, v6 port)."""
    server = FarServer([f"udpecho@{L1}:0", "udpecho@[::1]:0"])
    yield server.ports
    server.stop()


def seen(host, port):
    """What the echo server received so far: [(source ip, source port, payload)]."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"SEEN?", (host, port))
        lines = s.recv(65536).decode().splitlines()
    return [(ip, int(p), bytes.fromhex(h)) for ip, p, h in (line.split(" ") for line in lines)]


def header(host, port, frag=0, rsv=b"\0\0"):
    """RSV FRAG ATYP DST.ADDR DST.PORT for host (IP literal or name)."""
    return rsv + bytes([frag]) + request(host, port)[3:]


def unwrap(datagram):
    """(source host, source port, payload) of a datagram from the relay."""
    assert datagram[:3] == b"\0\0\0", f"reply header {datagram[:3]!r}"
    atyp = datagram[3]
    if atyp == 1:
        host, rest = socket.inet_ntop(socket.AF_INET, datagram[4:8]), datagram[8:]
    elif atyp == 4:
        host, rest = socket.inet_ntop(socket.AF_INET6, datagram[4:20]), datagram[20:]
    else:
        raise AssertionError(f"reply header ATYP {atyp}")
    return host, struct.unpack("!H", rest[:2])[0], rest[2:]


class Assoc:
    """A raw association: the TCP control connection and a UDP socket of ours."""

    def __init__(self, proxy_addr, hint=("0.0.0.0", 0), bind=L1, connect_to=None, ctl_src=None):
        self.ctl = socket.create_connection(connect_to or proxy_addr, timeout=10,
                                            source_address=ctl_src and (ctl_src, 0))
        self.ctl.sendall(GREETING)
        assert recv_exact(self.ctl, 2) == b"\x05\x00"
        self.ctl.sendall(request(hint[0], hint[1], cmd=3))
        self.reply = read_reply(self.ctl)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((bind, 0))
        self.udp.settimeout(10)

    @property
    def relay(self):
        return (self.reply.host, self.reply.port)

    def send(self, host, port, payload, **kw):
        self.udp.sendto(header(host, port, **kw) + payload, self.relay)

    def recv(self):
        return unwrap(self.udp.recv(65536))

    def close(self):
        self.udp.close()
        self.ctl.close()


def logged(proxy, text, seconds=10):
    """Whether the proxy wrote a line holding text (stderr is read by another thread, so
    a line written just now may take a moment to arrive)."""
    deadline = time.monotonic() + seconds
    while not any(text in line for line in proxy.lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    return any(text in line for line in proxy.lines)


def pysocks_udp(proxy, **kw):
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(socks.SOCKS5, proxy.host, proxy.port, **kw)
    s.settimeout(10)
    return s


def echo_source(reply):
    """(ip, port) the echo server reported for a datagram it answered."""
    ip, port, _ = reply.split(b" ", 2)
    return ip.decode(), int(port)


# --- real clients -------------------------------------------------------------------------

def test_pysocks_datagram_comes_back_from_the_echo_server_with_the_links_source(
        start_proxy, echo):
    proxy = start_proxy(L2)
    s = pysocks_udp(proxy)
    try:
        s.sendto(b"ping", (L1, echo[0]))
        data, frm = s.recvfrom(65536)
    finally:
        s.close()
    assert frm == (L1, echo[0])
    assert data.startswith(b"127.0.0.2 ") and data.endswith(b" ping")


def test_pysocks_with_username_and_password(start_proxy, echo):
    proxy = start_proxy("-auth", "alice:s3cret", L1)
    s = pysocks_udp(proxy, username="alice", password="s3cret")
    try:
        s.sendto(b"authed", (L1, echo[0]))
        data, _ = s.recvfrom(65536)
    finally:
        s.close()
    assert data.endswith(b" authed")


class FixedAnswer(BaseResolver):
    """Answers every A question with 192.0.2.7 and notes who asked."""

    def __init__(self):
        self.clients = []

    def resolve(self, request_, handler):
        self.clients.append(handler.client_address[0])
        reply = request_.reply()
        reply.add_answer(RR(request_.q.qname, QTYPE.A, rdata=A("192.0.2.7"), ttl=60))
        return reply


def test_dns_query_through_the_association_gets_the_answer_and_leaves_by_the_link(start_proxy):
    resolver = FixedAnswer()
    server = DNSServer(resolver, port=0, address=L1)
    server.start_thread()
    try:
        dns_port = server.server.server_address[1]
        proxy = start_proxy(L2)
        s = pysocks_udp(proxy)
        try:
            query = DNSRecord.question("udp.example.test", "A")
            s.sendto(query.pack(), (L1, dns_port))
            answer = DNSRecord.parse(s.recv(65536))
        finally:
            s.close()
    finally:
        server.stop()
    assert answer.header.id == query.header.id
    assert [str(rr.rdata) for rr in answer.rr] == ["192.0.2.7"]
    assert resolver.clients == [L2]


# --- the reply and the links --------------------------------------------------------------

def test_reply_bnd_is_the_address_the_client_connected_to(start_proxy):
    """Listening on every address, the client reaching us at 127.0.0.3 is told 127.0.0.3
    (getsockname of its connection), never 0.0.0.0."""
    proxy = start_proxy(L1, listen=("-lhost", "0.0.0.0", "-lport", "0", "-allow", "127.0.0.0/8"))
    a = Assoc(None, connect_to=("127.0.0.3", proxy.port))
    try:
        assert a.reply.rep == REP_OK
        assert a.reply.host == "127.0.0.3" and a.reply.port != 0
    finally:
        a.close()


def test_two_associations_at_1_to_1_leave_by_the_two_links(start_proxy, echo):
    proxy = start_proxy(L1, L2)
    sources = []
    for _ in range(2):
        a = Assoc(proxy.addr)
        try:
            a.send(L1, echo[0], b"which link")
            sources.append(echo_source(a.recv()[2])[0])
        finally:
            a.close()
    assert sorted(sources) == [L1, L2]


def test_fifty_datagrams_of_one_association_leave_from_one_source(start_proxy, echo):
    proxy = start_proxy(L1, L2)
    a = Assoc(proxy.addr)
    try:
        payloads = [b"n%02d" % i for i in range(50)]
        replies = []
        for p in payloads:
            a.send(L1, echo[0], p)
            replies.append(a.recv())
    finally:
        a.close()
    assert [r[2].rsplit(b" ", 1)[1] for r in replies] == payloads
    assert {(r[0], r[1]) for r in replies} == {(L1, echo[0])}  # wrapped with the remote
    assert len({echo_source(r[2]) for r in replies}) == 1
    got = [(ip, port) for ip, port, d in seen(L1, echo[0]) if d in payloads]
    assert len(got) == 50 and len(set(got)) == 1


def test_ipv6_destination_and_ipv4_in_one_association_on_an_interface_link(start_proxy, echo):
    """Link lo has both families: an IPv6 destination leaves from ::1, an IPv4 one from
    127.0.0.1, each reply wrapped with its remote's address (ATYP 4 and 1)."""
    proxy = start_proxy("lo")
    a = Assoc(proxy.addr)
    try:
        a.send("::1", echo[1], b"six")
        six = a.recv()
        a.send(L1, echo[0], b"four")
        four = a.recv()
    finally:
        a.close()
    assert (six[0], six[1]) == ("::1", echo[1])
    assert echo_source(six[2])[0] == "::1" and six[2].endswith(b" six")
    assert (four[0], four[1]) == (L1, echo[0])
    assert echo_source(four[2])[0] == L1


def test_pysocks_ipv6_destination(start_proxy, echo):
    proxy = start_proxy("::1")
    s = pysocks_udp(proxy)
    try:
        s.sendto(b"v6", ("::1", echo[1]))
        data, frm = s.recvfrom(65536)
    finally:
        s.close()
    assert frm == ("::1", echo[1])
    assert data.startswith(b"::1 ") and data.endswith(b" v6")


def test_domain_destination_is_resolved_and_cached(start_proxy, echo, dns_isolated):
    """"localhost" (the hosts file: no query leaves the machine) as ATYP 3 from PySocks;
    three datagrams, the first waiting for the lookup, all answered."""
    proxy = start_proxy(L1, prefix=dns_isolated)
    s = pysocks_udp(proxy)
    try:
        for i in range(3):
            s.sendto(b"name%d" % i, ("localhost", echo[0]))
            data, frm = s.recvfrom(65536)
            assert frm == (L1, echo[0]) and data.endswith(b" name%d" % i)
    finally:
        s.close()


# --- who may send, and what is dropped -----------------------------------------------------

def test_datagram_from_another_client_address_is_dropped(start_proxy, echo):
    proxy = start_proxy(L1)
    a = Assoc(proxy.addr)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.5", 0))
    other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other_port.bind((L1, 0))
    try:
        a.send(L1, echo[0], b"first")  # locks the association to this IP:port
        assert a.recv()[2].endswith(b" first")
        stranger.sendto(header(L1, echo[0]) + b"from-stranger", a.relay)
        other_port.sendto(header(L1, echo[0]) + b"from-other-port", a.relay)
        a.send(L1, echo[0], b"second")
        assert a.recv()[2].endswith(b" second")  # the next datagram back is ours
    finally:
        stranger.close()
        other_port.close()
        a.close()
    payloads = [d for _, _, d in seen(L1, echo[0])]
    assert b"from-stranger" not in payloads and b"from-other-port" not in payloads
    assert b"first" in payloads and b"second" in payloads


def test_frag_nonzero_and_rsv_nonzero_are_dropped(start_proxy, echo):
    proxy = start_proxy(L1)
    a = Assoc(proxy.addr)
    try:
        a.send(L1, echo[0], b"frag-1", frag=1)
        a.send(L1, echo[0], b"frag-0x81", frag=0x81)
        a.send(L1, echo[0], b"rsv-1", rsv=b"\0\1")
        a.udp.sendto(b"\0\0\0\x09garbage", a.relay)  # unknown ATYP
        a.udp.sendto(b"\0\0", a.relay)               # truncated
        a.send(L1, echo[0], b"whole")
        assert a.recv()[2].endswith(b" whole")
    finally:
        a.close()
    payloads = [d for _, _, d in seen(L1, echo[0])]
    assert b"whole" in payloads
    assert not {b"frag-1", b"frag-0x81", b"rsv-1"} & set(payloads)


# --- the association's life ----------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fd_count(pid, want, seconds=10):
    deadline = time.monotonic() + seconds
    while fd_count(pid) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return fd_count(pid)


def used_association(proxy, echo):
    """An association that has sent to both families (so every socket it can hold)."""
    a = Assoc(proxy.addr)
    a.send(L1, echo[0], b"four")
    a.recv()
    a.send("::1", echo[1], b"six")
    a.recv()
    return a


def test_closing_the_control_connection_frees_the_association(start_proxy, echo):
    proxy = start_proxy("-threads", 1, "lo")
    pid = proxy.proc.pid
    # A first association and a short settling time: the proxy opens process-wide sockets
    # of its own (the interface watch) just after start.
    used_association(proxy, echo).close()
    before = fd_count(pid)
    while True:
        time.sleep(0.3)
        if fd_count(pid) == before:
            break
        before = fd_count(pid)
    a = used_association(proxy, echo)
    # control connection, our UDP socket, one outgoing socket per family
    assert fd_count(pid) == before + 4
    a.close()
    assert wait_fd_count(pid, before) == before


def test_idle_association_ends_after_udp_timeout(start_proxy, echo):
    proxy = start_proxy("-udp-timeout", "0.3", L1)
    a = Assoc(proxy.addr)
    try:
        a.send(L1, echo[0], b"once")
        a.recv()
        a.ctl.settimeout(10)
        assert a.ctl.recv(1) == b""  # the proxy closed the control connection
    finally:
        a.close()


def test_udp_max_client_refuses_with_rep_1_and_frees_on_close(start_proxy):
    proxy = start_proxy("-udp-max-client", 2, L1)
    first, second = Assoc(proxy.addr), Assoc(proxy.addr)
    third = Assoc(proxy.addr)
    try:
        assert (first.reply.rep, second.reply.rep) == (REP_OK, REP_OK)
        assert third.reply.rep == GENERAL_FAILURE
    finally:
        third.close()
        first.close()
    deadline = time.monotonic() + 10
    while True:  # the proxy sees the close on its own time: ask until it has
        again = Assoc(proxy.addr)
        again.close()
        if again.reply.rep == REP_OK or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    second.close()
    assert again.reply.rep == REP_OK
    assert logged(proxy, "-udp-max-client 2 reached")


def test_udp_max_0_refuses_udp_associate_with_rep_7(start_proxy):
    proxy = start_proxy("-udp-max", 0, L1)
    a = Assoc(proxy.addr)
    a.close()
    assert a.reply.rep == REP_CMD_UNSUPPORTED


def test_garbage_datagrams_leave_the_proxy_serving(start_proxy, echo):
    proxy = start_proxy(L1)
    a = Assoc(proxy.addr)
    try:
        rng = __import__("random").Random(11)
        for n in (0, 1, 3, 4, 9, 10, 300, 1400, 65000):
            a.udp.sendto(bytes(rng.getrandbits(8) for _ in range(n)), a.relay)
        a.udp.sendto(b"\0\0\0\x03\xff" + b"a" * 255 + b"\0\x07", a.relay)
        a.send(L1, echo[0], b"still")
        assert a.recv()[2].endswith(b" still")
    finally:
        a.close()


def test_udp_max_counts_the_associations_of_every_client(start_proxy):
    """-udp-max is over all clients: two associations from 127.0.0.1 and 127.0.0.2 fill
    -udp-max 2, the next one (from 127.0.0.3) gets REP 1."""
    proxy = start_proxy("-udp-max", 2, L1)
    assocs = [Assoc(proxy.addr, ctl_src=src) for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
    for a in assocs:
        a.close()
    assert [a.reply.rep for a in assocs] == [REP_OK, REP_OK, GENERAL_FAILURE]
    assert logged(proxy, "-udp-max 2 reached")


def test_strangers_datagrams_do_not_keep_an_idle_association_alive(start_proxy, echo):
    """Only the association's own relayed datagrams count as activity: a flood from
    another address (dropped) does not stop -udp-timeout from ending it."""
    proxy = start_proxy("-udp-timeout", "0.5", L1)
    a = Assoc(proxy.addr)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.5", 0))
    done = threading.Event()

    def flood():
        while not done.is_set():
            stranger.sendto(header(L1, echo[0]) + b"keepalive?", a.relay)
            a.udp.sendto(b"\0\0\0\x09not a header", a.relay)  # ours, but unparseable
            time.sleep(0.02)

    sender = threading.Thread(target=flood)
    try:
        a.send(L1, echo[0], b"once")
        a.recv()
        sender.start()
        a.ctl.settimeout(20)
        assert a.ctl.recv(1) == b""  # closed by the proxy although datagrams kept coming
    finally:
        done.set()
        if sender.is_alive():
            sender.join()
        stranger.close()
        a.close()
    assert b"keepalive?" not in [d for _, _, d in seen(L1, echo[0])]


def test_a_datagram_to_the_relay_itself_is_not_relayed_again(start_proxy, echo):
    """A client that names our own relay as the destination (wrapping a second datagram
    for the echo server inside) gets nothing relayed twice: the relay takes datagrams
    from the client's locked source only, not from our own outgoing socket."""
    proxy = start_proxy(L1)
    a = Assoc(proxy.addr)
    try:
        a.send(L1, echo[0], b"lock")
        a.recv()
        inner = header(L1, echo[0]) + b"relayed-twice"
        a.send(a.relay[0], a.relay[1], inner)
        a.send(L1, echo[0], b"after")
        assert a.recv()[2].endswith(b" after")
    finally:
        a.close()
    payloads = [d for _, _, d in seen(L1, echo[0])]
    assert b"after" in payloads and b"relayed-twice" not in payloads


def test_bytes_on_the_control_connection_are_ignored(start_proxy, echo):
    proxy = start_proxy(L1)
    a = Assoc(proxy.addr)
    try:
        a.ctl.sendall(b"\x05\x01\x00\x01" + bytes(4000))  # nothing is expected there
        a.send(L1, echo[0], b"still associated")
        assert a.recv()[2].endswith(b" still associated")
    finally:
        a.close()


def test_unresolvable_name_is_dropped_and_the_association_keeps_serving(
        start_proxy, echo, tmp_path):
    """NXDOMAIN for a datagram's name: that datagram is dropped (never reaches anyone),
    the next ones to the same name within the negative time are dropped without a new
    query, and datagrams to other destinations keep flowing."""
    dns = DnsServer(tmp_path / "q.log", ["127.0.0.1:0"], [f"echo.test={L1}"])
    try:
        proxy = start_proxy("-dns", f"127.0.0.1:{dns.ports[0]}", L1)
        a = Assoc(proxy.addr)
        try:
            for i in range(3):
                a.send("nx.test", echo[0], b"nx%d" % i)
                a.send("echo.test", echo[0], b"named%d" % i)
                assert a.recv()[2].endswith(b" named%d" % i)
        finally:
            a.close()
        asked = [q for q in dns.queries() if q[2].rstrip(".") == "nx.test"]
    finally:
        dns.stop()
    payloads = [d for _, _, d in seen(L1, echo[0])]
    assert not {b"nx0", b"nx1", b"nx2"} & set(payloads)
    assert {b"named0", b"named1", b"named2"} <= set(payloads)
    assert 1 <= len(asked) <= 2, asked  # A and AAAA of the first datagram, none after


def test_proxy_exits_cleanly_with_associations_open(start_proxy, echo, tmp_path):
    """SIGTERM while associations are open: one idle, one with sockets of both families,
    one whose datagram waits for a lookup that never ends. The process exits 0 with
    nothing left behind (the sanitizer build's LeakSanitizer reports any leak)."""
    dns = DnsServer(tmp_path / "q.log", ["127.0.0.1:0"], [])
    try:
        proxy = start_proxy("-dns", f"127.0.0.1:{dns.ports[0]}", "lo")
        idle = Assoc(proxy.addr)
        busy = used_association(proxy, echo)
        waiting = Assoc(proxy.addr)
        waiting.send("slow.test", echo[0], b"waits")
        deadline = time.monotonic() + 10
        while not any(q[2].rstrip(".") == "slow.test" for q in dns.queries()):
            assert time.monotonic() < deadline, "the lookup never reached the DNS server"
            time.sleep(0.05)
        try:
            assert proxy.stop() == 0
            assert proxy.problems() is None
        finally:
            for a in (idle, busy, waiting):
                a.close()
    finally:
        dns.stop()


# --- namespace lab: two real uplinks, one goes down ---------------------------------------

W1_V4, W2_V4 = WAN[1]["v4"], WAN[2]["v4"]


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = Lab()
    try:
        lab.build()
        # udpecho for the datagrams, a TCP echo on port 9 for -probe
        server = FarServer([f"udpecho@{FAR_V4}:7", f"echo@{FAR_V4}:9"],
                           prefix=lab.exec_prefix(lab.far))
        try:
            yield lab
        finally:
            server.stop()
    finally:
        lab.destroy()


def lab_assoc(lab, proxy):
    with netns(lab.host):
        return Assoc(proxy.addr, bind=L1)


def lab_source(lab, a, payload):
    a.send(FAR_V4, 7, payload)
    return echo_source(a.recv()[2])[0]


def test_lab_associations_leave_by_each_uplink_and_a_dead_link_closes_its_own(lab, start_proxy):
    """At 1:1 two associations leave by wan1 and wan2 (the ISPs drop foreign sources, so
    only real device binding gets an answer). wan2 going down closes the association on
    it (its control connection reaches EOF); new associations all leave by wan1."""
    proxy = start_proxy("wan1", "wan2", prefix=lab.exec_prefix(lab.host))
    first, second = lab_assoc(lab, proxy), lab_assoc(lab, proxy)
    by_link = {}
    try:
        for a in (first, second):
            by_link[lab_source(lab, a, b"hello")] = a
        assert sorted(by_link) == sorted([W1_V4, W2_V4])
        with lab.wan_link_down(2):
            on_wan2 = by_link[W2_V4]
            on_wan2.ctl.settimeout(20)
            assert on_wan2.ctl.recv(1) == b""  # closed by the proxy: associate again
            assert lab_source(lab, by_link[W1_V4], b"still here") == W1_V4
            fresh = [lab_assoc(lab, proxy) for _ in range(4)]
            try:
                assert [lab_source(lab, a, b"new") for a in fresh] == [W1_V4] * 4
            finally:
                for a in fresh:
                    a.close()
    finally:
        first.close()
        second.close()


def wait_logged_after(proxy, mark, text, seconds=40):
    deadline = time.monotonic() + seconds
    while not any(text in line for line in proxy.lines[mark:]):
        assert time.monotonic() < deadline, f"no '{text}' in the log\n{proxy.log()}"
        time.sleep(0.1)
    return len(proxy.lines)


def test_lab_association_taken_on_a_down_link_is_closed_when_it_falls_again(lab, start_proxy):
    """wan1 is down (its ISP dark, -probe-up says so while wan2 reaches the far end) and
    wan2 has no carrier: a new association still takes wan1 (nothing better) and is kept.
    wan1 comes back and carries its datagrams; when it goes down again, that association
    is closed like any other on it."""
    proxy = start_proxy("-v", "-probe", f"{FAR_V4}:9", "-probe-up", "-probe-interval", "0.3",
                        "wan1", "wan2", prefix=lab.exec_prefix(lab.host))
    with lab.isp_dark(1):
        mark = wait_logged_after(proxy, 0, "link wan1 down")
        with lab.wan_link_down(2):
            mark = wait_logged_after(proxy, mark, "link wan2 down")
            a = lab_assoc(lab, proxy)
    try:
        assert a.reply.rep == REP_OK
        mark = wait_logged_after(proxy, mark, "link wan1 up")
        assert lab_source(lab, a, b"back") == W1_V4
        with lab.isp_dark(1):
            wait_logged_after(proxy, mark, "link wan1 down")
            a.ctl.settimeout(20)
            assert a.ctl.recv(1) == b""  # closed by the proxy: associate again
    finally:
        a.close()
