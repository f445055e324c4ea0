"""Gateway configuration: a TOML file, validated before any I/O, with errors that say how to
fix it. Nothing else in the gateway reads the file; parts get the values they need.

docs/deploy/gateway.toml is the annotated example; every key has a default except
gateway_id and outbox.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

_DEVICE_ID = re.compile(r"^[0-9a-f]{12}$")
_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_ADAPTER = re.compile(r"^hci\d{1,2}$")
# MQTT protocol versions the gateway speaks: "5" reports a publish the broker did not take
# (PUBACK reason codes); "3.1.1" cannot, and is only for brokers without v5 (the demo's).
MQTT_PROTOCOLS = ("5", "3.1.1")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is expected."""


@dataclass(frozen=True)
class MqttConfig:
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""
    keepalive_s: int = 30
    # TLS: the broker's certificate is verified against ca_file (None: no TLS).
    ca_file: Path | None = None
    cert_file: Path | None = None  # client certificate, with key_file (optional)
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None  # the password is read from this file, not the config
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 300.0
    protocol: str = "5"  # one of MQTT_PROTOCOLS

    @property
    def tls(self) -> bool:
        return self.ca_file is not None


@dataclass(frozen=True)
class SyncConfig:
    # Overnight window, local time; may wrap midnight. Each wearable is synced once per
    # window (retried every interval_s while it has not been), and outside the window
    # when it advertises that it is charging or holds >= opportunistic_records unsynced.
    window_start: time = time(1, 0)
    window_end: time = time(5, 0)
    interval_s: float = 900.0
    opportunistic_records: int = 200
    stagger_s: float = 60.0  # starts spread at random over this many seconds
    backoff_max_s: float = 3600.0  # per-device back-off after failures, doubling up to this
    scan_timeout_s: float = 10.0
    batch_records: int = 256
    response_timeout_s: float = 10.0
    connect_deadline_s: float = 120.0  # one wearable's whole sync, connection included
    max_connections: int = 2  # connection slots used at once on the adapter
    adapter: str = "hci0"
    adapter_silence_s: float = 900.0  # scanning this long without any advertisement: reset
    adapter_cooldown_s: float = 300.0  # at least this long between two adapter resets


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str
    outbox: Path
    enrolled: tuple[str, ...] = ()
    outbox_max_mb: float = 512.0
    log_format: str = "json"  # "json" (one object per line, for journald) or "text"
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)


_MISSING = object()


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = _MISSING) -> Any:
    if key not in table:
        if default is _MISSING:
            raise ConfigError(f"{where}{key} is missing")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        kinds = (kind,) if isinstance(kind, type) else kind
        expected = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}{key} must be {expected}, got {value!r}")
    return value


def _number(table: dict[str, Any], key: str, where: str, default: float,
            minimum: float = 0.0) -> float:
    value = float(_get(table, key, (int, float), where, default))
    if not math.isfinite(value):  # TOML has nan and inf: a sleep or a size must not be one
        raise ConfigError(f"{where}{key} must be a finite number, got {value}")
    if value <= minimum:
        raise ConfigError(f"{where}{key} must be positive" if minimum == 0.0
                          else f"{where}{key} must be more than {minimum:g}, got {value:g}")
    return value


def _path(table: dict[str, Any], key: str, where: str, base_dir: Path,
          must_exist: bool = False) -> Path | None:
    value = _get(table, key, str, where, None)
    if value is None:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = base_dir / path
    if must_exist and not path.is_file():
        raise ConfigError(f"{where}{key}: file {path} does not exist")
    return path


def _check_unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(known))})")


def _mqtt(t: dict[str, Any], gateway_id: str, base_dir: Path) -> MqttConfig:
    w = "mqtt."
    _check_unknown(t, {"host", "port", "client_id", "keepalive_s", "ca_file", "cert_file",
                       "key_file", "username", "password_file", "reconnect_min_s",
                       "reconnect_max_s", "protocol"}, w)
    port = _get(t, "port", int, w, 1883)
    if not 1 <= port <= 65535:
        raise ConfigError(f"mqtt.port must be 1..65535, got {port}")
    cfg = MqttConfig(
        host=_get(t, "host", str, w, "localhost"),
        port=port,
        client_id=_get(t, "client_id", str, w, f"rtm-gw-{gateway_id}"),
        keepalive_s=_get(t, "keepalive_s", int, w, 30),
        ca_file=_path(t, "ca_file", w, base_dir, must_exist=True),
        cert_file=_path(t, "cert_file", w, base_dir, must_exist=True),
        key_file=_path(t, "key_file", w, base_dir, must_exist=True),
        username=_get(t, "username", str, w, None),
        password_file=_path(t, "password_file", w, base_dir, must_exist=True),
        reconnect_min_s=_number(t, "reconnect_min_s", w, 1.0),
        reconnect_max_s=_number(t, "reconnect_max_s", w, 300.0),
        protocol=_protocol(t, w),
    )
    if (cfg.cert_file is None) != (cfg.key_file is None):
        raise ConfigError("mqtt.cert_file and mqtt.key_file go together (client certificate)")
    if cfg.cert_file is not None and cfg.ca_file is None:
        raise ConfigError("mqtt.cert_file needs mqtt.ca_file (a client certificate is only "
                          "sent over TLS)")
    if (cfg.username is None) != (cfg.password_file is None):
        raise ConfigError("mqtt.username and mqtt.password_file go together")
    if cfg.reconnect_max_s < cfg.reconnect_min_s:
        raise ConfigError("mqtt.reconnect_max_s must be at least mqtt.reconnect_min_s")
    if not 5 <= cfg.keepalive_s <= 3600:
        raise ConfigError(f"mqtt.keepalive_s must be 5..3600, got {cfg.keepalive_s}")
    return cfg


def _protocol(t: dict[str, Any], where: str) -> str:
    value = t.get("protocol", "5")
    if value not in MQTT_PROTOCOLS:  # also a number: 5 or 3.1 written without quotes
        raise ConfigError(f'{where}protocol must be "5" (brokers with MQTT v5, as the '
                          f'deployment\'s) or "3.1.1" (only for a broker without v5: a '
                          f'refused publish is then lost), as a string; got {value!r}')
    return str(value)


def _window(text: str) -> tuple[time, time]:
    m = _WINDOW.match(text)
    if not m:
        raise ConfigError(f"sync.window must be \"HH:MM-HH:MM\" (local time, 24 h), got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ConfigError("sync.window must not be empty (start equals end)")
    return start, end


def _stagger(t: dict[str, Any], where: str) -> float:
    value = float(_get(t, "stagger_s", (int, float), where, 60.0))
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}stagger_s must be a finite number of 0 or more, got {value}")
    return value


def _sync(t: dict[str, Any]) -> SyncConfig:
    w = "sync."
    _check_unknown(t, {"window", "interval_s", "opportunistic_records", "stagger_s",
                       "backoff_max_s", "scan_timeout_s", "batch_records",
                       "response_timeout_s", "connect_deadline_s", "max_connections",
                       "adapter", "adapter_silence_s", "adapter_cooldown_s"}, w)
    start, end = _window(_get(t, "window", str, w, "01:00-05:00"))
    adapter = _get(t, "adapter", str, w, "hci0")
    if not _ADAPTER.match(adapter):
        raise ConfigError(f"sync.adapter must name a Bluetooth adapter like \"hci0\", "
                          f"got {adapter!r}")
    cfg = SyncConfig(
        window_start=start, window_end=end,
        interval_s=_number(t, "interval_s", w, 900.0),
        opportunistic_records=_get(t, "opportunistic_records", int, w, 200),
        stagger_s=_stagger(t, w),
        backoff_max_s=_number(t, "backoff_max_s", w, 3600.0),
        scan_timeout_s=_number(t, "scan_timeout_s", w, 10.0),
        batch_records=_get(t, "batch_records", int, w, 256),
        response_timeout_s=_number(t, "response_timeout_s", w, 10.0),
        connect_deadline_s=_number(t, "connect_deadline_s", w, 120.0),
        max_connections=_get(t, "max_connections", int, w, 2),
        adapter=adapter,
        adapter_silence_s=_number(t, "adapter_silence_s", w, 900.0),
        adapter_cooldown_s=_number(t, "adapter_cooldown_s", w, 300.0),
    )
    if not 1 <= cfg.batch_records <= 512:
        raise ConfigError(f"sync.batch_records must be 1..512, got {cfg.batch_records}")
    if not 1 <= cfg.max_connections <= 7:
        raise ConfigError(f"sync.max_connections must be 1..7 (a Pi's controller holds few "
                          f"links), got {cfg.max_connections}")
    if cfg.opportunistic_records < 1:
        raise ConfigError("sync.opportunistic_records must be at least 1")
    if cfg.connect_deadline_s <= cfg.response_timeout_s:
        raise ConfigError("sync.connect_deadline_s must be longer than sync.response_timeout_s")
    return cfg


def parse(data: dict[str, Any], base_dir: Path = Path(".")) -> GatewayConfig:
    _check_unknown(data, {"gateway_id", "outbox", "outbox_max_mb", "enrolled", "log_format",
                          "mqtt", "sync"}, "")
    gateway_id = _get(data, "gateway_id", str, "")
    if not _GATEWAY_ID.match(gateway_id):
        raise ConfigError(f"gateway_id must be 1-64 letters, digits, '-' or '_', got "
                          f"{gateway_id!r} (it becomes part of MQTT topics)")
    outbox = _path(data, "outbox", "", base_dir)
    if outbox is None:
        raise ConfigError("outbox is missing (path of the outbox database)")
    enrolled = _get(data, "enrolled", list, "", [])
    for i, dev in enumerate(enrolled):
        if not isinstance(dev, str) or not _DEVICE_ID.match(dev):
            raise ConfigError(f"enrolled[{i}] must be a device id of 12 lowercase hex digits "
                              f"(as printed on the wearable), got {dev!r}")
    outbox_max_mb = _number(data, "outbox_max_mb", "", 512.0, minimum=1.0)
    log_format = _get(data, "log_format", str, "", "json")
    if log_format not in ("json", "text"):
        raise ConfigError(f"log_format must be \"json\" or \"text\", got {log_format!r}")
    return GatewayConfig(gateway_id, outbox, tuple(enrolled), outbox_max_mb, log_format,
                         _mqtt(_get(data, "mqtt", dict, "", {}), gateway_id, base_dir),
                         _sync(_get(data, "sync", dict, "", {})))


def load(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:  # a directory, no permission, an I/O error
        raise ConfigError(f"config file {path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except RecursionError:
        # tomllib recurses per nesting level: arrays or tables nested thousands deep.
        raise ConfigError(f"{path} is not usable TOML: nested too deeply") from None
    try:
        return parse(data, path.parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
