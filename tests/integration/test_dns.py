"""Per-link DNS (-dns): names looked up by our own resolver, through the links.

A DNS server of our own (dnsserver.py, python3-dnslib) records every query with the
source address it came from. On loopback it pins the protocol behaviour (cache, TCP on
truncation, NXDOMAIN, localhost); in the namespace lab (root) it sits in FAR, reachable
through both ISPs, and pins which link each query leaves by.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client import REP_HOST_UNREACH, REP_OK, curl, held_request, socks5_rep, try_curl
from conftest import HERE, REPO, FarServer, need_root
from lab import FAR_V4, WAN, Lab, netns

W1_V4, W2_V4 = WAN[1]["v4"], WAN[2]["v4"]
NAMES = [f"n{i}.test" for i in range(12)]


class DnsServer:
    """dnsserver.py in its own process (optionally inside a namespace)."""

    def __init__(self, log, listens, records, prefix=()):
        self.logfile = Path(log)
        self.logfile.write_text("")
        argv = [*prefix, sys.executable, str(HERE / "dnsserver.py"), str(log), *listens, "--",
                *records]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"DNS server did not start: {argv}")
        self.ports = [int(p) for p in line.split()[1:]]

    def queries(self):
        """[(proto, source, name, type), ...] so far."""
        return [tuple(line.split()) for line in self.logfile.read_text().splitlines()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def http_status(proxy_port, url, prefix=()):
    res = subprocess.run([*prefix, "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                          "%{http_code}", "-x", f"http://127.0.0.1:{proxy_port}", url],
                         capture_output=True, text=True, timeout=20)
    return res.stdout.strip()


# --- loopback: the resolver's behaviour ---------------------------------------------------

@pytest.fixture
def loop_dns(tmp_path):
    server = DnsServer(tmp_path / "queries.log", ["127.0.0.1:0"],
                       ["far.test=127.0.0.1", "tc.far.test=127.0.0.1", "v6only.test=::1"])
    far = FarServer(["http@127.0.0.1:0", "http@[::1]:0"])
    yield server, far
    server.stop()
    far.stop()


@pytest.fixture
def dns_proxy(loop_dns, start_proxy):
    server, _ = loop_dns
    return start_proxy("-vv", "-dns", f"127.0.0.1:{server.ports[0]}", "127.0.0.1")


def test_name_resolves_through_our_resolver_and_connects(loop_dns, dns_proxy):
    server, far = loop_dns
    assert curl(f"http://far.test:{far.ports[0]}/", dns_proxy.port, hostname=True) == "127.0.0.1"
    assert sorted(q[2:] for q in server.queries()) == [("far.test", "A"), ("far.test", "AAAA")]


def test_second_lookup_is_a_cache_hit_with_no_query(loop_dns, dns_proxy):
    server, far = loop_dns
    for _ in range(3):
        assert curl(f"http://far.test:{far.ports[0]}/", dns_proxy.port, hostname=True)
    assert len(server.queries()) == 2  # one A, one AAAA, for the first request only


def test_nxdomain_is_rep_4_and_http_502_and_cached(loop_dns, dns_proxy):
    server, far = loop_dns
    assert socks5_rep(dns_proxy.addr, "none.test", far.ports[0]) == REP_HOST_UNREACH
    assert http_status(dns_proxy.port, f"http://none.test:{far.ports[0]}/") == "502"
    asked = [q for q in server.queries() if q[2] == "none.test"]
    assert sorted(q[3] for q in asked) == ["A", "AAAA"]  # the second one came from the cache


def test_truncated_answer_is_asked_again_over_tcp(loop_dns, dns_proxy):
    server, far = loop_dns
    assert curl(f"http://tc.far.test:{far.ports[0]}/", dns_proxy.port, hostname=True)
    protos = sorted((q[0], q[3]) for q in server.queries() if q[2] == "tc.far.test")
    assert protos == [("tcp", "A"), ("tcp", "AAAA"), ("udp", "A"), ("udp", "AAAA")]


def test_ipv6_only_name_connects_over_ipv6(loop_dns, start_proxy):
    server, far = loop_dns
    proxy = start_proxy("-dns", f"127.0.0.1:{server.ports[0]}", "127.0.0.1", "::1")
    assert socks5_rep(proxy.addr, "v6only.test", far.ports[1]) == REP_OK


def test_localhost_never_leaves_the_host(loop_dns, dns_proxy):
    server, far = loop_dns
    assert curl(f"http://localhost:{far.ports[0]}/", dns_proxy.port, hostname=True) == "127.0.0.1"
    assert curl(f"http://app.localhost:{far.ports[0]}/", dns_proxy.port, hostname=True)
    assert server.queries() == []


def test_silent_server_fails_the_lookup_and_the_proxy_keeps_serving(loop_dns, dns_proxy):
    server, far = loop_dns
    start = time.monotonic()
    assert socks5_rep(dns_proxy.addr, "slow.test", far.ports[0]) == REP_HOST_UNREACH
    assert time.monotonic() - start < 12  # bounded by the tries, not hung
    assert curl(f"http://far.test:{far.ports[0]}/", dns_proxy.port, hostname=True)


@pytest.mark.parametrize("value, message", [
    ("dns.example", "is not a server address"),
    ("10.0.0.1:0", "is not a server address"),
    ("wan9=10.0.0.1", 'no link named "wan9"'),
])
def test_bad_dns_value_is_refused_with_one_line(dp_bin, value, message):
    res = subprocess.run([dp_bin, "-lhost", "127.0.0.1", "-lport", "0", "-dns", value,
                          "127.0.0.1"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert any(message in line and "-dns" in line for line in lines), res.stderr


# --- the namespace lab: which link each query leaves by -------------------------------------

@pytest.fixture(scope="module")
def dns_lab(tmp_path_factory):
    need_root()
    lab = Lab()
    log = tmp_path_factory.mktemp("dnslab") / "queries.log"
    server = far = None
    try:
        lab.build()
        far = FarServer([f"http@{FAR_V4}:80"], prefix=lab.exec_prefix(lab.far))
        server = DnsServer(log, [f"{FAR_V4}:53"],
                           ["far.test=" + FAR_V4] + [f"{n}={FAR_V4}" for n in NAMES],
                           prefix=lab.exec_prefix(lab.far))
        yield lab, server
    finally:
        for s in (server, far):
            if s is not None:
                s.stop()
        lab.destroy()


@pytest.fixture
def lab_proxy(dns_lab, start_proxy):
    lab, server = dns_lab
    server.logfile.write_text("")

    def start(*links):
        return start_proxy("-vv", "-connect-timeout", 3, "-dns", FAR_V4, *links,
                           prefix=lab.exec_prefix(lab.host))
    return start


def host_fetch(lab, proxy, url, hostname=True):
    if hostname:
        return try_curl_hostname(lab, proxy, url)
    return try_curl(url, proxy.port, prefix=lab.exec_prefix(lab.host))


def try_curl_hostname(lab, proxy, url):
    try:
        return curl(url, proxy.port, hostname=True, prefix=lab.exec_prefix(lab.host), timeout=15)
    except AssertionError:
        return None


def test_lab_names_resolve_and_connect_through_wan2_while_isp1_is_dark(dns_lab, lab_proxy):
    lab, server = dns_lab
    proxy = lab_proxy("wan1", "wan2")
    with lab.isp_dark(1):
        seen = [host_fetch(lab, proxy, f"http://{n}/") for n in NAMES[:4]]
        status = http_status(proxy.port, f"http://{NAMES[4]}/", prefix=lab.exec_prefix(lab.host))
        body = subprocess.run([*lab.exec_prefix(lab.host), "curl", "-sS", "--max-time", "15",
                               "-x", f"http://127.0.0.1:{proxy.port}", f"http://{NAMES[5]}/"],
                              capture_output=True, text=True, timeout=25).stdout
    assert seen == [W2_V4] * 4, proxy.log()
    assert status == "200" and body == W2_V4, proxy.log()
    # Whatever wan1 sent went into the dark; every answer came through wan2.
    assert {q[1] for q in server.queries() if q[1] != W1_V4} == {W2_V4}


def test_lab_only_wan2_listed_sends_no_query_from_wan1(dns_lab, lab_proxy):
    lab, server = dns_lab
    proxy = lab_proxy("wan2")
    seen = [host_fetch(lab, proxy, f"http://{n}/") for n in NAMES[:3]]
    assert seen == [W2_V4] * 3
    sources = {q[1] for q in server.queries()}
    assert sources == {W2_V4}, server.queries()


def test_lab_each_query_leaves_by_its_connections_link(dns_lab, lab_proxy):
    lab, server = dns_lab
    proxy = lab_proxy("wan1", "wan2")
    seen = {n: host_fetch(lab, proxy, f"http://{n}/") for n in NAMES}
    asked = {}
    for _, src, name, _ in server.queries():
        asked.setdefault(name, set()).add(src)
    assert set(seen.values()) == {W1_V4, W2_V4}  # 1:1 over both links
    for n in NAMES:
        assert asked[n] == {seen[n]}, (n, asked[n], seen[n])


def test_lab_nxdomain_is_rep_4_and_a_cache_hit_sends_nothing(dns_lab, lab_proxy):
    lab, server = dns_lab
    proxy = lab_proxy("wan2")
    with netns(lab.host):
        assert socks5_rep(proxy.addr, "missing.test", 80) == REP_HOST_UNREACH
    assert http_status(proxy.port, "http://missing2.test/", prefix=lab.exec_prefix(lab.host)) \
        == "502"
    assert host_fetch(lab, proxy, "http://far.test/") == W2_V4
    before = len(server.queries())
    assert host_fetch(lab, proxy, "http://far.test/") == W2_V4
    with netns(lab.host):
        assert socks5_rep(proxy.addr, "missing.test", 80) == REP_HOST_UNREACH
    assert len(server.queries()) == before


# --- -dns auto on Linux: systemd-resolved's per-link servers ---------------------------------

def ifindex(lab, name):
    out = subprocess.run(["ip", "-n", lab.host, "-j", "link", "show", name], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]["ifindex"]


@pytest.fixture(scope="module")
def resolved_lab(dns_lab, tmp_path_factory):
    """Two DNS servers in FAR (one per link, ports 5301 and 5302) and a /run for the proxy
    where systemd-resolved's state gives wan1 the first and wan2 the second, in the form
    resolved writes (/run/systemd/resolve/netif/<ifindex>)."""
    lab, _ = dns_lab
    root = tmp_path_factory.mktemp("resolved")
    run = root / "run"
    netif = run / "systemd" / "resolve" / "netif"
    netif.mkdir(parents=True)
    servers = []
    try:
        for n in (1, 2):
            servers.append(DnsServer(root / f"wan{n}.log", [f"{FAR_V4}:530{n}"],
                                     [f"{name}={FAR_V4}" for name in NAMES],
                                     prefix=lab.exec_prefix(lab.far)))
            (netif / str(ifindex(lab, f"wan{n}"))).write_text(
                "# This is private data. Do not parse.\nLLMNR=yes\nMDNS=no\n"
                f"SERVERS={FAR_V4}:530{n}\nDOMAINS=lab.test\n")
        (run / "systemd" / "resolve" / "resolv.conf").write_text(f"nameserver {FAR_V4}\n")
        stub = root / "resolv.conf"
        stub.write_text("nameserver 127.0.0.53\noptions edns0 trust-ad\n")
        yield lab, servers, run, stub
    finally:
        for s in servers:
            s.stop()


def in_host(lab, run, stub, own_pid_ns=True, named=False):
    """argv prefix: the proxy in HOST with `run` mounted on /run and `stub` on
    /etc/resolv.conf (a private mount namespace, gone with the proxy). own_pid_ns: the
    proxy is PID 1 of a PID namespace of its own, so it shares PID 1's network namespace
    as on a machine where resolved runs; without it, PID 1 is this machine's init, in
    another network namespace. named: HOST is also named in /run/netns/, as
    "ip netns add" does."""
    mounts = 'mount --bind "$0" /run && mount --bind "$1" /etc/resolv.conf && shift || exit 1\n'
    if named:
        mounts += ('mkdir -p /run/netns && : > /run/netns/lab && '
                   'mount --bind /proc/self/ns/net /run/netns/lab || exit 1\n')
    if not own_pid_ns:
        return [*lab.exec_prefix(lab.host), "unshare", "--mount", "sh", "-c",
                mounts + 'exec "$@"', str(run), str(stub)]
    # In the new PID namespace the shell's first child is PID 1 (so the shell forks nothing
    # before it): it mounts that namespace's /proc and becomes the proxy. The shell stays
    # outside, passing SIGTERM on (unshare --fork would ignore it) and exiting with the
    # proxy's status.
    inner = """sh -c 'mount -t proc proc /proc && exec "$@"' sh "$@" &
child=$!
trap 'kill -TERM $child' TERM
wait $child; status=$?
# Over 128: the wait was cut short by the trap; the second one gives the proxy's status
# (the shell keeps it if it has already reaped the proxy).
[ $status -gt 128 ] && { wait $child; status=$?; }
exit $status
"""
    return [*lab.exec_prefix(lab.host), "unshare", "--mount", "sh", "-c",
            mounts + 'inner=$1; shift; exec unshare --pid sh -c "$inner" sh "$@"',
            str(run), str(stub), inner]


def assert_each_name_asked_of_its_links_server(lab, proxy, servers):
    """Six names fetched 1:1 over wan1 and wan2: each was asked only of its connection's
    link's server (servers[0] for wan1, servers[1] for wan2), from that link's address."""
    seen = {n: host_fetch(lab, proxy, f"http://{n}/") for n in NAMES[:6]}
    assert set(seen.values()) == {W1_V4, W2_V4}, (seen, proxy.log())
    for k, w in ((0, W1_V4), (1, W2_V4)):
        queries = servers[k].queries()
        assert {q[1] for q in queries} == {w}, queries
        assert {q[2] for q in queries} == {n for n in seen if seen[n] == w}, (seen, queries)


def networkd_run(lab, run):
    """A /run where no resolved file exists and systemd-networkd's state names each link's
    server (as for links networkd manages): /run/systemd/netif/links/<ifindex> DNS=."""
    other = run.parent / "run-networkd"
    links = other / "systemd" / "netif" / "links"
    links.mkdir(parents=True, exist_ok=True)
    for n in (1, 2):
        (links / str(ifindex(lab, f"wan{n}"))).write_text(
            "# This is private data. Do not parse.\nADMIN_STATE=configured\n"
            f"OPER_STATE=routable\nNETWORK_FILE=/etc/systemd/network/wan{n}.network\n"
            f"DNS={FAR_V4}:530{n}\nNTP=\nDNS_OVER_TLS=no\n")
    return other


@pytest.mark.parametrize("source", ["resolved", "networkd"])
def test_lab_auto_asks_each_links_own_servers_from_systemd_resolved(resolved_lab, start_proxy,
                                                                   source):
    """No -dns: systemd names a server for each link (resolved's own file, or networkd's
    for the links it manages), so per-link DNS is on; each name is asked of its link's own
    server, from that link's address, and connects by that link."""
    lab, servers, run, stub = resolved_lab
    for s in servers:
        s.logfile.write_text("")
    if source == "networkd":
        run = networkd_run(lab, run)
    proxy = start_proxy("-vv", "wan1", "wan2", prefix=in_host(lab, run, stub))
    for n in (1, 2):
        assert any(f"DNS: link wan{n} asks {FAR_V4}:530{n} (the system's" in line
                   for line in proxy.lines), proxy.log()
    assert any("DNS: per-link resolver" in line for line in proxy.lines), proxy.log()
    assert_each_name_asked_of_its_links_server(lab, proxy, servers)


def test_lab_auto_with_resolved_survives_a_dark_primary(resolved_lab, start_proxy):
    """ISP1 drops everything: wan1's server never answers, wan2's is asked (the race) and
    the connection leaves by wan2."""
    lab, servers, run, stub = resolved_lab
    for s in servers:
        s.logfile.write_text("")
    proxy = start_proxy("-vv", "-connect-timeout", 3, "wan1", "wan2",
                        prefix=in_host(lab, run, stub))
    with lab.isp_dark(1):
        seen = [host_fetch(lab, proxy, f"http://{n}/") for n in NAMES[6:10]]
    assert seen == [W2_V4] * 4, proxy.log()
    assert {q[1] for q in servers[1].queries()} == {W2_V4}
    assert servers[0].queries() == []  # nothing from wan1 got through ISP1


def test_lab_resolved_servers_follow_a_change_of_the_links_interface(resolved_lab,
                                                                   start_proxy):
    """wan1 gets a new address and, a second later, resolved gives it another server (as
    after a DHCP renewal): new names through wan1 are then asked of the new server,
    without a restart (the servers are re-read for a while after an interface change)."""
    lab, servers, run, stub = resolved_lab
    state = run / "systemd" / "resolve" / "netif" / str(ifindex(lab, "wan1"))
    before = state.read_text()
    for s in servers:
        s.logfile.write_text("")
    proxy = start_proxy("-vv", "wan1", prefix=in_host(lab, run, stub))
    assert host_fetch(lab, proxy, f"http://{NAMES[0]}/") == W1_V4
    assert {q[2] for q in servers[0].queries()} == {NAMES[0]}  # A and AAAA
    try:
        # The address first, the servers a second later, as DHCP and then resolved do.
        lab.ip(lab.host, "addr add 10.201.1.9/32 dev wan1")
        time.sleep(1.2)
        state.write_text(before.replace(f"{FAR_V4}:5301", f"{FAR_V4}:5302"))
        asked = []
        deadline = time.monotonic() + 10
        for name in NAMES[1:]:  # new names until one is asked of the new server
            assert host_fetch(lab, proxy, f"http://{name}/") == W1_V4
            asked.append(name)
            if name in {q[2] for q in servers[1].queries()} or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the netlink notice is prompt; 11 names give it 5 s
    finally:
        state.write_text(before)
        lab.ip(lab.host, "addr del 10.201.1.9/32 dev wan1")
    assert asked[-1] in {q[2] for q in servers[1].queries()}, (asked, proxy.log())
    assert {q[1] for q in servers[1].queries()} == {W1_V4}
    assert asked[-1] not in {q[2] for q in servers[0].queries()}
    assert any(f"link wan1: the system's DNS servers for its interface are now {FAR_V4}:5302"
               in line for line in proxy.lines), proxy.log()


def test_lab_stub_resolv_conf_means_the_servers_resolved_forwards_to(resolved_lab, dns_lab,
                                                                     start_proxy):
    """resolv.conf names only resolved's stub 127.0.0.53, which a socket pinned to a link
    cannot reach: links without servers of their own ask what resolved forwards to
    (/run/systemd/resolve/resolv.conf), through the link."""
    lab, _, run, stub = resolved_lab
    _, server = dns_lab
    server.logfile.write_text("")
    # No per-link state for this run: only the stub's upstream list.
    bare = run.parent / "run-stub-only"
    (bare / "systemd" / "resolve").mkdir(parents=True, exist_ok=True)
    (bare / "systemd" / "resolve" / "resolv.conf").write_text(f"nameserver {FAR_V4}\n")
    proxy = start_proxy("-vv", "-dns", f"wan1={FAR_V4}:5301", "wan1", "wan2",
                        prefix=in_host(lab, bare, stub))
    assert any(f"DNS: the system's servers: {FAR_V4}" in line for line in proxy.lines), \
        proxy.log()
    assert not any("local stub" in line for line in proxy.lines), proxy.log()
    seen = {n: host_fetch(lab, proxy, f"http://{n}/") for n in NAMES[:4]}
    by_wan2 = {n for n in seen if seen[n] == W2_V4}
    assert by_wan2, seen
    assert {q[2] for q in server.queries()} == by_wan2, server.queries()
    assert {q[1] for q in server.queries()} == {W2_V4}


def test_lab_resolved_state_of_another_network_namespace_is_ignored(resolved_lab, start_proxy):
    """The proxy in a namespace "ip netns add" named: resolved does not run there, and the
    ifindexes in its files name other interfaces, so they are not believed (-dns auto
    stays on getaddrinfo). The proxy shares PID 1's namespace here, so only the
    /run/netns check (the one that needs no rights over PID 1) can tell."""
    lab, _, run, stub = resolved_lab
    proxy = start_proxy("wan1", "wan2", prefix=in_host(lab, run, stub, named=True))
    assert any("DNS: the system resolver (getaddrinfo)" in line and "-dns auto" in line
               for line in proxy.lines), proxy.log()


def test_lab_link_syntax_dns_gives_each_link_its_own_servers(resolved_lab, start_proxy):
    """LINK/dns=ADDR: each link asks the servers written after it (no -dns, no system
    per-link servers: HOST's own namespace, PID 1 elsewhere)."""
    lab, servers, _, _ = resolved_lab
    for s in servers:
        s.logfile.write_text("")
    proxy = start_proxy("-vv", f"wan1/dns={FAR_V4}:5301", f"wan2@1/dns={FAR_V4}:5302",
                        prefix=lab.exec_prefix(lab.host))
    for n in (1, 2):
        assert any(f"DNS: link wan{n} asks {FAR_V4}:530{n}" in line for line in proxy.lines), \
            proxy.log()
    assert_each_name_asked_of_its_links_server(lab, proxy, servers)


@pytest.mark.parametrize("link, said", [
    ("127.0.0.1/dns=nope", "bad link \"127.0.0.1/dns=nope\": /dns=nope: give this link's name "
                           "servers"),
    ("127.0.0.1/dns=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", "1 to 4 of IP"),
    ("127.0.0.1/mtu=1400", "unknown link option \"/mtu=1400\""),
])
def test_bad_link_dns_option_is_refused_with_one_line(dp_bin, link, said):
    res = subprocess.run([dp_bin, "-lhost", "127.0.0.1", "-lport", "0", link],
                         capture_output=True, text=True, timeout=10)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and said in lines[0], res.stderr


def test_link_dns_option_with_dns_system_is_refused(dp_bin):
    res = subprocess.run([dp_bin, "-lhost", "127.0.0.1", "-lport", "0", "-dns", "system",
                          "127.0.0.1/dns=127.0.0.1"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert "link 1 has /dns= servers but -dns system" in res.stderr, res.stderr


# --- -dns auto in the portable build (macOS): each interface's scoped resolver -------------

SCUTIL_DNS = """DNS configuration

resolver #1
  search domain[0] : lab.test
  nameserver[0] : 10.99.99.99
  if_index : {i1} (wan1)
  flags    : Request A records
  reach    : 0x00000002 (Reachable)

resolver #2
  domain   : local
  options  : mdns
  timeout  : 5
  flags    : Request A records
  reach    : 0x00000000 (Not Reachable)
  order    : 300000

DNS configuration (for scoped queries)

resolver #1
  search domain[0] : lab.test
  nameserver[0] : {far}
  port     : 5301
  if_index : {i1} (wan1)
  flags    : Scoped, Request A records
  reach    : 0x00000002 (Reachable)

resolver #2
  nameserver[0] : {far}
  port     : 5302
  if_index : {i2} (wan2)
  flags    : Scoped, Request A records
  reach    : 0x00000002 (Reachable)
"""


@pytest.fixture
def scoped_routes(resolved_lab):
    """Source routing in HOST (a socket bound to wanN's address leaves by wanN), which is
    what macOS's scoped routing gives the portable build; removed after the test."""
    lab, *_ = resolved_lab
    made = []
    try:
        for n in (1, 2):
            w = WAN[n]
            lab.ip(lab.host, f"rule add from {w['v4']} lookup {300 + n} pref {300 + n}")
            made.append(f"rule del from {w['v4']} lookup {300 + n} pref {300 + n}")
            lab.ip(lab.host, f"route add default via {w['gw4']} dev wan{n} table {300 + n}")
            made.append(f"route flush table {300 + n}")
        yield
    finally:
        for command in reversed(made):
            lab.ip(lab.host, command)


def test_lab_portable_build_asks_each_links_scoped_resolver_from_scutil(
        resolved_lab, scoped_routes, start_proxy, tmp_path):
    """The portable build (macOS's) with no -dns: `scutil --dns` (a stand-in printing what
    macOS prints) names one scoped resolver per interface, so per-link DNS is on and each
    name is asked of its link's resolver from that link's address. The general section's
    server (10.99.99.99) is the host's, never asked."""
    lab, servers, _, _ = resolved_lab
    res = subprocess.run(["make", "-C", str(REPO), "PORTABLE=1", "build-portable/dispatch-proxy"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"portable build failed:\n{res.stdout}\n{res.stderr}"
    out = tmp_path / "scutil-dns.txt"
    out.write_text(SCUTIL_DNS.format(far=FAR_V4, i1=ifindex(lab, "wan1"),
                                     i2=ifindex(lab, "wan2")))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "scutil").write_text(f'#!/bin/sh\n[ "$1" = --dns ] && exec cat {out}\nexit 64\n')
    (fake / "scutil").chmod(0o755)
    for s in servers:
        s.logfile.write_text("")
    proxy = start_proxy("-vv", "wan1", "wan2", binary=str(REPO / "build-portable" / "dispatch-proxy"),
                        prefix=[*lab.exec_prefix(lab.host), "env",
                                f"PATH={fake}:{os.environ['PATH']}"])
    for n in (1, 2):
        assert any(f"DNS: link wan{n} asks {FAR_V4}:530{n} (the system's" in line
                   for line in proxy.lines), proxy.log()
    assert_each_name_asked_of_its_links_server(lab, proxy, servers)


@pytest.mark.parametrize("args, said", [
    ((), "(-dns auto: the system does not say which name servers belong to which link"),
    (("-dns", "system"), "(-dns system)"),
])
def test_default_on_linux_is_getaddrinfo_and_says_why(start_proxy, args, said):
    proxy = start_proxy(*args, "127.0.0.1")
    assert any("DNS: the system resolver (getaddrinfo)" in line and said in line
               for line in proxy.lines), proxy.log()


def hold_slow_lookups(proxy, server, far, n):
    """n SOCKS5 requests for names the server never answers, kept open until the server
    has seen each name asked: the open sockets."""
    socks = [held_request(proxy.addr, f"slow.{i}.test", far.ports[0]) for i in range(n)]
    deadline = time.monotonic() + 10
    while len({q[2] for q in server.queries()}) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return socks


def test_lookups_of_clients_that_left_free_their_slots(loop_dns, start_proxy):
    """128 lookups (DNS_MAX_LOOKUPS) wait for a server that never answers: the next name is
    refused with REP 1. Their clients leave: the slots come back and a name resolves again
    (a slot that leaked would refuse forever; SAN=1 also checks the cancelled lookups are
    freed)."""
    server, far = loop_dns
    proxy = start_proxy("-threads", 1, "-dns", f"127.0.0.1:{server.ports[0]}", "127.0.0.1")
    socks = hold_slow_lookups(proxy, server, far, 128)
    assert socks5_rep(proxy.addr, "far.test", far.ports[0]) == 1  # full: refused at once
    for s in socks:
        s.close()  # while the lookups still wait
    reps = []
    deadline = time.monotonic() + 10
    while (not reps or reps[-1] != REP_OK) and time.monotonic() < deadline:
        reps.append(socks5_rep(proxy.addr, "far.test", far.ports[0]))
    assert reps[-1] == REP_OK, reps
    # (Under SAN=1 the teardown also fails on any leak of the cancelled lookups.)


def test_lookups_in_flight_are_bounded(loop_dns, start_proxy):
    server, far = loop_dns
    proxy = start_proxy("-threads", 1, "-dns", f"127.0.0.1:{server.ports[0]}", "127.0.0.1")
    socks = hold_slow_lookups(proxy, server, far, 128)  # DNS_MAX_LOOKUPS
    try:
        assert len({q[2] for q in server.queries()}) == 128
        # One more is refused at once with REP 1, not queued.
        assert socks5_rep(proxy.addr, "slow.extra.test", far.ports[0]) == 1
        assert "slow.extra.test" not in {q[2] for q in server.queries()}
    finally:
        for s in socks:
            s.close()
