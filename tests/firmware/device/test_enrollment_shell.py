"""The device shell's part of enrollment and of the sync policy: LESC bonding configured on
the radio, the link's encryption handed to the protocol handler, the advertisement state in
the advertising packet, the secret kept in flash."""

from __future__ import annotations

import asyncio

import pytest

from firmware.core import advert, codec, protocol
from firmware.core.clock import DeviceClock
from firmware.core.protocol import ProtocolHandler
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.device.ble_peripheral import Peripheral
from tests.firmware.device import fake_aioble, mp_shim
from tests.firmware.device.fake_aioble import FakeAioble
from tests.firmware.device.test_main import Rig

DEVICE_ID = bytes.fromhex("a1b2c3d4e5f6")
SECRET = bytes(range(100, 132))


@pytest.fixture(autouse=True)
def shim(monkeypatch: pytest.MonkeyPatch) -> None:
    mp_shim.install(monkeypatch)


def make(radio: FakeAioble, state=(False, 0)):
    log = RecordLog(MemoryStorage(64 + 32 * 16))
    stored: list[bytes] = []
    handler = ProtocolHandler(log, DeviceClock(log.new_boot()), DEVICE_ID, lambda: 5000,
                              lambda: 77, on_secret=stored.append, on_forget=lambda: None)
    periph = Peripheral(handler, DEVICE_ID, lambda: 77, manufacturer="RTM project",
                        model="RTM-W1", firmware="0.1.0", aioble=radio,
                        bluetooth=fake_aioble.bluetooth, advert_state=lambda: state)
    return periph, handler, stored


def test_the_radio_asks_for_lesc_just_works_bonding() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.radio_on()
    assert {"bond": True, "le_secure": True, "mitm": False, "io": 3} in radio.configs
    assert periph.link_security is True


def test_without_pairing_support_the_link_state_is_unknown_and_provisioning_works() -> None:
    radio = FakeAioble(pairing=False)
    periph, handler, stored = make(radio)
    radio.gateway_writes(protocol.cmd_set_secret(SECRET))
    assert asyncio.run(periph.serve()) is True
    assert periph.link_security is False and handler.link_encrypted is None
    assert radio.notified == [b"\x86\x00"] and stored == [SECRET]


def test_an_unencrypted_link_is_refused_the_secret_an_encrypted_one_gets_it() -> None:
    radio = FakeAioble()
    periph, handler, stored = make(radio)
    radio.gateway_writes(protocol.cmd_set_secret(SECRET))
    asyncio.run(periph.serve())
    assert radio.notified == [b"\x86\x04"] and stored == []
    radio.connection.connected = True
    radio.connection.encrypted = True  # the central paired: aioble's encryption IRQ
    radio.gateway_writes(protocol.cmd_set_secret(SECRET))
    asyncio.run(periph.serve())
    assert radio.notified[-1] == b"\x86\x00" and stored == [SECRET]
    assert handler.link_encrypted is True


def test_forget_bonds_reloads_an_empty_bond_table(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ble_secrets.json").write_text("[]")
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.forget_bonds()
    periph.forget_bonds()  # nothing left to delete: still fine
    assert not (tmp_path / "ble_secrets.json").exists()
    assert radio.security.loads == 2


def test_the_advertisement_carries_the_state_and_fits_the_packet() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio, state=(True, 1234))
    assert asyncio.run(periph.serve(adv_timeout_ms=5_000)) is False
    (adv,) = radio.adverts
    assert adv["manufacturer"] == (0xFFFF, advert.encode(True, 1234))
    company, data = adv["manufacturer"]
    assert advert.decode({company: data}) == advert.AdvertState(True, 1234)


def test_slow_advertising_restarts_every_minute_with_fresh_state() -> None:
    radio = FakeAioble()
    states = iter([(False, 1), (False, 2), (True, 3), (True, 4)])
    periph, _, _ = make(radio)
    periph.advert_state = lambda: next(states)
    assert asyncio.run(periph.serve(adv_timeout_ms=150_000)) is False
    assert [(a["interval_us"], a["timeout_ms"]) for a in radio.adverts] == [
        (100_000, 30_000), (1_000_000, 60_000), (1_000_000, 60_000)]
    assert [a["manufacturer"][1][1:] for a in radio.adverts] == [b"\x00\x01\x00",
                                                                 b"\x00\x02\x00",
                                                                 b"\x01\x03\x00"]


def test_without_a_state_source_no_manufacturer_data() -> None:
    radio = FakeAioble()
    periph, _, _ = make(radio)
    periph.advert_state = None
    asyncio.run(periph.serve(adv_timeout_ms=1_000))
    assert radio.adverts[0]["manufacturer"] is None


# -- main.py --------------------------------------------------------------------------------

def test_the_secret_is_written_through_a_temporary_file_and_loaded_at_boot(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    rig = Rig(monkeypatch, tmp_path)
    monkeypatch.setattr(rig.main, "_SECRET_PATH", str(tmp_path / "rtm_secret.bin"))
    assert rig.main._load_secret() is None
    rig.app.secret_received(SECRET)
    assert (tmp_path / "rtm_secret.bin").read_bytes() == SECRET
    assert not (tmp_path / "rtm_secret.bin.tmp").exists()
    assert rig.main._load_secret() == SECRET
    (tmp_path / "rtm_secret.bin").write_bytes(SECRET[:5])  # torn by hand: not a secret
    assert rig.main._load_secret() is None


def test_the_advertised_state_is_charging_and_unacknowledged_records(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    rig = Rig(monkeypatch, tmp_path)
    for _ in range(3):
        rig.log.append(codec.encode_rep(rig.log.next_seq(), 0, 1, 1, 0, 1, 1, 1, 1, 1))
    rig.battery.is_charging = True
    assert rig.app.advert_state() == (True, 3)
    rig.log.acknowledge(2)
    rig.battery.is_charging = False
    assert rig.app.advert_state() == (False, 1)


def test_forget_drops_the_bonds(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    rig = Rig(monkeypatch, tmp_path)
    calls: list[str] = []
    rig.periph.forget_bonds = lambda: calls.append("forget")  # type: ignore[attr-defined]
    rig.app.forget_gateway()
    assert calls == ["forget"]
