"""Sample a gateway's health endpoint every 100 ms and report its outages.

Runs on the test host (standard library only). Polls ``URL`` (e.g.
http://127.0.0.1:18789/health) with a 1 s timeout every ``--interval`` seconds until
``--stop-file`` appears, then writes JSON to ``--out``:
``{"samples": int, "outages": [seconds, ...], "max": seconds}``, where one outage lasts
from the last ok answer before it to the first ok answer after it (seconds, float).
An outage still open when sampling stops counts up to the last sample. A sample is ok
when the endpoint answers HTTP 200.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request


def ok(url: str) -> bool:
    """True when ``url`` answers HTTP 200 within 1 s."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback URL
            return resp.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    samples, outages = 0, []
    last_ok = None
    down_since = None
    while not os.path.exists(args.stop_file):
        now = time.monotonic()
        samples += 1
        if ok(args.url):
            if down_since is not None:
                outages.append(now - down_since)
                down_since = None
            last_ok = now
        elif down_since is None:
            down_since = last_ok if last_ok is not None else now
        time.sleep(max(0.0, args.interval - (time.monotonic() - now)))
    if down_since is not None:
        outages.append(time.monotonic() - down_since)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"samples": samples, "outages": outages, "max": max(outages, default=0.0)}, out)


if __name__ == "__main__":
    main()
