"""The bridge's table of device keys: each wearable's secret from its enrollment, the gateway
it is enrolled at, and its state (docs/mqtt.md, "Enrollment").

Gateways publish on ``rtm/v1/<gateway>/<device>/enrollment``; the secret is the key the
wearable tags its batches with (the subscriber verifies them: a gateway cannot forge).
Rules, so a key only changes in the open:
- a device enrolled at one gateway cannot be enrolled at another until that one unenrolls
  it (`other_gateway`);
- an enrolled device keeps its secret: a different one is refused until it is unenrolled
  (`rekey`); the same one again is a redelivery and changes nothing;
- unenrolling keeps the secret (records signed before stay verifiable) and marks the state.
Every rejection has a reason and is counted by the caller; nothing here raises on input.

The same file remembers every verified record by (device, seq) with an 8-byte digest of
its bytes (`verified_digests`, `remember_verified`): a signed batch seen again is then told
apart as a harmless replay (same bytes) or an impossible one (a seq with other bytes:
rejected), without asking the store, whose backends cannot return raw records. One row per
stored message (seq and digest of each record packed in a blob, 12 bytes a record), written
in one transaction per batch of messages: the bridge's ingest rate does not pay a row per
record.

Storage: SQLite, one small file. The bridge keeps it next to a SQLite store
(`rtm.db` -> `rtm-device-keys.db`, `keys_path_for`); with another store the caller names the
file. It holds secrets: readable by the bridge's user only (mode 0600 on creation).
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.payload import (
    RECORD_DIGEST_SIZE,
    PayloadError,
    fixed_bytes_field,
    json_envelope,
    record_digest,
)
from cloud_bridge.sqlite_wal import enable_wal

SCHEMA = "rtm.enrollment.v1"
TOPIC_FILTER = "rtm/v1/+/+/enrollment"
MAX_MESSAGE_BYTES = 4096
SECRET_SIZE = 32
ENROLLED = "enrolled"
UNENROLLED = "unenrolled"
_TOPIC = re.compile(r"^rtm/v1/([A-Za-z0-9_-]{1,64})/([0-9a-f]{12})/enrollment$")
_EARLIEST_UNIX_MS = 1_600_000_000_000
_LATEST_UNIX_MS = 4_102_444_800_000

_TABLE = """
CREATE TABLE IF NOT EXISTS device_keys (
    device_id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    state TEXT NOT NULL,
    secret BLOB,
    firmware TEXT,
    at_ms INTEGER NOT NULL,
    changes INTEGER NOT NULL DEFAULT 1
)
"""
_VERIFIED = """
CREATE TABLE IF NOT EXISTS verified_batches (
    device_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    digests BLOB NOT NULL  -- per record, in seq order: seq (u32 LE) and its 8-byte digest
);
CREATE INDEX IF NOT EXISTS verified_batches_device ON verified_batches (device_id, first_seq);
"""
# A row covers at most this many seqs, so that a lookup knows how far back a row that
# covers a given seq can start.
_ROW_SPAN = 4096
_CACHE_MAX = 100_000  # keys kept in memory (a few hundred bytes each)
_ENTRY = struct.Struct(f"<I{RECORD_DIGEST_SIZE}s")


def _rows(device_id: str, entries: list[tuple[int, bytes]]) -> list[tuple[str, int, int, bytes]]:
    """verified_batches rows for one device's (seq, digest) entries, sorted by seq."""
    rows = []
    start = 0
    for i in range(1, len(entries) + 1):
        if i == len(entries) or entries[i][0] - entries[start][0] >= _ROW_SPAN:
            chunk = entries[start:i]
            rows.append((device_id, chunk[0][0], chunk[-1][0],
                         b"".join(_ENTRY.pack(seq, digest) for seq, digest in chunk)))
            start = i
    return rows


class EnrollmentRejected(PayloadError):
    """An enrollment message the bridge will not apply; `reason` is a short category."""


@dataclass(frozen=True)
class EnrollmentMessage:
    gateway_id: str
    device_id: str
    state: str
    secret: bytes | None
    firmware: str | None
    at_ms: int


@dataclass(frozen=True)
class DeviceKey:
    device_id: str
    gateway_id: str
    state: str  # "enrolled" or "unenrolled"
    secret: bytes | None
    firmware: str | None
    at_ms: int  # when the gateway made the last applied change
    changes: int  # enrollments and unenrollments applied

    def __repr__(self) -> str:  # never print a secret into a log
        return (f"DeviceKey({self.device_id}, gateway={self.gateway_id}, state={self.state}, "
                f"secret={'set' if self.secret else 'none'}, at_ms={self.at_ms})")


def keys_path_for(store_path: str | Path) -> Path:
    """The key table's file next to a SQLite store's file."""
    p = Path(store_path)
    return p.with_name(f"{p.stem}-device-keys.db")


def parse_enrollment(topic: str, payload: bytes) -> EnrollmentMessage:
    gateway_id, device_id, body = json_envelope(
        _TOPIC, "rtm/v1/<gateway>/<device>/enrollment", topic, payload, MAX_MESSAGE_BYTES,
        SCHEMA, EnrollmentRejected)
    state = body.get("state")
    if state not in (ENROLLED, UNENROLLED):
        raise EnrollmentRejected("bad_field", f"state must be \"enrolled\" or "
                                              f"\"unenrolled\", got {state!r}")
    at_ms = body.get("at_ms")
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) \
            or not _EARLIEST_UNIX_MS <= at_ms <= _LATEST_UNIX_MS:
        raise EnrollmentRejected("bad_field", f"at_ms must be Unix ms in 2020..2100, "
                                              f"got {at_ms!r}")
    firmware = body.get("firmware")
    if firmware is not None and (not isinstance(firmware, str) or len(firmware) > 64):
        raise EnrollmentRejected("bad_field", "firmware must be null or a string of at most "
                                              "64 characters")
    secret = _secret(body.get("secret"), state)
    return EnrollmentMessage(gateway_id, device_id, state, secret, firmware, at_ms)


def _secret(value: object, state: str) -> bytes | None:
    if state == UNENROLLED:
        if value is not None:
            # A secret has no business in an unenrollment: do not store or spread it.
            raise EnrollmentRejected("bad_field", "an unenrollment must not carry a secret")
        return None
    raw = fixed_bytes_field(value, "secret", SECRET_SIZE, EnrollmentRejected)
    if raw == bytes(SECRET_SIZE):
        raise EnrollmentRejected("bad_field", f"secret must be {SECRET_SIZE} random bytes, "
                                              f"not zeros")
    return raw


class DeviceKeys:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not os.path.exists(self.path):
            # Create it private before SQLite writes a secret into it.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._cache: dict[str, DeviceKey | None] = {}
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        enable_wal(self._db, timeout_s=10.0)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_TABLE)
        self._db.executescript(_VERIFIED)
        self._migrate_verified_records()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, device_id: str) -> DeviceKey | None:
        """The device's key, from memory once read: the bridge asks for every message, and
        only `apply` (in this process) changes a key."""
        with self._lock:
            if device_id in self._cache:
                return self._cache[device_id]
        key = self._read(device_id)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[device_id] = key
        return key

    def _read(self, device_id: str) -> DeviceKey | None:
        with self._lock:
            row = self._db.execute("SELECT device_id, gateway_id, state, secret, firmware, "
                                   "at_ms, changes FROM device_keys WHERE device_id = ?",
                                   (device_id,)).fetchone()
        if row is None:
            return None
        return DeviceKey(row[0], row[1], row[2], bytes(row[3]) if row[3] is not None else None,
                         row[4], row[5], row[6])

    def secret_of(self, device_id: str) -> bytes | None:
        """The key to verify this device's records with, while it is enrolled."""
        key = self.get(device_id)
        return key.secret if key is not None and key.state == ENROLLED else None

    def enrolled_at(self, gateway_id: str) -> list[tuple[str, bytes]]:
        """(device id, secret) of every device enrolled at `gateway_id`: the keys a batch
        moved from one of its wearables to another could have been made with."""
        with self._lock:
            rows = self._db.execute("SELECT device_id, secret FROM device_keys WHERE "
                                    "gateway_id = ? AND state = ? AND secret IS NOT NULL",
                                    (gateway_id, ENROLLED)).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def _migrate_verified_records(self) -> None:
        """A file from before verified_batches kept each record's bytes in a row: fold them
        into digests once."""
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                            "name = 'verified_records'").fetchone() is None:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            by_device: dict[str, list[tuple[int, bytes]]] = {}
            for device_id, seq, raw in self._db.execute(
                    "SELECT device_id, seq, record FROM verified_records"):
                by_device.setdefault(device_id, []).append((seq, record_digest(bytes(raw))))
            for device_id, entries in by_device.items():
                self._db.executemany("INSERT INTO verified_batches VALUES (?, ?, ?, ?)",
                                     _rows(device_id, sorted(set(entries))))
            self._db.execute("DROP TABLE verified_records")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def verified_digests(self, device_id: str, seqs: list[int]) -> dict[int, bytes]:
        """The digests (record_digest) of those of `seqs` already verified and stored."""
        if not seqs:
            return {}
        wanted = set(seqs)
        low, high = min(seqs), max(seqs)
        with self._lock:
            rows = self._db.execute("SELECT digests FROM verified_batches WHERE device_id = ? "
                                    "AND first_seq BETWEEN ? AND ? AND last_seq >= ?",
                                    (device_id, low - _ROW_SPAN, high, low)).fetchall()
        found: dict[int, bytes] = {}
        for (blob,) in rows:
            for seq, digest in _ENTRY.iter_unpack(blob):
                if seq in wanted:
                    found.setdefault(seq, digest)
        return found

    def remember_verified(self, messages: Sequence[tuple[str, Mapping[int, bytes]]]) -> None:
        """Note verified records once the store has them: per message, its device id and its
        records' digests by seq (a redelivery after a crash before this finds them missing,
        and they are stored again: idempotent). One transaction for a whole batch of
        messages, rows per message."""
        rows = [row for device_id, digests in messages
                for row in _rows(device_id, sorted(digests.items()))]
        with self._lock:
            # Not fsync'd (WAL, synchronous NORMAL: the next enrollment's commit or a
            # checkpoint makes it durable): losing the last few of these to a power cut
            # only means a copy of those batches is stored again (idempotent) and counted
            # verified instead of replayed. It saves the bridge an fsync per batch.
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT INTO verified_batches VALUES (?, ?, ?, ?)",
                                         rows)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def apply_message(self, topic: str, payload: bytes) -> DeviceKey:
        """Check and apply one enrollment message; EnrollmentRejected says why not."""
        return self.apply(parse_enrollment(topic, payload))

    def apply(self, msg: EnrollmentMessage) -> DeviceKey:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT gateway_id, state, secret FROM device_keys "
                                       "WHERE device_id = ?", (msg.device_id,)).fetchone()
                if self._changes(msg, row):
                    self._db.execute(
                        "INSERT INTO device_keys (device_id, gateway_id, state, secret, "
                        "firmware, at_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) "
                        "DO UPDATE SET gateway_id = excluded.gateway_id, "
                        "state = excluded.state, "
                        "secret = coalesce(excluded.secret, secret), "
                        "firmware = coalesce(excluded.firmware, firmware), "
                        "at_ms = excluded.at_ms, changes = changes + 1",
                        (msg.device_id, msg.gateway_id, msg.state, msg.secret, msg.firmware,
                         msg.at_ms))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._cache.pop(msg.device_id, None)
        key = self.get(msg.device_id)
        assert key is not None
        return key

    @staticmethod
    def _changes(msg: EnrollmentMessage, row: tuple | None) -> bool:
        """Whether `msg` changes the row; raises EnrollmentRejected if it may not."""
        if row is None:
            return True
        gateway_id, state, secret = row[0], row[1], row[2]
        if state == ENROLLED and gateway_id != msg.gateway_id:
            raise EnrollmentRejected("other_gateway", f"device {msg.device_id} is enrolled at "
                                                      f"gateway {gateway_id}; it must be "
                                                      f"unenrolled there first")
        if msg.state == UNENROLLED:
            return state != UNENROLLED
        if state == ENROLLED:
            if secret is not None and bytes(secret) == msg.secret:
                return False  # the same enrollment delivered again
            raise EnrollmentRejected("rekey", f"device {msg.device_id} is enrolled with "
                                              f"another secret; unenroll it first")
        return True
