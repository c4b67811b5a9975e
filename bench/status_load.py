"""Load /api/v1/status of the backend-service on loopback and print requests/s and
latency percentiles. Stdlib only: it is copied into the test host and run there.

Usage: status_load.py TOKEN_FILE [--requests 2000] [--concurrency 4] [--url URL]
TOKEN_FILE is the backend's env file (BACKEND_API_TOKEN is read from it, never printed).
Bounded: a fixed number of requests, each with a 30 s timeout, to loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request


def read_token(path: str) -> str:
    """BACKEND_API_TOKEN from a KEY=value env file."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, _sep, value = line.strip().partition("=")
            if key == "BACKEND_API_TOKEN":
                return value.strip("'\"")
    raise SystemExit("no BACKEND_API_TOKEN in " + path)


def main() -> None:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("token_file")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--url", default="http://127.0.0.1:18889/api/v1/status")
    args = parser.parse_args()
    token = read_token(args.token_file)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_worker = args.requests // args.concurrency

    def worker() -> None:
        for _request in range(per_worker):
            req = urllib.request.Request(args.url, headers={"Authorization": "Bearer " + token})
            start = time.perf_counter()
            try:
                with opener.open(req, timeout=30) as resp:
                    resp.read()
                    ok = resp.status == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _thread in range(args.concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    print(
        "requests %d (concurrency %d, %d errors) in %.1f s"
        % (len(latencies), args.concurrency, errors[0], wall)
    )
    print("throughput %.0f requests/s" % (len(latencies) / wall))
    print("latency p50 %.1f ms, p99 %.1f ms" % (cuts[49] * 1000, cuts[98] * 1000))


if __name__ == "__main__":
    main()
