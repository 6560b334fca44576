"""Upstream proxies as links, and -tunnel, against real upstream programs on loopback.

Upstreams: microsocks (SOCKS5, with -u/-P and -b), tinyproxy (HTTP CONNECT, BasicAuth,
Bind), OpenSSH `ssh -D` to an sshd the test configures, and a second dispatch-proxy
(SOCKS4a). Each upstream leaves from its own 127.0.0.x source address, and the far
server answers with the address it saw: that names the upstream that carried each
connection.
"""

import os
import shutil
import socket
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from client import open_proxy, read_reply, recv_all, recv_exact, request
from conftest import FarServer, need_root
from lab import FAR_V4, WAN, Lab

HERE = Path(__file__).resolve().parent


def need(program):
    """The path of a program the test needs; missing it is a failure (CI installs it)."""
    path = shutil.which(program) or (program if os.access(program, os.X_OK) else None)
    if path is None:
        pytest.fail(f"{program} is missing: run scripts/ensure-deps.sh")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


class Procs:
    """Processes a test starts; every one is ended (by its pid) at teardown."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc in reversed(self.procs):
            self.stop(proc)


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.stop_all()


@pytest.fixture
def far():
    server = FarServer(["http@127.0.0.1:0"])
    yield server.ports[0]
    server.stop()


def microsocks(procs, bind, user=None, password=None, prefix=()):
    """A microsocks on 127.0.0.1 whose outgoing connections leave from bind."""
    port = free_port()
    argv = [*prefix, need("microsocks"), "-i", "127.0.0.1", "-p", str(port), "-b", bind]
    if user is not None:
        argv += ["-u", user, "-P", password]
    proc = procs.start(argv)
    wait_port(port, proc, "microsocks")
    return port, proc


def tinyproxy(procs, tmp_path, bind, user=None, password=None):
    port = free_port()
    conf = tmp_path / f"tinyproxy-{port}.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", f"Bind {bind}", "Timeout 30",
             "MaxClients 50", "Allow 127.0.0.1", "LogLevel Critical"]
    if user is not None:
        lines.append(f"BasicAuth {user} {password}")
    conf.write_text("\n".join(lines) + "\n")
    proc = procs.start([need("tinyproxy"), "-d", "-c", str(conf)])
    wait_port(port, proc, "tinyproxy")
    return port, proc


def ssh_dynamic(procs, tmp_path):
    """sshd on loopback with keys made here, and `ssh -N -D` through it: the port of the
    SOCKS server ssh opens."""
    sshd, ssh, keygen = need("/usr/sbin/sshd"), need("ssh"), need("ssh-keygen")
    d = tmp_path / "ssh"
    d.mkdir(parents=True)
    for name in ("host", "user"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "user.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    sshd_port = free_port()
    (d / "sshd_config").write_text(
        f"Port {sshd_port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile none\nUsePAM no\n"
        "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    server = procs.start([sshd, "-D", "-e", "-f", str(d / "sshd_config")])
    wait_port(sshd_port, server, "sshd")
    socks_port = free_port()
    user = os.environ.get("USER") or "root"
    client = procs.start([ssh, "-N", "-D", f"127.0.0.1:{socks_port}", "-p", str(sshd_port),
                          "-i", str(d / "user"), "-o", "StrictHostKeyChecking=no",
                          "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                          "-o", "ExitOnForwardFailure=yes", f"{user}@127.0.0.1"])
    wait_port(socks_port, client, "ssh -D")
    return socks_port


def socks5_get(proxy_port, host, port, timeout=10):
    """SOCKS5 CONNECT through the proxy and one HTTP GET: the far server's answer."""
    with open_proxy(("127.0.0.1", proxy_port), timeout) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exact(sock, 2) == b"\x05\x00"
        sock.sendall(request(host, port))
        reply = read_reply(sock)
        assert reply.rep == 0, f"REP {reply.rep}"
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(sock).split(b"\r\n\r\n", 1)[1].decode()


def tunnel_get(proxy_port, far_port, timeout=10):
    """Through a -tunnel whose upstreams are SOCKS5 servers: the client speaks SOCKS5 to
    the upstream itself, through the tunnel."""
    return socks5_get(proxy_port, "127.0.0.1", far_port, timeout)


def curl(*args, timeout=10):
    res = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args],
                         capture_output=True, text=True, timeout=timeout + 5)
    return res.returncode, res.stdout, res.stderr


CLIENTS = {
    "socks5": ["--socks5"],
    "socks5-hostname": ["--socks5-hostname"],
    "socks4a": ["--socks4a"],
    "http-proxy": ["-x"],
}


def client_args(kind, proxy_port):
    if kind == "http-proxy":
        return ["-x", f"http://127.0.0.1:{proxy_port}"]
    return [*CLIENTS[kind], f"127.0.0.1:{proxy_port}"]


# --- -tunnel ------------------------------------------------------------------------------

def test_tunnel_3_to_1_split_and_load_balancer_lines(start_proxy, procs, far):
    a, _ = microsocks(procs, "127.0.0.2")
    b, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-tunnel", f"127.0.0.1:{a}@3", f"127.0.0.1:{b}")
    assert f"[INFO] Load balancer 1: 127.0.0.1:{a}, contention ratio: 3" in proxy.log()
    assert f"[INFO] Load balancer 2: 127.0.0.1:{b}, contention ratio: 1" in proxy.log()
    seen = Counter(tunnel_get(proxy.port, far) for _ in range(40))
    assert seen == {"127.0.0.2": 30, "127.0.0.3": 10}


def test_tunnel_through_two_ssh_dynamic_forwards(start_proxy, procs, tmp_path, far):
    d1 = ssh_dynamic(procs, tmp_path / "one")
    proxy = start_proxy("-tunnel", f"localhost:{d1}", f"127.0.0.1:{d1}@2")
    # curl speaks SOCKS5 with a name to ssh, through the tunnel, byte for byte.
    for _ in range(3):
        rc, out, err = curl("--socks5-hostname", f"127.0.0.1:{proxy.port}",
                            f"http://localhost:{far}/")
        assert rc == 0, err
        assert out == "127.0.0.1"


def test_tunnel_fails_over_when_an_upstream_is_stopped(start_proxy, procs, far):
    a, proc_a = microsocks(procs, "127.0.0.2")
    b, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-tunnel", f"127.0.0.1:{a}", f"127.0.0.1:{b}")
    assert Counter(tunnel_get(proxy.port, far) for _ in range(4)) == {"127.0.0.2": 2,
                                                                     "127.0.0.3": 2}
    procs.stop(proc_a)
    # Every connection still works: the dead upstream's share moves to the other one.
    assert [tunnel_get(proxy.port, far) for _ in range(6)] == ["127.0.0.3"] * 6


def test_tunnel_with_every_upstream_down_closes_the_client(start_proxy):
    proxy = start_proxy("-tunnel", f"127.0.0.1:{free_port()}", "-connect-timeout", "2")
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x05\x01\x00")
        try:
            got = recv_all(sock)
        except ConnectionResetError:  # closed with our greeting unread
            got = b""
        assert got == b""


# --- proxy links: every scheme carries every client protocol -----------------------------

@pytest.fixture
def upstreams(start_proxy, procs, tmp_path):
    """One upstream per scheme, each leaving from its own source address."""
    s5, _ = microsocks(procs, "127.0.0.2")
    http, _ = tinyproxy(procs, tmp_path, "127.0.0.5")
    s4 = start_proxy("127.0.0.4")  # a second dispatch-proxy, speaking SOCKS4a
    return {
        "socks5": (f"socks5://127.0.0.1:{s5}", "127.0.0.2"),
        "socks5h": (f"socks5h://127.0.0.1:{s5}", "127.0.0.2"),
        "socks4a": (f"socks4a://127.0.0.1:{s4.port}", "127.0.0.4"),
        "http": (f"http://127.0.0.1:{http}", "127.0.0.5"),
    }


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4a", "http"])
def test_every_scheme_carries_curl_socks5_socks4a_and_http(start_proxy, upstreams, far, scheme):
    link, source = upstreams[scheme]
    proxy = start_proxy(link)
    for kind in CLIENTS:
        for host in ("127.0.0.1", "localhost"):
            rc, out, err = curl(*client_args(kind, proxy.port), f"http://{host}:{far}/")
            assert rc == 0, f"{kind} via {scheme} to {host}: {err}"
            assert out == source, f"{kind} via {scheme} to {host}"


def test_ssh_dynamic_forward_as_a_socks5h_link(start_proxy, procs, tmp_path, far):
    d = ssh_dynamic(procs, tmp_path / "one")
    proxy = start_proxy(f"socks5h://127.0.0.1:{d}")
    for kind in CLIENTS:
        rc, out, err = curl(*client_args(kind, proxy.port), f"http://localhost:{far}/")
        assert rc == 0, f"{kind}: {err}"
        assert out == "127.0.0.1"


def test_proxy_links_mix_with_an_address_link_by_ratio(start_proxy, procs, far):
    s5, _ = microsocks(procs, "127.0.0.2")
    proxy = start_proxy(f"socks5://127.0.0.1:{s5}@2", "127.0.0.6")
    seen = Counter(socks5_get(proxy.port, "127.0.0.1", far) for _ in range(9))
    assert seen == {"127.0.0.2": 6, "127.0.0.6": 3}


# --- credentials --------------------------------------------------------------------------

PASSWORD = "p@ss:w/rd%"
ENCODED = "p%40ss%3Aw%2Frd%25"


def test_credentials_are_percent_decoded_and_never_logged(start_proxy, procs, tmp_path, far):
    s5, _ = microsocks(procs, "127.0.0.2", "alice", PASSWORD)
    http, _ = tinyproxy(procs, tmp_path, "127.0.0.5", "bob", "s3cret")
    proxy = start_proxy("-vv", f"socks5://alice:{ENCODED}@127.0.0.1:{s5}",
                        f"http://bob:s3cret@127.0.0.1:{http}")
    seen = Counter(socks5_get(proxy.port, "127.0.0.1", far) for _ in range(4))
    assert seen == {"127.0.0.2": 2, "127.0.0.5": 2}
    proxy.stop()
    text = "\n".join(proxy.lines)
    for secret in (PASSWORD, ENCODED, "s3cret", "czNjcmV0"):
        assert secret not in text


def test_credentials_from_an_auth_file(start_proxy, procs, tmp_path, far):
    s5, _ = microsocks(procs, "127.0.0.2", "alice", PASSWORD)
    auth = tmp_path / "upstream.auth"
    auth.write_text(f"# upstream credentials\nalice:{PASSWORD}\n")
    proxy = start_proxy(f"socks5://127.0.0.1:{s5}/auth-file={auth}")
    assert socks5_get(proxy.port, "127.0.0.1", far) == "127.0.0.2"


def test_wrong_credentials_take_the_link_down_and_traffic_moves(start_proxy, procs, tmp_path,
                                                                far):
    s5, _ = microsocks(procs, "127.0.0.2", "alice", PASSWORD)
    http, _ = tinyproxy(procs, tmp_path, "127.0.0.5", "bob", "s3cret")
    good, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-fail-threshold", "1", f"socks5://alice:wrong@127.0.0.1:{s5}",
                        f"http://bob:wrong@127.0.0.1:{http}", f"socks5://127.0.0.1:{good}")
    assert [socks5_get(proxy.port, "127.0.0.1", far) for _ in range(6)] == ["127.0.0.3"] * 6
    log = proxy.log()
    assert f"link socks5://127.0.0.1:{s5} down: upstream proxy refused our credentials" in log
    assert f"link http://127.0.0.1:{http} down: upstream proxy refused our credentials" in log
    assert "wrong" not in log


# --- socks5h: no local DNS ----------------------------------------------------------------

@pytest.fixture
def dns_trap():
    """A UDP socket on the address the isolated resolv.conf names: any query lands here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.77.0.53", 53))
    except OSError as e:
        pytest.fail(f"cannot bind the DNS trap 127.77.0.53:53: {e}")
    sock.setblocking(False)
    yield sock
    sock.close()


def queries(sock):
    n = 0
    while True:
        try:
            sock.recvfrom(4096)
            n += 1
        except BlockingIOError:
            return n


def test_socks5h_sends_the_name_and_makes_no_dns_query(start_proxy, procs, tmp_path, far,
                                                       dns_isolated, dns_trap):
    # Only the upstream knows the name: a hosts file of its own.
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 only-upstream.test\n")
    unshare = ["unshare", "--mount", "sh", "-c",
               'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    s5, _ = microsocks(procs, "127.0.0.2", prefix=unshare)
    proxy = start_proxy(f"socks5h://127.0.0.1:{s5}", prefix=dns_isolated)
    assert socks5_get(proxy.port, "only-upstream.test", far) == "127.0.0.2"
    rc, out, err = curl("-x", f"http://127.0.0.1:{proxy.port}", f"http://only-upstream.test:{far}/")
    assert (rc, out) == (0, "127.0.0.2"), err
    assert queries(dns_trap) == 0
    # The trap works: a socks5:// link resolves here, asks the trap, and fails (REP 4).
    local = start_proxy(f"socks5://127.0.0.1:{s5}", prefix=dns_isolated)
    with open_proxy(local.addr) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exact(sock, 2) == b"\x05\x00"
        sock.sendall(request("only-upstream.test", far))
        assert read_reply(sock).rep == 4
    assert queries(dns_trap) >= 1


# --- the destination's answer through an upstream ------------------------------------------

@pytest.mark.parametrize("scheme", ["socks5", "http", "socks4a"])
def test_refusal_through_an_upstream_is_rep5_and_502_and_the_link_stays_up(
        start_proxy, upstreams, procs, far, scheme):
    link, source = upstreams[scheme]
    other, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-fail-threshold", "1", link, f"socks5://127.0.0.1:{other}")
    closed = free_port()
    for _ in range(2):
        with open_proxy(proxy.addr) as sock:  # first pick: the link under test
            sock.sendall(b"\x05\x01\x00")
            assert recv_exact(sock, 2) == b"\x05\x00"
            sock.sendall(request("127.0.0.1", closed))
            assert read_reply(sock).rep == 5
    rc, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                      f"http://127.0.0.1:{proxy.port}", f"http://127.0.0.1:{closed}/")
    assert out == "502"
    # Both links still take their turns: the refusals did not count against the first.
    seen = [socks5_get(proxy.port, "127.0.0.1", far) for _ in range(4)]
    assert sorted(seen) == sorted([source, "127.0.0.3"] * 2)
    assert " down" not in proxy.log() and "suspect" not in proxy.log()


def test_bnd_is_what_the_upstream_reported(start_proxy, far):
    upstream = start_proxy("127.0.0.4")  # reports its own outgoing address as BND
    proxy = start_proxy(f"socks5://127.0.0.1:{upstream.port}")
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exact(sock, 2) == b"\x05\x00"
        sock.sendall(request("127.0.0.1", far))
        reply = read_reply(sock)
    # Our own socket to the upstream leaves from 127.0.0.1; the upstream's from .4.
    assert (reply.rep, reply.host) == (0, "127.0.0.4")
    assert reply.port != 0


# --- broken upstreams ---------------------------------------------------------------------

class BadUpstream:
    """Accepts connections and answers each with garbage, closes at once, or (silent)
    holds it open without a byte."""

    def __init__(self, procs, mode):
        self.port = free_port()
        code = ("import socket,sys\n"
                "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                f"s.bind(('127.0.0.1',{self.port})); s.listen(64)\n"
                "held=[]\n"
                "while True:\n"
                "    c,_=s.accept()\n"
                f"    if {mode!r}=='silent':\n"
                "        held.append(c); continue\n"
                f"    if {mode!r}=='garbage':\n"
                "        c.recv(100); c.sendall(b'\\x00garbage\\xff' * 3)\n"
                "    c.close()\n")
        proc = procs.start(["python3", "-c", code])
        wait_port(self.port, proc, f"{mode} upstream")


@pytest.mark.parametrize("mode", ["garbage", "close"])
@pytest.mark.parametrize("scheme", ["socks5", "socks4a", "http"])
def test_garbage_or_closing_upstream_moves_to_the_next_link(start_proxy, procs, far, mode,
                                                            scheme):
    bad = BadUpstream(procs, mode)
    good, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy(f"{scheme}://127.0.0.1:{bad.port}", f"socks5://127.0.0.1:{good}")
    assert [socks5_get(proxy.port, "127.0.0.1", far) for _ in range(4)] == ["127.0.0.3"] * 4


# --- bad command lines --------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["socks5://alice:hunter22@127.0.0.1:99999"], "port"),
    (["socks5://alice:hunter22@127.0.0.1:0"], "port"),
    (["ftp://alice:hunter22@127.0.0.1:21"], 'unknown scheme "ftp"'),
    (["socks5://alice:hunter22@:1080"], "host"),
    (["socks5://alice:hunter22@127.0.0.1"], "PORT"),
    (["socks5://alice:hunter22@127.0.0.1:1080@0"], "ratio"),
    (["socks5://alice:" + "x" * 256 + "@127.0.0.1:1080"], "255 bytes"),
    (["socks5://alice:hunter%2@127.0.0.1:1080"], "percent-encoded"),
    (["socks5://alice:hunter22@127.0.0.1:1080/nope"], "unknown option"),
    (["socks4a://alice:hunter22@127.0.0.1:1080"], "no password"),
    (["-tunnel", "127.0.0.1"], "PORT"),
    (["-tunnel", "socks5://127.0.0.1:1080"], "not a URL"),
    (["-tunnel"], "-tunnel needs"),
    (["-tunnel", "-auth", "alice:hunter22", "127.0.0.1:1080"], "do not apply to -tunnel"),
])
def test_bad_links_exit_2_with_one_line_naming_them(dp_bin, args, needle):
    res = subprocess.run([dp_bin, "-lport", "0", *args], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert needle in lines[0]
    assert "hunter22" not in res.stderr and "x" * 256 not in res.stderr


def test_missing_auth_file_is_a_one_line_error(dp_bin, tmp_path):
    res = subprocess.run([dp_bin, "-lport", "0", f"socks5://127.0.0.1:1080/auth-file={tmp_path}/none"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode != 0
    assert "cannot read" in res.stderr and len(res.stderr.strip().splitlines()) == 1


# --- health, /via, IPv6 -------------------------------------------------------------------

def raw_get(proxy_port):
    """Through a tunnel straight to a far http server: the address it saw."""
    with open_proxy(("127.0.0.1", proxy_port)) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(sock).split(b"\r\n\r\n", 1)[1].decode()


def wait_log(proxy, text, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proxy.log():
            return
        time.sleep(0.05)
    pytest.fail(f"no {text!r} in the log within {timeout}s:\n{proxy.log()}")


@pytest.mark.parametrize("tunnel", [False, True])
def test_probes_through_the_upstream_bring_its_link_back(start_proxy, procs, far, tunnel):
    a, proc_a = microsocks(procs, "127.0.0.2")
    b, _ = microsocks(procs, "127.0.0.3")
    links = [f"127.0.0.1:{a}", f"127.0.0.1:{b}"] if tunnel else \
        [f"socks5://127.0.0.1:{a}", f"socks5://127.0.0.1:{b}"]
    proxy = start_proxy(*(["-tunnel"] if tunnel else []), "-fail-threshold", "1",
                        "-probe", f"127.0.0.1:{far}", "-probe-interval", "0.2", *links)
    procs.stop(proc_a)
    assert [socks5_get(proxy.port, "127.0.0.1", far) for _ in range(2)] == ["127.0.0.3"] * 2
    wait_log(proxy, f"link {links[0]} down: upstream proxy unreachable")
    microsocks_again = procs.start([need("microsocks"), "-i", "127.0.0.1", "-p", str(a),
                                    "-b", "127.0.0.2"])
    wait_port(a, microsocks_again, "microsocks again")
    wait_log(proxy, f"link {links[0]} up again")
    seen = Counter(socks5_get(proxy.port, "127.0.0.1", far) for _ in range(4))
    assert seen == {"127.0.0.2": 2, "127.0.0.3": 2}


def test_via_makes_the_upstream_connection_leave_from_that_link(start_proxy, far):
    proxy = start_proxy("-tunnel", f"127.0.0.1:{far}/via=127.0.0.7")
    assert raw_get(proxy.port) == "127.0.0.7"
    upstream = start_proxy("-v", "127.0.0.4")
    linked = start_proxy(f"socks5://127.0.0.1:{upstream.port}/via=127.0.0.8")
    assert socks5_get(linked.port, "127.0.0.1", far) == "127.0.0.4"
    assert "client 127.0.0.8:" in upstream.log()


def test_tunnel_to_an_ipv6_upstream_in_brackets(start_proxy):
    server = FarServer(["http@::1:0"])
    try:
        proxy = start_proxy("-tunnel", f"[::1]:{server.ports[0]}")
        assert raw_get(proxy.port) == "::1"
    finally:
        server.stop()


def test_tunnel_sticky_keeps_a_client_on_one_upstream(start_proxy, procs, far):
    a, _ = microsocks(procs, "127.0.0.2")
    b, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-tunnel", "-policy", "sticky", f"127.0.0.1:{a}", f"127.0.0.1:{b}")
    seen = {tunnel_get(proxy.port, far) for _ in range(6)}
    assert len(seen) == 1 and seen <= {"127.0.0.2", "127.0.0.3"}


def test_a_name_the_upstream_cannot_resolve_is_its_rep4_and_the_link_stays_up(
        start_proxy, far, dns_isolated):
    upstream = start_proxy("127.0.0.4", prefix=dns_isolated)
    proxy = start_proxy("-fail-threshold", "1", f"socks5h://127.0.0.1:{upstream.port}",
                        prefix=dns_isolated)
    with open_proxy(proxy.addr) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert recv_exact(sock, 2) == b"\x05\x00"
        sock.sendall(request("nonexistent.invalid", 80))
        assert read_reply(sock).rep == 4
    rc, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                      f"http://127.0.0.1:{proxy.port}", "http://nonexistent.invalid/")
    assert out == "502"
    assert socks5_get(proxy.port, "127.0.0.1", far) == "127.0.0.4"
    assert " down" not in proxy.log()


# --- /via in the namespace lab: the upstream is reached by the chosen uplink ---------------

@pytest.fixture(scope="module")
def lab():
    need_root()
    the_lab = Lab()
    try:
        the_lab.build()
        yield the_lab
    finally:
        the_lab.destroy()


def curl_in(prefix, *args, raw_tunnel=False):
    """curl inside a namespace. raw_tunnel: the proxy is a -tunnel straight to an http
    server, so send a plain GET to it instead of speaking a proxy protocol."""
    if raw_tunnel:
        port = args[1].rsplit(":", 1)[1]
        args = (f"http://127.0.0.1:{port}/",)
    res = subprocess.run([*prefix, "curl", "-sS", "--max-time", "10", *args],
                         capture_output=True, text=True, timeout=20)
    return res.returncode, res.stdout, res.stderr


def test_lab_via_wan2_reaches_the_upstream_by_wan2(lab, start_proxy):
    server = FarServer([f"http@{FAR_V4}:80"], prefix=lab.exec_prefix(lab.far))
    try:
        upstream = start_proxy("-v", "-lhost", FAR_V4, "-lport", "1080", "-open", FAR_V4,
                               prefix=lab.exec_prefix(lab.far), listen=())
        host = lab.exec_prefix(lab.host)
        # Default route: wan1. /via=wan2 must take wan2, whose ISP drops anything else.
        tunnel = start_proxy("-tunnel", f"{FAR_V4}:80/via=wan2", prefix=host)
        plain = start_proxy("-tunnel", f"{FAR_V4}:80", prefix=host)
        linked = start_proxy(f"socks5://{FAR_V4}:1080/via=wan2", prefix=host)
        for proxy, want in ((tunnel, WAN[2]["v4"]), (plain, WAN[1]["v4"])):
            rc, out, err = curl_in(host, "-x", f"http://127.0.0.1:{proxy.port}",
                                   f"http://{FAR_V4}/", raw_tunnel=True)
            assert out == want, err
        rc, out, err = curl_in(host, "--socks5", f"127.0.0.1:{linked.port}", f"http://{FAR_V4}/")
        assert (rc, out) == (0, FAR_V4), err
        assert f"client {WAN[2]['v4']}:" in upstream.log()
    finally:
        server.stop()


def test_an_upstream_silent_in_its_greeting_is_a_link_failure(start_proxy, procs, far):
    silent = BadUpstream(procs, "silent")
    good, _ = microsocks(procs, "127.0.0.3")
    proxy = start_proxy("-fail-threshold", "1", "-connect-timeout", "1", "-race-delay", "0",
                        f"socks5://127.0.0.1:{silent.port}", f"socks5://127.0.0.1:{good}")
    assert socks5_get(proxy.port, "127.0.0.1", far) == "127.0.0.3"
    wait_log(proxy, f"link socks5://127.0.0.1:{silent.port} down: upstream proxy failed the "
             "handshake")
