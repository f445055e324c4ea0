"""The gateway's registry of wearables: which are enrolled here, how each one's syncs go
(what `rtm-gateway status` shows), and the program waiting for each one's next sync.

SQLite, its own connection and tables, WAL: it may share the outbox's file. Two threads use
it (the sync loop, and paho's thread delivering programs), hence one lock around the
connection. Device ids only: nothing here names a patient.

Enrolled devices are those enrolled with `rtm-gateway enroll`; the configuration's static
`enrolled` list stays valid, and the caller takes the union of the two.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS enrolled_devices (
    device_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    enrolled_ms INTEGER NOT NULL,
    firmware TEXT
);
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    last_attempt_ms INTEGER,
    last_sync_ms INTEGER,
    battery_pct INTEGER,
    last_seq INTEGER,
    acked_seq INTEGER,
    refused INTEGER,
    last_error TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    firmware TEXT,  -- as the wearable reported it at its last sync (it may have been updated)
    first_seq INTEGER  -- the first readable seq INFO reported: tells the log's capacity
);
CREATE TABLE IF NOT EXISTS device_programs (
    device_id TEXT PRIMARY KEY,
    pending_version INTEGER,
    pending_program BLOB,
    received_ms INTEGER,
    -- the newest version the wearable answered for (applied or rejected): never sent again
    done_version INTEGER,
    done_status TEXT,
    done_ms INTEGER
);
"""

# Columns added after the first release; an older registry gets them on open.
_ADDED_STATUS_COLUMNS = {"first_seq": "ALTER TABLE device_status ADD COLUMN first_seq INTEGER"}
_STATUS_SELECT = (
    "SELECT s.device_id, s.last_attempt_ms, s.last_sync_ms, s.battery_pct, "
    "coalesce(s.firmware, e.firmware), "
    "s.last_seq, s.acked_seq, s.refused, s.last_error, s.consecutive_failures, s.first_seq "
    "FROM device_status s LEFT JOIN enrolled_devices e USING (device_id)")


@dataclass(frozen=True)
class EnrolledDevice:
    device_id: str
    address: str  # the BLE address seen at enrollment (may change: found again by name)
    enrolled_ms: int
    firmware: str | None


@dataclass(frozen=True)
class DeviceStatus:
    """What the gateway knows of one wearable's syncs; None where nothing is known yet."""

    device_id: str
    last_attempt_ms: int | None
    last_sync_ms: int | None  # the last sync that completed
    battery_pct: int | None
    firmware: str | None
    last_seq: int | None
    acked_seq: int | None
    refused: int | None
    last_error: str | None
    consecutive_failures: int
    first_seq: int | None = None  # the first readable seq at the last sync (INFO)

    @property
    def unsynced(self) -> int | None:
        """Records on the wearable not yet acknowledged, as of the last INFO."""
        if self.last_seq is None or self.acked_seq is None:
            return None
        return max(0, self.last_seq - self.acked_seq)


@dataclass(frozen=True)
class PendingProgram:
    device_id: str
    version: int
    program: bytes  # checked with firmware.core.program.decode before it was stored
    received_ms: int


# Outcomes of offering a program to the registry (counted by the downlink).
STORED = "stored"
DUPLICATE = "duplicate"  # the same version is already waiting
ALREADY_DONE = "already_done"  # the wearable already answered for this version or a newer one
SUPERSEDED = "superseded"  # a newer version is already waiting


class DeviceRegistry:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a stored program survives power loss
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(device_status)")}
        for column, statement in _ADDED_STATUS_COLUMNS.items():
            if column not in present:
                self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- enrollment -----------------------------------------------------------------------
    def enroll(self, device_id: str, address: str, now_ms: int,
               firmware: str | None = None) -> None:
        self._execute("INSERT INTO enrolled_devices (device_id, address, enrolled_ms, firmware) "
                      "VALUES (?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET "
                      "address = excluded.address, enrolled_ms = excluded.enrolled_ms, "
                      "firmware = excluded.firmware", (device_id, address, now_ms, firmware))

    def unenroll(self, device_id: str) -> bool:
        """Forget the device entirely (status and waiting program too); True if it was
        enrolled here."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute("DELETE FROM enrolled_devices WHERE device_id = ?",
                                       (device_id,))
                self._db.execute("DELETE FROM device_status WHERE device_id = ?", (device_id,))
                self._db.execute("DELETE FROM device_programs WHERE device_id = ?", (device_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cur.rowcount > 0

    def enrolled(self) -> set[str]:
        return {r[0] for r in self._execute("SELECT device_id FROM enrolled_devices")}

    def device(self, device_id: str) -> EnrolledDevice | None:
        rows = self._execute("SELECT device_id, address, enrolled_ms, firmware "
                             "FROM enrolled_devices WHERE device_id = ?", (device_id,))
        return EnrolledDevice(*rows[0]) if rows else None

    def devices(self) -> list[EnrolledDevice]:
        rows = self._execute("SELECT device_id, address, enrolled_ms, firmware "
                             "FROM enrolled_devices ORDER BY device_id")
        return [EnrolledDevice(*r) for r in rows]

    # -- status -----------------------------------------------------------------------------
    def record_sync(self, device_id: str, now_ms: int, *, battery_pct: int, last_seq: int,
                    acked_seq: int, refused: int, error: str | None = None,
                    firmware: str | None = None, first_seq: int | None = None) -> None:
        """A sync reached the wearable and ended normally. `error` is a condition that did
        not fail the sync (the outbox was full) but the operator should see."""
        self._execute(
            "INSERT INTO device_status (device_id, last_attempt_ms, last_sync_ms, battery_pct, "
            "last_seq, acked_seq, refused, last_error, consecutive_failures, firmware, "
            "first_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT(device_id) "
            "DO UPDATE SET "
            "last_attempt_ms = excluded.last_attempt_ms, last_sync_ms = excluded.last_sync_ms, "
            "battery_pct = excluded.battery_pct, last_seq = excluded.last_seq, "
            "acked_seq = excluded.acked_seq, refused = excluded.refused, "
            "last_error = coalesce(excluded.last_error, last_error), "
            "consecutive_failures = 0, firmware = coalesce(excluded.firmware, firmware), "
            "first_seq = excluded.first_seq",
            (device_id, now_ms, now_ms, battery_pct, last_seq, acked_seq, refused, error,
             firmware, first_seq))

    def record_failure(self, device_id: str, now_ms: int, error: str) -> int:
        """A sync attempt failed; returns the number of failures in a row."""
        with self._lock:
            self._db.execute(
                "INSERT INTO device_status (device_id, last_attempt_ms, last_error, "
                "consecutive_failures) VALUES (?, ?, ?, 1) ON CONFLICT(device_id) DO UPDATE "
                "SET last_attempt_ms = excluded.last_attempt_ms, "
                "last_error = excluded.last_error, "
                "consecutive_failures = consecutive_failures + 1", (device_id, now_ms, error))
            row = self._db.execute("SELECT consecutive_failures FROM device_status "
                                   "WHERE device_id = ?", (device_id,)).fetchone()
        return int(row[0])

    def status(self, device_id: str) -> DeviceStatus | None:
        rows = self._execute(f"{_STATUS_SELECT} WHERE s.device_id = ?", (device_id,))
        return DeviceStatus(*rows[0]) if rows else None

    def statuses(self, device_ids: set[str] | None = None) -> list[DeviceStatus]:
        """Status of every device with one, plus an empty one for each of `device_ids` (the
        enrolled ones) never attempted; sorted by device id."""
        rows = self._execute(_STATUS_SELECT)
        known = {r[0]: DeviceStatus(*r) for r in rows}
        firmware = {e.device_id: e.firmware for e in self.devices()}
        for dev in (device_ids or set()) | set(firmware):
            if dev not in known:
                known[dev] = DeviceStatus(dev, None, None, None, firmware.get(dev), None, None,
                                          None, None, 0)
        return [known[d] for d in sorted(known)]

    # -- programs (downlink) ------------------------------------------------------------------
    def offer_program(self, device_id: str, version: int, program: bytes, now_ms: int) -> str:
        """Keep `program` for the next sync unless it is stale; returns STORED, DUPLICATE,
        ALREADY_DONE or SUPERSEDED. A version is the clinic's identity of a program: the
        same version is never sent twice."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT pending_version, done_version FROM "
                                       "device_programs WHERE device_id = ?",
                                       (device_id,)).fetchone()
                pending, done = (row[0], row[1]) if row else (None, None)
                if done is not None and version <= done:
                    outcome = ALREADY_DONE
                elif pending is not None and version == pending:
                    outcome = DUPLICATE
                elif pending is not None and version < pending:
                    outcome = SUPERSEDED
                else:
                    self._db.execute(
                        "INSERT INTO device_programs (device_id, pending_version, "
                        "pending_program, received_ms) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(device_id) DO UPDATE SET "
                        "pending_version = excluded.pending_version, "
                        "pending_program = excluded.pending_program, "
                        "received_ms = excluded.received_ms",
                        (device_id, version, bytes(program), now_ms))
                    outcome = STORED
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return outcome

    def pending_program(self, device_id: str) -> PendingProgram | None:
        rows = self._execute("SELECT device_id, pending_version, pending_program, received_ms "
                             "FROM device_programs WHERE device_id = ? AND "
                             "pending_version IS NOT NULL", (device_id,))
        if not rows:
            return None
        dev, version, blob, received = rows[0]
        return PendingProgram(dev, int(version), bytes(blob), int(received))

    def program_done(self, device_id: str, version: int, status: str, now_ms: int) -> None:
        """The wearable answered for `version` (status "applied" or "rejected"): it is not
        sent again, and the waiting program goes if it is that version."""
        self._execute(
            "UPDATE device_programs SET done_version = max(coalesce(done_version, 0), ?), "
            "done_status = ?, done_ms = ?, "
            "pending_program = CASE WHEN pending_version <= ? THEN NULL "
            "ELSE pending_program END, "
            "received_ms = CASE WHEN pending_version <= ? THEN NULL ELSE received_ms END, "
            "pending_version = CASE WHEN pending_version <= ? THEN NULL "
            "ELSE pending_version END WHERE device_id = ?",
            (version, status, now_ms, version, version, version, device_id))

    def program_state(self, device_id: str) -> tuple[int | None, str | None]:
        """(newest version answered, its status) for `rtm-gateway status`."""
        rows = self._execute("SELECT done_version, done_status FROM device_programs "
                             "WHERE device_id = ?", (device_id,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)
