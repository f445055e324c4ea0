"""Dead letters: what the bridge received but can never store, kept with the reason.

A rejected message is acknowledged (redelivering it would not make it better), so without
this it would be gone with a log line. Here it stays for an operator or a later fix: the
topic, the raw payload, the reason category (the same names the stats count) and the
detail. Replays are not kept (they are copies of stored records).

The table is bounded (`max_rows`, oldest first out, the evictions counted): a gateway that
sends garbage for weeks must not fill the bridge's disk. SQLite file next to the store's, or
wherever `rtm-bridge --dead-letters PATH` says.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.sqlite_wal import enable_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_ms: int
    topic: str
    reason: str
    detail: str
    payload: bytes


def path_for(store_path: str | Path) -> Path:
    """The dead-letter file next to a SQLite store's file."""
    p = Path(store_path)
    return p.with_name(f"{p.stem}-dead-letters.db")


class DeadLetters:
    def __init__(self, path: str | Path, max_rows: int = 100_000) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        enable_wal(self._db, timeout_s=10.0)
        self._db.executescript(_SCHEMA)

    def add(self, topic: str, payload: bytes, reason: str, detail: str,
            received_ms: int | None = None) -> None:
        now = time.time_ns() // 1_000_000 if received_ms is None else received_ms
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO dead_letters (received_ms, topic, reason, detail, "
                                 "payload) VALUES (?, ?, ?, ?, ?)",
                                 (now, topic, reason, detail, bytes(payload)))
                evicted = self._db.execute(
                    "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?",
                    (self.max_rows,)).rowcount
                if evicted:
                    self._db.execute("INSERT INTO dead_letter_counters (name, value) "
                                     "VALUES ('evicted', ?) ON CONFLICT(name) DO UPDATE SET "
                                     "value = value + excluded.value", (evicted,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def latest(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute("SELECT id, received_ms, topic, reason, detail, payload "
                                    "FROM dead_letters ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [DeadLetter(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def evicted(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM dead_letter_counters "
                                   "WHERE name = 'evicted'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
