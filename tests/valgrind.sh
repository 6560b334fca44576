#!/bin/sh
# Memcheck run of the proxy under a short real workload, all on loopback:
#   - a Python http.server on 127.0.0.1 serving a 64 KiB file;
#   - VG_REQUESTS (default 300) curl downloads through the proxy's SOCKS5, 8 at a time,
#     a tenth of them by host name (resolver path) when DNS can be isolated;
#   - a few SOCKS4/4a and HTTP-proxy requests (counted, not required);
#   - malformed and hostile raw clients (bad versions, truncated messages, resets
#     mid-handshake and mid-transfer, refused and unresolvable destinations, a client that
#     stays silent) ;
#   - SIGTERM with a silent client and a live relay still open.
# Usage: tests/valgrind.sh [BINARY]   (default: $DP_BIN, else build/dispatch-proxy)
# Exit status: 0 when valgrind saw no error and no definite leak and every SOCKS5 download
# arrived whole; 1 otherwise; 2 when the set-up failed. Keeps the logs in $VG_KEEP if set.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${1:-${DP_BIN:-$repo/build/dispatch-proxy}}
requests=${VG_REQUESTS:-300}
work=$(mktemp -d /tmp/dp-valgrind.XXXXXX)
server_pid=""
proxy_pid=""

cleanup() {
    # Only the processes this script started, by PID.
    [ -n "$proxy_pid" ] && kill -KILL "$proxy_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    wait 2>/dev/null
    if [ -n "${VG_KEEP:-}" ]; then
        mkdir -p "$VG_KEEP" && cp "$work"/*.log "$VG_KEEP"/ 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# A child that has exited stays a zombie until waited for, and kill -0 still finds it.
running() {
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

fail_setup() {
    echo "valgrind.sh: $*" >&2
    exit 2
}

[ -x "$bin" ] || fail_setup "proxy binary $bin not found (make build/dispatch-proxy)"
command -v valgrind >/dev/null || fail_setup "valgrind is not installed"
command -v curl >/dev/null || fail_setup "curl is not installed"

# --- the origin server ---------------------------------------------------------------------
head -c 65536 /dev/urandom >"$work/blob"
python3 - "$work" >"$work/server.port" 2>"$work/server.log" <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *a: None
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
server_pid=$!
for _ in $(seq 50); do [ -s "$work/server.port" ] && break; sleep 0.1; done
hport=$(cat "$work/server.port")
[ -n "$hport" ] || fail_setup "origin server did not start"

# --- the proxy under memcheck -----------------------------------------------------------------
# As root, a private mount namespace gives the proxy a resolv.conf naming an unused loopback
# address, so a name lookup never leaves the machine; otherwise no names are looked up.
printf 'nameserver 127.77.0.53\noptions attempts:1 timeout:1\n' >"$work/resolv.conf"
chmod 644 "$work/resolv.conf"
isolated=0
if [ "$(id -u)" -eq 0 ] && unshare --mount sh -c 'mount --bind "$0" /etc/resolv.conf' \
    "$work/resolv.conf" 2>/dev/null; then
    isolated=1
fi

vg="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --num-callers=30 --log-file=$work/valgrind.log"
if [ "$isolated" -eq 1 ]; then
    # unshare and sh exec: $! is valgrind's PID.
    # shellcheck disable=SC2086 # $vg is a word list
    unshare --mount sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$work/resolv.conf" \
        $vg "$bin" -lhost 127.0.0.1 -lport 0 127.0.0.1 </dev/null >/dev/null 2>"$work/proxy.log" &
else
    # shellcheck disable=SC2086
    $vg "$bin" -lhost 127.0.0.1 -lport 0 127.0.0.1 </dev/null >/dev/null 2>"$work/proxy.log" &
fi
proxy_pid=$!
pport=""
for _ in $(seq 600); do
    pport=$(sed -n 's/.*SOCKS server started at 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/proxy.log" | head -n 1)
    [ -n "$pport" ] && break
    running "$proxy_pid" || break
    sleep 0.1
done
if [ -z "$pport" ]; then
    cat "$work/proxy.log" >&2
    fail_setup "proxy did not start under valgrind"
fi
echo "valgrind.sh: proxy (pid $proxy_pid) on 127.0.0.1:$pport, origin on 127.0.0.1:$hport, DNS isolated: $isolated"

# --- workload 1: curl through SOCKS5 -------------------------------------------------------
url="http://127.0.0.1:$hport/blob"
by_name=0
[ "$isolated" -eq 1 ] && by_name=$((requests / 10))
by_ip=$((requests - by_name))
seq "$by_ip" | xargs -P 8 -I{} curl -s -o /dev/null --max-time 60 \
    -w '%{http_code} %{size_download}\n' --socks5 "127.0.0.1:$pport" "$url" >"$work/curl.out"
if [ "$by_name" -gt 0 ]; then
    seq "$by_name" | xargs -P 4 -I{} curl -s -o /dev/null --max-time 60 \
        -w '%{http_code} %{size_download}\n' --socks5-hostname "127.0.0.1:$pport" \
        "http://localhost:$hport/blob" >>"$work/curl.out"
fi
ok=$(grep -c '^200 65536$' "$work/curl.out")
echo "valgrind.sh: SOCKS5 downloads whole: $ok of $requests ($by_name by host name)"

# --- workload 2: other protocols on the same port (not required to succeed) -----------------
other=0
for i in 1 2 3; do
    curl -s -o /dev/null --max-time 30 -w '%{http_code}\n' --socks4 "127.0.0.1:$pport" "$url"
    curl -s -o /dev/null --max-time 30 -w '%{http_code}\n' -x "http://127.0.0.1:$pport" "$url"
    [ "$isolated" -eq 1 ] && curl -s -o /dev/null --max-time 30 -w '%{http_code}\n' \
        --socks4a "127.0.0.1:$pport" "http://localhost:$hport/blob"
    : "$i"
done >"$work/other.out" 2>/dev/null
other=$(grep -c '^200$' "$work/other.out")
echo "valgrind.sh: SOCKS4/4a and HTTP-proxy downloads: $other of $(wc -l <"$work/other.out") succeeded"

# --- workload 3: malformed and hostile clients ------------------------------------------------
python3 - "$pport" "$hport" "$isolated" >"$work/raw.log" 2>&1 <<'EOF'
import socket, struct, sys, time
pport, hport, isolated = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
P = ("127.0.0.1", pport)
G = b"\x05\x01\x00"

def req(atyp, addr, port, cmd=1):
    return bytes([5, cmd, 0, atyp]) + addr + struct.pack(">H", port)

def ip4(port):
    return req(1, socket.inet_aton("127.0.0.1"), port)

def name(host, port):
    return req(3, bytes([len(host)]) + host, port)

def closed_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    return p

def talk(data, chunks=False, rst=False, half_close=True, wait=3.0):
    s = socket.create_connection(P, timeout=wait)
    try:
        if chunks:
            for b in data:
                s.sendall(bytes([b])); time.sleep(0.001)
        elif data:
            s.sendall(data)
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        if half_close:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            got += b
        return got
    finally:
        s.close()

get = b"GET /blob HTTP/1.0\r\n\r\n"
cases = {
    "empty": b"",
    "bad version": b"\x06\x01\x00",
    "zero methods": b"\x05\x00",
    "no acceptable method": b"\x05\x01\x80",
    "truncated greeting": b"\x05\x05\x00",
    "greeting then junk": G + b"\xff" * 40,
    "request bad version": G + b"\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50",
    "request bad cmd": G + req(1, socket.inet_aton("127.0.0.1"), hport, cmd=9),
    "request bind": G + req(1, socket.inet_aton("127.0.0.1"), hport, cmd=2),
    "request udp": G + req(1, socket.inet_aton("127.0.0.1"), hport, cmd=3),
    "request bad atyp": G + req(2, b"\x7f\x00\x00\x01", hport),
    "empty domain": G + name(b"", hport),
    "nul in domain": G + name(b"a\x00b", hport),
    "truncated request": G + b"\x05\x01\x00\x03\x20abc",
    "refused": G + ip4(closed_port()),
    "pipelined with payload": G + ip4(hport) + get,
    "ipv6 to nowhere": G + req(4, socket.inet_pton(socket.AF_INET6, "::1"), closed_port()),
    "socks4 garbage": b"\x04\x09" + b"\x00" * 20,
    "socks4 long userid": b"\x04\x01\x00\x50\x7f\x00\x00\x01" + b"u" * 2000,
    "http garbage": b"GARBAGE / HTTP/9.9\r\n\r\n",
    "http smuggling": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % hport,
    "http huge head": b"GET http://127.0.0.1:%d/ HTTP/1.1\r\n" % hport + b"X: " + b"a" * 40000,
    "binary noise": bytes(range(256)) * 4,
}
if isolated:
    cases["unresolvable name"] = G + name(b"no-such-host.invalid", hport)
    cases["localhost by name"] = G + name(b"localhost", hport) + get
for label, data in cases.items():
    got = talk(data)
    print(f"{label}: {len(got)} bytes back")
for label in ("pipelined with payload", "request bad cmd", "truncated request"):
    got = talk(cases[label], chunks=True)
    print(f"{label} (byte by byte): {len(got)} bytes back")
for label in ("truncated greeting", "truncated request", "pipelined with payload"):
    talk(cases[label], rst=True)
    print(f"{label}: reset")
# Reset in the middle of a transfer.
for _ in range(5):
    s = socket.create_connection(P, timeout=5)
    s.sendall(G + ip4(hport) + get)
    s.recv(1000)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print("mid-transfer resets: 5")
# Many connections opened and dropped at once.
socks = [socket.create_connection(P, timeout=5) for _ in range(50)]
for s in socks:
    s.sendall(G)
for s in socks:
    s.close()
print("50 dropped after greeting")
EOF
echo "valgrind.sh: raw clients: $(wc -l <"$work/raw.log") cases run ($(grep -c Traceback "$work/raw.log") failed to run)"

# --- shutdown with a silent client and a live relay still open --------------------------------
python3 - "$pport" "$hport" "$proxy_pid" >>"$work/raw.log" 2>&1 <<'EOF'
import os, signal, socket, struct, sys, time
pport, hport, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
silent = socket.create_connection(("127.0.0.1", pport))
live = socket.create_connection(("127.0.0.1", pport))
live.sendall(b"\x05\x01\x00\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", hport))
live.recv(12)
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)  # the proxy this script started
time.sleep(1)
silent.close(); live.close()
EOF

status=""
for _ in $(seq 1200); do
    if ! running "$proxy_pid"; then
        wait "$proxy_pid"
        status=$?
        break
    fi
    sleep 0.1
done
if [ -z "$status" ]; then
    echo "valgrind.sh: proxy did not exit within 120 s of SIGTERM" >&2
    exit 1
fi
proxy_pid=""

grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|All heap' \
    "$work/valgrind.log" | sed 's/^==[0-9]*== */valgrind: /'
if [ "$status" -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$work/valgrind.log"; then
    echo "valgrind.sh: FAILED: proxy exit status $status; memcheck report:" >&2
    sed -n '/^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|definitely\|Mismatched\|overlap\|free\)/,/^==[0-9]*== $/p' \
        "$work/valgrind.log" | head -n 120 >&2
    exit 1
fi
if [ "$ok" -ne "$requests" ]; then
    echo "valgrind.sh: FAILED: $((requests - ok)) SOCKS5 downloads did not arrive whole" >&2
    exit 1
fi
echo "valgrind.sh: ok"
exit 0
