"""Measures aggregate download throughput per policy in the shaped lab (needs root).

    sudo DP_BIN=build/dispatch-proxy python3 tests/integration/measure_adaptive.py [SECONDS]

ISP1 is shaped to 30 Mbit/s and ISP2 to 10 Mbit/s toward HOST; links wan1 and wan2 at
ratio 1:1; 8 parallel clients download 1 MiB files over and over through the proxy.
Prints connections and Mbit/s per policy. A figure, not a test: nothing is asserted.
"""

import os
import sys

from conftest import REPO, FarServer, Proxy
from lab import FAR_V4, WAN, Lab
from test_health import BULK_PORT, BulkServer, run_downloads, shape, unshape


def main(seconds):
    binary = os.environ.get("DP_BIN") or str(REPO / "build" / "dispatch-proxy")
    lab = Lab()
    servers = []
    try:
        lab.build()
        servers.append(FarServer([f"http@{FAR_V4}:80"], prefix=lab.exec_prefix(lab.far)))
        servers.append(BulkServer(lab, BULK_PORT))
        shape(lab, 1, "30mbit")
        shape(lab, 2, "10mbit")
        for policy in ("wrr", "lc", "adaptive"):
            proxy = Proxy([*lab.exec_prefix(lab.host), binary, "-lport", "0", "-policy",
                           policy, "wan1", "wan2"])
            try:
                proxy.wait_started()
                conns, nbytes, mbps = run_downloads(lab, proxy, seconds)
            finally:
                proxy.stop()
            print(f"{policy:9s} {mbps:5.1f} Mbit/s of 40 ({mbps / 40:4.0%})  "
                  f"connections wan1:wan2 = {conns[lab_v4(1)]}:{conns[lab_v4(2)]}", flush=True)
    finally:
        for s in servers:
            s.stop()
        unshape(lab, 1)
        unshape(lab, 2)
        lab.destroy()


def lab_v4(n):
    return WAN[n]["v4"]


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
