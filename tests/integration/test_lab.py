"""The proxy in a namespace lab whose ISPs drop foreign source addresses (needs root).

The lab is first checked without the proxy: the wan2 path works when the device is
bound, and a socket bound only to wan2's source address does not get through. Only
then do the proxy's results mean that it really leaves by the chosen interface.
"""

import socket
import subprocess
import time
from collections import Counter

import pytest

from client import (REP_HOST_UNREACH, REP_NET_UNREACH, REP_OK, REP_REFUSED, REP_TTL_EXPIRED,
                    bound_device, socks5_connect, try_curl)
from conftest import REPO, FarServer, need_root
from lab import (FAR_V4, FAR_V6, SILENT_V4, SILENT_V6, UNREACH_V4, UNREACH_V6, WAN, Lab,
                 netns)

W1_V4, W2_V4 = WAN[1]["v4"], WAN[2]["v4"]
W1_V6, W2_V6 = WAN[1]["v6"], WAN[2]["v6"]
URL_V4, URL_V6 = f"http://{FAR_V4}/", f"http://[{FAR_V6}]/"
CLOSED_PORT = 81


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = Lab()
    try:
        lab.build()
        server = FarServer([f"http@{FAR_V4}:80", f"http@[{FAR_V6}]:80",
                            f"echo@{FAR_V4}:7", f"echo@[{FAR_V6}]:7"],
                           prefix=lab.exec_prefix(lab.far))
        try:
            yield lab
        finally:
            server.stop()
    finally:
        lab.destroy()


@pytest.fixture
def host_proxy(lab, start_proxy):
    """start_proxy inside HOST, by default with a 2 s connect timeout."""
    def start(*links, connect_timeout=2):
        return start_proxy("-connect-timeout", connect_timeout, *links,
                           prefix=lab.exec_prefix(lab.host))
    return start


def host_curl(lab, argv):
    res = subprocess.run([*lab.exec_prefix(lab.host), "curl", "-sS", "--max-time", "5", *argv],
                         capture_output=True, text=True, timeout=15)
    return res.stdout if res.returncode == 0 else None


def connect_from_host(lab, family, dest, source=None, device=None, timeout=2):
    """Plain TCP connect from HOST to dest:80, optionally bound; True if it got through."""
    with netns(lab.host):
        sock = socket.socket(family, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        if device:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        if source:
            sock.bind((source, 0))
        try:
            sock.connect((dest, 80))
            return True
        except OSError:
            return False


def sources(lab, proxy, url, n=10):
    """What the far server saw for n fetches through proxy (None for a failed fetch)."""
    return [try_curl(url, proxy.port, prefix=lab.exec_prefix(lab.host)) for _ in range(n)]


def host_socks5(lab, proxy, dest, port, timeout=20):
    with netns(lab.host):
        sock, reply = socks5_connect(proxy.addr, dest, port, timeout=timeout)
    sock.close()
    return reply


# --- the lab itself, without the proxy --------------------------------------------------

@pytest.mark.parametrize("flag, url, wan", [
    ("-4", URL_V4, 1), ("-4", URL_V4, 2), ("-6", URL_V6, 1), ("-6", URL_V6, 2)])
def test_lab_device_bound_client_is_seen_with_that_uplinks_address(lab, flag, url, wan):
    seen = host_curl(lab, [flag, "--interface", f"wan{wan}", url])
    assert seen == WAN[wan]["v6" if flag == "-6" else "v4"]


@pytest.mark.parametrize("family, dest, source, device", [
    (socket.AF_INET, FAR_V4, W2_V4, "wan2"), (socket.AF_INET6, FAR_V6, W2_V6, "wan2"),
    (socket.AF_INET, FAR_V4, W1_V4, None), (socket.AF_INET6, FAR_V6, W1_V6, None)],
    ids=["v4-wan2-addr+device", "v6-wan2-addr+device", "v4-wan1-addr", "v6-wan1-addr"])
def test_lab_source_on_its_own_uplink_gets_through(lab, family, dest, source, device):
    assert connect_from_host(lab, family, dest, source=source, device=device)


@pytest.mark.parametrize("family, dest, source", [
    (socket.AF_INET, FAR_V4, W2_V4), (socket.AF_INET6, FAR_V6, W2_V6)], ids=["v4", "v6"])
def test_lab_wan2_source_without_device_is_dropped_by_isp1(lab, family, dest, source):
    assert not connect_from_host(lab, family, dest, source=source)


# --- dispatch through the real uplinks --------------------------------------------------

@pytest.mark.parametrize("links, url, a, b", [
    ((f"{W1_V4}@3", f"{W2_V4}@2"), URL_V4, W1_V4, W2_V4),
    ((f"{W1_V6}@3", f"{W2_V6}@2"), URL_V6, W1_V6, W2_V6),
    (("wan1@3", "wan2@2"), URL_V4, W1_V4, W2_V4),
    (("wan1@3", "wan2@2"), URL_V6, W1_V6, W2_V6)],
    ids=["v4-addresses", "v6-addresses", "names-v4-dest", "names-v6-dest"])
def test_ratio_3_2_leaves_by_each_uplink(lab, host_proxy, links, url, a, b):
    proxy = host_proxy(*links)
    assert Counter(sources(lab, proxy, url)) == {a: 6, b: 4}


def test_ipv6_destination_uses_only_links_with_ipv6(lab, host_proxy):
    proxy = host_proxy(W1_V4, "wan2")
    assert sources(lab, proxy, URL_V6, 6) == [W2_V6] * 6
    assert Counter(sources(lab, proxy, URL_V4, 6)) == {W1_V4: 3, W2_V4: 3}


def test_reply_bnd_addr_names_the_uplink_and_socket_is_bound_to_it(lab, host_proxy):
    proxy = host_proxy(W2_V4)
    with netns(lab.host):
        sock, reply = socks5_connect(proxy.addr, FAR_V4, 7)
    with sock:
        assert (reply.rep, reply.host) == (REP_OK, W2_V4)
        assert bound_device(reply.host, reply.port, (FAR_V4, 7),
                            prefix=lab.exec_prefix(lab.host)) == "wan2"


# --- failover ---------------------------------------------------------------------------

def test_failover_when_isp2_goes_dark(lab, host_proxy):
    proxy = host_proxy(f"{W1_V4}@3", f"{W2_V4}@2")
    with lab.isp_dark(2):
        seen = sources(lab, proxy, URL_V4)
    assert seen == [W1_V4] * 10


def test_failover_when_wan2_goes_down_and_back(lab, host_proxy):
    proxy = host_proxy("wan1@3", "wan2@2")
    with lab.wan_link_down(2):
        seen = sources(lab, proxy, URL_V4)
    assert seen == [W1_V4] * 10
    # The proxy backs a failed link off (1 s, doubling); wait generously for its return.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if sources(lab, proxy, URL_V4, 1) == [W2_V4]:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"wan2 not used again within 40 s of coming back\n{proxy.log()}")


# --- far-end failures -------------------------------------------------------------------

@pytest.mark.parametrize("dest", [FAR_V4, FAR_V6])
def test_far_end_refusal_gets_rep_5(lab, host_proxy, dest):
    proxy = host_proxy("wan1", "wan2")
    assert host_socks5(lab, proxy, dest, CLOSED_PORT).rep == REP_REFUSED


@pytest.mark.parametrize("dest", [UNREACH_V4, UNREACH_V6])
def test_unreachable_destination_gets_rep_3_or_4(lab, host_proxy, dest):
    # Linux fails an IPv6 connect on ICMPv6 "no route" only when it comes back for the
    # retransmitted SYN, ~1 s into each attempt: well inside a full 2 s per link.
    proxy = host_proxy("wan1", "wan2")
    assert host_socks5(lab, proxy, dest, 80).rep in (REP_NET_UNREACH, REP_HOST_UNREACH)


@pytest.mark.parametrize("dest", [SILENT_V4, SILENT_V6])
def test_silent_destination_gets_rep_6_after_trying_links(lab, host_proxy, dest):
    proxy = host_proxy("wan1", "wan2")
    assert host_socks5(lab, proxy, dest, 80, timeout=30).rep == REP_TTL_EXPIRED


# --- the suite catches a proxy that only binds the source address -----------------------

def test_source_only_proxy_fails_the_split_test(lab, start_proxy):
    res = subprocess.run(["make", "-C", str(REPO), "NOBIND=1", "build-nobind/dispatch-proxy"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"NOBIND build failed:\n{res.stdout}\n{res.stderr}"
    nobind = str(REPO / "build-nobind" / "dispatch-proxy")
    proxy = start_proxy("-connect-timeout", "2", f"{W1_V4}@3", f"{W2_V4}@2",
                        prefix=lab.exec_prefix(lab.host), binary=nobind)
    seen = sources(lab, proxy, URL_V4)
    assert Counter(seen) != {W1_V4: 6, W2_V4: 4}
    assert W2_V4 not in seen, "a source-only socket got through ISP1's source filter"
