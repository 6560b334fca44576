"""Far-end test servers in one single-threaded process.

    python3 farserver.py MODE@HOST:PORT ...     (PORT 0 picks a free port)

Prints "READY port1 port2 ..." on stdout (one port per listener, in argument order)
once every listener is up, then serves until killed. Modes:

  http    reads one request head, answers 200 with the client's IP address as body
  peer    at once sends "<client ip> <client port>\n" and closes
  echo    sends back every byte it receives; on EOF finishes sending, then closes
  digest  reads until EOF, then answers "<bytes received> <sha256 hex>\\n" followed by
          DIGEST_TAIL bytes of pattern data, then closes (for half-close tests)
  stream  reads one line "<n>\\n", then sends stream_bytes(n) (generated as it goes, so
          any size costs little memory) and closes
  reset   once the client sends anything, sends RESET_AFTER bytes of pattern data and
          then resets the connection (SO_LINGER 0 close) instead of closing it
  udpecho (UDP) answers each datagram with "<source ip> <source port> " and the datagram;
          the datagram "SEEN?" is answered with one line "<ip> <port> <payload hex>" for
          every datagram received before it (the last UDP_SEEN_MAX), so a test can show
          what never arrived

Run it as a separate process (inside a namespace with `ip netns exec`) so its
sockets never share a file-descriptor limit with the proxy or the client.
"""

import hashlib
import ipaddress
import random
import resource
import selectors
import socket
import struct
import sys

DIGEST_TAIL = 256 * 1024
MAX_PENDING = 256 * 1024  # stop reading while this much output waits (backpressure)
RESET_AFTER = 256 * 1024
UDP_SEEN_MAX = 1000
STREAM_SEED, STREAM_CHUNK = 20251125, 1 << 20


def pattern(n):
    """n bytes of a deterministic, non-repeating-per-KiB pattern."""
    block = bytes(range(256)) * 4
    return (block * (n // len(block) + 1))[:n]


def stream_chunks(n):
    """stream_bytes(n) in pieces: a seeded pseudo-random stream, so a lost, repeated or
    reordered block changes the digest (a periodic pattern would hide it)."""
    rng = random.Random(STREAM_SEED)
    while n > 0:
        chunk = rng.randbytes(STREAM_CHUNK)[:n]
        n -= len(chunk)
        yield chunk


def stream_digest(n):
    """sha256 hex of stream_bytes(n), computed without holding it all."""
    h = hashlib.sha256()
    for chunk in stream_chunks(n):
        h.update(chunk)
    return h.hexdigest()


def client_ip(sock):
    ip = sock.getpeername()[0]
    addr = ipaddress.ip_address(ip.split("%")[0])
    if addr.version == 6 and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


class Conn:
    def __init__(self, sock, mode):
        self.sock, self.mode = sock, mode
        self.inbuf, self.out = bytearray(), bytearray()
        self.read_done = False  # peer sent EOF (or we stopped reading for good)
        self.close_after_flush = False
        self.hasher, self.received = hashlib.sha256(), 0
        self.source = None  # stream: the chunks still to send
        self.reset_after_flush = False

    def refill(self):
        """stream: tops the output up from the generator (keeps memory small)."""
        while self.source is not None and len(self.out) < MAX_PENDING:
            chunk = next(self.source, None)
            if chunk is None:
                self.source = None
                self.close_after_flush = True
            else:
                self.out += chunk

    def on_data(self, data):
        if self.mode == "echo":
            self.out += data
        elif self.mode == "digest":
            self.hasher.update(data)
            self.received += len(data)
        elif self.mode == "http":
            self.inbuf += data
            if b"\r\n\r\n" in self.inbuf and not self.close_after_flush:
                body = client_ip(self.sock).encode()
                self.out += b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                self.out += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                self.out += body
                self.close_after_flush = True
        elif self.mode == "stream":
            self.inbuf += data
            if b"\n" in self.inbuf and self.source is None and not self.close_after_flush:
                self.source = stream_chunks(int(self.inbuf.split(b"\n")[0]))
                self.refill()
        elif self.mode == "reset" and not self.reset_after_flush:
            self.out += pattern(RESET_AFTER)
            self.reset_after_flush = True

    def on_eof(self):
        self.read_done = True
        if self.mode == "digest":
            self.out += b"%d %s\n" % (self.received, self.hasher.hexdigest().encode())
            self.out += pattern(DIGEST_TAIL)
        self.close_after_flush = True


class Server:
    def __init__(self):
        self.sel = selectors.DefaultSelector()

    def listen(self, spec):
        mode, _, hostport = spec.partition("@")
        host, _, port = hostport.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if mode == "udpecho":
            usock = socket.socket(family, socket.SOCK_DGRAM)
            usock.bind((host, int(port)))
            usock.setblocking(False)
            self.sel.register(usock, selectors.EVENT_READ, ("udp", []))
            return usock.getsockname()[1]
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, int(port)))
        lsock.listen(4096)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, ("listen", mode))
        return lsock.getsockname()[1]

    def update(self, conn):
        events = 0
        if not conn.read_done and len(conn.out) < MAX_PENDING:
            events |= selectors.EVENT_READ
        if conn.out:
            events |= selectors.EVENT_WRITE
        if events == 0:
            self.close(conn)
        else:
            self.sel.modify(conn.sock, events, conn)

    def close(self, conn):
        if conn.reset_after_flush and not conn.out:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sel.unregister(conn.sock)
        conn.sock.close()

    def serve_forever(self):
        while True:
            for key, events in self.sel.select():
                if isinstance(key.data, tuple) and key.data[0] == "udp":
                    self.datagram(key.fileobj, key.data[1])
                elif isinstance(key.data, tuple):
                    self.accept(key.fileobj, key.data[1])
                else:
                    self.service(key.data, events)

    def datagram(self, usock, seen):
        try:
            data, peer = usock.recvfrom(65536)
        except OSError:
            return
        ip = str(ipaddress.ip_address(peer[0].split("%")[0]))
        if data == b"SEEN?":
            answer = "".join(f"{i} {p} {d.hex()}\n" for i, p, d in seen).encode()
        else:
            seen.append((ip, peer[1], data))
            del seen[:-UDP_SEEN_MAX]
            answer = b"%s %d " % (ip.encode(), peer[1]) + data
        try:
            usock.sendto(answer, peer)
        except OSError:
            pass

    def accept(self, lsock, mode):
        try:
            sock, _ = lsock.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return
        sock.setblocking(False)
        conn = Conn(sock, mode)
        self.sel.register(sock, selectors.EVENT_READ, conn)
        if mode == "peer":
            conn.out += b"%s %d\n" % (client_ip(sock).encode(), sock.getpeername()[1])
            conn.close_after_flush = True
            self.update(conn)

    def service(self, conn, events):
        try:
            if events & selectors.EVENT_READ:
                data = conn.sock.recv(65536)
                if data:
                    conn.on_data(data)
                else:
                    conn.on_eof()
            if events & selectors.EVENT_WRITE and conn.out:
                sent = conn.sock.send(conn.out)
                del conn.out[:sent]
                conn.refill()
        except BlockingIOError:
            pass
        except OSError:
            self.close(conn)
            return
        if (conn.close_after_flush or conn.reset_after_flush) and not conn.out:
            self.close(conn)
            return
        self.update(conn)


def main(specs):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = Server()
    ports = [server.listen(spec) for spec in specs]
    print("READY " + " ".join(map(str, ports)), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
