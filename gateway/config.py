"""Gateway configuration: a TOML file, validated before any I/O, with errors that say how to
fix it. Nothing else in the gateway reads the file; parts get the values they need."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DEVICE_ID = re.compile(r"^[0-9a-f]{12}$")
_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is expected."""


@dataclass(frozen=True)
class MqttConfig:
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""
    keepalive_s: int = 30


@dataclass(frozen=True)
class SyncConfig:
    interval_s: float = 3600.0
    scan_timeout_s: float = 10.0
    batch_records: int = 256
    response_timeout_s: float = 10.0


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str
    outbox: Path
    enrolled: tuple[str, ...]
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    if key not in table:
        if default is None:
            raise ConfigError(f"{where}{key} is missing")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        kinds = (kind,) if isinstance(kind, type) else kind
        expected = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}{key} must be {expected}, got {value!r}")
    return value


def _check_unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(known))})")


def parse(data: dict[str, Any], base_dir: Path = Path(".")) -> GatewayConfig:
    _check_unknown(data, {"gateway_id", "outbox", "enrolled", "mqtt", "sync"}, "")
    gateway_id = _get(data, "gateway_id", str, "")
    if not _GATEWAY_ID.match(gateway_id):
        raise ConfigError(f"gateway_id must be 1-64 letters, digits, '-' or '_', got "
                          f"{gateway_id!r} (it becomes part of MQTT topics)")
    outbox = Path(_get(data, "outbox", str, ""))
    if not outbox.is_absolute():
        outbox = base_dir / outbox
    enrolled = _get(data, "enrolled", list, "")
    for i, dev in enumerate(enrolled):
        if not isinstance(dev, str) or not _DEVICE_ID.match(dev):
            raise ConfigError(f"enrolled[{i}] must be a device id of 12 lowercase hex digits "
                              f"(as printed on the wearable), got {dev!r}")
    mqtt_t = _get(data, "mqtt", dict, "", {})
    _check_unknown(mqtt_t, {"host", "port", "client_id", "keepalive_s"}, "mqtt.")
    port = _get(mqtt_t, "port", int, "mqtt.", 1883)
    if not 1 <= port <= 65535:
        raise ConfigError(f"mqtt.port must be 1..65535, got {port}")
    mqtt = MqttConfig(
        host=_get(mqtt_t, "host", str, "mqtt.", "localhost"),
        port=port,
        client_id=_get(mqtt_t, "client_id", str, "mqtt.", f"rtm-gw-{gateway_id}"),
        keepalive_s=_get(mqtt_t, "keepalive_s", int, "mqtt.", 30),
    )
    sync_t = _get(data, "sync", dict, "", {})
    _check_unknown(sync_t, {"interval_s", "scan_timeout_s", "batch_records",
                            "response_timeout_s"}, "sync.")
    sync = SyncConfig(
        interval_s=float(_get(sync_t, "interval_s", (int, float), "sync.", 3600.0)),
        scan_timeout_s=float(_get(sync_t, "scan_timeout_s", (int, float), "sync.", 10.0)),
        batch_records=_get(sync_t, "batch_records", int, "sync.", 256),
        response_timeout_s=float(_get(sync_t, "response_timeout_s", (int, float), "sync.",
                                      10.0)),
    )
    if not 1 <= sync.batch_records <= 512:
        raise ConfigError(f"sync.batch_records must be 1..512, got {sync.batch_records}")
    for name in ("interval_s", "scan_timeout_s", "response_timeout_s"):
        if getattr(sync, name) <= 0:
            raise ConfigError(f"sync.{name} must be positive")
    return GatewayConfig(gateway_id, outbox, tuple(enrolled), mqtt, sync)


def load(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    try:
        return parse(data, path.parent)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
