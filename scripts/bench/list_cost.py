"""Whether a list costs the same with 100 predictions stored as with 100k: the
benchmark's list scenario, in memory and on Redis.

Three lists are timed at each size: the first page, a narrow ``created_after`` /
``created_before`` window at the oldest end, and a cursor page deep in the middle (the
``next`` page of a list ending halfway). The figure is each list's rate at 100k over its
rate at 100 (1.0: flat).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from measure import AUTH, BIN, CREATE, free_port, server, wrk

__all__ = ["measure_list_cost"]

STORED = int(os.environ.get("BENCH_LIST_STORED", "100000"))
SMALL = 100
#: Seconds each list is timed for at each size.
LIST_SECONDS = 5


def _fill(base: str, made: int, count: int) -> int:
    """Create predictions until at least ``count`` are stored (exactly, for a few);
    how many are."""
    if count - made <= 1000:
        with httpx.Client(headers=AUTH, timeout=10) as client:
            for _ in range(count - made):
                client.post(base + CREATE, json={"input": {"prompt": "listed"}})
        return max(made, count)
    while made < count:
        seconds = max(2, int((count - made) / 2000) + 1)
        made += wrk(base + CREATE, "create.lua", "mock", "fill", seconds).requests
    return made


def _lists(base: str) -> dict[str, str]:
    """The three list URLs, for the predictions stored now."""
    with httpx.Client(headers=AUTH, timeout=30) as client:
        newest = client.get(f"{base}/v1/predictions").json()["results"][0]["created_at"]
        first = _oldest_created(client, base)
        middle = _middle(first, newest)
        window = urlencode({"created_after": first, "created_before": _plus(first, 0.002)})
        half = client.get(f"{base}/v1/predictions?{urlencode({'created_before': middle})}")
        deep = half.json()["next"] or f"{base}/v1/predictions"
    return {
        "first page": f"{base}/v1/predictions",
        "oldest window": f"{base}/v1/predictions?{window}",
        "deep cursor": deep,
    }


def _oldest_created(client: httpx.Client, base: str) -> str:
    """The creation time of the oldest prediction, found by walking the cursors."""
    page = client.get(f"{base}/v1/predictions").json()
    while page["next"]:
        page = client.get(page["next"]).json()
    return str(page["results"][-1]["created_at"])


def _plus(stamp: str, seconds: float) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() + seconds
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def _middle(first: str, last: str) -> str:
    start = datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp()
    end = datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp()
    return datetime.fromtimestamp((start + end) / 2, UTC).isoformat().replace("+00:00", "Z")


def _rates(base: str) -> dict[str, float]:
    return {
        name: wrk(url, "get.lua", "mock", name, LIST_SECONDS).requests_per_second
        for name, url in _lists(base).items()
    }


def measure_list_cost(redis_url: str) -> dict[str, float]:
    """Each list's rate at :data:`STORED` predictions over its rate at 100, in memory and
    on Redis; and the rates themselves."""
    found: dict[str, float] = {}
    for store, extra in (("memory", []), ("redis", ["--redis-url", redis_url,
                                                   "--redis-prefix", "list-cost:"])):  # fmt: skip
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(BIN / "imagen-mock"), "serve", "--port", str(port),
                   "--starting-seconds", "0", "--processing-seconds", "0", *extra]  # fmt: skip
        with server(command, f"{base}/v1/predictions"):
            made = _fill(base, 0, SMALL)
            small = _rates(base)
            _fill(base, made, STORED)
            large = _rates(base)
        for name in small:
            key = name.replace(" ", "_")
            found[f"list_{store}_{key}_rate_100"] = round(small[name])
            found[f"list_{store}_{key}_rate_{STORED}"] = round(large[name])
            found[f"list_{store}_{key}_ratio"] = round(large[name] / small[name], 3)
    return found
