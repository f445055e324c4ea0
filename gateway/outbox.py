"""The durable outbox: what the gateway fetched from wearables, kept until the broker has it.

One row per MQTT message (one fetched batch of one wearable). A batch is committed together
with the wearable's new `committed_seq` in one SQLite transaction, and only then is the
wearable told to forget those records; a row is deleted only after the broker's PUBACK.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    log_id INTEGER NOT NULL,
    committed_seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    device_id: str
    first_seq: int
    last_seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed batch survives power loss
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def device_state(self, device_id: str) -> tuple[int, int] | None:
        """(log id, committed seq) of what this outbox holds from a wearable, if anything."""
        with self._lock:
            row = self._db.execute("SELECT log_id, committed_seq FROM devices "
                                   "WHERE device_id = ?", (device_id,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def committed_seq(self, device_id: str) -> int:
        state = self.device_state(device_id)
        return state[1] if state else 0

    def reset_device(self, device_id: str, log_id: int, committed_seq: int) -> None:
        """Start over for a wearable with a new record log (recreated after a loss)."""
        with self._lock:
            self._db.execute("INSERT INTO devices (device_id, log_id, committed_seq) "
                             "VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET "
                             "log_id = excluded.log_id, committed_seq = excluded.committed_seq",
                             (device_id, log_id, committed_seq))

    def commit_batch(self, device_id: str, log_id: int, first_seq: int, last_seq: int,
                     topic: str, payload: bytes, now_ms: int) -> None:
        """Store one fetched batch and advance the device's committed_seq atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO messages (device_id, first_seq, last_seq, topic, payload, "
                    "created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    (device_id, first_seq, last_seq, topic, payload, now_ms))
                self._db.execute(
                    "INSERT INTO devices (device_id, log_id, committed_seq) VALUES (?, ?, ?) "
                    "ON CONFLICT(device_id) DO UPDATE SET committed_seq = CASE "
                    "WHEN log_id = excluded.log_id "
                    "THEN max(committed_seq, excluded.committed_seq) "
                    "ELSE excluded.committed_seq END, log_id = excluded.log_id",
                    (device_id, log_id, last_seq))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxMessage]:
        """The oldest messages not yet acknowledged by the broker, in commit order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device_id, first_seq, last_seq, topic, payload FROM messages "
                "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [OutboxMessage(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

    def delete(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
