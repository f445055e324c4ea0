"""The dashboard's users, in clinic.db: name, password hash, and failed logins.

Failed logins are counted per user (consecutive, reset by a success). After
FREE_FAILURES of them, each further attempt is refused unchecked until a wait has passed
since the last failure, doubling with every failure up to MAX_WAIT_S: guessing online gets
slow, while a user who mistyped a few times is not locked out for long. The app also
answers every failed attempt only after a fixed delay (app.py).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.web import passwords

FREE_FAILURES = 3
MAX_WAIT_S = 15 * 60
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_users (
    name                TEXT    PRIMARY KEY,
    password_hash       TEXT    NOT NULL,
    created_ms          INTEGER NOT NULL,
    password_changed_ms INTEGER NOT NULL,  -- sessions from before are no longer valid
    failed_logins       INTEGER NOT NULL DEFAULT 0,  -- consecutive, since the last success
    last_failed_ms      INTEGER
)
"""


class UserError(ValueError):
    """A user that cannot be added; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    password_changed_ms: int


@dataclass(frozen=True)
class LoginResult:
    user: User | None  # None: refused
    retry_after_s: int | None = None  # set when refused unchecked: too many failures


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)


def open_users(path: str | Path) -> sqlite3.Connection:
    conn = open_clinic_db(path)
    ensure_schema(conn)
    return conn


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise UserError(f"a user name is 1-64 letters, digits or . _ @ -, got {name!r}")


def add_user(conn: sqlite3.Connection, name: str, password: str, now_ms: int, *,
             replace: bool = False) -> None:
    """Add `name`, or with replace=True set a new password for it (which ends its
    sessions and clears its failed logins)."""
    check_name(name)
    try:
        passwords.check_new(password)
    except passwords.PasswordError as e:
        raise UserError(str(e)) from None
    hashed = passwords.hash_password(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        exists = conn.execute("SELECT 1 FROM web_users WHERE name = ?", (name,)).fetchone()
        if exists and not replace:
            raise UserError(f"user {name!r} exists: give --replace to set a new password")
        if exists:
            conn.execute("UPDATE web_users SET password_hash = ?, password_changed_ms = ?, "
                         "failed_logins = 0, last_failed_ms = NULL WHERE name = ?",
                         (hashed, now_ms, name))
        else:
            conn.execute("INSERT INTO web_users (name, password_hash, created_ms, "
                         "password_changed_ms) VALUES (?, ?, ?, ?)",
                         (name, hashed, now_ms, now_ms))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def get_user(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute("SELECT name, password_changed_ms FROM web_users WHERE name = ?",
                       (name,)).fetchone()
    return User(row[0], row[1]) if row else None


def count_users(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM web_users").fetchone()[0])


def wait_s(failures: int) -> int:
    """Seconds to wait after the last of `failures` consecutive failures."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - FREE_FAILURES), MAX_WAIT_S))


def attempt_login(conn: sqlite3.Connection, name: str, password: str,
                  now_ms: int) -> LoginResult:
    row = conn.execute("SELECT password_hash, password_changed_ms, failed_logins, "
                       "last_failed_ms FROM web_users WHERE name = ?", (name,)).fetchone()
    if row is None:
        passwords.verify_password(password, passwords.dummy_hash())
        return LoginResult(None)
    stored, changed_ms, failures, last_failed_ms = row
    if last_failed_ms is not None:
        remaining_ms = last_failed_ms + wait_s(failures) * 1000 - now_ms
        if remaining_ms > 0:
            return LoginResult(None, retry_after_s=-(-remaining_ms // 1000))
    if passwords.verify_password(password, stored):
        conn.execute("UPDATE web_users SET failed_logins = 0, last_failed_ms = NULL "
                     "WHERE name = ?", (name,))
        return LoginResult(User(name, changed_ms))
    conn.execute("UPDATE web_users SET failed_logins = failed_logins + 1, "
                 "last_failed_ms = ? WHERE name = ?", (now_ms, name))
    return LoginResult(None)
