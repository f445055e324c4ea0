"""How the bridge proves itself to the broker and checks the broker: TLS and credentials.

The broker (docs/deploy/mosquitto.conf) speaks TLS only, refuses anonymous clients and
names each client's session after its username (`use_username_as_clientid`), so the
bridge's username is also what keeps its queued records. The password is read from a file,
never taken on the command line (where `ps` shows it) and never logged.
"""

from __future__ import annotations

import logging
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class BrokerSecurityError(ValueError):
    """The security settings cannot be used; the message names the file or option."""


@dataclass(frozen=True)
class BrokerSecurity:
    """`ca_file`: TLS, the broker's certificate verified against it (and its name checked
    against the host dialled). `cert_file`/`key_file`: a client certificate, optional.
    `username`/`password_file`: the bridge's login."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise BrokerSecurityError("a client certificate needs both --cert-file and "
                                      "--key-file")
        if self.cert_file is not None and self.ca_file is None:
            raise BrokerSecurityError("--cert-file needs --ca-file (a client certificate is "
                                      "only sent over TLS)")
        if (self.username is None) != (self.password_file is None):
            raise BrokerSecurityError("--username and --password-file go together")
        if self.username == "":
            raise BrokerSecurityError("--username must not be empty")

    @property
    def tls(self) -> bool:
        return self.ca_file is not None


def read_password(path: Path) -> str:
    """The file's text without one trailing newline (what `echo` and editors add); any
    other whitespace is part of the password."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise BrokerSecurityError(f"cannot read password file {path}: {reason}") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise BrokerSecurityError(f"password file {path} is empty")
    return password


def _check_readable(path: Path, what: str) -> None:
    # ssl's own errors for a missing file name neither the file nor the option.
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise BrokerSecurityError(f"cannot read {what} {path}: {e.strerror or e}") from None


def apply(client: mqtt.Client, security: BrokerSecurity) -> None:
    """Configure `client` (before it connects) with TLS and credentials, and log each
    failed connection attempt with its reason: paho retries silently otherwise, and a
    certificate the bridge does not trust would look like a broker that never answers."""
    if security.ca_file is not None:
        _check_readable(security.ca_file, "CA file (--ca-file)")
        if security.cert_file is not None and security.key_file is not None:
            _check_readable(security.cert_file, "client certificate (--cert-file)")
            _check_readable(security.key_file, "client key (--key-file)")
        try:
            client.tls_set(ca_certs=str(security.ca_file),
                           certfile=_optional_str(security.cert_file),
                           keyfile=_optional_str(security.key_file),
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except ssl.SSLError as e:
            files = ", ".join(str(p) for p in (security.ca_file, security.cert_file,
                                               security.key_file) if p is not None)
            raise BrokerSecurityError(f"cannot load TLS files ({files}): {e}") from None
        client.tls_insecure_set(False)  # the broker's certificate must name the host dialled
    if security.username is not None and security.password_file is not None:
        if not security.tls:
            log.warning("sending the bridge's password to the broker without TLS: use "
                        "--ca-file outside a test setup")
        client.username_pw_set(security.username, read_password(security.password_file))
    client.on_connect_fail = _log_connect_failure


def _log_connect_failure(client: mqtt.Client, userdata: object) -> None:
    # paho calls this inside its `except OSError`: the exception is the one in hand.
    error = sys.exception()
    reason = f"{type(error).__name__}: {error}" if error else "no reason given"
    hint = (" (is --ca-file the CA that signed the broker's certificate, and does the "
            "certificate name the host in --broker?)"
            if isinstance(error, ssl.SSLError) else "")
    log.error("cannot connect to the broker: %s%s; retrying", reason, hint)


def _optional_str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def host_port(text: str) -> tuple[str, int]:
    """HOST:PORT of a broker; ValueError naming the text otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"--broker must be HOST:PORT, got {text!r}")
    return host, int(port)
