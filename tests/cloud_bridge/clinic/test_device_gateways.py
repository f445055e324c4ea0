"""Where each wearable is: the bridge's key table, read-only, and the caller's overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloud_bridge.clinic.device_gateways import (
    GatewayLookupError,
    KnownDevice,
    parse_override,
    read_key_table,
    resolve,
)
from cloud_bridge.device_keys import DeviceKeys, EnrollmentMessage

A, B, C = "a1b2c3d4e5f6", "0a0b0c0d0e0f", "112233445566"
T = 1_790_000_000_000


def enrolled(keys: DeviceKeys, device: str, gateway: str, state: str = "enrolled") -> None:
    keys.apply(EnrollmentMessage(gateway, device, "enrolled", os.urandom(32), "0.1.0", T))
    if state == "unenrolled":
        keys.apply(EnrollmentMessage(gateway, device, "unenrolled", None, None, T + 1))


def test_the_key_table_is_read_without_secrets_or_writes(tmp_path: Path) -> None:
    path = tmp_path / "rtm-device-keys.db"
    keys = DeviceKeys(path)
    enrolled(keys, A, "home-1")
    enrolled(keys, B, "home-2", "unenrolled")
    # While the bridge has it open (WAL) ...
    assert read_key_table(path) == {A: KnownDevice("home-1", "enrolled"),
                                    B: KnownDevice("home-2", "unenrolled")}
    keys.close()
    before = path.read_bytes()
    os.chmod(path, 0o400)  # ... and closed, read-only to us
    try:
        assert read_key_table(path)[A] == KnownDevice("home-1", "enrolled")
    finally:
        os.chmod(path, 0o600)
    assert path.read_bytes() == before


def test_a_missing_or_foreign_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GatewayLookupError, match="does not exist"):
        read_key_table(tmp_path / "nope.db")
    (tmp_path / "x.db").write_text("not a database, just long enough to be read" * 30)
    with pytest.raises(GatewayLookupError, match="cannot read device-key table"):
        read_key_table(tmp_path / "x.db")


def test_enrolled_devices_and_overrides_are_reached_the_rest_says_why_not() -> None:
    known = {A: KnownDevice("home-1", "enrolled"), B: KnownDevice("home-2", "unenrolled")}
    targets, skipped = resolve([A, B, C], known, {})
    assert targets == {A: "home-1"}
    assert skipped[B] == "unenrolled at gateway home-2"
    assert "give --gateway DEVICE=GATEWAY" in skipped[C]
    targets, skipped = resolve([A, B, C], known, {C: "demo-home", A: "home-9"})
    assert targets == {A: "home-9", C: "demo-home"} and list(skipped) == [B]


def test_overrides_are_checked() -> None:
    assert parse_override(f"{A}=home-1") == (A, "home-1")
    for bad in (A, f"{A.upper()}=home-1", f"{A}=", f"{A}=home 1", "=home-1"):
        with pytest.raises(GatewayLookupError, match="DEVICE=GATEWAY"):
            parse_override(bad)
