"""The delivery log in the data directory's database (``--data-dir``): one delivery
log for all the workers, and the deliveries still to make, resumed after a restart.

Tables (readable with ``sqlite3``)::

    webhook_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, prediction_id, event, attempt)
    webhook_followed(id PRIMARY KEY, owner, doc)      -- predictions with deliveries to make
    webhook_sent(prediction_id, event, at)            -- their planned deliveries made
    webhook_retries(webhook_id PRIMARY KEY, prediction_id, doc)  -- retries waiting

``attempt`` is the :class:`~mock_server.webhooks.planning.Attempt` as JSON; the log
keeps the last ``limit`` rows. A followed prediction is sent by one worker, its
``owner`` (the id of that worker on the data directory's bus); when a process starts
it takes over the predictions of owners that are gone (:meth:`SqliteDeliveryLog.pending`),
reads their records again and sends what is due and not yet made, and sends the
retries at their times. An attempt is written when it has been made, so a process
killed in the middle of one sends that delivery again (at least once, never lost).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from mock_server.domain.rendering import Links
from mock_server.storage.sqlite_files import connect
from mock_server.webhooks.delivery_log import matching
from mock_server.webhooks.planning import Attempt
from mock_server.webhooks.schedule import Followed
from mock_server.webhooks.sending import Delivery, receiver_of

__all__ = ["SqliteDeliveryLog"]

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS webhook_log (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " prediction_id TEXT NOT NULL, event TEXT NOT NULL, attempt TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_log_by_prediction ON webhook_log (prediction_id)",
    "CREATE TABLE IF NOT EXISTS webhook_followed (id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_sent (prediction_id TEXT NOT NULL, event TEXT NOT NULL,"
    " at REAL NOT NULL, PRIMARY KEY (prediction_id, event, at)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS webhook_retries (webhook_id TEXT PRIMARY KEY,"
    " prediction_id TEXT NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_retries_by_prediction ON webhook_retries (prediction_id)",
)
#: The tables of pending deliveries, and the column naming the prediction in each.
_PENDING: Final = (
    ("webhook_followed", "id"),
    ("webhook_sent", "prediction_id"),
    ("webhook_retries", "prediction_id"),
)


class SqliteDeliveryLog:
    """A :class:`~mock_server.webhooks.delivery_log.DeliveryLog` in the database at ``path``.
    Thread-safe, and safe for several processes on the same file."""

    def __init__(
        self,
        path: Path,
        *,
        limit: int,
        owner: str,
        alive: Callable[[str], bool] | None = None,
    ) -> None:
        """``owner`` names this process; ``alive(owner)`` says whether another one still
        runs (None: none does).

        Raises:
            sqlite3.Error: if the file is not a database this log can use.
        """
        self._db = connect(path)
        self._lock = threading.Lock()
        self._limit = limit
        self.owner = owner
        self._alive = alive
        with self._writing() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def follow(self, followed: Followed) -> None:
        doc = {
            "url": followed.url,
            "events": sorted(followed.events),
            "api": followed.links.api,
            "root": followed.links.root,
        }
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO webhook_followed (id, owner, doc) VALUES (?, ?, ?)",
                (followed.id, self.owner, json.dumps(doc)),
            )

    def attempted(self, attempt: Attempt, delivery: Delivery, planned_at: float) -> None:
        raw = json.dumps(dataclasses.asdict(attempt), separators=(",", ":"))
        with self._writing() as db:
            seq = db.execute(
                "INSERT INTO webhook_log (prediction_id, event, attempt) VALUES (?, ?, ?)",
                (attempt.prediction_id, attempt.event, raw),
            ).lastrowid
            db.execute("DELETE FROM webhook_log WHERE seq <= ?", ((seq or 0) - self._limit,))
            if attempt.attempt == 1:
                db.execute(
                    "INSERT OR IGNORE INTO webhook_sent (prediction_id, event, at)"
                    " VALUES (?, ?, ?)",
                    (attempt.prediction_id, attempt.event, planned_at),
                )
            db.execute("DELETE FROM webhook_retries WHERE webhook_id = ?", (attempt.webhook_id,))
            if attempt.retry_at is not None:
                doc = {
                    "event": delivery.event,
                    "url": delivery.url,
                    "body": delivery.body,
                    "at": attempt.retry_at,
                    "attempts": delivery.attempts,
                }
                db.execute(
                    "INSERT INTO webhook_retries (webhook_id, prediction_id, doc) VALUES (?, ?, ?)",
                    (attempt.webhook_id, attempt.prediction_id, json.dumps(doc)),
                )

    def done(self, prediction_ids: list[str]) -> None:
        if not prediction_ids:
            return
        with self._writing() as db:
            for table, column in _PENDING:
                db.executemany(
                    f"DELETE FROM {table} WHERE {column} = ?",  # noqa: S608 (fixed names)
                    [(pid,) for pid in prediction_ids],
                )

    def attempts(self, prediction_id: str | None, event: str | None) -> list[Attempt]:
        with self._lock:
            if prediction_id is None:
                rows = self._db.execute("SELECT attempt FROM webhook_log ORDER BY seq").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT attempt FROM webhook_log WHERE prediction_id = ? ORDER BY seq",
                    (prediction_id,),
                ).fetchall()
        found = (_attempt(json.loads(raw)) for (raw,) in rows)
        return [attempt for attempt in found if matching(attempt, prediction_id, event)]

    def clear_log(self) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM webhook_log")

    def reset(self) -> None:
        with self._writing() as db:
            for table in ("webhook_log", *(name for name, _ in _PENDING)):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)

    def pending(self) -> tuple[list[Followed], list[Delivery]]:
        """Take over the predictions of owners that are gone, then list this owner's."""
        with self._writing() as db:
            owners = [
                str(row[0])
                for row in db.execute(
                    "SELECT DISTINCT owner FROM webhook_followed WHERE owner != ?", (self.owner,)
                )
            ]
            for gone in [o for o in owners if self._alive is None or not self._alive(o)]:
                db.execute(
                    "UPDATE webhook_followed SET owner = ? WHERE owner = ?", (self.owner, gone)
                )
            rows = db.execute(
                "SELECT id, doc FROM webhook_followed WHERE owner = ?", (self.owner,)
            ).fetchall()
            sent = db.execute(
                "SELECT s.prediction_id, s.event, s.at FROM webhook_sent AS s"
                " JOIN webhook_followed AS f ON f.id = s.prediction_id WHERE f.owner = ?",
                (self.owner,),
            ).fetchall()
            retries = db.execute(
                "SELECT r.webhook_id, r.prediction_id, r.doc FROM webhook_retries AS r"
                " JOIN webhook_followed AS f ON f.id = r.prediction_id WHERE f.owner = ?",
                (self.owner,),
            ).fetchall()
        followed = {str(pid): _followed(str(pid), json.loads(doc)) for pid, doc in rows}
        for pid, event, at in sent:
            followed[pid].sent.add((str(event), float(at)))
        waiting = [_retry(str(wid), str(pid), json.loads(doc)) for wid, pid, doc in retries]
        return list(followed.values()), sorted(waiting, key=lambda delivery: delivery.at)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def _attempt(doc: dict[str, Any]) -> Attempt:
    return Attempt(**doc)


def _followed(prediction_id: str, doc: dict[str, Any]) -> Followed:
    url = str(doc["url"])
    return Followed(
        id=prediction_id,
        url=url,
        receiver=receiver_of(url),
        events=frozenset(doc["events"]),
        links=Links(api=str(doc["api"]), root=str(doc["root"])),
    )


def _retry(webhook_id: str, prediction_id: str, doc: dict[str, Any]) -> Delivery:
    return Delivery(
        prediction_id=prediction_id,
        event=str(doc["event"]),
        webhook_id=webhook_id,
        url=str(doc["url"]),
        body=str(doc["body"]),
        at=float(doc["at"]),
        order=0,
        attempts=int(doc["attempts"]),
    )
