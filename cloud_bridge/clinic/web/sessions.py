"""Signed session cookies and CSRF tokens.

A session is kept by the browser, not the server: a cookie holding the session as JSON
(a random id, the user, when the user's password was last set, the expiry), signed with
HMAC-SHA256 under a secret kept in clinic.db. A changed or forged cookie fails the check.
The secret lives in clinic.db (readable by its owner only) so that sessions survive a
restart; anyone who can read clinic.db can already read everything the dashboard shows.

Every visitor has a session, anonymous until the login: the login form's CSRF token needs
one. The login replaces it with a new one (a new id: a session id planted before the
login is worth nothing after it). A CSRF token is an HMAC of the session id, so it is
valid for that session only and needs no storage.

Ending a session deletes the cookie in that browser; a copy of the cookie stays valid until
it expires, or until the user's password is set again (`rtm-clinic add-user --replace`),
which ends all of that user's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass

COOKIE = "rtm_session"
ANONYMOUS_S = 3600  # a login form stays usable this long
_SECRET_BYTES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_secret (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB    NOT NULL
)
"""


def load_secret(conn: sqlite3.Connection) -> bytes:
    """The signing secret, made on first use."""
    conn.execute(_SCHEMA)
    conn.execute("INSERT OR IGNORE INTO web_secret (id, key) VALUES (1, ?)",
                 (os.urandom(_SECRET_BYTES),))
    return bytes(conn.execute("SELECT key FROM web_secret WHERE id = 1").fetchone()[0])


@dataclass(frozen=True)
class Session:
    sid: str
    expires_s: int  # Unix seconds
    user: str | None = None  # None: not logged in
    password_changed_ms: int | None = None  # the user's, when the session began


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, and `given` is the
    # client's.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, data: str) -> str:
        msg = f"{purpose}|{data}".encode()
        return _b64(hmac.new(self._secret, msg, hashlib.sha256).digest())

    def new_session(self, now_s: int, lifetime_s: int, user: str | None = None,
                    password_changed_ms: int | None = None) -> Session:
        return Session(secrets.token_urlsafe(18), now_s + lifetime_s, user,
                       password_changed_ms)

    def encode(self, session: Session) -> str:
        payload = _b64(json.dumps([session.sid, session.expires_s, session.user,
                                   session.password_changed_ms],
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def decode(self, value: str | None, now_s: int) -> Session | None:
        """The session in a cookie value; None if missing, forged, malformed or expired."""
        if not value or len(value) > 4096 or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not _same(mac, self._mac("session", payload)):
            return None
        try:
            sid, expires_s, user, changed_ms = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if not isinstance(expires_s, int) or expires_s <= now_s:
            return None
        return Session(str(sid), expires_s, user, changed_ms)

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def check_csrf(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return _same(token, self.csrf_token(session))
