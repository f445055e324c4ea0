"""The bridge's device-key table: enrollments from gateways, checked, applied by the rules
(a device moves only after unenroll; a key changes only after unenroll), never a crash."""

import base64
import json
import os
import stat
from types import SimpleNamespace

import pytest

from cloud_bridge import device_keys as dk
from cloud_bridge.device_keys import DeviceKeys, EnrollmentRejected
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from gateway.enrollment import build_registration, enrollment_topic

DEV = "a1b2c3d4e5f6"
S1 = bytes(range(1, 33))
S2 = bytes(range(2, 34))
T = 1_790_000_000_000


def enrollment(gateway="home-1", state="enrolled", secret=S1, at_ms=T, device=DEV, **extra):
    body = json.loads(build_registration(gateway, device, state, secret, "0.1.0", at_ms))
    body.update(extra)
    return enrollment_topic(gateway, device), json.dumps(body).encode()


@pytest.fixture
def keys(tmp_path):
    k = DeviceKeys(tmp_path / "keys.db")
    yield k
    k.close()


def test_an_enrollment_is_stored_with_its_secret(keys) -> None:
    key = keys.apply_message(*enrollment())
    assert (key.device_id, key.gateway_id, key.state, key.secret, key.firmware, key.at_ms) == (
        DEV, "home-1", "enrolled", S1, "0.1.0", T)
    assert keys.secret_of(DEV) == S1 and keys.get("ffffffffffff") is None
    assert "0102" not in repr(key) and "set" in repr(key)


def test_the_file_is_private_and_survives_a_restart(tmp_path) -> None:
    keys = DeviceKeys(tmp_path / "keys.db")
    keys.apply_message(*enrollment())
    keys.close()
    assert stat.S_IMODE(os.stat(tmp_path / "keys.db").st_mode) == 0o600
    assert DeviceKeys(tmp_path / "keys.db").secret_of(DEV) == S1


def test_redelivery_changes_nothing(keys) -> None:
    keys.apply_message(*enrollment())
    assert keys.apply_message(*enrollment(at_ms=T + 5)).changes == 1


def test_a_device_moves_to_another_gateway_only_after_unenroll(keys) -> None:
    keys.apply_message(*enrollment())
    with pytest.raises(EnrollmentRejected) as e:
        keys.apply_message(*enrollment(gateway="home-2", secret=S2))
    assert e.value.reason == "other_gateway"
    with pytest.raises(EnrollmentRejected, match="other_gateway"):
        keys.apply_message(*enrollment(gateway="home-2", state="unenrolled", secret=None))
    assert keys.secret_of(DEV) == S1
    key = keys.apply_message(*enrollment(state="unenrolled", secret=None, at_ms=T + 1))
    assert key.state == "unenrolled" and key.secret == S1  # kept for records signed before
    assert keys.secret_of(DEV) is None
    key = keys.apply_message(*enrollment(gateway="home-2", secret=S2, at_ms=T + 2))
    assert (key.gateway_id, key.secret, key.changes) == ("home-2", S2, 3)


def test_a_new_secret_needs_an_unenroll_first(keys) -> None:
    keys.apply_message(*enrollment())
    with pytest.raises(EnrollmentRejected, match="rekey"):
        keys.apply_message(*enrollment(secret=S2))
    keys.apply_message(*enrollment(state="unenrolled", secret=None))
    assert keys.apply_message(*enrollment(secret=S2)).secret == S2


def test_unenrolling_an_unknown_device_is_recorded(keys) -> None:
    key = keys.apply_message(*enrollment(state="unenrolled", secret=None))
    assert key.state == "unenrolled" and key.secret is None


def _bad(**changes):
    topic, payload = enrollment()
    body = json.loads(payload)
    topic = changes.pop("topic", topic)
    for k, v in changes.items():
        if v is ...:
            body.pop(k)
        else:
            body[k] = v
    return topic, json.dumps(body).encode()


BAD = [
    (("rtm/v1/home-1/A1B2C3D4E5F6/enrollment", b"{}"), "bad_topic"),
    (("rtm/v1/home-1/a1b2c3d4e5f6/records", b"{}"), "bad_topic"),
    ((enrollment_topic("home-1", DEV), b"x" * 5000), "too_large"),
    ((enrollment_topic("home-1", DEV), b"\xff"), "not_json"),
    ((enrollment_topic("home-1", DEV), b"[" * 3000), "not_json"),
    ((enrollment_topic("home-1", DEV), b"42"), "not_object"),
    (_bad(schema="rtm.enrollment.v0"), "bad_schema"),
    (_bad(gateway="home-2"), "topic_mismatch"),
    (_bad(device="0a0b0c0d0e0f"), "topic_mismatch"),
    (_bad(state="paused"), "bad_field"),
    (_bad(at_ms=5), "bad_field"),
    (_bad(at_ms=True), "bad_field"),
    (_bad(firmware=7), "bad_field"),
    (_bad(secret=...), "bad_field"),
    (_bad(secret="***"), "bad_field"),
    (_bad(secret=base64.b64encode(b"short").decode()), "bad_field"),
    (_bad(secret=base64.b64encode(bytes(32)).decode()), "bad_field"),
    (_bad(state="unenrolled"), "bad_field"),  # an unenrollment carrying a secret
]


@pytest.mark.parametrize("message, reason", BAD, ids=[f"{r}{i}" for i, (_, r) in
                                                      enumerate(BAD)])
def test_malformed_messages_are_rejected_with_a_reason(keys, message, reason) -> None:
    with pytest.raises(EnrollmentRejected) as e:
        keys.apply_message(*message)
    assert e.value.reason == reason
    assert keys.get(DEV) is None


def test_keys_path_next_to_the_store() -> None:
    assert str(dk.keys_path_for("/var/lib/rtm/rtm.db")) == "/var/lib/rtm/rtm-device-keys.db"


def test_the_bridge_applies_and_counts_enrollments(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "rtm.db")
    bridge = Bridge(store, "127.0.0.1", 1)
    assert bridge.device_keys.path == str(tmp_path / "rtm-device-keys.db")
    assert bridge.handle(*enrollment()) is True
    assert bridge.handle(*enrollment(gateway="home-2", secret=S2)) is True
    assert bridge.handle(enrollment_topic("home-1", DEV), b"nonsense") is True
    snap = bridge.stats.snapshot()
    assert snap["enrollments"] == {"enrolled": 1}
    assert snap["enrollments_rejected"] == {"other_gateway": 1, "not_json": 1}
    assert snap["rejected"] == {} and bridge.device_keys.secret_of(DEV) == S1


def test_a_bridge_without_a_store_file_keeps_keys_in_memory() -> None:
    influx_like = SimpleNamespace()  # no file of its own; records are not used here
    bridge = Bridge(influx_like, "127.0.0.1", 1)  # type: ignore[arg-type]
    assert bridge.device_keys.path == ":memory:"
    assert bridge.handle(*enrollment()) and bridge.device_keys.secret_of(DEV) == S1
