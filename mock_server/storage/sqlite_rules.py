"""Scenario rules kept in the data directory's database, shared by the server's workers
and kept across restarts (``--data-dir``).

``rules(seq INTEGER PRIMARY KEY AUTOINCREMENT, doc, hits)`` holds each rule's body as
it was accepted (JSON) and how many requests it has applied to; ``rule_<seq>`` is its
id, never handed out twice. Each worker keeps the parsed rules in memory (a request
asks whether any rule is set, and matches prompts, without touching the file) and
loads them again when another process has changed them: a writer commits, then writes
a new :class:`~mock_server.storage.sqlite_files.ChangeToken`, which every reader
compares before using its copy, so a rule set through one worker applies to the very
next request on any other. Counting a use is one conditional ``UPDATE`` in the file,
so a rule with ``times`` applies that many times over all the workers together.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from mock_server.domain.scenarios import Rule, RuleBook, ScenarioError, parse_rule, read_once
from mock_server.storage.sqlite_files import DATABASE_NAME, ChangeToken, connect

__all__ = ["CHANGES_FILE", "SqliteRuleBook"]

#: The change token of the rules table, in the data directory.
CHANGES_FILE: Final = "rules.changed"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS rules (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " doc TEXT NOT NULL, hits INTEGER NOT NULL DEFAULT 0)"
)
_ID: Final = re.compile(r"rule_([1-9][0-9]{0,17})")

log = logging.getLogger(__name__)


class SqliteRuleBook(RuleBook):
    """A :class:`~mock_server.domain.scenarios.RuleBook` whose rules live in
    ``<directory>/predictions.sqlite3``. Thread-safe, and safe for several processes."""

    def __init__(self, directory: Path) -> None:
        """Raises: OSError, sqlite3.Error: if the directory or database cannot be used."""
        super().__init__()
        self._db = connect(directory / DATABASE_NAME)
        self._db_lock = threading.Lock()
        self._db.execute(_SCHEMA)
        self._token = ChangeToken(directory / CHANGES_FILE)
        self._seen: bytes | None = None

    def _load(self) -> list[Rule]:
        with self._db_lock:
            rows = self._db.execute("SELECT seq, doc, hits FROM rules ORDER BY seq").fetchall()
        rules: list[Rule] = []
        for seq, doc, hits in rows:
            try:
                rule = parse_rule(json.loads(doc), f"rule_{seq}")
            except (ValueError, ScenarioError) as exc:
                log.warning("ignoring stored rule rule_%s: %s", seq, exc)
                continue
            rule.hits = int(hits)
            rules.append(rule)
        return rules

    def _refresh(self) -> None:
        """Load the rules again if another process (or thread) changed them."""
        token = self._token.read()
        if token == self._seen:
            return
        rules = self._load()  # read after the token: a later change writes a new one
        with self._lock:
            self._rules, self._seen = rules, token

    def _changed(self) -> None:
        self._token.change()
        self._refresh()

    def add(self, doc: Mapping[str, Any]) -> Rule:
        """Store a rule (committed on return); it gets the next id.

        Raises:
            ScenarioError: if its prompt does not compile (nothing is stored).
        """
        rule = parse_rule(doc, "rule_0")
        with self._db_lock:
            cursor = self._db.execute("INSERT INTO rules (doc) VALUES (?)", (json.dumps(doc),))
        self._changed()
        return replace(rule, id=f"rule_{cursor.lastrowid}")

    def all(self) -> list[dict[str, Any]]:
        """Every stored rule, oldest first, with its uses over all the workers."""
        return [rule.as_dict() for rule in self._load()]

    def delete(self, rule_id: str) -> bool:
        """Drop one rule; False if there is no such id."""
        found = _ID.fullmatch(rule_id)
        if found is None:
            return False
        with self._db_lock:
            count = self._db.execute("DELETE FROM rules WHERE seq = ?", (int(found[1]),)).rowcount
        if count:
            self._changed()
        return count > 0

    def clear(self) -> None:
        """Drop every rule."""
        with self._db_lock:
            self._db.execute("DELETE FROM rules")
        self._changed()

    def __bool__(self) -> bool:
        self._refresh()
        return bool(self._rules)

    def take(self, route: str, prompt: Callable[[], str | None]) -> Rule | None:
        """The oldest rule matching this request, its use counted in the file (so a rule
        with ``times`` runs out over all the workers); None if none applies."""
        self._refresh()
        text = read_once(prompt)
        with self._lock:
            candidates = list(self._rules)
        for rule in candidates:
            if not rule.matches(route, text):
                continue
            seq = int(rule.id.removeprefix("rule_"))
            with self._db_lock:
                rows = self._db.execute(
                    "UPDATE rules SET hits = hits + 1 WHERE seq = ?1"
                    " AND (?2 IS NULL OR hits < ?2) RETURNING hits",
                    (seq, rule.times),
                ).fetchall()
            with self._lock:
                if not rows:  # used up (or dropped) by another worker meanwhile
                    rule.hits = rule.times if rule.times is not None else rule.hits
                    continue
                rule.hits = int(rows[0][0])
                return replace(rule)
        return None

    def close(self) -> None:
        """Close the connection and the token's mapping."""
        with self._db_lock:
            self._db.close()
        self._token.close()
