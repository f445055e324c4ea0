"""The SQLite store's WAL is copied into the database file by a thread beside the writes
(cloud_bridge/sqlite_wal.py, Checkpointer), and stays bounded even without it."""

import sqlite3
import threading
import time

from cloud_bridge import sqlite_wal
from cloud_bridge.stores.sqlite_store import SQLiteStore
from tests.cloud_bridge.stores.test_store_contract import rep

T0 = 1_790_000_000_000


def write_batches(store: SQLiteStore, batches: int, per_batch: int, device: str = "dev-1"
                  ) -> None:
    for b in range(batches):
        store.write([rep(device, b * per_batch + i + 1, T0 + (b * per_batch + i) * 1000)
                     for i in range(per_batch)])


def checkpoint_threads(path=None) -> list[threading.Thread]:
    name = "checkpoint " + ("" if path is None else str(path))
    return [t for t in threading.enumerate() if t.name.startswith(name)]


def count_in_file_alone(path, copy) -> int:
    """Records in a copy of the database file without its WAL (0 while a checkpoint is
    half done)."""
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0
    finally:
        conn.close()


def test_writes_reach_the_database_file_without_a_checkpoint_in_any_write(tmp_path):
    path = tmp_path / "rtm.db"
    store = SQLiteStore(path)
    write_batches(store, 5, 200)  # far below the writers' own checkpoint threshold
    deadline = time.monotonic() + 5
    while (count_in_file_alone(path, tmp_path / "copy.db") < 1000
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert count_in_file_alone(path, tmp_path / "copy.db") == 1000
    store.close()


def test_without_the_checkpointer_the_writers_keep_the_wal_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_wal.Checkpointer, "wrote", lambda self: None)
    monkeypatch.setattr("cloud_bridge.stores.sqlite_store.WRITER_AUTOCHECKPOINT_PAGES", 64)
    path = tmp_path / "rtm.db"
    store = SQLiteStore(path)
    write_batches(store, 40, 500)
    wal = path.with_name(path.name + "-wal").stat().st_size
    store.close()
    # 64 pages of 4 KiB, plus the one transaction that went past them
    assert wal < 2_000_000, f"WAL grew to {wal} bytes"


def test_close_stops_the_checkpointer(tmp_path):
    store = SQLiteStore(tmp_path / "rtm.db")
    write_batches(store, 1, 10)
    assert checkpoint_threads(tmp_path / "rtm.db")
    store.close()
    assert not checkpoint_threads(tmp_path / "rtm.db")


def test_a_store_left_open_without_writing_lets_its_checkpointer_go(tmp_path):
    path = tmp_path / "rtm.db"
    store = SQLiteStore(path)
    write_batches(store, 1, 10)
    deadline = time.monotonic() + 6
    while checkpoint_threads(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not checkpoint_threads(path)
    write_batches(store, 1, 10)  # the next write starts it again
    assert checkpoint_threads(path)
    store.close()


def test_a_store_that_only_reads_starts_no_checkpointer(tmp_path):
    path = tmp_path / "rtm.db"
    SQLiteStore(path).close()
    store = SQLiteStore(path)
    store.query(None, 0, 2**62)
    assert not checkpoint_threads(path)
    store.close()
