"""The durable outbox: what the gateway must send to the broker, kept until the broker has it.

One row per MQTT message. A record batch (one fetch from one wearable) is committed together
with the wearable's new `committed_seq` in one SQLite transaction, and only then is the
wearable told to forget those records; a row is deleted only after the broker's PUBACK.
Other messages (enrollment registrations, program acknowledgements) go in with `enqueue`.
All rows leave in insertion order, records and others alike (see gateway/uplink.py).
A message that only ever matters as its topic's latest value (a wearable's retained state,
gateway/state_report.py) goes in with `enqueue_latest`, which deletes the rows of that topic
still waiting: a wearable whose sync fails every 30 s keeps one row here, not thousands.

Durability. WAL journal with `synchronous=FULL`: every commit fsyncs the WAL before it
returns, so a commit that returned survives `kill -9` and power loss. A commit cut short
leaves a torn tail in the WAL, which SQLite's frame checksums reject on the next open,
keeping every transaction committed before it (tests/gateway/test_outbox_kill.py and
test_outbox.py check both).

Overflow policy (`max_bytes`). The bound counts the topic and payload bytes of the rows held
(the file is somewhat larger: page overhead, and a WAL until it is checkpointed). When a new
record batch would take the rows past `max_bytes - reserve_bytes`, `commit_batch` raises
`OutboxFull` and commits nothing: the wearable is not acknowledged, so it keeps the records
(its log holds them until acknowledged) and the sync stops fetching. Nothing is dropped.
Each refusal is counted in the database (`counters`, survives restarts, shown by `stats()`)
and logged at ERROR as an alarm. The reserve (5 % of the bound, at most 1 MiB) is only for
`enqueue`, so small control messages still fit while records are refused; `enqueue` is
refused (counted, logged, `OutboxFull`) only past the whole bound. Room comes back as the
uplink delivers.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    log_id INTEGER NOT NULL,
    committed_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

# Columns added after the first release; an older outbox gets them on open.
_ADDED_COLUMNS = {
    "retain": "ALTER TABLE messages ADD COLUMN retain INTEGER NOT NULL DEFAULT 0",
    "size": "ALTER TABLE messages ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
}

_RESERVE_FRACTION = 20  # 1/20 of the bound is kept for enqueue()
_RESERVE_MAX_BYTES = 1 << 20

REFUSED_BATCHES = "refused_batches"
REFUSED_MESSAGES = "refused_messages"


class OutboxFull(OSError):
    """The outbox is at its size bound; nothing was committed. An OSError with ENOSPC, as a
    full disk would be, so callers that survive a full disk survive this too."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    device_id: str
    first_seq: int
    last_seq: int
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class OutboxStats:
    depth: int  # messages not yet acknowledged by the broker
    bytes: int  # their topic + payload bytes, what max_bytes bounds
    oldest_created_ms: int | None  # created_ms of the oldest of them; None when empty
    refused_batches: int  # record batches refused for space since the outbox was made
    refused_messages: int  # enqueue() calls refused for space
    max_bytes: int | None


def _message_size(topic: str, payload: bytes) -> int:
    return len(topic.encode()) + len(payload)


def _check_topic(topic: str) -> None:
    # A topic paho refuses would stop the uplink at this row forever: refuse it here.
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"not a topic to publish on: {topic!r}")


class Outbox:
    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.path = str(path)
        self.max_bytes = max_bytes
        self.reserve_bytes = (min(max_bytes // _RESERVE_FRACTION, _RESERVE_MAX_BYTES)
                              if max_bytes is not None else 0)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a returned commit survives power loss
        # An enrollment message carries a wearable's secret until the broker has it: a
        # deleted row must not linger in free pages for whoever takes the SD card later.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()
        # The bytes held are summed in the database at each write, not counted in this
        # process: `rtm-gateway sync` or `enroll` may add or deliver rows while the service
        # runs. The index makes the sum read a few pages, not the payloads.
        self._db.execute("CREATE INDEX IF NOT EXISTS messages_size ON messages (size)")
        # enqueue_latest finds the rows it supersedes without reading the record batches.
        self._db.execute("CREATE INDEX IF NOT EXISTS messages_retained ON messages (topic) "
                         "WHERE retain = 1")

    def _add_missing_columns(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        for column, statement in _ADDED_COLUMNS.items():
            if column not in present:
                self._db.execute(statement)
        if "size" not in present:
            self._db.execute("UPDATE messages SET size = length(CAST(topic AS BLOB)) "
                             "+ length(payload)")

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
        """Store one fetched batch and advance the device's committed_seq atomically.

        Raises OutboxFull (and commits nothing) when the batch does not fit: the caller must
        then not acknowledge it to the wearable, which keeps the records.
        """
        _check_topic(topic)
        limit = None if self.max_bytes is None else self.max_bytes - self.reserve_bytes
        self._add(limit, REFUSED_BATCHES,
                  f"record batch {first_seq}..{last_seq} of wearable {device_id}",
                  _message_size(topic, payload),
                  ("INSERT INTO messages (device_id, first_seq, last_seq, topic, payload, "
                   "created_ms, retain, size) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                   (device_id, first_seq, last_seq, topic, payload, now_ms,
                    _message_size(topic, payload))),
                  ("INSERT INTO devices (device_id, log_id, committed_seq) VALUES (?, ?, ?) "
                   "ON CONFLICT(device_id) DO UPDATE SET committed_seq = CASE "
                   "WHEN log_id = excluded.log_id "
                   "THEN max(committed_seq, excluded.committed_seq) "
                   "ELSE excluded.committed_seq END, log_id = excluded.log_id",
                   (device_id, log_id, last_seq)))

    def enqueue(self, topic: str, payload: bytes, now_ms: int, device_id: str = "",
                retain: bool = False) -> int:
        """Store a message that is not a record batch (QoS 1, sent in order with the rest);
        returns its id. It may use the reserve that record batches leave free."""
        return self._enqueue(topic, payload, now_ms, device_id, retain, supersede=False)

    def enqueue_latest(self, topic: str, payload: bytes, now_ms: int,
                       device_id: str = "") -> int:
        """`enqueue` a retained message that supersedes every earlier retained one on
        `topic`: those rows not yet acknowledged are deleted in the same transaction (if the
        new one fits; otherwise OutboxFull and they stay).

        Only for a topic whose receivers want its latest value (a retained state), never for
        records or acknowledgements. A superseded row the uplink has already handed to paho
        is still delivered; its PUBACK then deletes nothing. The new row goes after it, so
        the broker still gets the latest value last."""
        return self._enqueue(topic, payload, now_ms, device_id, True, supersede=True)

    def _enqueue(self, topic: str, payload: bytes, now_ms: int, device_id: str, retain: bool,
                 *, supersede: bool) -> int:
        _check_topic(topic)
        size = _message_size(topic, payload)
        statements: list[tuple[str, tuple[object, ...]]] = []
        if supersede:
            statements.append(("DELETE FROM messages WHERE retain = 1 AND topic = ?",
                               (topic,)))
        statements.append(
            ("INSERT INTO messages (device_id, first_seq, last_seq, topic, "
             "payload, created_ms, retain, size) VALUES (?, 0, 0, ?, ?, ?, ?, ?)",
             (device_id, topic, payload, now_ms, int(retain), size)))
        cursor = self._add(self.max_bytes, REFUSED_MESSAGES, f"message on {topic}", size,
                           *statements, superseded_topic=topic if supersede else None)
        return int(cursor.lastrowid or 0)

    def _held_bytes(self) -> int:
        return int(self._db.execute("SELECT coalesce(sum(size), 0) FROM messages").fetchone()[0])

    def _add(self, limit: int | None, counter: str, what: str, size: int,
             *statements: tuple[str, tuple[object, ...]],
             superseded_topic: str | None = None) -> sqlite3.Cursor:
        """Run the statements in one transaction if `size` more bytes fit under `limit`;
        otherwise count and log the refusal and raise OutboxFull. Returns the last cursor.
        The check and the insert are one transaction, so two processes cannot both fit.
        The rows of `superseded_topic`, which the statements delete, do not count as held."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                held = self._held_bytes()
                if superseded_topic is not None:
                    held -= int(self._db.execute(
                        "SELECT coalesce(sum(size), 0) FROM messages "
                        "WHERE retain = 1 AND topic = ?",
                        (superseded_topic,)).fetchone()[0])
                refused = limit is not None and held + size > limit
                if refused:
                    statements = (("INSERT INTO counters (name, value) VALUES (?, 1) "
                                   "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                                   (counter,)),)
                cursor = None
                for sql, params in statements:
                    cursor = self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if refused:
                message = (f"outbox full: {what} ({size} bytes) refused, {held} of {limit} "
                           f"bytes held; nothing dropped, it stays where it was "
                           f"({counter}={self._counter(counter)})")
                log.error("ALARM %s", message)
                raise OutboxFull(message)
        assert cursor is not None
        return cursor

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxMessage]:
        """The oldest messages not yet acknowledged by the broker, in commit order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device_id, first_seq, last_seq, topic, payload, retain "
                "FROM messages WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [OutboxMessage(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bool(r[6]))
                for r in rows]

    def messages(self, *message_ids: int) -> list[OutboxMessage]:
        """Those of the given messages still held, in commit order (the uplink sends the
        ones the broker refused again by id)."""
        if not message_ids:
            return []
        marks = ",".join("?" * len(message_ids))
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device_id, first_seq, last_seq, topic, payload, retain "
                f"FROM messages WHERE id IN ({marks}) ORDER BY id",  # placeholders only
                message_ids).fetchall()
        return [OutboxMessage(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bool(r[6]))
                for r in rows]

    def delete(self, *message_ids: int) -> None:
        """Forget messages the broker has acknowledged: one transaction (one disk sync)
        however many."""
        if not message_ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM messages WHERE id = ?",
                                     [(i,) for i in message_ids])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def stats(self) -> OutboxStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT count(*), min(created_ms) FROM messages").fetchone()
            return OutboxStats(int(depth), self._held_bytes(),
                               int(oldest) if oldest is not None else None,
                               self._counter(REFUSED_BATCHES), self._counter(REFUSED_MESSAGES),
                               self.max_bytes)
