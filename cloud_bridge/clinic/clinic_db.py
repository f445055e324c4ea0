"""The clinic's own SQLite file (`rtm-clinic --clinic-db`, default clinic.db): what the clinic
decides and logs, as opposed to what wearables measured (the record store).

Each clinic module keeps its tables here and creates them itself (CREATE TABLE IF NOT
EXISTS) when it first opens the file: prescriptions, logged time and communications.
Patient identities live only on the clinic side: this file, the enrollment registry.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cloud_bridge.sqlite_wal import enable_wal

DEFAULT_PATH = "clinic.db"
_BUSY_TIMEOUT_S = 30.0


def open_clinic_db(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (isolation_level None: callers BEGIN what must be
    atomic), WAL, fsync'd commits. Created readable by its owner only: it names patients."""
    path = str(path)
    if path != ":memory:" and not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    enable_wal(conn, _BUSY_TIMEOUT_S)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
