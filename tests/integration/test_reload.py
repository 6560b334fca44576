"""-config and SIGHUP reload on loopback: links 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all on
lo), so the far server's view of the client address tells which link carried a
connection. A reload changes what new connections get; established ones are never cut."""

import hashlib
import signal
import subprocess
import time
from collections import Counter

import pytest

from client import curl, socks5_connect, recv_exact
from conftest import FarServer
from farserver import stream_chunks, stream_digest

HELD = 200
DOWNLOAD = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def far():
    server = FarServer(["http@127.0.0.1:0", "echo@127.0.0.1:0", "stream@127.0.0.1:0"])
    http, echo, stream = server.ports
    yield dict(http=http, echo=echo, stream=stream)
    server.stop()


def write_config(path, *lines):
    path.write_text("# written by test_reload\n" + "".join(line + "\n" for line in lines))


def reload(proxy, path, *lines, expect="Reloaded"):
    """Rewrites the file, sends SIGHUP and waits for the proxy's verdict in its log."""
    seen = len(proxy.lines)
    write_config(path, *lines)
    proxy.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any(expect in line for line in proxy.lines[seen:]):
        assert time.monotonic() < deadline, proxy.log()
        assert proxy.proc.poll() is None, proxy.log()
        time.sleep(0.05)
    return proxy.lines[seen:]


def sources(proxy, far, n):
    return Counter(curl(f"http://127.0.0.1:{far['http']}/", proxy.port) for _ in range(n))


def assert_echoes(sock, tag):
    data = (tag * 64)[:4096]
    sock.sendall(data)
    assert recv_exact(sock, len(data)) == data


def test_sighup_changes_the_ratio_and_cuts_nothing(start_proxy, far, tmp_path):
    conf = tmp_path / "dp.conf"
    write_config(conf, "link 127.0.0.1@1", "link 127.0.0.2@1")
    proxy = start_proxy("-config", conf)
    assert sources(proxy, far, 4) == {"127.0.0.1": 2, "127.0.0.2": 2}

    held = []
    try:
        for i in range(HELD):
            sock, rep = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
            assert rep.rep == 0
            held.append(sock)
        dl, rep = socks5_connect(proxy.addr, "127.0.0.1", far["stream"], timeout=30)
        assert rep.rep == 0
        dl.sendall(b"%d\n" % DOWNLOAD)
        got = hashlib.sha256()
        first = recv_exact(dl, 1 << 20)  # the download is under way
        got.update(first)

        reload(proxy, conf, "link 127.0.0.1@3", "link 127.0.0.2@1")
        # New connections follow 3:1 (any 4 consecutive picks hold the ratio exactly).
        assert sources(proxy, far, 8) == {"127.0.0.1": 6, "127.0.0.2": 2}

        # Every connection made before the reload still carries bytes both ways...
        for i, sock in enumerate(held):
            assert_echoes(sock, b"%d-" % i)
        # ...and the download finishes byte-exact.
        left = DOWNLOAD - len(first)
        while left > 0:
            chunk = dl.recv(min(left, 1 << 20))
            assert chunk, f"download cut with {left} bytes to go"
            got.update(chunk)
            left -= len(chunk)
        assert got.hexdigest() == stream_digest(DOWNLOAD)
        dl.close()
    finally:
        for sock in held:
            sock.close()
    assert proxy.proc.poll() is None


def test_a_link_added_is_used_and_a_removed_one_drains(start_proxy, far, tmp_path):
    conf = tmp_path / "dp.conf"
    write_config(conf, "link 127.0.0.1")
    proxy = start_proxy("-config", conf)
    old, rep = socks5_connect(proxy.addr, "127.0.0.1", far["echo"])
    assert rep.rep == 0
    try:
        assert_echoes(old, b"before")
        lines = reload(proxy, conf, "link 127.0.0.2@1", "link 127.0.0.3@1")
        assert any("127.0.0.1, contention ratio: 0 (draining)" in line for line in lines), lines
        # The added links take every new connection; the removed one none.
        assert sources(proxy, far, 6) == {"127.0.0.2": 3, "127.0.0.3": 3}
        # The connection on the removed link goes on.
        assert_echoes(old, b"after")
        # Back again: the same link (by its label) takes connections again.
        reload(proxy, conf, "link 127.0.0.1@1")
        assert sources(proxy, far, 3) == {"127.0.0.1": 3}
        assert_echoes(old, b"again")
    finally:
        old.close()


def test_a_broken_file_keeps_the_configuration_in_force(start_proxy, far, tmp_path):
    conf = tmp_path / "dp.conf"
    write_config(conf, "link 127.0.0.1", "link 127.0.0.2")
    proxy = start_proxy("-config", conf)
    lines = reload(proxy, conf, "link 127.0.0.1@5", "threads many",
                   expect="the configuration in force stays")
    assert any(f"{conf}:3: threads: bad value \"many\"" in line for line in lines), lines
    assert sources(proxy, far, 4) == {"127.0.0.1": 2, "127.0.0.2": 2}
    # A link that does not parse, and a removed file, are refused the same way.
    lines = reload(proxy, conf, "link 127.0.0.1@0", expect="the configuration in force stays")
    assert any(f"{conf}:2: link: bad link" in line for line in lines), lines
    conf.unlink()
    proxy.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert sources(proxy, far, 4) == {"127.0.0.1": 2, "127.0.0.2": 2}
    assert proxy.proc.poll() is None


def test_allow_list_change_applies_to_new_clients(start_proxy, far, tmp_path):
    conf = tmp_path / "dp.conf"
    write_config(conf, "link 127.0.0.1", "allow 127.0.0.1/32")
    proxy = start_proxy("-config", conf)
    assert sources(proxy, far, 1) == {"127.0.0.1": 1}
    reload(proxy, conf, "link 127.0.0.1", "allow 10.0.0.0/8")
    res = subprocess.run(["curl", "-sS", "--max-time", "5", "--socks5",
                          f"127.0.0.1:{proxy.port}", f"http://127.0.0.1:{far['http']}/"],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode != 0


def test_check_config_exits_0_or_1_naming_file_line_and_key(dp_bin, tmp_path):
    conf = tmp_path / "dp.conf"
    write_config(conf, "listen 127.0.0.1:1080", "link 127.0.0.1@2", "policy lc")
    res = subprocess.run([dp_bin, "-check-config", "-config", conf], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 0, res.stderr
    assert "valid" in res.stdout
    write_config(conf, "link 127.0.0.1", "", "race-delay soon")
    res = subprocess.run([dp_bin, "-check-config", "-config", conf], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 1
    assert f"{conf}:4: race-delay: bad value \"soon\"" in res.stderr
    # Without -check-config the same file is a usage error (exit 2) before anything starts.
    res = subprocess.run([dp_bin, "-config", conf], capture_output=True, text=True, timeout=10)
    assert res.returncode == 2


def test_the_shipped_example_is_valid(dp_bin):
    import pathlib
    example = pathlib.Path(__file__).resolve().parents[2] / "docs" / "dispatch-proxy.conf"
    res = subprocess.run([dp_bin, "-check-config", "-config", example], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 0, res.stderr
