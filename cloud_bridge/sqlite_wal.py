"""SQLite files that several processes write: turning on the write-ahead log, and taking
turns to write.

Bridges started together on one store (scale-out on one machine) open its files at once.
Switching a new file to WAL needs it to themselves for a moment, and SQLite answers "database
is locked" at once instead of calling the busy handler, so the switch is tried again until
`timeout_s`. A file already in WAL mode is left as it is.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from types import TracebackType


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


class WriterLock:
    """Writers of one SQLite file take turns here before they begin a write transaction.

    SQLite lets one writer in at a time and has the others poll, sleeping 1, 2, 5, 10, 15
    ... ms between tries: two bridges on one store (scale-out on one machine) spent much of
    their time asleep while the lock was free. A lock file (flock) wakes the next writer as
    soon as the last one is done. Threads of one process queue on a threading.Lock first
    (flock does not tell them apart). A file that is not on disk (":memory:") needs none.
    """

    def __init__(self, db_path: str) -> None:
        self._path = None if db_path == ":memory:" else f"{db_path}-writer.lock"
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
