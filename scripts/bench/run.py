"""``make bench``: the mock under load on loopback, against two baselines in the same run.

Each scenario is driven by wrk (32 connections, 2 threads) against
  - the mock (``imagen-mock serve``, instant phases),
  - a bare Flask endpoint on the same server settings (the framework's limit),
  - Prism mocking the same spec (``@stoplight/prism-cli``),
and the ratios are printed. Results also go to ``artifacts/bench.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_SERVER_THREADS", "32"))
MEMORY_PREDICTIONS = int(os.environ.get("BENCH_MEMORY_PREDICTIONS", "100000"))
AUTH = {"Authorization": "Bearer bench-token"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"


@dataclass
class Result:
    """One wrk run."""

    target: str
    scenario: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(command: Sequence[str], probe: str) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start a server; yield it and how long it took to answer ``probe``.

    Raises:
        RuntimeError: if it does not answer within 30 s.
    """
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 30:
            try:
                if httpx.get(probe, headers=AUTH, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        else:
            raise RuntimeError(f"{command[0]} did not start")
        yield process, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def wrk(url: str, script: str, target: str, scenario: str, seconds: int = SECONDS) -> Result:
    """Run wrk and parse its report."""
    done = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(HERE / script), url],
        capture_output=True, text=True, check=True, env={**os.environ, "BENCH_PREFIX": "/v1"},
    )  # fmt: skip
    out = done.stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return Result(
        target=target,
        scenario=scenario,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        errors=errors,
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    )


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (gunicorn's worker is a child)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_kib(int(child))
    return total


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/install-bench-tools.sh", file=sys.stderr)
        return 1
    prism_bin = ROOT / "tools" / "node_modules" / ".bin" / "prism"
    results: list[Result] = []
    extra: dict[str, float] = {}
    mock_port, flask_port, prism_port = free_port(), free_port(), free_port()
    mock_cmd = [str(BIN / "imagen-mock"), "serve", "--port", str(mock_port), "--threads", str(THREADS),
                "--starting-seconds", "0", "--processing-seconds", "0"]  # fmt: skip
    mock = f"http://127.0.0.1:{mock_port}"
    with server(mock_cmd, f"{mock}/v1/predictions") as (process, startup):
        extra["mock_startup_seconds"] = round(startup, 3)
        pid = process.pid
        created = httpx.post(mock + CREATE, headers=AUTH, json={"input": {"prompt": "x"}}).json()
        get_url = f"{mock}/v1/predictions/{created['id']}"
        results.append(wrk(get_url, "get.lua", "mock", "get"))
        results.append(wrk(mock + CREATE, "create.lua", "mock", "create"))
        results.append(wrk(mock, "lifecycle.lua", "mock", "lifecycle"))
        before = rss_kib(pid)
        made = 0
        while made < MEMORY_PREDICTIONS:
            rate = max(results[1].requests_per_second, 100.0)
            seconds = max(2, int((MEMORY_PREDICTIONS - made) / rate) + 1)
            made += wrk(mock + CREATE, "create.lua", "mock", "memory", seconds).requests
        extra["memory_predictions"] = made
        extra["memory_rss_growth_mib"] = round((rss_kib(pid) - before) / 1024, 1)
    flask_cmd = [sys.executable, str(HERE / "baseline_app.py"), str(flask_port), str(THREADS)]
    flask = f"http://127.0.0.1:{flask_port}"
    with server(flask_cmd, f"{flask}/v1/predictions/x"):
        results.append(wrk(f"{flask}/v1/predictions/x", "get.lua", "bare-flask", "get"))
    if prism_bin.exists():
        prism_cmd = [str(prism_bin), "mock", "-h", "127.0.0.1", "-p", str(prism_port), "--errors",
                     str(ROOT / "openapi" / "openapi.yaml")]  # fmt: skip
        prism = f"http://127.0.0.1:{prism_port}"
        with server(prism_cmd, f"{prism}/predictions/x"):
            results.append(wrk(f"{prism}/predictions/x", "get.lua", "prism", "get"))
            results.append(wrk(prism + CREATE.removeprefix("/v1"), "create.lua", "prism", "create"))
    report(results, extra)
    return 0


def report(results: list[Result], extra: dict[str, float]) -> None:
    by = {(r.target, r.scenario): r for r in results}
    ratios = {}
    for name, (a, b) in {
        "get_vs_bare_flask": (("mock", "get"), ("bare-flask", "get")),
        "get_vs_prism": (("mock", "get"), ("prism", "get")),
        "create_vs_prism": (("mock", "create"), ("prism", "create")),
    }.items():
        if a in by and b in by:
            ratios[name] = round(by[a].requests_per_second / by[b].requests_per_second, 2)
    lines = [
        f"wrk, {CONNECTIONS} connections, {SECONDS} s per run, server threads {THREADS}",
        "",
        "| target | scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.target} | {r.scenario} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.errors} |"
        for r in results
        if r.scenario != "memory"
    ]
    lines += ["", *(f"- {k}: {v}x" for k, v in ratios.items())]
    lines += [f"- {k}: {v}" for k, v in extra.items()]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "bench.md").write_text(text + "\n")
    payload = {"results": [asdict(r) for r in results], "ratios": ratios, **extra}
    (out / "bench.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
