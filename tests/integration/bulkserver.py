"""A far-end download server for throughput tests, one thread per connection.

    python3 bulkserver.py HOST:PORT

Prints "READY port" once listening. Each client sends one line "<bytes>\\n"; the server
answers with that many bytes and closes. Run it inside the far namespace.
"""

import socket
import sys
import threading

CHUNK = bytes(range(256)) * 256  # 64 KiB


def serve(conn):
    with conn:
        try:
            line = b""
            while not line.endswith(b"\n") and len(line) < 32:
                data = conn.recv(32)
                if not data:
                    return
                line += data
            left = int(line)
            while left > 0:
                n = conn.send(CHUNK[:min(left, len(CHUNK))])
                left -= n
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)  # wait for the client's close: every byte was delivered
        except (OSError, ValueError):
            pass


def main(spec):
    host, _, port = spec.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host.strip("[]"), int(port)))
    lsock.listen(1024)
    print(f"READY {lsock.getsockname()[1]}", flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1])
