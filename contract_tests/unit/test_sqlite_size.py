"""The data directory's file stays as large as retention keeps it: predictions created
without end on a fake clock, purged by the creates themselves as the mock does, in a
real SQLite file whose size (database and write-ahead log) is measured as it goes."""

from __future__ import annotations

import time
from pathlib import Path

from mock_server.domain.clock import FakeClock
from mock_server.domain.service import PredictionService
from mock_server.storage.sqlite_store import SqliteStore

T0 = 1_000_000.0
TTL = 5.0
STEP = 0.01  # clock seconds between two creates: retention keeps about 500 records


def on_disk(store: SqliteStore) -> int:
    """Bytes of the database file and its write-ahead log."""
    wal = Path(f"{store.path}-wal")
    return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_the_file_follows_retention_and_gives_space_back(tmp_path: Path) -> None:
    began = time.monotonic()
    clock = FakeClock(T0)
    store = SqliteStore(tmp_path, clock=clock)
    service = PredictionService(
        store=store,
        clock=clock,
        starting_seconds=0.1,
        processing_seconds=0.2,
        retention_seconds=TTL,
        record_ttl_seconds=TTL,
    )
    prompt = {"prompt": "a long prompt " * 40}
    try:
        sizes: list[int] = []
        for n in range(1, 6001):  # twelve times what retention keeps
            service.create(prompt)
            clock.advance(STEP)
            if n % 500 == 0:
                sizes.append(on_disk(store))
        steady = sizes[2]  # after 1500 creates, retention has long caught up
        assert max(sizes[3:]) <= steady * 1.5, sizes  # flat, not growing with the creates
        assert store.count() <= TTL / STEP + 200
        # A burst inside the retention window grows the file; once it expires, the next
        # create's purge gives the pages back to the file system.
        for _ in range(4000):
            service.create(prompt)
            clock.advance(0.0001)
        peak = on_disk(store)
        assert peak > 3 * steady, (peak, steady)
        clock.advance(TTL + 2)
        service.create(prompt)
        assert store.count() == 1
        assert on_disk(store) < peak / 4, (on_disk(store), peak)
    finally:
        store.close()
    assert time.monotonic() - began < 120
