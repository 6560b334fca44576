"""Client side helpers: a raw SOCKS5 client that shows every byte, and curl."""

import ipaddress
import socket
import struct
import subprocess
from collections import namedtuple

# REP codes from RFC 1928 that the tests name.
REP_OK, REP_NET_UNREACH, REP_HOST_UNREACH, REP_REFUSED = 0, 3, 4, 5
REP_TTL_EXPIRED, REP_CMD_UNSUPPORTED, REP_ATYP_UNSUPPORTED = 6, 7, 8

Reply = namedtuple("Reply", "rep host port")

GREETING = b"\x05\x01\x00"  # version 5, one method: no authentication


def recv_exact(sock, n):
    """Exactly n bytes, or ConnectionError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"peer closed after {len(buf)} of {n} bytes: {bytes(buf)!r}")
        buf += chunk
    return bytes(buf)


def recv_all(sock):
    """Every byte until EOF."""
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def request(host, port, cmd=1):
    """The bytes of a SOCKS5 request; the address type follows from host."""
    try:
        ip = ipaddress.ip_address(host)
        atyp = 1 if ip.version == 4 else 4
        addr = ip.packed
    except ValueError:
        atyp = 3
        addr = bytes([len(host)]) + host.encode()
    return bytes([5, cmd, 0, atyp]) + addr + struct.pack("!H", port)


def read_reply(sock):
    """Parses one SOCKS5 reply: (REP, BND.ADDR as text, BND.PORT)."""
    ver, rep, _rsv, atyp = recv_exact(sock, 4)
    assert ver == 5, f"reply version {ver}"
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_exact(sock, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(sock, 16))
    elif atyp == 3:
        host = recv_exact(sock, recv_exact(sock, 1)[0]).decode()
    else:
        raise AssertionError(f"reply with unknown ATYP {atyp}")
    (port,) = struct.unpack("!H", recv_exact(sock, 2))
    return Reply(rep, host, port)


def open_proxy(proxy, timeout=10):
    """A TCP connection to the proxy (proxy = (host, port))."""
    return socket.create_connection(proxy, timeout=timeout)


def socks5_connect(proxy, host, port, timeout=10):
    """Greeting + CONNECT; returns (socket, Reply). The method reply must be 05 00."""
    sock = open_proxy(proxy, timeout)
    sock.sendall(GREETING)
    assert recv_exact(sock, 2) == b"\x05\x00"
    sock.sendall(request(host, port))
    return sock, read_reply(sock)


def socks5_rep(proxy, host, port, timeout=15):
    """Greeting + CONNECT, then close: the reply's REP."""
    sock, reply = socks5_connect(proxy, host, port, timeout)
    sock.close()
    return reply.rep


def held_request(proxy, host, port=9, source=None):
    """Greeting + CONNECT to host, its answer not awaited (a lookup that stays pending):
    the open socket, after the method reply. source: the client's address."""
    s = socket.create_connection(proxy, timeout=10,
                                 source_address=(source, 0) if source else None)
    s.sendall(GREETING + request(host, port))
    assert recv_exact(s, 2) == b"\x05\x00"
    return s


def bound_device(host, port, peer, prefix=()):
    """The device an established TCP socket from host:port to peer (host, port) is bound
    to (SO_BINDTODEVICE), as `ss` reports it, or None when it is not bound to one. The
    peer is needed: with IP_BIND_ADDRESS_NO_PORT one source port serves many peers."""
    def fmt(h, p):
        return f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
    res = subprocess.run([*prefix, "ss", "-tnH", "state", "established", "src", fmt(host, port),
                          "dst", fmt(*peer)],
                         capture_output=True, text=True, timeout=10, check=True)
    local = fmt(host, port)
    lines = res.stdout.splitlines()
    assert len(lines) == 1, f"expected one socket from {local}, ss says: {res.stdout!r}"
    address = lines[0].split()[2]  # Recv-Q Send-Q Local Peer; Local is ADDR[%DEV]:PORT
    return address.rpartition(":")[0].partition("%")[2] or None


def curl(url, proxy_port, hostname=False, prefix=(), timeout=10):
    """Fetches url through the SOCKS5 proxy at 127.0.0.1:proxy_port.

    hostname=True makes curl pass names to the proxy (--socks5-hostname).
    prefix runs curl under a wrapper (e.g. ip netns exec NS). Returns the body;
    raises AssertionError with curl's message on failure.
    """
    flag = "--socks5-hostname" if hostname else "--socks5"
    argv = [*prefix, "curl", "-sS", "--max-time", str(timeout), flag,
            f"127.0.0.1:{proxy_port}", url]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
    assert res.returncode == 0, f"curl {url} failed ({res.returncode}): {res.stderr.strip()}"
    return res.stdout


def try_curl(url, proxy_port, prefix=(), timeout=10):
    """Like curl() but returns None instead of raising when the fetch fails."""
    try:
        return curl(url, proxy_port, prefix=prefix, timeout=timeout)
    except AssertionError:
        return None
