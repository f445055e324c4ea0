"""Turning on SQLite's write-ahead log when other processes may open the same file.

Bridges started together on one store (scale-out on one machine) open its files at once.
Switching a new file to WAL needs it to themselves for a moment, and SQLite answers "database
is locked" at once instead of calling the busy handler, so the switch is tried again until
`timeout_s`. A file already in WAL mode is left as it is.
"""

from __future__ import annotations

import sqlite3
import time


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
