"""Property tests of the gateway configuration (gateway/config.py): a valid file loads with
the values it says; any file, any TOML value in any key, is a GatewayConfig or a ConfigError
naming the key; every duration and size taken is a finite positive number."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, GatewayConfig, load, parse
from tests.fuzz_inputs import mutated_bytes

pytestmark = pytest.mark.chaos

GOOD = {"gateway_id": "home-1", "outbox": "/var/lib/rtm/outbox.db",
        "enrolled": ["a1b2c3d4e5f6"], "outbox_max_mb": 64,
        "mqtt": {"host": "broker.example.org", "port": 1883, "keepalive_s": 30,
                 "reconnect_min_s": 1.0, "reconnect_max_s": 300.0},
        "sync": {"window": "01:00-05:00", "interval_s": 900.0, "batch_records": 256,
                 "stagger_s": 60.0, "response_timeout_s": 10.0, "connect_deadline_s": 120.0,
                 "adapter": "hci0"}}

# Every value TOML can hold, floats with nan and inf (TOML writes them `nan`, `inf`).
TOML_SCALARS = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), st.text(max_size=30),
    st.datetimes(), st.dates(), st.times())
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(min_size=1, max_size=10), children, max_size=3),
    max_leaves=6)


def toml_value(value: Any) -> str:
    """TOML text of a value (enough for these tests: no arrays of tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else
                                                 "-inf" if value == -math.inf else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(config: dict[str, Any]) -> str:
    top = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    tables = [f"[{k}]\n" + "\n".join(f"{json.dumps(kk)} = {toml_value(vv)}"
                                     for kk, vv in v.items())
              for k, v in config.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "\n\n".join(tables) + "\n"


def assert_finite_and_positive(cfg: GatewayConfig) -> None:
    numbers = [cfg.outbox_max_mb, cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s,
               cfg.sync.interval_s, cfg.sync.backoff_max_s, cfg.sync.scan_timeout_s,
               cfg.sync.response_timeout_s, cfg.sync.connect_deadline_s,
               cfg.sync.adapter_silence_s, cfg.sync.adapter_cooldown_s]
    assert all(math.isfinite(n) and n > 0 for n in numbers), numbers
    assert math.isfinite(cfg.sync.stagger_s) and cfg.sync.stagger_s >= 0


def parse_or_reason(config: dict[str, Any]) -> GatewayConfig | None:
    try:
        cfg = parse(config, Path("/nonexistent-base"))
    except ConfigError as e:
        assert str(e), "a ConfigError says what is wrong"
        return None
    assert_finite_and_positive(cfg)
    return cfg


@st.composite
def configs_with_one_value_wrong(draw: st.DrawFn) -> dict[str, Any]:
    config = json.loads(json.dumps(GOOD))
    table = draw(st.sampled_from((None, "mqtt", "sync")))
    where = config if table is None else config[table]
    key = draw(st.sampled_from(sorted(where)) | st.text(min_size=1, max_size=10))
    where[key] = draw(TOML_VALUES)
    return config


def test_the_good_config_parses() -> None:
    cfg = parse_or_reason(GOOD)
    assert cfg is not None and cfg.sync.batch_records == 256


@settings(max_examples=400)
@given(configs_with_one_value_wrong())
def test_any_value_in_any_key_is_a_config_or_a_config_error(config: dict[str, Any]) -> None:
    parse_or_reason(config)


@pytest.mark.parametrize("table, key", [
    (None, "outbox_max_mb"), ("mqtt", "reconnect_min_s"), ("mqtt", "reconnect_max_s"),
    ("sync", "interval_s"), ("sync", "stagger_s"), ("sync", "backoff_max_s"),
    ("sync", "scan_timeout_s"), ("sync", "response_timeout_s"),
    ("sync", "connect_deadline_s"), ("sync", "adapter_silence_s"),
    ("sync", "adapter_cooldown_s")])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_and_infinite_durations_are_refused(table: str | None, key: str,
                                                value: float) -> None:
    config = json.loads(json.dumps(GOOD))
    (config if table is None else config[table])[key] = value
    with pytest.raises(ConfigError, match=key):
        parse(config)


def load_text(data: bytes) -> GatewayConfig | None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "gateway.toml"
        path.write_bytes(data)
        try:
            cfg = load(path)
        except ConfigError as e:
            assert str(path) in str(e), "the error names the file"
            return None
    assert_finite_and_positive(cfg)
    return cfg


@settings(max_examples=100)
@given(st.integers(1, 65535), st.integers(1, 512), st.integers(5, 3600),
       st.floats(0.001, 1e6), st.sampled_from(("json", "text")))
def test_a_valid_file_loads_with_its_values(port: int, batch: int, keepalive: int,
                                            reconnect_min: float, log_format: str) -> None:
    config = json.loads(json.dumps(GOOD))
    config["log_format"] = log_format
    config["mqtt"].update(port=port, keepalive_s=keepalive, reconnect_min_s=reconnect_min,
                          reconnect_max_s=reconnect_min * 2)
    config["sync"]["batch_records"] = batch
    cfg = load_text(toml_document(config).encode())
    assert cfg is not None
    assert (cfg.mqtt.port, cfg.sync.batch_records, cfg.mqtt.keepalive_s,
            cfg.mqtt.reconnect_min_s, cfg.log_format) == (port, batch, keepalive,
                                                          reconnect_min, log_format)


@settings(max_examples=200)
@given(st.one_of(st.binary(max_size=200),
                 st.just(toml_document(GOOD).encode()).flatmap(mutated_bytes),
                 configs_with_one_value_wrong().map(lambda c: toml_document(c).encode())))
def test_any_file_loads_or_raises_config_error_naming_the_file(data: bytes) -> None:
    load_text(data)


@pytest.mark.parametrize("data", [
    b"\xff\xfe gateway_id = 1",  # not UTF-8
    b"a = " + b"[" * 5000 + b"]" * 5000,  # nested deeper than the TOML parser's stack
    b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000,
])
def test_unreadable_files_are_config_errors(data: bytes) -> None:
    assert load_text(data) is None


def test_a_directory_or_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_the_mqtt_protocol_is_5_by_default_or_what_the_file_says(protocol: str) -> None:
    assert parse(GOOD).mqtt.protocol == "5"
    config = json.loads(json.dumps(GOOD))
    config["mqtt"]["protocol"] = protocol
    cfg = load_text(toml_document(config).encode())
    assert cfg is not None and cfg.mqtt.protocol == protocol


@settings(max_examples=100)
@given(TOML_VALUES.filter(lambda v: v not in ("5", "3.1.1")))
def test_any_other_mqtt_protocol_is_refused_naming_the_key_and_the_choices(
        value: Any) -> None:
    config = json.loads(json.dumps(GOOD))
    config["mqtt"]["protocol"] = value
    with pytest.raises(ConfigError, match=r'mqtt\.protocol must be "5" .* or "3\.1\.1"'):
        parse(config)
