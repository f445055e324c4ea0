"""SQLite files that several processes write: turning on the write-ahead log, taking turns
to write, and checkpointing beside the writes.

Bridges started together on one store (scale-out on one machine) open its files at once.
Switching a new file to WAL needs it to themselves for a moment, and SQLite answers "database
is locked" at once instead of calling the busy handler, so the switch is tried again until
`timeout_s`. A file already in WAL mode is left as it is.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from contextlib import closing
from types import TracebackType

from cloud_bridge.ticker import Ticker

log = logging.getLogger(__name__)

# A writer connection checkpoints the WAL itself only once it holds this many pages (32 MB
# at 4 KiB): a backstop. Normally the Checkpointer has copied nearly all of it already, and
# what is left for the writer is the rest and the WAL's reset.
WRITER_AUTOCHECKPOINT_PAGES = 8192


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


class Checkpointer:
    """Copies the WAL into the database file beside the writes, not inside them.

    SQLite checkpoints in the commit that takes the WAL past `wal_autocheckpoint` pages:
    inside the write transaction, and so inside WriterLock, where every other writer of the
    file waits for it. A thread beside them (cloud_bridge/ticker.py) instead runs a PASSIVE
    checkpoint (it waits for no reader or writer) every `every_s` after writes, on a
    connection of its own. Writers set
    WRITER_AUTOCHECKPOINT_PAGES as a backstop, so the WAL stays bounded even if this thread
    falls behind. Started by `wrote()`, it ends after `idle_s` without writes (the next
    write starts it again: a store left open without writing holds no thread) and at
    `close()`; it never dies of an error (logged, tried again at the next tick). The data is
    durable in the WAL already: a checkpoint only moves it, so nothing waits for this thread.
    """

    def __init__(self, db_path: str, every_s: float = 0.25, idle_s: float = 2.0) -> None:
        self._path = db_path
        self._idle_ticks = max(1, round(idle_s / every_s))
        self._idle = 0
        self._failures = 0
        self._dirty = threading.Event()
        self._ticker = Ticker(self._tick, every_s, f"checkpoint {db_path}")

    def wrote(self) -> None:
        """A write committed: checkpoint at the next tick. Cheap to call on every write."""
        self._dirty.set()
        self._ticker.start()

    def close(self, timeout_s: float = 10.0) -> None:
        self._ticker.stop(timeout_s)

    def _tick(self) -> bool:
        """One checkpoint if there were writes; False once idle for `idle_s`."""
        if not self._dirty.is_set():
            self._idle += 1
            return self._idle < self._idle_ticks
        self._idle = 0
        self._dirty.clear()
        try:
            # A connection per checkpoint (a few a second at most): none is held while idle.
            with closing(sqlite3.connect(self._path, timeout=1.0)) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._failures = 0
        except sqlite3.Error as exc:
            self._dirty.set()  # try again at the next tick
            self._failures += 1
            if self._failures == 1 or self._failures % 240 == 0:  # then about once a minute
                log.warning("checkpoint of %s failed %d time(s), retrying: %s",
                            self._path, self._failures, exc)
        return True
