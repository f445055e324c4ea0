"""Enrolling and unenrolling a virtual wearable through bleak's API and the simulated air:
paired, provisioned with a fresh secret the gateway does not keep, registered for the
clinic; refused when it would let a gateway replace a wearable's key."""

import asyncio
import base64

import pytest
from bleak.exc import BleakError

from firmware.core import protocol
from gateway import enrollment
from gateway.config import parse
from gateway.devices import DeviceRegistry
from gateway.enrollment import EnrollmentError, enroll, unenroll
from simulators.ble_backend.air import SimAir
from simulators.ble_backend.client import SimBleakClient
from simulators.wearable import SimClock, VirtualWearable
from tests.gateway.message_outbox import MessageOutbox
from tests.sim_helpers import T0_MS

DEV = "a1b2c3d4e5f6"
SECRET = bytes(range(7, 39))


class Rig:
    def __init__(self, tmp_path, enrolled=()):
        self.world = SimClock(T0_MS)
        self.w = VirtualWearable(bytes.fromhex(DEV), self.world)
        self.air = SimAir()
        self.air.add(self.w)
        self.cfg = parse({"gateway_id": "home-1", "outbox": "gw.db", "enrolled": list(enrolled),
                          "sync": {"scan_timeout_s": 0.3, "response_timeout_s": 0.2}},
                         tmp_path)
        self.devices = DeviceRegistry(self.cfg.outbox)
        self.outbox = MessageOutbox(self.cfg.outbox)
        self.scanner, self.client = self.air.backends()

    def kw(self, **extra):
        return {"devices": self.devices, "outbox": self.outbox,
                "clock_ms": lambda: self.world.now_ms, "scanner_backend": self.scanner,
                "client_backend": self.client, **extra}

    def enroll(self, device_id=DEV, **extra):
        extra.setdefault("allow_plaintext_mqtt", True)
        extra.setdefault("token_bytes", lambda n: SECRET[:n])
        return asyncio.run(enroll(self.cfg, device_id, **self.kw(**extra)))

    def unenroll(self, device_id=DEV, **extra):
        return asyncio.run(unenroll(self.cfg, device_id, **self.kw(**extra)))


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


def test_enroll_pairs_provisions_registers_and_keeps_no_secret(rig, monkeypatch) -> None:
    paired = []

    async def pair(self, *args, **kwargs):
        paired.append(self.address)

    monkeypatch.setattr(SimBleakClient, "pair", pair)
    result = rig.enroll()
    assert paired == [rig.w.address]
    assert rig.w.secret == SECRET
    assert result.device_id == DEV and result.address == rig.w.address
    assert result.firmware == "sim" and result.enrolled_ms == T0_MS
    assert rig.devices.enrolled() == {DEV}
    assert rig.devices.device(DEV).firmware == "sim"
    (msg,) = rig.outbox.queued
    assert result.message_id == msg.id and not msg.retain and msg.device_id == DEV
    assert msg.topic == f"rtm/v1/home-1/{DEV}/enrollment"
    assert msg.json() == {"schema": "rtm.enrollment.v1", "gateway": "home-1", "device": DEV,
                          "state": "enrolled", "secret": base64.b64encode(SECRET).decode(),
                          "firmware": "sim", "at_ms": T0_MS}
    # The gateway's own state holds no trace of the secret (the outbox row goes at PUBACK).
    db = rig.cfg.outbox.read_bytes()
    assert SECRET not in db and base64.b64encode(SECRET) not in db
    assert SECRET not in repr(vars(result)).encode()


def test_the_real_secret_source_gives_distinct_32_byte_secrets(tmp_path) -> None:
    secrets_seen = []
    for i in range(2):
        (tmp_path / str(i)).mkdir()
        rig = Rig(tmp_path / str(i))
        result = asyncio.run(enroll(rig.cfg, DEV, **rig.kw(allow_plaintext_mqtt=True)))
        assert result.device_id == DEV
        secrets_seen.append(rig.w.secret)
    assert all(len(s) == 32 for s in secrets_seen) and secrets_seen[0] != secrets_seen[1]


def test_a_pairing_failure_sends_nothing(rig, monkeypatch) -> None:
    async def refuse(self, *args, **kwargs):
        raise BleakError("org.bluez.Error.AuthenticationFailed")

    monkeypatch.setattr(SimBleakClient, "pair", refuse)
    with pytest.raises(EnrollmentError, match=r"pairing .* failed .*nothing was sent"):
        rig.enroll()
    assert rig.w.secret is None and rig.outbox.queued == []


def test_plaintext_mqtt_is_refused_before_any_radio_work(rig) -> None:
    with pytest.raises(EnrollmentError, match="TLS"):
        rig.enroll(allow_plaintext_mqtt=False)
    assert rig.air.connections == 0 and rig.w.secret is None


def test_a_bad_device_id_is_refused(rig) -> None:
    with pytest.raises(EnrollmentError, match="12 lowercase hex"):
        rig.enroll("A1B2C3D4E5F6")


def test_an_absent_wearable_is_reported(rig) -> None:
    rig.w.in_range = False
    with pytest.raises(EnrollmentError, match="not found"):
        rig.enroll()
    assert rig.devices.enrolled() == set() and rig.outbox.queued == []


def test_a_provisioned_wearable_refuses_a_new_secret(rig) -> None:
    rig.w.secret = rig.w.handler.secret = bytes(range(50, 82))  # enrolled elsewhere before
    with pytest.raises(EnrollmentError, match="already holds one"):
        rig.enroll()
    assert rig.w.secret == bytes(range(50, 82))
    assert rig.devices.enrolled() == set() and rig.outbox.queued == []


def test_an_unencrypted_link_gets_no_secret(rig, monkeypatch) -> None:
    real = rig.w.handler.on_write

    def unencrypted(data):
        rig.w.handler.link_encrypted = False  # pairing failed: the stack says so
        return real(data)

    monkeypatch.setattr(rig.w.handler, "on_write", unencrypted)
    with pytest.raises(EnrollmentError, match="not encrypted"):
        rig.enroll()
    assert rig.w.secret is None and rig.outbox.queued == []


def test_enrolling_twice_here_is_refused(rig) -> None:
    rig.enroll()
    with pytest.raises(EnrollmentError, match="already enrolled here"):
        rig.enroll()


def test_a_link_lost_before_the_answer_says_what_to_do(rig, monkeypatch) -> None:
    real = rig.w.handler.on_write

    def lose(data):
        frames = real(data)
        return [] if data[0] == protocol.CMD_SET_SECRET else frames

    monkeypatch.setattr(rig.w.handler, "on_write", lose)
    with pytest.raises(EnrollmentError, match="factory-reset"):
        rig.enroll()
    assert rig.devices.enrolled() == set() and rig.outbox.queued == []


def test_a_full_outbox_after_provisioning_says_what_to_do(rig) -> None:
    class Full(Exception):
        pass

    rig.outbox.full_exc, rig.outbox.full_after = Full, 0
    with pytest.raises(EnrollmentError, match="could not be queued"):
        rig.enroll()
    assert rig.devices.enrolled() == set()


def test_unenroll_publishes_forgets_and_tells_the_wearable(rig) -> None:
    rig.enroll()
    rig.world.advance_to(T0_MS + 1000)
    result = rig.unenroll()
    assert result.was_enrolled and result.wearable_told and rig.w.forgotten == 1
    assert rig.devices.enrolled() == set()
    msg = rig.outbox.on("/enrollment")[-1]
    assert result.message_id == msg.id
    assert msg.json() == {"schema": "rtm.enrollment.v1", "gateway": "home-1", "device": DEV,
                          "state": "unenrolled", "firmware": None, "at_ms": T0_MS + 1000}
    assert rig.w.secret == SECRET  # only a factory reset removes it
    rig.w.factory_reset_secret()
    rig.world.advance_to(T0_MS + 2000)
    rig.enroll(token_bytes=lambda n: bytes(range(60, 60 + n)))
    assert rig.w.secret == bytes(range(60, 92))


def test_unenroll_out_of_range_still_unregisters(rig) -> None:
    rig.enroll()
    rig.w.in_range = False
    result = rig.unenroll()
    assert not result.wearable_told and "not in range" in result.detail
    assert rig.devices.enrolled() == set()
    assert rig.outbox.on("/enrollment")[-1].json()["state"] == "unenrolled"


def test_unenroll_without_the_radio_and_of_an_unknown_device(rig) -> None:
    result = rig.unenroll(reach_wearable=False)
    assert not result.was_enrolled and not result.wearable_told
    assert result.detail == "not attempted" and rig.air.connections == 0


def test_registration_payloads() -> None:
    body = enrollment.build_registration("gw", DEV, "unenrolled", None, None, 5)
    assert b"secret" not in body
