"""Every client speaks to it: SOCKS4/4a and HTTP proxy on the SOCKS5 port, credentials,
-allow, and the safe default for exposed listeners. Real clients (curl, PySocks) and raw
sockets against loopback servers; the last test dispatches each protocol in the namespace
lab (root only).
"""

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import Counter, namedtuple

import pytest
import socks  # PySocks, Debian's python3-socks

from client import GREETING, REP_OK, open_proxy, read_reply, recv_all, recv_exact, request
from conftest import FarServer, need_root

URL_FMT = "http://127.0.0.1:{}/"
REP_NOT_ALLOWED = 2


@pytest.fixture(scope="module")
def far():
    server = FarServer(["http@127.0.0.1:0", "echo@127.0.0.1:0"])
    yield namedtuple("Far", "http echo")(*server.ports)
    server.stop()


@pytest.fixture
def proxy(start_proxy):
    return start_proxy("127.0.0.1")


def run_curl(*args, timeout=10):
    """curl -sS with args; returns (exit status, stdout, stderr)."""
    res = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout + 5)
    return res.returncode, res.stdout, res.stderr


def fetch(*args):
    rc, out, err = run_curl(*args)
    assert rc == 0, f"curl {args} failed ({rc}): {err.strip()}"
    return out


def http_code(*args):
    rc, out, err = run_curl("-o", "/dev/null", "-w", "%{http_code}", *args)
    return out


# --- a keep-alive origin that records what it is asked ---------------------------------

Request = namedtuple("Request", "conn method target version headers body")


class Origin:
    """HTTP/1.1 origin on 127.0.0.1 serving keep-alive connections, one thread each.

    Paths: /chunked (chunked body), /close (no length: ends by closing), /204, /echo
    (body = the request's body), anything else: "NAME METHOD TARGET" with Content-Length.
    HEAD gets a Content-Length and no body. Every request is recorded in .requests.
    """

    def __init__(self, name):
        self.name = name
        self.requests = []
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                no = self.connections
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, no), daemon=True).start()

    @staticmethod
    def _read_body(f, headers):
        if "content-length" in headers:
            return f.read(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                line = f.readline()
                if not line:  # the proxy gave up on the body (and closed): no request
                    raise EOFError
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += f.read(size)
                f.readline()
        return b""

    def _serve(self, conn, no):
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                method, target, version = line.decode().split()
                headers = []
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode().partition(":")
                    headers.append((name.strip().lower(), value.strip()))
                hd = dict(headers)
                if hd.get("expect", "").lower() == "100-continue":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    body = self._read_body(f, hd)
                except EOFError:
                    return
                with self.lock:
                    self.requests.append(Request(no, method, target, version, headers, body))
                if not self._respond(conn, method, target, body):
                    return
        finally:
            f.close()
            conn.close()

    def _respond(self, conn, method, target, body):
        """Sends the response; returns False when the connection must end."""
        if target == "/chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n7;x=y\r\n chunks\r\n0\r\nX-Trailer: t\r\n\r\n")
        elif target == "/close":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
            conn.shutdown(socket.SHUT_WR)
            return False
        elif target == "/204":
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        else:
            out = body if target == "/echo" else f"{self.name} {method} {target}".encode()
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nKeep-Alive: timeout=5\r\n" \
                   b"Connection: keep-alive\r\n\r\n" % len(out)
            conn.sendall(head if method == "HEAD" else head + out)
        return True

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def origins():
    made = [Origin("A"), Origin("B")]
    yield made
    for o in made:
        o.close()


class Reader:
    """Reads HTTP/1.1 responses off a raw socket, framing them itself."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed; have {self.buf!r}")
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def response(self, head_request=False):
        """(status, headers dict lower-cased, body) of the next final response."""
        while True:
            status = int(self._line().split()[1])
            headers = {}
            while line := self._line():
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if status >= 200:
                break
        if head_request or status in (204, 304):
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self._take(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while (size := int(self._line().split(b";")[0], 16)) != 0:
                body += self._take(size)
                self._line()
            while self._line():
                pass
            return status, headers, body
        while True:
            try:
                self._fill()
            except ConnectionError:
                body, self.buf = self.buf, b""
                return status, headers, body

    def closed(self, timeout=5):
        """True when the proxy closes the connection with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def http_get(target, host=None, extra=""):
    host = host or target.split("/")[2]
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


# --- SOCKS4 and SOCKS4a -----------------------------------------------------------------

def test_curl_socks4_fetches_through_the_socks5_port(proxy, far):
    assert fetch("--socks4", f"127.0.0.1:{proxy.port}", URL_FMT.format(far.http)) == "127.0.0.1"


def test_curl_socks4a_passes_the_name_to_the_proxy(start_proxy, far, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    out = fetch("--socks4a", f"127.0.0.1:{proxy.port}", f"http://localhost:{far.http}/")
    assert out == "127.0.0.1"


def test_socks4_reply_is_5a_and_payload_flows(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x04\x01" + struct.pack("!H", far.echo) + socket.inet_aton("127.0.0.1")
                     + b"user\x00" + b"early")
        reply = recv_exact(sock, 8)
        assert reply[:2] == b"\x00\x5a"
        assert recv_exact(sock, 5) == b"early"


def test_socks4_bind_is_rejected_with_5b(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x04\x02" + struct.pack("!H", far.echo) + socket.inet_aton("127.0.0.1")
                     + b"\x00")
        assert recv_exact(sock, 8)[:2] == b"\x00\x5b"


def test_socks4_refused_destination_gets_5b(proxy):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with open_proxy(proxy.addr) as sock:
            sock.sendall(b"\x04\x01" + struct.pack("!H", port) + socket.inet_aton("127.0.0.1")
                         + b"\x00")
            assert recv_exact(sock, 8)[:2] == b"\x00\x5b"


def test_pysocks_socks4_client(proxy, far):
    sock = socks.socksocket()
    sock.set_proxy(socks.SOCKS4, "127.0.0.1", proxy.port)
    sock.settimeout(10)
    with sock:
        sock.connect(("127.0.0.1", far.echo))
        sock.sendall(b"four")
        assert recv_exact(sock, 4) == b"four"


# --- HTTP proxy: forwarding and CONNECT -------------------------------------------------

def test_curl_http_proxy_forwards_absolute_form(proxy, far):
    assert fetch("-x", f"http://127.0.0.1:{proxy.port}", URL_FMT.format(far.http)) == "127.0.0.1"


def test_curl_http_proxy_tunnel_with_connect(proxy, far):
    out = fetch("-p", "-x", f"http://127.0.0.1:{proxy.port}", URL_FMT.format(far.http))
    assert out == "127.0.0.1"


def test_connect_answers_200_and_pipelined_bytes_reach_the_far_end(proxy, far):
    with open_proxy(proxy.addr) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{far.echo} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                     + b"ping")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert recv_exact(sock, 4) == b"ping"


def test_forwarded_request_reaches_origin_in_origin_form_without_proxy_fields(proxy, origins):
    a = origins[0]
    with open_proxy(proxy.addr) as sock:
        sock.sendall(http_get(f"http://127.0.0.1:{a.port}/p?q=1", host="ignored",
                              extra="Proxy-Connection: keep-alive\r\nX-Custom: yes\r\n"))
        status, headers, body = Reader(sock).response()
    assert (status, body) == (200, b"A GET /p?q=1")
    (req,) = a.requests
    names = [n for n, _ in req.headers]
    assert req.target == "/p?q=1"
    assert dict(req.headers)["host"] == f"127.0.0.1:{a.port}"
    assert "proxy-connection" not in names and "x-custom" in names


def test_keep_alive_client_reaches_two_origins_over_one_connection(proxy, origins):
    a, b = origins
    with open_proxy(proxy.addr) as sock:
        reader = Reader(sock)
        sock.sendall(http_get(f"http://127.0.0.1:{a.port}/one"))
        first = reader.response()
        sock.sendall(http_get(f"http://127.0.0.1:{b.port}/two"))
        second = reader.response()
        sock.sendall(http_get(f"http://127.0.0.1:{a.port}/three"))
        third = reader.response()
    assert first[0] == second[0] == third[0] == 200
    assert (first[2], second[2], third[2]) == (b"A GET /one", b"B GET /two", b"A GET /three")
    assert first[1].get("connection") == "keep-alive"
    assert [r.target for r in a.requests] == ["/one", "/three"]
    assert [r.target for r in b.requests] == ["/two"]


def test_pipelined_requests_to_two_origins_are_answered_in_order(proxy, origins):
    a, b = origins
    with open_proxy(proxy.addr) as sock:
        reader = Reader(sock)
        sock.sendall(http_get(f"http://127.0.0.1:{a.port}/x") +
                     http_get(f"http://127.0.0.1:{b.port}/y") +
                     http_get(f"http://127.0.0.1:{b.port}/z"))
        bodies = [reader.response()[2] for _ in range(3)]
    assert bodies == [b"A GET /x", b"B GET /y", b"B GET /z"]
    assert [r.target for r in a.requests] == ["/x"]
    assert [r.target for r in b.requests] == ["/y", "/z"]
    assert b.connections == 1, "the same origin twice in a row reuses its upstream connection"


def test_chunked_response_head_and_204_keep_the_connection_usable(proxy, origins):
    a = origins[0]
    base = f"http://127.0.0.1:{a.port}"
    with open_proxy(proxy.addr) as sock:
        reader = Reader(sock)
        sock.sendall(http_get(f"{base}/chunked"))
        assert reader.response()[2] == b"hello chunks"
        sock.sendall(f"HEAD {base}/h HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        status, headers, _ = reader.response(head_request=True)
        assert status == 200 and headers["content-length"] == str(len(b"A HEAD /h"))
        sock.sendall(http_get(f"{base}/204"))
        assert reader.response()[0] == 204
        sock.sendall(http_get(f"{base}/last"))
        assert reader.response()[2] == b"A GET /last"
    assert [r.target for r in a.requests] == ["/chunked", "/h", "/204", "/last"]


def test_close_delimited_response_is_relayed_then_the_client_is_closed(proxy, origins):
    a = origins[0]
    with open_proxy(proxy.addr) as sock:
        reader = Reader(sock)
        sock.sendall(http_get(f"http://127.0.0.1:{a.port}/close"))
        status, headers, body = reader.response()
        assert (status, body) == (200, b"until close")
        assert headers.get("connection") == "close"


def test_request_bodies_with_length_and_chunked_reach_the_origin(proxy, origins):
    a = origins[0]
    url = f"http://127.0.0.1:{a.port}/echo"
    with open_proxy(proxy.addr) as sock:
        reader = Reader(sock)
        sock.sendall(f"POST {url} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".encode())
        assert reader.response()[2] == b"hello"
        sock.sendall(f"POST {url} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n".encode())
        assert reader.response()[2] == b"abcdefg"
    assert [r.body for r in a.requests] == [b"hello", b"abcdefg"]


def test_request_sent_one_byte_at_a_time_is_forwarded(proxy, origins):
    a = origins[0]
    with open_proxy(proxy.addr) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in (f"POST http://127.0.0.1:{a.port}/echo HTTP/1.1\r\nHost: a\r\n"
                     "Content-Length: 4\r\n\r\nslow").encode():
            sock.sendall(bytes([byte]))
            time.sleep(0.002)
        assert Reader(sock).response()[2] == b"slow"


def test_expect_100_continue_gets_the_interim_response_then_the_final_one(proxy, origins):
    a = origins[0]
    with open_proxy(proxy.addr) as sock:
        sock.sendall(f"PUT http://127.0.0.1:{a.port}/echo HTTP/1.1\r\nHost: a\r\n"
                     "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n".encode())
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"body")
        assert Reader(sock).response()[2] == b"body"


def test_curl_uploads_a_large_body_through_the_forwarding_proxy(proxy, origins, tmp_path):
    a = origins[0]
    data = os.urandom(3 << 20)
    src = tmp_path / "upload.bin"
    src.write_bytes(data)
    rc, out, err = run_curl("-x", f"http://127.0.0.1:{proxy.port}", "--data-binary", f"@{src}",
                            "-o", str(tmp_path / "back.bin"), f"http://127.0.0.1:{a.port}/echo",
                            timeout=30)
    assert rc == 0, err
    assert (tmp_path / "back.bin").read_bytes() == data


def test_http_1_0_client_gets_connection_close(proxy, origins):
    a = origins[0]
    with open_proxy(proxy.addr) as sock:
        sock.sendall(f"GET http://127.0.0.1:{a.port}/old HTTP/1.0\r\n\r\n".encode())
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, body, headers.get("connection")) == (200, b"A GET /old", "close")
        assert reader.closed()
    assert a.requests[0].version == "HTTP/1.0"


def test_pysocks_http_proxy_client(proxy, far):
    sock = socks.socksocket()
    sock.set_proxy(socks.HTTP, "127.0.0.1", proxy.port)
    sock.settimeout(10)
    with sock:
        sock.connect(("127.0.0.1", far.echo))
        sock.sendall(b"via CONNECT")
        assert recv_exact(sock, 11) == b"via CONNECT"


# --- HTTP errors: the client always gets an answer --------------------------------------

def read_error(sock):
    status, headers, body = Reader(sock).response()
    return status, body


def test_plain_http_to_the_port_gets_400_not_a_hang(proxy):
    with open_proxy(proxy.addr, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, body = read_error(sock)
    assert status == 400 and b"CONNECT" in body


def test_curl_straight_at_the_proxy_port_gets_400_quickly(proxy):
    start = time.monotonic()
    assert http_code(f"http://127.0.0.1:{proxy.port}/") == "400"
    assert time.monotonic() - start < 3


def test_garbage_first_byte_is_closed_not_hung(proxy):
    with open_proxy(proxy.addr, timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")
        assert recv_all(sock) == b""


def test_incomplete_http_head_is_closed_after_the_handshake_timeout(start_proxy):
    proxy = start_proxy("127.0.0.1", "-handshake-timeout", "1")
    with open_proxy(proxy.addr, timeout=10) as sock:
        sock.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        assert recv_all(sock) == b""
        assert time.monotonic() - start < 5


def test_oversized_head_gets_431(proxy):
    with open_proxy(proxy.addr, timeout=5) as sock:
        try:
            sock.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
        except OSError:
            pass
        status, _ = read_error(sock)
    assert status == 431


@pytest.mark.parametrize("head", [
    b"GET http://127.0.0.1/ HTTP/1.1\r\nBad Header\r\n\r\n",
    b"POST http://127.0.0.1/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n",
    b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
], ids=["bad-field", "cl-and-te", "https-absolute", "connect-without-port"])
def test_malformed_requests_get_400(proxy, head):
    with open_proxy(proxy.addr, timeout=5) as sock:
        sock.sendall(head)
        assert read_error(sock)[0] == 400


def test_refused_origin_gets_502(proxy):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        assert http_code("-x", f"http://127.0.0.1:{proxy.port}", URL_FMT.format(port)) == "502"


def test_unresolvable_name_gets_502(start_proxy, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    code = http_code("-x", f"http://127.0.0.1:{proxy.port}", "http://nonexistent.invalid/")
    assert code == "502"


# --- credentials ------------------------------------------------------------------------

@pytest.fixture
def auth_proxy(start_proxy):
    return start_proxy("127.0.0.1", "-auth", "alice:wonder", "-auth", "bob:b:u:i:l:d")


def test_curl_socks5_with_credentials(auth_proxy, far):
    url = URL_FMT.format(far.http)
    assert fetch("-x", f"socks5://alice:wonder@127.0.0.1:{auth_proxy.port}", url) == "127.0.0.1"


def test_curl_socks5_with_wrong_or_missing_credentials_fails(auth_proxy, far):
    url = URL_FMT.format(far.http)
    assert run_curl("-x", f"socks5://alice:nope@127.0.0.1:{auth_proxy.port}", url)[0] != 0
    assert run_curl("-x", f"socks5://127.0.0.1:{auth_proxy.port}", url)[0] != 0


def test_socks5_auth_replies_on_the_wire(auth_proxy, far):
    with open_proxy(auth_proxy.addr) as sock:
        sock.sendall(b"\x05\x02\x00\x02")
        assert recv_exact(sock, 2) == b"\x05\x02"
        sock.sendall(b"\x01\x05alice\x06wonder" + request("127.0.0.1", far.echo))
        assert recv_exact(sock, 2) == b"\x01\x00"
        assert read_reply(sock).rep == REP_OK
    with open_proxy(auth_proxy.addr) as sock:
        sock.sendall(b"\x05\x02\x00\x02\x01\x05alice\x07wonder\x00")  # a NUL is not the end
        assert recv_exact(sock, 2) == b"\x05\x02"
        assert recv_exact(sock, 2) == b"\x01\x01"
    with open_proxy(auth_proxy.addr) as sock:
        sock.sendall(GREETING)  # no-auth only
        assert recv_exact(sock, 2) == b"\x05\xff"


def test_pysocks_socks5_with_credentials(auth_proxy, far):
    sock = socks.socksocket()
    sock.set_proxy(socks.SOCKS5, "127.0.0.1", auth_proxy.port, username="bob",
                   password="b:u:i:l:d")
    sock.settimeout(10)
    with sock:
        sock.connect(("127.0.0.1", far.echo))
        sock.sendall(b"creds")
        assert recv_exact(sock, 5) == b"creds"
    bad = socks.socksocket()
    bad.set_proxy(socks.SOCKS5, "127.0.0.1", auth_proxy.port, username="bob", password="x")
    bad.settimeout(10)
    with bad, pytest.raises(socks.ProxyError):
        bad.connect(("127.0.0.1", far.echo))


def test_curl_http_proxy_with_credentials(auth_proxy, far):
    url = URL_FMT.format(far.http)
    proxy = f"http://127.0.0.1:{auth_proxy.port}"
    assert fetch("-U", "alice:wonder", "-x", proxy, url) == "127.0.0.1"
    assert fetch("-p", "-U", "bob:b:u:i:l:d", "-x", proxy, url) == "127.0.0.1"


def test_http_proxy_wrong_or_missing_credentials_get_407(auth_proxy, far):
    url = URL_FMT.format(far.http)
    proxy = f"http://127.0.0.1:{auth_proxy.port}"
    assert http_code("-U", "alice:nope", "-x", proxy, url) == "407"
    assert http_code("-x", proxy, url) == "407"
    with open_proxy(auth_proxy.addr) as sock:
        sock.sendall(f"CONNECT 127.0.0.1:{far.echo} HTTP/1.1\r\n\r\n".encode())
        status, headers, _ = Reader(sock).response()
    assert status == 407
    assert headers["proxy-authenticate"].startswith("Basic ")


def test_socks4_with_auth_required_gets_5b_and_a_log_line(auth_proxy, far):
    with open_proxy(auth_proxy.addr) as sock:
        sock.sendall(b"\x04\x01" + struct.pack("!H", far.echo) + socket.inet_aton("127.0.0.1")
                     + b"alice\x00")
        assert recv_exact(sock, 8)[:2] == b"\x00\x5b"
    deadline = time.monotonic() + 5
    while not any("SOCKS4" in line for line in auth_proxy.lines):
        assert time.monotonic() < deadline, auth_proxy.log()
        time.sleep(0.05)


def test_passwords_never_reach_the_log(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-vv", "-auth", "alice:Sup3rS3cret")
    url = URL_FMT.format(far.http)
    run_curl("-x", f"socks5://alice:WrongS3cret@127.0.0.1:{proxy.port}", url)
    run_curl("-U", "alice:WrongS3cret", "-x", f"http://127.0.0.1:{proxy.port}", url)
    fetch("-U", "alice:Sup3rS3cret", "-x", f"http://127.0.0.1:{proxy.port}", url)
    time.sleep(0.2)
    log = "\n".join(proxy.lines)
    assert "authentication failed" in log
    assert "S3cret" not in log


def test_auth_file_is_re_read_on_sighup(start_proxy, far, tmp_path):
    users = tmp_path / "users"
    users.write_text("# who may use the proxy\ncarol:first\n")
    proxy = start_proxy("127.0.0.1", "-auth-file", users)
    url = URL_FMT.format(far.http)
    via = f"http://127.0.0.1:{proxy.port}"
    assert http_code("-U", "carol:first", "-x", via, url) == "200"
    users.write_text("carol:second\n")
    proxy.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while http_code("-U", "carol:second", "-x", via, url) != "200":
        assert time.monotonic() < deadline, proxy.log()
        time.sleep(0.1)
    assert http_code("-U", "carol:first", "-x", via, url) == "407"
    assert proxy.proc.poll() is None


def test_unreadable_auth_file_exits_2(dp_bin, tmp_path):
    res = subprocess.run([dp_bin, "-lport", "0", "-auth-file", tmp_path / "missing", "127.0.0.1"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert "missing" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_bad_auth_value_exits_2_without_echoing_it(dp_bin):
    res = subprocess.run([dp_bin, "-lport", "0", "-auth", "S3cretNoColon", "127.0.0.1"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert "S3cret" not in res.stderr


# --- -allow -----------------------------------------------------------------------------

def connect_from(source, proxy):
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(proxy.addr)
    return sock


def test_denied_address_gets_each_protocols_refusal(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-allow", "127.0.0.2/32")
    with connect_from("127.0.0.1", proxy) as sock:
        sock.sendall(GREETING + request("127.0.0.1", far.echo))
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_NOT_ALLOWED
    with connect_from("127.0.0.1", proxy) as sock:
        sock.sendall(b"\x04\x01" + struct.pack("!H", far.echo) + socket.inet_aton("127.0.0.1")
                     + b"\x00")
        assert recv_exact(sock, 8)[:2] == b"\x00\x5b"
    with connect_from("127.0.0.1", proxy) as sock:
        sock.sendall(http_get(f"http://127.0.0.1:{far.http}/"))
        assert read_error(sock)[0] == 403
    assert http_code("-x", f"http://127.0.0.1:{proxy.port}", URL_FMT.format(far.http)) == "403"
    assert run_curl("--socks5", f"127.0.0.1:{proxy.port}", URL_FMT.format(far.http))[0] != 0


def test_allowed_address_is_served(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-allow", "10.0.0.0/8", "-allow", "127.0.0.2")
    with connect_from("127.0.0.2", proxy) as sock:
        sock.sendall(GREETING + request("127.0.0.1", far.echo) + b"hi")
        assert recv_exact(sock, 2) == b"\x05\x00"
        assert read_reply(sock).rep == REP_OK
        assert recv_exact(sock, 2) == b"hi"


def test_ipv6_allow_rule(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-allow", "::1/128", listen=("--listen", "[::1]:0"))
    rc, out, _ = run_curl("-x", f"http://[::1]:{proxy.port}", URL_FMT.format(far.http))
    assert (rc, out) == (0, "127.0.0.1")


def test_bad_allow_value_exits_2(dp_bin):
    res = subprocess.run([dp_bin, "-lport", "0", "-allow", "10.0.0.0/33", "127.0.0.1"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


# --- the safe default -------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_listening_everywhere_without_auth_or_allow_is_refused(dp_bin, host):
    res = subprocess.run([dp_bin, "-lhost", host, "-lport", "0", "127.0.0.1"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "-open" in res.stderr and "-auth" in res.stderr


def isolated_netns_prefix():
    """Runs the proxy in a new network namespace holding only lo, so listening on every
    address exposes nothing beyond loopback."""
    need_root()
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def test_open_listener_starts_with_a_warning_naming_the_risk(start_proxy):
    proxy = start_proxy("-open", "127.0.0.1", prefix=isolated_netns_prefix(),
                        listen=("-lhost", "0.0.0.0", "-lport", "0"))
    assert any("WARN" in line and "open proxy" in line for line in proxy.lines), proxy.log()


def test_guarded_listener_on_every_address_starts_without_the_warning(start_proxy):
    proxy = start_proxy("-allow", "127.0.0.0/8", "127.0.0.1", prefix=isolated_netns_prefix(),
                        listen=("-lhost", "0.0.0.0", "-lport", "0"))
    assert not any("open proxy" in line for line in proxy.lines), proxy.log()


def test_help_documents_every_new_option(dp_bin):
    out = subprocess.run([dp_bin, "--help"], capture_output=True, text=True, timeout=10).stdout
    for opt in ("-auth USER:PASS", "-auth-file FILE", "-allow CIDR", "-open", "SIGHUP",
                "SOCKS4", "HTTP"):
        assert opt in out, opt


# --- the namespace lab: every protocol is dispatched like SOCKS5 ------------------------

@pytest.fixture(scope="module")
def lab():
    need_root()
    from lab import FAR_V4, Lab
    made = Lab()
    try:
        made.build()
        server = FarServer([f"http@{FAR_V4}:80"], prefix=made.exec_prefix(made.far))
        try:
            yield made
        finally:
            server.stop()
    finally:
        made.destroy()


@pytest.mark.parametrize("proto", ["socks5", "socks4", "http-forward", "http-connect"])
def test_each_protocol_is_dispatched_by_the_same_ratio_as_socks5(lab, start_proxy, proto):
    from lab import FAR_V4, WAN
    w1, w2 = WAN[1]["v4"], WAN[2]["v4"]
    proxy = start_proxy("-connect-timeout", "2", f"{w1}@3", f"{w2}@2",
                        prefix=lab.exec_prefix(lab.host))
    flags = {"socks5": ["--socks5", f"127.0.0.1:{proxy.port}"],
             "socks4": ["--socks4", f"127.0.0.1:{proxy.port}"],
             "http-forward": ["-x", f"http://127.0.0.1:{proxy.port}"],
             "http-connect": ["-p", "-x", f"http://127.0.0.1:{proxy.port}"]}[proto]
    seen = []
    for _ in range(10):
        res = subprocess.run([*lab.exec_prefix(lab.host), "curl", "-sS", "--max-time", "5",
                              *flags, f"http://{FAR_V4}/"], capture_output=True, text=True,
                             timeout=15)
        seen.append(res.stdout if res.returncode == 0 else None)
    assert Counter(seen) == {w1: 6, w2: 4}, proxy.log()
