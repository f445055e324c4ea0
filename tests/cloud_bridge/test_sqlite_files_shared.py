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
