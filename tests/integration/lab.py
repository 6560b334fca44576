"""A namespace lab where only a proxy that really leaves by the chosen interface works.

    HOST --wan1--cust-- ISP1 -tofar-isp1-- FAR   (servers on FAR's lo)
         --wan2--cust-- ISP2 -tofar-isp2--

HOST has two default routes (via ISP1 metric 100, via ISP2 metric 200), so a socket
bound only to wan2's source address still leaves by wan1, where ISP1 drops it: each
ISP forwards only packets whose source is its own customer's (IPv4 rp_filter=1,
IPv6 an `iif cust` rule pair ending in prohibit). FAR routes each customer subnet back
through its ISP. Every name carries a random tag; destroy() removes all of it.
"""

import contextlib
import ctypes
import os
import secrets
import subprocess

FAR_V4, FAR_V6 = "10.200.0.1", "fd00:200::1"          # servers (on FAR's lo)
UNREACH_V4, UNREACH_V6 = "10.200.0.2", "fd00:200::2"  # routed `unreachable` in the ISPs
SILENT_V4, SILENT_V6 = "10.200.0.3", "fd00:200::3"    # routed `blackhole` in FAR
WAN = {  # uplink n: HOST address, ISP address, ISP<->FAR subnet prefix
    1: dict(v4="10.201.1.2", v6="fd01:1::2", gw4="10.201.1.1", gw6="fd01:1::1",
            net4="10.201.1.0/24", net6="fd01:1::/64",
            up4="10.203.1", up6="fd03:1::", metric=100),
    2: dict(v4="10.202.1.2", v6="fd02:1::2", gw4="10.202.1.1", gw6="fd02:1::1",
            net4="10.202.1.0/24", net6="fd02:1::/64",
            up4="10.204.1", up6="fd04:1::", metric=200),
}

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def _setns(fd):
    if _libc.setns(fd, _CLONE_NEWNET) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def netns(name):
    """Runs the block with this thread in namespace `name`; sockets made there stay there."""
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(home.fileno())


def sh(*argv, check=True):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
    return res


class Lab:
    def __init__(self):
        tag = secrets.token_hex(3)
        self.host, self.isp1, self.isp2, self.far = (f"dpt-{tag}-{r}"
                                                     for r in ("host", "isp1", "isp2", "far"))
        self.made = []

    def isp(self, n):
        return self.isp1 if n == 1 else self.isp2

    def ip(self, ns, *commands):
        """Runs `ip` commands (one per string, e.g. "-6 route add ...") inside ns."""
        for command in commands:
            sh("ip", "-n", ns, *command.split())

    def sysctl(self, ns, *settings):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", *settings)

    def exec_prefix(self, ns):
        return ["ip", "netns", "exec", ns]

    def build(self):
        for ns in (self.host, self.isp1, self.isp2, self.far):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            self.ip(ns, "link set lo up")
        self.sysctl(self.host, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                    "net.ipv6.conf.all.keep_addr_on_down=1",
                    "net.ipv6.conf.default.keep_addr_on_down=1")
        self.sysctl(self.far, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                    "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        self.ip(self.far, f"addr add {FAR_V4}/32 dev lo", f"addr add {FAR_V6}/128 dev lo",
                f"route add blackhole {SILENT_V4}/32", f"-6 route add blackhole {SILENT_V6}/128")
        for n in (1, 2):
            self._build_uplink(n, WAN[n])

    def _build_uplink(self, n, w):
        isp = self.isp(n)
        self.ip(self.host, f"link add wan{n} type veth peer name cust netns {isp}")
        self.ip(isp, f"link add tofar type veth peer name isp{n} netns {self.far}")
        self.sysctl(isp, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
                    "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.cust.rp_filter=1",
                    "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
        self.ip(isp,
                f"addr add {w['gw4']}/24 dev cust", f"addr add {w['gw6']}/64 dev cust nodad",
                f"addr add {w['up4']}.1/24 dev tofar", f"addr add {w['up6']}1/64 dev tofar nodad",
                "link set cust up", "link set tofar up",
                f"route add default via {w['up4']}.2",
                f"-6 route add default via {w['up6']}2",
                f"route add unreachable {UNREACH_V4}/32",
                f"-6 route add unreachable {UNREACH_V6}/128",
                # IPv6 source filter: forward from the customer only its own prefix.
                f"-6 rule add iif cust from {w['net6']} lookup main pref 100",
                "-6 rule add iif cust prohibit pref 200")
        self.ip(self.far,
                f"addr add {w['up4']}.2/24 dev isp{n}", f"addr add {w['up6']}2/64 dev isp{n} nodad",
                f"link set isp{n} up",
                f"route add {w['net4']} via {w['up4']}.1",
                f"-6 route add {w['net6']} via {w['up6']}1")
        self.sysctl(self.host, f"net.ipv4.conf.wan{n}.rp_filter=0")
        self.ip(self.host, f"addr add {w['v4']}/24 dev wan{n}",
                f"addr add {w['v6']}/64 dev wan{n} nodad")
        self.wan_up(n)

    def wan_up(self, n):
        """Brings wanN up with its default routes (they vanish while the link is down)."""
        w = WAN[n]
        self.ip(self.host, f"link set wan{n} up",
                f"route replace default via {w['gw4']} dev wan{n} metric {w['metric']}",
                f"-6 route replace default via {w['gw6']} dev wan{n} metric {w['metric']}")

    def wan_down(self, n):
        self.ip(self.host, f"link set wan{n} down")

    @contextlib.contextmanager
    def isp_dark(self, n):
        """ISP n silently drops everything toward FAR for the duration of the block."""
        w = WAN[n]
        self.ip(self.isp(n), "route replace blackhole default",
                "-6 route replace blackhole default")
        try:
            yield
        finally:
            self.ip(self.isp(n), f"route replace default via {w['up4']}.2",
                    f"-6 route replace default via {w['up6']}2")

    @contextlib.contextmanager
    def wan_link_down(self, n):
        """wanN is administratively down in HOST for the block; restored after."""
        self.wan_down(n)
        try:
            yield
        finally:
            self.wan_up(n)

    def destroy(self):
        """Deletes every namespace made (their veths go with them); never raises."""
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made.clear()
