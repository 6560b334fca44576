"""The status listener (-status): the page in a real browser, the JSON API, /metrics and
the controls, and who may use them.

Links are 127.0.0.1 and 127.0.0.2 on lo: the far server's view of the client address
tells which link carried a connection.
"""

import base64
import html.parser
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from client import recv_all, recv_exact, socks5_connect
from conftest import FarServer

STATUS_AT = re.compile(r"Status page at http://([^/\s]+)/")
A, B = "127.0.0.1", "127.0.0.2"


@pytest.fixture(scope="module")
def far():
    server = FarServer(["stream@127.0.0.1:0", "echo@127.0.0.1:0", "peer@127.0.0.1:0"])
    yield dict(zip(("stream", "echo", "peer"), server.ports))
    server.stop()


def with_status(start_proxy, *args):
    """A proxy with -status 127.0.0.1:0; returns (proxy, status port)."""
    proxy = start_proxy(*args, "-status", "127.0.0.1:0")
    found = [STATUS_AT.search(line) for line in proxy.lines]
    found = [m for m in found if m]
    assert found, f"no 'Status page at' line:\n{proxy.log()}"
    return proxy, int(found[0].group(1).rpartition(":")[2])


def call(port, method, path, body=None, headers=None, host=None, source=None):
    """One request; returns (status, headers dict, body bytes). host: the Host field
    (default 127.0.0.1:port); source: the client's address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(port, path="/api/status", **kw):
    status, headers, body = call(port, "GET", path, **kw)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    return json.loads(body)


def post_json(port, path, obj, **kw):
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    status, _, body = call(port, "POST", path, json.dumps(obj).encode(), headers, **kw)
    return status, json.loads(body)


def download(proxy, far, n):
    """n bytes from the stream server through the proxy (SOCKS5)."""
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["stream"])
    with sock:
        assert reply.rep == 0
        sock.sendall(b"%d\n" % n)
        assert len(recv_all(sock)) == n


def source_seen(proxy, far):
    """The address the far server saw for one new connection through the proxy."""
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["peer"])
    with sock:
        assert reply.rep == 0
        return recv_all(sock).decode().split()[0]


def wait_for(what, check, timeout=15):
    """Polls check() until it returns something true (a condition to wait for, not a
    timing assertion); fails with what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def link_index(doc, label):
    return next(link["index"] for link in doc["links"] if link["label"] == label)


# --- JSON and metrics -------------------------------------------------------------------

def test_json_api_reports_links_sessions_and_totals(start_proxy, far):
    proxy, port = with_status(start_proxy, f"{A}@3", f"{B}@1")
    size = 200_000
    for _ in range(4):
        download(proxy, far, size)  # wrr 3:1: three through A, one through B
    held, reply = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
    assert reply.rep == 0
    held.sendall(b"ping")
    assert recv_exact(held, 4) == b"ping"

    doc = get_json(port)
    assert doc["policy"] == "wrr" and doc["sample_s"] == 1 and doc["history_s"] == 300
    a, b = doc["links"]
    assert (a["label"], a["kind"], a["state"], a["ratio"], b["label"], b["ratio"]) == \
        (A, "address", "up", 3, B, 1)
    assert (a["ratio_share"], b["ratio_share"]) == (0.75, 0.25)
    assert (a["connections"], b["connections"]) == (4, 1)  # the held echo went to A
    assert (a["conn_share"], b["conn_share"]) == (0.8, 0.2)
    assert (a["bytes_in"], b["bytes_in"]) == (3 * size + 4, size)
    assert (a["bytes_out"], b["bytes_out"]) == (3 * len(b"200000\n") + 4, len(b"200000\n"))
    assert a["failures"] == 0 and set(a["failures_by"]) == \
        {"timeout", "refused", "unreachable", "link_down", "upstream", "destination", "other"}
    assert a["latency"]["count"] == 4 and a["latency"]["buckets"][-1] == ["+Inf", 4]
    for key in ("since", "rate_in", "rate_out", "active", "connecting", "connect_ms",
                "draining", "ratio_config", "byte_share", "weight", "why"):
        assert key in a
    assert set(a["history"]) == {"in", "out", "active", "state", "ratio"}
    assert a["history"]["ratio"][-1] == 3 and a["history"]["state"][-1] == 0
    assert len(a["history"]["in"]) >= 1
    t = doc["totals"]
    assert t["connections"] == 5 and t["bytes_in"] == 4 * size + 4 and t["clients"] >= 1

    sessions = doc["sessions"]
    assert sessions["total"] >= 1
    [s] = [s for s in sessions["list"] if s["target"] == f"127.0.0.1:{far['echo']}"]
    assert (s["proto"], s["state"], s["link"], s["bytes_out"], s["bytes_in"]) == \
        ("socks5", "relay", 0, 4, 4)
    assert s["client"].startswith("127.0.0.1:") and s["age_s"] >= 0
    held.close()

    tunnel = socket.create_connection(proxy.addr, timeout=10)
    with tunnel:
        tunnel.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % far["echo"])
        assert recv_exact(tunnel, 12) == b"HTTP/1.1 200"
        listed = get_json(port)["sessions"]["list"]
        assert any(s["proto"] == "http" and s["target"] == f"127.0.0.1:{far['echo']}"
                   for s in listed), listed

    links = get_json(port, "/api/links")["links"]
    assert [link["label"] for link in links] == [A, B] and "history" not in links[0]


def test_metrics_parse_with_prometheus_and_match_the_bytes(start_proxy, far):
    proxy, port = with_status(start_proxy, f"{A}@3", f"{B}@1", "-v")
    size = 300_000
    for _ in range(4):
        download(proxy, far, size)
    wait_for("the sessions to close",
             lambda: get_json(port, "/api/links")["links"][0]["active"] == 0)

    status, headers, body = call(port, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(body.decode()))
    types = {f.name: f.type for f in families}
    assert types["dispatch_proxy_link_bytes"] == "counter"
    assert types["dispatch_proxy_link_connect_seconds"] == "histogram"
    assert types["dispatch_proxy_link_up"] == "gauge"
    v = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for f in families for s in f.samples}

    def m(name, **labels):
        return v[(f"dispatch_proxy_{name}", tuple(sorted(labels.items())))]

    line = len(b"300000\n")
    assert m("link_bytes_total", link=A, direction="in") == 3 * size
    assert m("link_bytes_total", link=A, direction="out") == 3 * line
    assert m("link_bytes_total", link=B, direction="in") == size
    assert m("link_bytes_total", link=B, direction="out") == line
    assert (m("link_connections_total", link=A), m("link_connections_total", link=B)) == (3, 1)
    assert (m("link_up", link=A), m("link_up", link=B)) == (1, 1)
    assert (m("link_active", link=A), m("link_ratio", link=A)) == (0, 3)
    assert m("link_failures_total", link=A, reason="timeout") == 0
    assert m("link_connect_seconds_count", link=A) == 3
    assert m("link_connect_seconds_bucket", link=A, le="+Inf") == 3
    assert m("link_connect_seconds_bucket", link=B, le="10.0") == 1
    assert m("accepted_total") == 4

    # The -v lines render the same snapshot (printed again at exit).
    proxy.stop()
    assert any(f"link status: {A} up since start: 0 active, 0 connecting, 3 connections, "
               "0 failed" in line for line in proxy.lines), proxy.log()


# --- control ----------------------------------------------------------------------------

def test_drain_stops_new_connections_on_a_link_and_established_ones_continue(start_proxy, far):
    proxy, port = with_status(start_proxy, A, B)
    held, reply = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
    assert reply.rep == 0
    held.sendall(b"before")
    assert recv_exact(held, 6) == b"before"
    doc = get_json(port)
    [s] = [s for s in doc["sessions"]["list"] if s["target"] == f"127.0.0.1:{far['echo']}"]
    drained = s["link"]
    other = doc["links"][1 - drained]["label"]

    status, body = post_json(port, f"/api/links/{drained}/drain", {})
    assert status == 200 and body == {"ok": True, "link": drained, "ratio": 0, "draining": True}
    seen = [source_seen(proxy, far) for _ in range(6)]
    assert Counter(seen) == {other: 6}
    held.sendall(b"after the drain")
    assert recv_exact(held, 15) == b"after the drain"
    link = get_json(port, "/api/links")["links"][drained]
    assert (link["draining"], link["ratio"], link["ratio_config"], link["active"]) == \
        (True, 0, 1, 1)

    # The last link taking connections cannot be drained.
    status, body = post_json(port, f"/api/links/{1 - drained}/drain", {})
    assert status == 409 and "last link" in body["error"]

    status, body = post_json(port, f"/api/links/{drained}/enable", {})
    assert status == 200 and body["ratio"] == 1 and body["draining"] is False
    seen = [source_seen(proxy, far) for _ in range(4)]
    assert Counter(seen) == {A: 2, B: 2}
    held.close()
    # Both changes are in the page's list of link changes (sampled each second).
    wait_for("the drain and the enable in the events", lambda: [
        (e["ratio_from"], e["ratio_to"]) for e in get_json(port)["events"]
        if e["link"] == drained and "ratio_to" in e] == [(1, 0), (0, 1)])


def test_ratio_changes_at_runtime_for_new_connections(start_proxy, far):
    proxy, port = with_status(start_proxy, A, B)
    status, body = post_json(port, "/api/links/0/ratio", {"ratio": 3})
    assert status == 200 and body["ratio"] == 3
    seen = [source_seen(proxy, far) for _ in range(8)]
    assert Counter(seen) == {A: 6, B: 2}
    a = get_json(port, "/api/links")["links"][0]
    assert (a["ratio"], a["ratio_config"], a["ratio_share"]) == (3, 3, 0.75)
    for bad in ({"ratio": 0}, {"ratio": 1001}, {"ratio": "3"}, {"ratio": 3.5}, {}):
        status, body = post_json(port, "/api/links/0/ratio", bad)
        assert status == 400, bad
    assert post_json(port, "/api/links/7/drain", {})[0] == 404
    assert post_json(port, "/api/links/0/explode", {})[0] == 404
    assert call(port, "GET", "/api/links/0/drain")[0] == 405


# --- who may use it -----------------------------------------------------------------------

def test_changes_need_json_same_origin_and_an_ip_literal_host(start_proxy):
    proxy, port = with_status(start_proxy, A, B)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}
    status, _, body = call(port, "POST", "/api/links/0/drain", b"x=1", form)
    assert status == 403 and b"application/json" in body
    status, _, body = call(port, "POST", "/api/links/0/drain", b"{}",
                           {"Content-Type": "text/plain"})
    assert status == 403
    status, body = post_json(port, "/api/links/0/drain", {},
                             headers={"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in body["error"]
    # DNS rebinding: a name that points here is not this server's name.
    assert call(port, "GET", "/api/status", host=f"evil.example:{port}")[0] == 403
    assert call(port, "GET", "/", host="rebind.example")[0] == 403
    assert post_json(port, "/api/links/0/drain", {}, host=f"evil.example:{port}")[0] == 403
    assert call(port, "GET", "/api/links")[0] == 200
    assert call(port, "GET", "/api/links", host=f"localhost:{port}")[0] == 200
    # A CORS preflight gets no permission.
    status, headers, _ = call(port, "OPTIONS", "/api/links/0/drain",
                              headers={"Origin": "http://evil.example",
                                       "Access-Control-Request-Method": "POST"})
    assert status == 405 and "access-control-allow-origin" not in headers
    links = get_json(port, "/api/links")["links"]
    assert [(link["ratio"], link["draining"]) for link in links] == [(1, False), (1, False)]
    # The same origin with JSON may.
    status, body = post_json(port, "/api/links/0/ratio", {"ratio": 2},
                             headers={"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200


def test_status_needs_the_proxy_credentials_and_an_allowed_address(start_proxy):
    proxy, port = with_status(start_proxy, A, "-auth", "alice:s3cret")
    status, headers, _ = call(port, "GET", "/api/status")
    assert status == 401 and headers["www-authenticate"].startswith("Basic ")
    wrong = base64.b64encode(b"alice:nope").decode()
    assert call(port, "GET", "/metrics", headers={"Authorization": f"Basic {wrong}"})[0] == 401
    right = base64.b64encode(b"alice:s3cret").decode()
    assert call(port, "GET", "/metrics", headers={"Authorization": f"Basic {right}"})[0] == 200

    proxy, port = with_status(start_proxy, A, "-allow", "127.0.0.2/32")
    assert call(port, "GET", "/api/links", source="127.0.0.1")[0] == 403
    assert call(port, "GET", "/api/links", source="127.0.0.2")[0] == 200


def test_status_on_every_address_needs_auth_or_allow(dp_bin):
    run = subprocess.run([dp_bin, "-lport", "0", "-status", "0.0.0.0:0", A],
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == 2
    assert "refusing -status 0.0.0.0:0 without -auth or -allow" in run.stderr


def test_bad_requests_get_an_answer_and_the_server_keeps_serving(start_proxy):
    proxy, port = with_status(start_proxy, A)
    for raw, code in ((b"GARBAGE\r\n\r\n", b"400"), (b"GET http://x/ HTTP/1.1\r\n\r\n", b"400"),
                      (b"GET / HTTP/2.0\r\n\r\n", b"505"),
                      (b"GET /" + b"a" * (16384 - 5), b"431"),
                      (b"POST /api/links/0/ratio HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Length: 99999\r\n\r\n", b"413")):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(raw)
            assert recv_all(s).split(b" ")[1] == code, raw[:40]
    assert call(port, "GET", "/nothing")[0] == 404
    assert call(port, "GET", "/api/links")[0] == 200


# --- the page in a browser --------------------------------------------------------------

def chromium(user_dir, *args):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is missing (scripts/ensure-deps.sh installs it)")
    argv = [exe, "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync",
            f"--user-data-dir={user_dir}", *args]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


class Cards(html.parser.HTMLParser):
    """The link cards of the dumped DOM: attributes and the texts of their fields."""

    def __init__(self):
        super().__init__()
        self.cards, self.card, self.field = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if "link" in cls and "card" in cls:
            self.card = dict(a)
            self.cards.append(self.card)
        elif self.card is not None and cls and cls[0] in ("label", "rate-in", "rate-out"):
            self.field = cls[0]

    def handle_data(self, data):
        if self.field:
            self.card[self.field] = self.card.get(self.field, "") + data

    def handle_endtag(self, tag):
        self.field = None


def slow_download(proxy, far, stop):
    """Reads a long stream at about 2 MB/s until stop is set."""
    sock, reply = socks5_connect(proxy.addr, "127.0.0.1", far["stream"])
    with sock:
        assert reply.rep == 0
        sock.sendall(b"%d\n" % 10**10)
        while not stop.is_set():
            if not sock.recv(65536):
                break
            time.sleep(0.03)


def test_page_in_chromium_shows_both_links_live_during_a_transfer(start_proxy, far, tmp_path):
    proxy, port = with_status(start_proxy, A, B)
    stop = threading.Event()
    readers = [threading.Thread(target=slow_download, args=(proxy, far, stop)) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        wait_for("both links to carry bytes in the last second",
                 lambda: all(link["rate_in"] > 0
                             for link in get_json(port, "/api/links")["links"]))
        dom = chromium(tmp_path / "profile", "--virtual-time-budget=4000", "--dump-dom",
                       f"http://127.0.0.1:{port}/")
        shot = tmp_path / "status-page.png"
        chromium(tmp_path / "profile", "--window-size=1100,1000", "--virtual-time-budget=4000",
                 f"--screenshot={shot}", f"http://127.0.0.1:{port}/")
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    (tmp_path / "status-page.html").write_text(dom)
    cards = Cards()
    cards.feed(dom)
    by_label = {c.get("label"): c for c in cards.cards}
    assert set(by_label) == {A, B}, dom[:3000]
    for card in by_label.values():
        assert card["data-state"] == "up" and card["data-draining"] == "false"
        assert float(card["data-rate-in"]) > 0, card
        assert card["rate-in"].endswith("bit/s") and not card["rate-in"].startswith("0 "), card
    assert "<canvas" in dom and "socks5" in dom  # the chart, and the live connection table
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")


ATTACK = """<!doctype html><html><body><pre id='out'>running</pre>
<iframe name='sink'></iframe>
<form id='f' target='sink' method='POST' enctype='text/plain' action='http://127.0.0.1:{port}/api/links/0/drain'>
<input name='{{"x":"' value='"}}'></form>
<script>
const out = document.getElementById('out');
const url = 'http://127.0.0.1:{port}/api/links/0/drain';
fetch(url, {{method: 'POST', mode: 'no-cors', body: '{{}}'}}).then(
  () => out.textContent = 'no-cors sent').catch((e) => out.textContent = 'no-cors failed');
fetch(url, {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: '{{}}'}})
  .then(() => out.textContent += ' cors allowed').catch(() => out.textContent += ' cors blocked')
  .finally(() => document.getElementById('f').submit());
</script></body></html>"""


def test_a_page_on_another_origin_cannot_drain_a_link(start_proxy, tmp_path):
    """A page on another origin (another port) tries a cross-origin fetch with JSON (the
    preflight is refused), a no-cors text/plain fetch and a form POST: nothing drains."""
    proxy, port = with_status(start_proxy, A, B, "-v")
    page = ATTACK.format(port=port).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = threading.Thread(target=evil.serve_forever, daemon=True)
    server.start()
    try:
        dom = chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom",
                       f"http://127.0.0.1:{evil.server_address[1]}/")
    finally:
        evil.shutdown()
        evil.server_close()
    assert "no-cors sent cors blocked" in dom, dom[:2000]
    # The no-cors fetch and the form's POST arrived and were refused (403).
    refused = [line for line in proxy.lines
               if "status: POST /api/links/0/drain from 127.0.0.1:" in line and
               "refused: 403 a change needs Content-Type: application/json" in line]
    assert len(refused) == 2, proxy.log()
    assert any("status: OPTIONS /api/links/0/drain" in line and "refused: 405" in line
               for line in proxy.lines), proxy.log()
    links = get_json(port, "/api/links")["links"]
    assert [(link["ratio"], link["draining"]) for link in links] == [(1, False), (1, False)]
    assert not any("drained" in line for line in proxy.lines)


def test_udp_datagrams_are_counted_per_link_in_json_and_metrics(start_proxy):
    """Three datagrams out and their three answers through one association on link A:
    the JSON and /metrics count them on A, and the open association, and nothing on B."""
    import socks  # PySocks

    echo = FarServer(["udpecho@127.0.0.1:0"])
    proxy, port = with_status(start_proxy, A, B)
    s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    s.set_proxy(socks.SOCKS5, "127.0.0.1", proxy.port)
    s.settimeout(10)
    try:
        for i in range(3):
            s.sendto(b"x" * (10 + i), ("127.0.0.1", echo.ports[0]))
            s.recvfrom(65536)
        links = get_json(port, "/api/links")["links"]
        used = [lk for lk in links if lk["udp"]["datagrams_out"] > 0]
        assert len(used) == 1, links
        assert used[0]["udp"] == {"associations": 1, "datagrams_out": 3, "datagrams_in": 3,
                                  "bytes_out": 33, "bytes_in": used[0]["udp"]["bytes_in"]}
        assert used[0]["udp"]["bytes_in"] > 33  # the echo adds the source it saw
        other = [lk for lk in links if lk is not used[0]][0]
        assert other["udp"]["datagrams_out"] == 0 and other["udp"]["associations"] == 0
        _, _, body = call(port, "GET", "/metrics")
        text = body.decode()
        label = used[0]["label"]
        assert f'dispatch_proxy_link_udp_datagrams_total{{link="{label}",direction="out"}} 3' \
            in text
        assert f'dispatch_proxy_link_udp_datagrams_total{{link="{label}",direction="in"}} 3' \
            in text
        assert f'dispatch_proxy_link_udp_associations{{link="{label}"}} 1' in text
    finally:
        s.close()
        echo.stop()
