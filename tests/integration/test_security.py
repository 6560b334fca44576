"""Regression tests for the defects of issue 13, each on real sockets against the proxy
(the parser decisions behind them are pinned byte by byte in tests/unit/test_http.c).

1. A Connection header cannot remove the framing (Content-Length, Transfer-Encoding):
   the origin and the client see the same message boundaries as the proxy.
"""

import os
import re
import socket
import struct
import subprocess
import threading

import pytest

from client import GREETING, read_reply, recv_exact, request, socks5_connect
from conftest import need_root
from test_protocols import Origin, Reader


@pytest.fixture
def proxy(start_proxy):
    return start_proxy("127.0.0.1")


@pytest.fixture
def origin():
    o = Origin("A")
    yield o
    o.close()


def send(proxy, data):
    s = socket.create_connection(proxy.addr, timeout=10)
    s.sendall(data)
    return s


# --- 1. request smuggling through Connection -----------------------------------------------

SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: internal.example\r\n\r\n"


@pytest.mark.parametrize("token", ["content-length", "Content-Length", "keep-alive, CONTENT-LENGTH"])
def test_connection_naming_content_length_keeps_it_and_the_body_stays_a_body(
        proxy, origin, token):
    s = send(proxy, b"GET http://127.0.0.1:%d/public HTTP/1.1\r\nContent-Length: %d\r\n"
                    b"Connection: %s\r\n\r\n" % (origin.port, len(SMUGGLED), token.encode())
             + SMUGGLED)
    try:
        status, _, body = Reader(s).response()
    finally:
        s.close()
    assert status == 200 and body == b"A GET /public"
    assert len(origin.requests) == 1, origin.requests  # no /admin behind it
    req = origin.requests[0]
    assert req.target == "/public"
    assert ("content-length", str(len(SMUGGLED))) in req.headers
    assert req.body == SMUGGLED


def test_connection_naming_transfer_encoding_keeps_chunked(proxy, origin):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
    s = send(proxy, b"POST http://127.0.0.1:%d/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: transfer-encoding\r\n\r\n" % origin.port + chunked)
    try:
        status, _, body = Reader(s).response()
    finally:
        s.close()
    assert status == 200 and body == SMUGGLED
    assert [r.target for r in origin.requests] == ["/echo"]
    assert ("transfer-encoding", "chunked") in origin.requests[0].headers


class FramingOrigin:
    """Answers every request with one fixed response whose Connection names its framing."""

    def __init__(self, response):
        self.response = response
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, _, buf = buf.partition(b"\r\n\r\n")
                    conn.sendall(self.response)
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
])
def test_response_connection_naming_its_framing_keeps_it(proxy, response):
    """Two requests on one keep-alive connection: two responses, each "hello", each framed
    (before the fix the first had no length and swallowed the second, or the client got the
    chunk framing as its body)."""
    far = FramingOrigin(response)
    s = send(proxy, b"")
    try:
        reader = Reader(s)
        for _ in range(2):
            s.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\n\r\n" % far.port)
            status, headers, body = reader.response()
            assert status == 200 and body == b"hello", headers
            assert "content-length" in headers or headers.get("transfer-encoding") == "chunked"
    finally:
        s.close()
        far.close()


def test_curl_gets_the_whole_response_and_exits(proxy):
    far = FramingOrigin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                        b"Connection: content-length\r\n\r\nhello")
    try:
        run = subprocess.run(["curl", "-sS", "--max-time", "10", "-x",
                              f"http://127.0.0.1:{proxy.port}", f"http://127.0.0.1:{far.port}/"],
                             capture_output=True, timeout=20)
    finally:
        far.close()
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"hello"


@pytest.mark.parametrize("body", [
    b"5\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\n0\r\n\r\n",
    b"00000000000000005\r\nhello\r\n0\r\n\r\n",
])
def test_request_with_lax_chunked_framing_is_not_passed_on(proxy, origin, body):
    s = send(proxy, b"POST http://127.0.0.1:%d/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    b"\r\n" % origin.port + body)
    try:
        s.settimeout(10)
        got = b""
        while True:  # the proxy ends the exchange: an error or a close, never a 200
            data = s.recv(65536)
            if not data:
                break
            got += data
    except ConnectionResetError:
        pass
    finally:
        s.close()
    assert not got.startswith(b"HTTP/1.1 200"), got
    assert all(r.body != b"hello" for r in origin.requests)


# --- 6. the -open guard judges the address bound, not the spelling ------------------------

def hosts_prefix(tmp_path, line):
    """argv prefix running a command with a private /etc/hosts holding line."""
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{line}\n")
    hosts.chmod(0o644)
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--mount"]
    prefix = [*unshare, "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        need_root()
        pytest.fail("unshare --mount failed as root")
    return prefix


@pytest.mark.parametrize("line", ["0.0.0.0 anyhost", ":: anyhost"])
def test_lhost_name_for_every_address_is_refused_without_open(dp_bin, tmp_path, line):
    prefix = hosts_prefix(tmp_path, line)
    run = subprocess.run([*prefix, dp_bin, "-lhost", "anyhost", "-lport", "0", "127.0.0.1"],
                         capture_output=True, text=True, timeout=20)
    assert run.returncode == 2, run.stderr
    assert "refusing to listen on every address (-lhost anyhost)" in run.stderr


def test_lhost_name_for_every_address_with_open_starts(start_proxy, tmp_path):
    prefix = hosts_prefix(tmp_path, "0.0.0.0 anyhost")
    proxy = start_proxy("-open", "127.0.0.1", prefix=prefix,
                        listen=("-lhost", "anyhost", "-lport", "0"))
    assert any("SOCKS server started at 0.0.0.0:" in line for line in proxy.lines), proxy.log()


def test_lhost_name_for_loopback_starts_without_a_warning(start_proxy, tmp_path):
    prefix = hosts_prefix(tmp_path, "127.0.0.1 myproxy")
    proxy = start_proxy("127.0.0.1", prefix=prefix, listen=("-lhost", "myproxy", "-lport", "0"))
    assert not any("open proxy" in line for line in proxy.lines), proxy.log()


# --- also: exit paths free what they allocated (LeakSanitizer in the SAN build) -----------

def test_cannot_listen_exits_1_and_leaks_nothing(dp_bin):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        run = subprocess.run([dp_bin, "-lport", str(busy.getsockname()[1]), "127.0.0.1"],
                             capture_output=True, text=True, timeout=20)
    finally:
        busy.close()
    assert run.returncode == 1, run.stderr
    assert "LeakSanitizer" not in run.stderr and "ERROR" not in run.stderr, run.stderr
    assert "cannot listen" in run.stderr or "Address already in use" in run.stderr, run.stderr


# --- 5. the proxy never connects to itself ----------------------------------------------

NOT_ALLOWED = 2


def socks5_rep(addr, host, port):
    sock, reply = socks5_connect(addr, host, port)
    sock.close()
    return reply.rep


def fd_count(proxy):
    return len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1", "0.0.0.0"])
def test_socks5_to_its_own_listener_is_not_allowed(proxy, host):
    assert socks5_rep(proxy.addr, host, proxy.port) == NOT_ALLOWED


def test_wildcard_listener_refuses_every_local_address_of_its_port(start_proxy):
    v4 = start_proxy("-allow", "127.0.0.0/8", "127.0.0.1",
                     listen=("-lhost", "0.0.0.0", "-lport", "0"))
    for host in ("127.0.0.1", "127.0.0.2", "::ffff:127.0.0.3", "localhost", "0.0.0.0"):
        assert socks5_rep(("127.0.0.1", v4.port), host, v4.port) == NOT_ALLOWED, host
    v6 = start_proxy("-allow", "::1/128", "::1", listen=("-lhost", "::", "-lport", "0"))
    for host in ("::1", "::"):
        assert socks5_rep(("::1", v6.port), host, v6.port) == NOT_ALLOWED, host


def test_socks4_and_http_to_its_own_listener_are_refused(proxy):
    s = send(proxy, struct.pack("!BBH4s", 4, 1, proxy.port, socket.inet_aton("127.0.0.1"))
             + b"u\0")
    try:
        assert recv_exact(s, 8)[1] == 0x5B
    finally:
        s.close()
    for req in (b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % proxy.port,
                b"GET http://localhost:%d/ HTTP/1.1\r\nHost: x\r\n\r\n" % proxy.port):
        s = send(proxy, req)
        try:
            assert Reader(s).response()[0] == 403
        finally:
            s.close()


def test_status_listener_is_refused_too(start_proxy):
    proxy = start_proxy("-status", "127.0.0.1:0", "127.0.0.1")
    found = [m for m in (re.search(r"Status page at http://([0-9.]+):(\d+)/", line)
                         for line in proxy.lines) if m]
    assert found, proxy.log()
    assert socks5_rep(proxy.addr, "127.0.0.1", int(found[0].group(2))) == NOT_ALLOWED


def test_other_ports_of_the_same_address_still_connect(proxy):
    far = socket.socket()
    far.bind(("127.0.0.1", 0))
    far.listen(1)
    try:
        assert socks5_rep(proxy.addr, "127.0.0.1", far.getsockname()[1]) == 0
    finally:
        far.close()


def test_pipelined_requests_to_itself_do_not_chain(proxy):
    """The reproduction: 1500 greetings + CONNECTs to the proxy's own address pipelined on
    one connection chained ~1400 sessions (2830 fds). Now the first is refused and the
    chain never starts."""
    before = fd_count(proxy)
    one = GREETING + request("127.0.0.1", proxy.port)
    s = send(proxy, one * 1500)
    try:
        assert recv_exact(s, 2) == b"\x05\x00"
        assert read_reply(s).rep == NOT_ALLOWED
        s.settimeout(10)
        while s.recv(65536):  # the proxy closes the connection after the refusal
            pass
    except ConnectionResetError:
        pass
    finally:
        s.close()
    assert fd_count(proxy) <= before + 2


def test_tunnel_to_itself_does_not_chain(start_proxy):
    """-tunnel whose upstream is this proxy's own address: each client would open another
    session to itself, forever. The upstream is refused as the proxy's own listener."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proxy = start_proxy("-v", "-tunnel", f"127.0.0.1:{port}", listen=("-lhost", "127.0.0.1",
                                                               "-lport", str(port)))
    before = fd_count(proxy)
    s = send(proxy, GREETING + request("127.0.0.1", 9))
    try:
        s.settimeout(10)
        while s.recv(65536):  # refused: the proxy closes, it does not chain
            pass
    except ConnectionResetError:
        pass
    finally:
        s.close()
    assert fd_count(proxy) <= before + 2
    assert any("not allowed" in line for line in proxy.lines), proxy.log()
