"""Programs from the clinic: checked, counted, kept for the next sync; never a crash, never
a good waiting program replaced by a bad message."""

import base64
import json

import pytest

from firmware.core import program
from gateway import downlink
from gateway.devices import DeviceRegistry
from tests.gateway.message_outbox import MessageOutbox

GW = "home-1"
DEV = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/{GW}/{DEV}/program"
PROGRAM = program.encode([(1, 3, 10, 9000, 60)], utc_offset_min=60)


@pytest.fixture
def rig(tmp_path):
    devices = DeviceRegistry(tmp_path / "gw.db")
    outbox = MessageOutbox(tmp_path / "gw.db")
    dl = downlink.Downlink(GW, devices, lambda: 1_790_000_000_000,
                           is_enrolled=lambda dev: dev == DEV, outbox=outbox)
    return dl, devices, outbox


def msg(version=1, prog=PROGRAM, device=DEV, **extra) -> bytes:
    body = json.loads(downlink.build_program_message(device, version, prog))
    body.update(extra)
    return json.dumps(body).encode()


def test_topics() -> None:
    assert downlink.program_topic(GW, DEV) == TOPIC
    assert downlink.program_filter(GW) == "rtm/v1/home-1/+/program"
    assert downlink.ack_topic(GW, DEV) == TOPIC + "/ack"


def test_a_program_waits_for_the_next_sync(rig) -> None:
    dl, devices, outbox = rig
    dl.on_program_message(TOPIC, msg(7), True)
    pending = devices.pending_program(DEV)
    assert (pending.version, pending.program) == (7, PROGRAM)
    assert dl.outcomes == {"stored": 1} and not dl.rejected and outbox.queued == []


def test_a_redelivered_retained_program_already_applied_is_ignored(rig) -> None:
    dl, devices, _ = rig
    dl.on_program_message(TOPIC, msg(7), True)
    devices.program_done(DEV, 7, "applied", 5)
    dl.on_program_message(TOPIC, msg(7), True)
    dl.on_program_message(TOPIC, msg(6), True)
    assert devices.pending_program(DEV) is None
    assert dl.outcomes == {"stored": 1, "already_done": 2}


def test_an_empty_retained_message_clears_nothing(rig) -> None:
    dl, devices, _ = rig
    dl.on_program_message(TOPIC, msg(2), True)
    dl.on_program_message(TOPIC, b"", True)
    assert devices.pending_program(DEV).version == 2 and dl.outcomes["cleared"] == 1


BAD = [
    ("rtm/v1/home-1/A1B2C3D4E5F6/program", msg(), "bad_topic"),
    ("rtm/v1/home-2/a1b2c3d4e5f6/program", msg(), "other_gateway"),
    (TOPIC, b"x" * 5000, "too_large"),
    (TOPIC, b"\xff\xfe", "not_json"),
    (TOPIC, b"[" * 4000, "not_json"),
    (TOPIC, b"[1]", "not_object"),
    (TOPIC, msg(schema="rtm.program.v0"), "bad_schema"),
    (TOPIC, msg(device="0a0b0c0d0e0f"), "topic_mismatch"),
    (TOPIC, msg(version=0), "bad_field"),
    (TOPIC, msg(version=True), "bad_field"),
    (TOPIC, msg(version="3"), "bad_field"),
    (TOPIC, msg(program="not base64!"), "bad_program"),
    (TOPIC, msg(program=None), "bad_program"),
    (TOPIC, msg(prog=PROGRAM[:-1] + b"\x00"), "bad_program"),
    ("rtm/v1/home-1/0a0b0c0d0e0f/program", msg(device="0a0b0c0d0e0f"), "not_enrolled"),
]


@pytest.mark.parametrize("topic, payload, reason", BAD, ids=[b[2] + str(i)
                                                             for i, b in enumerate(BAD)])
def test_bad_messages_are_counted_and_keep_the_waiting_program(rig, topic, payload,
                                                               reason) -> None:
    dl, devices, _ = rig
    dl.on_program_message(TOPIC, msg(3), True)
    dl.on_program_message(topic, payload, False)
    assert dl.rejected == {reason: 1}
    assert devices.pending_program(DEV).version == 3


def test_a_malformed_program_is_acknowledged_as_rejected(rig) -> None:
    dl, _, outbox = rig
    dl.on_program_message(TOPIC, msg(4, program=base64.b64encode(b"\x01\x07").decode()), False)
    (ack,) = outbox.queued
    assert ack.topic == TOPIC + "/ack" and ack.device_id == DEV
    body = ack.json()
    assert body["schema"] == "rtm.program_ack.v1" and body["status"] == "rejected"
    assert body["version"] == 4 and "too short" in body["reason"]
    assert body["at_ms"] == 1_790_000_000_000 and body["device"] == DEV


def test_a_retained_unusable_program_is_rejected_once_across_reconnects(rig) -> None:
    dl, _, outbox = rig
    bad = msg(7, program=base64.b64encode(b"\x01\x07").decode())
    for _reconnect in range(5):  # the broker delivers the retained message at each one
        dl.on_program_message(TOPIC, bad, True)
    assert len(outbox.queued) == 1 and dl.rejected == {"bad_program": 5}
    dl.on_program_message(TOPIC, msg(8, program=base64.b64encode(b"\x01\x07").decode()), True)
    assert [q.json()["version"] for q in outbox.queued] == [7, 8]


def test_a_broken_registry_is_counted_not_raised(rig) -> None:
    dl, devices, _ = rig
    devices.close()
    dl.on_program_message(TOPIC, msg(1), True)
    assert dl.rejected == {"internal_error": 1}
