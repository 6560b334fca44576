"""dispatch-proxy.exe (the mingw-w64 build) under wine, on loopback.

Wine runs Winsock on Linux sockets: everything the Windows code does is exercised
(WSAPoll loop, WSAE* errors, GetAdaptersAddresses, console control, the loopback socket
pairs) except that a TCP socket pinned with IP_UNICAST_IF is not held to its interface.
Pinning is proven on Linux by the namespace lab (tests/integration/test_lab.py); here the
links are loopback addresses, told apart by the source address the far server sees.
"""

import hashlib
import socket
import subprocess
import threading
from collections import Counter, namedtuple

import pytest

from client import (GREETING, REP_HOST_UNREACH, REP_OK, REP_REFUSED, REP_TTL_EXPIRED,
                    open_proxy, read_reply, recv_all, recv_exact, request, socks5_connect)
from conftest import FarServer
from farserver import pattern

Ports = namedtuple("Ports", "http echo peer echo6")


@pytest.fixture(scope="module")
def far():
    server = FarServer(["http@127.0.0.1:0", "echo@127.0.0.1:0", "peer@127.0.0.1:0",
                        "echo@[::1]:0"])
    yield Ports(*server.ports)
    server.stop()


def curl(*args, timeout=20):
    """curl -sS with args; returns (exit status, stdout, stderr)."""
    res = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout + 10)
    return res.returncode, res.stdout, res.stderr


def fetch(*args):
    rc, out, err = curl(*args)
    assert rc == 0, f"curl {args} failed ({rc}): {err.strip()}"
    return out


def roundtrip(sock, payload):
    sock.sendall(payload)
    return recv_exact(sock, len(payload))


# --- the adapters ------------------------------------------------------------------------

def test_list_shows_the_loopback_adapter_up_with_its_addresses(run_exe):
    res = run_exe("-list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "--- Listing the available addresses for dispatching"
    assert any(line.startswith("[+] lo (up), IPv4: 127.0.0.1") for line in lines), res.stdout


# --- SOCKS5 ------------------------------------------------------------------------------

def test_socks5_ipv4_destination(start_proxy, far):
    proxy = start_proxy("127.0.0.1")
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo)
    with sock:
        assert reply.rep == REP_OK and reply.host == "127.0.0.1"
        assert roundtrip(sock, b"through wine") == b"through wine"


def test_socks5_domain_name_destination(start_proxy, far, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    sock, reply = socks5_connect(proxy.addr, "localhost", far.echo, timeout=30)
    with sock:
        assert reply.rep == REP_OK
        assert roundtrip(sock, b"by name") == b"by name"


def test_socks5_ipv6_destination_over_an_ipv6_link(start_proxy, far):
    proxy = start_proxy("::1")
    sock, reply = socks5_connect(proxy.addr, "::1", far.echo6)
    with sock:
        assert reply.rep == REP_OK and reply.host == "::1"
        assert roundtrip(sock, b"over six") == b"over six"


def test_one_mib_each_way_arrives_byte_exact_and_half_close_is_relayed(start_proxy, far):
    """The echo server returns what it got and closes after our FIN: the relay carries
    1 MiB up and 1 MiB down at once, then the EOF in both directions."""
    proxy = start_proxy("127.0.0.1")
    data = pattern(1 << 20)
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo, timeout=60)
    with sock:
        assert reply.rep == REP_OK

        def upload():
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=upload)
        sender.start()
        got = recv_all(sock)
        sender.join(60)
    assert len(got) == len(data)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_reply_bnd_addr_is_the_source_the_server_saw(start_proxy, far):
    proxy = start_proxy("127.0.0.2")
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.peer)
    with sock:
        assert reply.rep == REP_OK
        seen_ip, seen_port = recv_all(sock).decode().split()
    assert (reply.host, reply.port) == (seen_ip, int(seen_port)) == ("127.0.0.2", reply.port)


def test_ratio_3_2_splits_ten_connections_6_4_by_source_address(start_proxy, far):
    proxy = start_proxy("127.0.0.1@3", "127.0.0.2@2")
    seen = [fetch("--socks5", f"127.0.0.1:{proxy.port}", f"http://127.0.0.1:{far.http}/")
            for _ in range(10)]
    assert Counter(seen) == {"127.0.0.1": 6, "127.0.0.2": 4}
    a, b = "127.0.0.1", "127.0.0.2"
    assert seen == [a, b, a, b, a, a, b, a, b, a]


def test_refused_destination_gets_rep_5(start_proxy):
    proxy = start_proxy("127.0.0.1")
    with socket.socket() as closed:  # bound, never listening: connecting to it is refused
        closed.bind(("127.0.0.1", 0))
        sock, reply = socks5_connect(proxy.addr, "127.0.0.1", closed.getsockname()[1])
        sock.close()
    assert reply.rep == REP_REFUSED


def test_unresolvable_name_gets_rep_4(start_proxy, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    sock, reply = socks5_connect(proxy.addr, "nonexistent.invalid", 80, timeout=30)
    sock.close()
    assert reply.rep == REP_HOST_UNREACH


def test_silent_destination_gets_rep_6_within_the_connect_timeout(start_proxy):
    """A listener whose accept queue is full drops further SYNs: the connect never
    completes, and the proxy's -connect-timeout answers REP 6 (the socket's own timeout
    bounds the wait)."""
    proxy = start_proxy("127.0.0.1", "-connect-timeout", "2")
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        try:
            for _ in range(2):  # one fills the queue; the next waits in SYN_SENT
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(full.getsockname())
                fillers.append(s)
            sock, reply = socks5_connect(proxy.addr, *full.getsockname(), timeout=30)
            sock.close()
        finally:
            for s in fillers:
                s.close()
    assert reply.rep == REP_TTL_EXPIRED


# --- SOCKS4a, HTTP -----------------------------------------------------------------------

def test_socks4a_passes_the_name_to_the_proxy(start_proxy, far, dns_isolated):
    proxy = start_proxy("127.0.0.1", prefix=dns_isolated)
    out = fetch("--socks4a", f"127.0.0.1:{proxy.port}", f"http://localhost:{far.http}/")
    assert out == "127.0.0.1"


def test_http_proxy_forwards_an_absolute_form_request(start_proxy, far):
    proxy = start_proxy("127.0.0.2")
    assert fetch("-x", f"http://127.0.0.1:{proxy.port}", f"http://127.0.0.1:{far.http}/") == \
        "127.0.0.2"


def test_http_connect_tunnel(start_proxy, far):
    proxy = start_proxy("127.0.0.2")
    out = fetch("-p", "-x", f"http://127.0.0.1:{proxy.port}", f"http://127.0.0.1:{far.http}/")
    assert out == "127.0.0.2"


# --- credentials -------------------------------------------------------------------------

def test_socks5_credentials_checked(start_proxy, far):
    proxy = start_proxy("127.0.0.1", "-auth", "alice:wonder")
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x05\x01\x02\x01\x05alice\x06wonder" + request("127.0.0.1", far.echo))
        assert recv_exact(sock, 2) == b"\x05\x02"
        assert recv_exact(sock, 2) == b"\x01\x00"
        assert read_reply(sock).rep == REP_OK
        assert roundtrip(sock, b"authorised") == b"authorised"
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x05\x01\x02\x01\x05alice\x04nope")
        assert recv_exact(sock, 2) == b"\x05\x02"
        assert recv_exact(sock, 2) == b"\x01\x01"
    with open_proxy(proxy.addr) as sock:
        sock.sendall(GREETING)  # no-auth only
        assert recv_exact(sock, 2) == b"\x05\xff"
    url = f"http://127.0.0.1:{far.http}/"
    assert fetch("-x", f"http://alice:wonder@127.0.0.1:{proxy.port}", url) == "127.0.0.1"
    assert fetch("-o", "/dev/null", "-w", "%{http_code}", "-x",
                 f"http://alice:nope@127.0.0.1:{proxy.port}", url) == "407"


# --- bad input, shutdown -----------------------------------------------------------------

@pytest.mark.parametrize("link, message", [
    ("nosuchif0", 'dispatch-proxy: bad link "nosuchif0": no interface named nosuchif0'),
    ("127.0.0.1@0", 'dispatch-proxy: bad link "127.0.0.1@0": ratio "0" must be an integer '
                    'from 1 to 1000'),
    ("Wi-Fi 2@3", 'dispatch-proxy: bad link "Wi-Fi 2": no interface named Wi-Fi 2'),
], ids=["no-such-adapter", "ratio-out-of-range", "friendly-name-with-a-space"])
def test_bad_link_exits_2_with_one_line(run_exe, link, message):
    res = run_exe("-lport", "0", link)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [message]


def test_user_option_is_refused_with_one_line(run_exe):
    res = run_exe("-lhost", "127.0.0.1", "-lport", "0", "-user", "nobody", "127.0.0.1")
    assert res.returncode != 0
    assert res.stderr.splitlines()[-1].startswith("dispatch-proxy: -user is not available on "
                                                  "Windows")


def test_ctrl_c_stops_the_proxy_cleanly(start_proxy, far):
    proxy = start_proxy("127.0.0.1")
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far.echo)
    with sock:
        assert reply.rep == REP_OK
        assert proxy.stop() == 0
    assert any("Signal Ctrl-C received, shutting down" in line for line in proxy.lines), \
        proxy.log()
