"""What the request journal costs: create and GET with the journal on (its default
limit) and off (``--journal-limit 0``), in memory (one worker), on Redis and on a data
directory (two workers sharing the journal), the two servers of a pair running side by side and timed
in alternating rounds so that the machine's load falls on both alike. The figure is
each pair's rate with the journal over its rate without (1.0: free).

Run alone (``python scripts/bench/journal_cost.py``, BENCH_JOURNAL_SECONDS=3 by default,
BENCH_JOURNAL_ROUNDS=2, BENCH_JOURNAL_STORES=memory,redis,data-dir by default) or as
part of ``make bench`` (``run.py``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from contextlib import ExitStack

from measure import BIN, CREATE, Result, free_port, redis_server, server, wrk

__all__ = ["measure_journal_cost"]

SECONDS = int(os.environ.get("BENCH_JOURNAL_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_JOURNAL_ROUNDS", "2"))
STORES = os.environ.get("BENCH_JOURNAL_STORES", "memory,redis,data-dir").split(",")


def _serve(stack: ExitStack, args: list[str]) -> str:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "imagen-mock"), "serve", "--port", str(port),
               "--starting-seconds", "0", "--processing-seconds", "0", *args]  # fmt: skip
    stack.enter_context(server(command, f"{base}/v1/predictions"))
    return base


def _get_url(base: str) -> str:
    import httpx
    from measure import AUTH

    made = httpx.post(base + CREATE, json={"input": {"prompt": "polled"}}, headers=AUTH)
    return f"{base}/v1/predictions/{made.json()['id']}"


def measure_journal_cost(redis_url: str) -> dict[str, float | str]:
    """Rates with and without the journal, and their ratios, per store and scenario."""
    found: dict[str, float | str] = {}
    for store in STORES:
        with ExitStack() as stack:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="journal-cost-"))

            def args(side: str, store: str = store, directory: str = directory) -> list[str]:
                if store == "redis":
                    return ["--workers", "2", "--redis-url", redis_url,
                            "--redis-prefix", f"journal-{side}:"]  # fmt: skip
                if store == "data-dir":
                    return ["--workers", "2", "--data-dir", f"{directory}/{side}"]
                return []

            bases = {
                "journal": _serve(stack, args("on")),
                "no journal": _serve(stack, [*args("off"), "--journal-limit", "0"]),
            }
            for scenario, script in (("create", "create.lua"), ("get", "get.lua")):
                urls = {
                    side: base + CREATE if scenario == "create" else _get_url(base)
                    for side, base in bases.items()
                }
                for side, url in urls.items():
                    wrk(url, script, side, "warm-up", seconds=1)
                runs: dict[str, list[Result]] = {side: [] for side in urls}
                for _ in range(ROUNDS):
                    for side, url in urls.items():
                        runs[side].append(wrk(url, script, side, scenario, seconds=SECONDS))
                rate = {
                    side: statistics.median(r.requests_per_second for r in results)
                    for side, results in runs.items()
                }
                errors = sum(r.errors for results in runs.values() for r in results)
                key = f"journal_{store.replace('-', '_')}_{scenario}"
                found[f"{key}_rate_on"] = round(rate["journal"])
                found[f"{key}_rate_off"] = round(rate["no journal"])
                found[f"{key}_ratio"] = round(rate["journal"] / rate["no journal"], 3)
                found[f"{key}_errors"] = errors
    return found


def main() -> int:
    with redis_server() as url:
        for name, value in measure_journal_cost(url).items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
