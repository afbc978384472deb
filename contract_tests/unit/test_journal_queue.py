"""The queued request journal: entries kept in the process and written in one batch when
flushed (a read, a clear, a stop); a failing store never raises into the request; and
the SQLite table behind it on a data directory, which keeps the entries that arrived
last whatever order batches come in (no Flask, no sockets)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from contract_tests.unit.test_journal import entry
from mock_server.domain.journal import JournalEntry
from mock_server.domain.journal_queue import CHUNK, QueuedJournal
from mock_server.storage.sqlite_journal import SqliteJournal


class Batches:
    """A store that remembers each batch written, and may be told to fail."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.batches: list[list[str]] = []
        self.failure: Exception | None = None
        self.closed = False

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        if self.failure is not None:
            raise self.failure
        self.batches.append([item.id for item in entries])

    def entries(self) -> list[JournalEntry]:
        return [entry(int(name[4:])) for batch in self.batches for name in batch]

    def clear(self) -> None:
        self.batches.clear()

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def queued(store: Batches, errors: list[Exception]) -> QueuedJournal:
    return QueuedJournal(store, on_error=errors.append, on_written=lambda: None)


def test_entries_wait_until_a_flush_writes_them_in_one_batch() -> None:
    store, errors = Batches(), list[Exception]()
    journal = queued(store, errors)
    for number in range(3):
        journal.append(entry(number))
    assert store.batches == []
    journal.flush()
    assert store.batches == [["req_0", "req_1", "req_2"]]
    journal.flush()  # nothing more to write
    assert len(store.batches) == 1


def test_closing_writes_what_waits_then_closes_the_store() -> None:
    store, errors = Batches(), list[Exception]()
    journal = queued(store, errors)
    journal.append(entry(1))
    assert store.batches == []
    journal.close()
    assert store.batches == [["req_1"]]
    assert store.closed


def test_a_store_that_fails_keeps_the_batch_for_the_next_flush_and_raises_nothing() -> None:
    store, errors = Batches(limit=2), list[Exception]()
    journal = queued(store, errors)
    store.failure = OSError("disk on fire")
    journal.append(entry(1))
    journal.flush()
    assert [str(error) for error in errors] == ["disk on fire"]
    store.failure = None
    journal.append(entry(2))
    journal.append(entry(3))  # past the limit with the kept one: the oldest goes
    journal.flush()
    assert store.batches == [["req_2", "req_3"]]


def test_a_long_part_is_written_in_chunks() -> None:
    store, errors = Batches(limit=CHUNK * 3), list[Exception]()
    journal = queued(store, errors)
    for number in range(CHUNK + 1):
        journal.append(entry(number))
    journal.flush()
    assert [len(batch) for batch in store.batches] == [CHUNK, 1]


def test_what_waits_is_bounded_by_the_limit_and_read_in_arrival_order() -> None:
    store, errors = Batches(limit=2), list[Exception]()
    journal = queued(store, errors)
    for number in (3, 1, 2):
        journal.append(entry(number))
    assert [item.id for item in journal.entries()] == ["req_1", "req_2"]
    journal.append(entry(5))
    journal.clear()
    journal.flush()
    assert store.batches == []


@pytest.fixture
def table(tmp_path: Path) -> SqliteJournal:
    return SqliteJournal(tmp_path / "journal.sqlite3", limit=3)


def test_the_table_keeps_the_entries_that_arrived_last_up_to_its_limit(
    table: SqliteJournal, tmp_path: Path
) -> None:
    table.append_many([entry(number) for number in range(2, 5)])
    table.append_many([entry(number) for number in range(2)])  # an older batch, flushed later
    assert [item.id for item in table.entries()] == ["req_2", "req_3", "req_4"]
    table.close()
    again = SqliteJournal(tmp_path / "journal.sqlite3", limit=3)
    assert [item.id for item in again.entries()] == ["req_2", "req_3", "req_4"]
    again.clear()
    assert again.entries() == []
    again.ping()
    again.close()


def test_an_entry_as_json_holds_every_field() -> None:
    original = entry(1, body='{"input": {}}', truncated=True)
    doc = original.as_dict()
    assert set(doc) == {item.name for item in dataclasses.fields(JournalEntry)}
    assert JournalEntry.from_json(original.to_json()) == original
