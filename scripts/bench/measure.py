"""The benchmark's instruments: servers started and timed, wrk runs parsed, medians,
how connections split between workers, resident memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
AUTH = {"Authorization": "Bearer r8_benchtoken"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"


@dataclass
class Result:
    """One wrk run (or the median of several)."""

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
def server(
    command: Sequence[str], probe: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start a server; yield it and how long it took to answer ``probe``.

    Raises:
        RuntimeError: if it does not answer within 30 s.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
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
        process.wait(timeout=20)  # the drain bound (10 s by default), and then some


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", directory]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            import redis

            client = redis.Redis(port=port)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
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


def median(runs: list[Result], by: str = "requests_per_second") -> Result:
    """The run with the median ``by`` (rate unless told), its errors replaced by the sum
    over all runs."""
    ordered = sorted(runs, key=lambda r: float(getattr(r, by)))
    middle = ordered[len(ordered) // 2]
    return Result(**{**asdict(middle), "errors": sum(r.errors for r in runs),
                     "requests": sum(r.requests for r in runs)})  # fmt: skip


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def workers_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (granian's workers)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]  # fmt: skip


def connections_per_worker(pid: int, port: int) -> list[int]:
    """How many established connections to ``port`` each worker of ``pid`` holds."""
    established: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
            established.add(fields[9])  # the socket's inode
    counts = []
    for worker in workers_of(pid):
        held = 0
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            try:
                target = str(fd.readlink())
            except OSError:
                continue  # closed meanwhile
            held += target.startswith("socket:[") and target[8:-1] in established
        counts.append(held)
    return sorted(counts, reverse=True)


def wrk_watching(pid: int, port: int, url: str, script: str, scenario: str) -> Result:
    """:func:`wrk` against the mock, noting in the scenario how the connections were
    split between its workers (read 2 s into the run)."""
    import threading

    split: list[int] = []
    timer = threading.Timer(2.0, lambda: split.extend(connections_per_worker(pid, port)))
    timer.start()
    result = wrk(url, script, "mock", scenario)
    timer.join()
    result.scenario += f" [{'/'.join(map(str, split))}]"
    return result


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (granian's workers are children)."""
    own = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))  # fmt: skip
    return int(own.split()[1]) + sum(rss_kib(child) for child in workers_of(pid))
