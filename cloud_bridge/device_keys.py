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

The same file keeps every verified record's bytes by (device, seq) (`verified_records`,
`remember_verified`): a signed batch seen again is then told apart as a harmless replay
(same bytes) or an impossible one (a seq with other bytes: rejected), without asking the
store, whose backends cannot return raw records. 36 bytes and a key per signed record.

Storage: SQLite, one small file. The bridge keeps it next to a SQLite store
(`rtm.db` -> `rtm-device-keys.db`, `keys_path_for`); with another store the caller names the
file. It holds secrets: readable by the bridge's user only (mode 0600 on creation).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.payload import PayloadError, fixed_bytes_field, json_envelope

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
CREATE TABLE IF NOT EXISTS verified_records (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID
"""


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
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_TABLE)
        self._db.execute(_VERIFIED)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, device_id: str) -> DeviceKey | None:
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

    def verified_records(self, device_id: str, seqs: list[int]) -> dict[int, bytes]:
        """The bytes of those of `seqs` already verified and stored, by seq."""
        if not seqs:
            return {}
        wanted = set(seqs)
        with self._lock:
            rows = self._db.execute("SELECT seq, record FROM verified_records WHERE "
                                    "device_id = ? AND seq BETWEEN ? AND ?",
                                    (device_id, min(seqs), max(seqs))).fetchall()
        return {row[0]: bytes(row[1]) for row in rows if row[0] in wanted}

    def remember_verified(self, device_id: str, records: list[tuple[int, bytes]]) -> None:
        """Note verified records once the store has them (a redelivery after a crash
        before this finds them missing, and they are stored again: idempotent)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO verified_records (device_id, seq, "
                                     "record) VALUES (?, ?, ?)",
                                     [(device_id, seq, raw) for seq, raw in records])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
