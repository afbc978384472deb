"""The embedded store (``--data-dir``, SQLite) on every core, beside memory and Redis,
against bare Flask on the same number of workers, in one run.

Four servers run at once: the mock with ``--workers N --data-dir`` (a fresh temporary
directory), the mock with ``--workers N --redis-url``, the default mock (one worker,
in memory), and bare Flask on N workers. GET and create take rounds in turn, the
servers in a new random order each round; each rate is its side's median round. A GET
ratio against bare Flask is the median of the rounds' ratios: each round's pair ran
seconds apart, so a slow spell of the machine weighs on both sides of a ratio alike. Then the restart: the data directory is filled to
``BENCH_EMBEDDED_STORED`` predictions (100k; written straight into the file, as the
server would have), and the time from ``imagen-mock serve`` to the first answer for
the oldest one is taken.

Run alone: ``.venv/bin/python scripts/bench/embedded.py`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from measure import AUTH, BIN, CREATE, HERE, Result, free_port, median, redis_server, server, wrk

__all__ = ["measure_embedded"]

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_EMBEDDED_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_EMBEDDED_SECONDS", "5"))
STORED = int(os.environ.get("BENCH_EMBEDDED_STORED", "100000"))
RESTART_ROUNDS = int(os.environ.get("BENCH_EMBEDDED_RESTART_ROUNDS", "3"))
INSTANT = ["--starting-seconds", "0", "--processing-seconds", "0"]


def _mock(port: int, *args: str) -> list[str]:
    return [str(BIN / "imagen-mock"), "serve", "--port", str(port), *INSTANT, *args]


def measure_embedded(redis_url: str) -> tuple[list[Result], dict[str, float | str]]:
    """GET and create rounds on the four servers, then the restart with STORED stored."""
    results: list[Result] = []
    extra: dict[str, float | str] = {}
    workers = ["--workers", str(WORKERS)]
    with tempfile.TemporaryDirectory(prefix="bench-data-") as directory, ExitStack() as stack:
        data = Path(directory) / "data"
        ports = {name: free_port() for name in ("embedded", "redis", "memory", "bare-flask")}
        commands = {
            "embedded": _mock(ports["embedded"], *workers, "--data-dir", str(data)),
            "redis": _mock(
                ports["redis"],
                *workers,
                "--redis-url",
                redis_url,
                "--redis-prefix",
                "bench-embedded:",
            ),
            "memory": _mock(ports["memory"]),
            "bare-flask": [
                sys.executable,
                str(HERE / "baseline_app.py"),
                str(ports["bare-flask"]),
                "1024",
                str(WORKERS),
            ],
        }
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        get_urls: dict[str, str] = {}
        for name, command in commands.items():
            root = f"http://127.0.0.1:{ports[name]}"
            probe = f"{root}/v1/predictions/x" if name == "bare-flask" else f"{root}/v1/predictions"
            stack.enter_context(server(command, probe, env))
            if name == "bare-flask":
                get_urls[name] = probe
            else:
                made = httpx.post(root + CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
                get_urls[name] = f"{root}/v1/predictions/{made.json()['id']}"
        create_urls = {
            name: url.rsplit("/v1/", 1)[0] + CREATE
            for name, url in get_urls.items()
            if name != "bare-flask"
        }
        for name, url in get_urls.items():
            wrk(url, "get.lua", name, "warm-up", seconds=2)
        gets: dict[str, list[Result]] = {name: [] for name in get_urls}
        creates: dict[str, list[Result]] = {name: [] for name in create_urls}
        shuffled = random.Random(ROUNDS)
        for _ in range(ROUNDS):
            for name, url in shuffled.sample(list(get_urls.items()), len(get_urls)):
                gets[name].append(wrk(url, "get.lua", name, "get", seconds=SECONDS))
            for name, url in shuffled.sample(list(create_urls.items()), len(create_urls)):
                creates[name].append(wrk(url, "create.lua", name, "create", seconds=SECONDS))
        chosen = {name: median(runs) for name, runs in gets.items()}
        results += chosen.values()
        results += [median(runs) for runs in creates.values()]
        for name in ("embedded", "redis"):
            ratio = _paired_ratio(gets[name], gets["bare-flask"])
            extra[f"get_ratio_{name}_{WORKERS}_workers"] = round(ratio, 3)
        extra["get_ratio_memory_1_worker_vs_flask_n"] = round(
            _paired_ratio(gets["memory"], gets["bare-flask"]), 3
        )
        stack.close()
        extra.update(_restart(data))
    return results, extra


def _paired_ratio(side: list[Result], baseline: list[Result]) -> float:
    """The median over rounds of ``side``'s rate over ``baseline``'s in the same round."""
    return statistics.median(
        mine.requests_per_second / theirs.requests_per_second
        for mine, theirs in zip(side, baseline, strict=True)
    )


def _fill(data: Path, count: int) -> int:
    """Add predictions to the file until it holds ``count``, as the server writes them."""
    sys.path.insert(0, str(HERE.parents[1]))
    from mock_server.domain import lifecycle
    from mock_server.domain.store import micros
    from mock_server.storage.encoding import encode

    with sqlite3.connect(data / "predictions.sqlite3") as db:
        stored = int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
        now = time.time() - 3600
        rows = []
        for n in range(count - stored):
            record = lifecycle.new_record(
                {"prompt": f"stored {n}"},
                now=now + n / 1000,
                starting_seconds=0,
                processing_seconds=0,
                retention_seconds=3600,
            )
            rows.append((record.id, micros(record.created_at), encode(record)))
        db.executemany("INSERT INTO predictions (id, micros, record) VALUES (?, ?, ?)", rows)
        return int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


def _restart(data: Path) -> dict[str, float | str]:
    """Seconds from start to the first answer with ``STORED`` predictions stored, against
    the same start on an empty directory (taken in turns, the median of
    ``RESTART_ROUNDS`` each), and the file's size."""
    stored = _fill(data, STORED)
    with sqlite3.connect(data / "predictions.sqlite3") as db:
        oldest = db.execute("SELECT id FROM predictions ORDER BY micros LIMIT 1").fetchone()[0]
    full: list[float] = []
    empty: list[float] = []
    status = 0
    for _ in range(RESTART_ROUNDS):
        with tempfile.TemporaryDirectory(prefix="bench-empty-") as blank:
            empty.append(_start_time(Path(blank) / "data", oldest)[0])
        seconds, status = _start_time(data, oldest)
        full.append(seconds)
    size = sum(path.stat().st_size for path in data.glob("predictions.sqlite3*"))
    return {
        "restart_stored": stored,
        "restart_seconds": round(statistics.median(full), 3),
        "restart_empty_seconds": round(statistics.median(empty), 3),
        "restart_oldest_status": status,
        "restart_file_mib": round(size / 2**20, 1),
    }


def _start_time(data: Path, probe_id: str) -> tuple[float, int]:
    """Seconds from ``imagen-mock serve`` on ``data`` to its first answer to a GET of
    ``probe_id`` (404 on an empty directory), and that answer's status."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    command = _mock(
        port,
        "--workers",
        str(WORKERS),
        "--data-dir",
        str(data),
        "--record-ttl-seconds",
        str(30 * 86400),
    )
    with server(command, f"{root}/v1/predictions/{probe_id}") as (_, seconds):
        status = httpx.get(f"{root}/v1/predictions/{probe_id}", headers=AUTH).status_code
    return seconds, status


def main() -> int:
    if sys.argv[1:] == ["restart"]:  # the restart alone, on a directory of its own
        with tempfile.TemporaryDirectory(prefix="bench-data-") as directory:
            data = Path(directory) / "data"
            data.mkdir()
            with server(_mock(port := free_port(), "--data-dir", str(data)),
                        f"http://127.0.0.1:{port}/v1/predictions"):  # fmt: skip
                pass  # the schema, as a first run leaves it
            print(json.dumps(_restart(data), indent=2))
        return 0
    with redis_server() as redis_url:
        results, extra = measure_embedded(redis_url)
    for result in results:
        print(
            f"{result.target:>10} {result.scenario:>6} {result.requests_per_second:9,.0f} req/s"
            f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}"
        )
    print(json.dumps(extra, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
