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
from types import TracebackType

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
    file waits for it. This thread instead runs a PASSIVE checkpoint (it waits for no reader
    or writer) every `every_s` after writes, on a connection of its own. Writers set
    WRITER_AUTOCHECKPOINT_PAGES as a backstop, so the WAL stays bounded even if this thread
    falls behind. Started by `wrote()`, it ends after `idle_s` without writes (the next
    write starts it again: a store left open without writing holds no thread) and at
    `close()`; it never dies of an error (logged, tried again at the next tick). The data is
    durable in the WAL already: a checkpoint only moves it, so nothing waits for this thread.
    """

    def __init__(self, db_path: str, every_s: float = 0.25, idle_s: float = 2.0) -> None:
        self._path = db_path
        self._every_s = every_s
        self._idle_ticks = max(1, round(idle_s / every_s))
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        """A write committed: checkpoint at the next tick. Cheap to call on every write."""
        self._dirty.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name=f"checkpoint {self._path}", daemon=True)
                    self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        idle = failures = 0
        try:
            while not self._stop.wait(self._every_s):
                if not self._dirty.is_set():
                    idle += 1
                    if idle >= self._idle_ticks and self._let_go():
                        return
                    continue
                idle = 0
                self._dirty.clear()
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._path, timeout=1.0,
                                               check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    failures = 0
                except sqlite3.Error as exc:
                    self._dirty.set()  # try again at the next tick
                    failures += 1
                    if failures == 1 or failures % 240 == 0:  # then about once a minute
                        log.warning("checkpoint of %s failed %d time(s), retrying: %s",
                                    self._path, failures, exc)
        finally:
            if conn is not None:
                conn.close()

    def _let_go(self) -> bool:
        """End this thread unless a write came meanwhile (then `wrote()` saw it running)."""
        with self._lock:
            if self._dirty.is_set():
                return False
            self._thread = None
            return True
