"""A DNS server for tests that records who asked what (python3-dnslib).

    python3 dnsserver.py LOGFILE HOST:PORT|[V6]:PORT ... -- NAME=ADDR ...

Serves UDP and TCP on every address given (PORT 0 picks a free port), prints
"READY port1 port2 ..." once listening, then serves until killed. Each query appends
one line to LOGFILE: "<udp|tcp> <source address> <name> <type>".

Answers: A / AAAA records for each NAME=ADDR (TTL 60), NXDOMAIN (with an SOA, negative
TTL 30) for other names. Names starting with "tc." are answered with only the TC bit
over UDP, and in full over TCP (to test the fallback). A name "slow.*" is never answered.
"""

import ipaddress
import selectors
import socket
import struct
import sys
import threading

from dnslib import AAAA, QTYPE, RCODE, RR, SOA, A, DNSRecord


def parse_listen(spec):
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, host, int(port)


class Server:
    def __init__(self, logfile, records):
        self.log = open(logfile, "a", buffering=1)
        self.lock = threading.Lock()
        self.records = records  # name (lowercase, no final dot) -> [ip, ...]

    def record(self, proto, src, name, qtype):
        with self.lock:
            self.log.write(f"{proto} {src} {name} {qtype}\n")

    def answer(self, data, proto, src):
        try:
            q = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - a test server ignores garbage
            return None
        name = str(q.q.qname).rstrip(".").lower()
        qtype = QTYPE[q.q.qtype]
        self.record(proto, src, name, qtype)
        if name.startswith("slow."):
            return None
        reply = q.reply()
        if name.startswith("tc.") and proto == "udp":
            reply.header.tc = 1
            return reply.pack()
        addrs = self.records.get(name)
        if addrs is None:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR("test", QTYPE.SOA, ttl=3600,
                              rdata=SOA("ns.test", "admin.test", (1, 60, 60, 60, 30))))
            return reply.pack()
        for a in addrs:
            v6 = ipaddress.ip_address(a).version == 6
            if qtype == ("AAAA" if v6 else "A"):
                reply.add_answer(RR(q.q.qname, q.q.qtype, ttl=60, rdata=AAAA(a) if v6 else A(a)))
        if name.startswith("tc."):  # big enough that it would not fit a small UDP answer
            for i in range(40):
                reply.add_ar(RR(f"pad{i}.test", QTYPE.A, ttl=60, rdata=A("192.0.2.1")))
        return reply.pack()


def bind_pair(family, host, port):
    """A UDP and a TCP socket on the same port (port 0: one free for both)."""
    for _ in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, port))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port != 0:
                raise
            continue
        tcp.listen(16)
        return udp, tcp
    raise OSError("no port free for both UDP and TCP")


def serve_tcp(server, conn, src):
    with conn:
        conn.settimeout(5)
        try:
            head = conn.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return
            data = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
            out = server.answer(data, "tcp", src)
            if out is not None:
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass


def main():
    argv = sys.argv[1:]
    sep = argv.index("--") if "--" in argv else len(argv)
    logfile, listens, recs = argv[0], argv[1:sep], argv[sep + 1:]
    records = {}
    for r in recs:
        name, _, addr = r.partition("=")
        records.setdefault(name.lower(), []).append(addr)
    server = Server(logfile, records)
    sel = selectors.DefaultSelector()
    ports = []
    for spec in listens:
        family, host, port = parse_listen(spec)
        udp, tcp = bind_pair(family, host, port)
        port = udp.getsockname()[1]
        sel.register(udp, selectors.EVENT_READ, "udp")
        sel.register(tcp, selectors.EVENT_READ, "tcp")
        ports.append(port)
    print("READY", *ports, flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data == "udp":
                data, peer = sock.recvfrom(4096)
                out = server.answer(data, "udp", peer[0])
                if out is not None:
                    sock.sendto(out, peer)
            else:
                conn, peer = sock.accept()
                threading.Thread(target=serve_tcp, args=(server, conn, peer[0]),
                                 daemon=True).start()


if __name__ == "__main__":
    main()
