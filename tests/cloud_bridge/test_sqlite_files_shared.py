"""Bridges started together on one machine open the same SQLite files at once (scale-out
on a SQLite store): one that finds the new file locked by another's first open waits for
it instead of failing ("database is locked": switching to WAL does not wait by itself)."""

import sqlite3
import threading
import time

import pytest

from cloud_bridge.dead_letters import DeadLetters
from cloud_bridge.device_keys import DeviceKeys
from cloud_bridge.stores.sqlite_store import SQLiteStore


@pytest.mark.parametrize("opener", [SQLiteStore, DeviceKeys, DeadLetters],
                         ids=["store", "device_keys", "dead_letters"])
def test_a_file_another_opener_is_creating_is_waited_for(tmp_path, opener):
    path = tmp_path / "shared.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # still in rollback-journal mode, write lock held
    other.execute("CREATE TABLE other_first (x)")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    opener(path).close()
    assert time.monotonic() - started >= 0.2, "it waited for the other opener"
    other.close()


def _write_batches(path, device, barrier):
    from tests.cloud_bridge.stores.test_store_contract import rep

    store = SQLiteStore(path)
    barrier.wait()
    for batch in range(20):
        store.write([rep(device, batch * 50 + i + 1, 1_790_000_000_000 + batch * 50 + i)
                     for i in range(50)])
    store.close()


def test_processes_writing_one_store_take_turns_and_lose_nothing(tmp_path):
    import multiprocessing

    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    devices = ["a1a1a1a1a1a1", "b2b2b2b2b2b2", "c3c3c3c3c3c3"]
    procs = [ctx.Process(target=_write_batches, args=(path, d, barrier)) for d in devices]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = SQLiteStore(path)
    for device in devices:
        assert [r.seq for r in store.query([device], 0, 2**62)] == list(range(1, 1001))
    store.close()
