"""Password hashes for the dashboard's users: scrypt from hashlib, nothing to install.

Stored as one string, "scrypt$n$r$p$salt$hash" (base64 salt and hash), so that the cost
parameters can be raised later without breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

# n=2**14, r=8: 16 MiB and some 50 ms per check, the cost OWASP lists as the minimum for
# scrypt; enough to make an offline guess expensive, cheap enough for a login.
N, R, P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 10
MAX_LENGTH = 1024  # scrypt hashes any length; a megabyte "password" would only cost CPU


class PasswordError(ValueError):
    """A password that cannot be set; the message says why."""


def check_new(password: str) -> None:
    """Raise PasswordError for a password too short or too long to be set."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password may have at most {MAX_LENGTH} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=_MAXMEM, dklen=_HASH_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = os.urandom(_SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, N, R, P))}"


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches `stored`; False for a mismatch or an unreadable hash."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_LENGTH:
            return False
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(got, base64.b64decode(expected))
    except (ValueError, TypeError):
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, checked against when a name is unknown: a wrong name
    then costs the same time as a wrong password, and timing does not tell which names
    exist."""
    return hash_password(os.urandom(16).hex())
