"""A prescription from `rtm-clinic prescribe --publish` to a virtual wearable and back, on
the deployment's broker (TLS, passwords, the docs' ACL with its `user clinic` block):
the clinic publishes retained before the gateway is even connected; the real gateway
service (gateway/downlink.py, the sync over the simulated radio) delivers it at the next
sync and publishes the ack; the clinic hears the ack later from its persistent session
(`rtm-clinic program`), while no clinic tool was running when it came."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic import cli
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.device_keys import DeviceKeys, EnrollmentMessage
from firmware.core import exercises, program
from gateway.config import parse
from gateway.devices import DeviceRegistry
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from gateway.policy import SyncPolicy
from gateway.service import GatewayService
from gateway.uplink import Uplink
from simulators.ble_backend.air import SimAir
from simulators.wearable import SimClock
from tests.conftest import running
from tests.deployment import deployment_acl, deployment_broker
from tests.services import Mosquitto, TestPki
from tests.sim_helpers import T0_MS, wearable_with_sets

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

GATEWAY = "home-7"
APPLIES, NO_STORAGE = "a1b2c3d4e5f6", "0a0b0c0d0e0f"  # the second: firmware without programs
PASSWORDS = {GATEWAY: "gw-secret", "clinic": "clinic-secret"}
TZ = ZoneInfo("Asia/Kolkata")  # no DST: the offset at publishing is always +5:30
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=TZ)


@pytest.fixture
def broker(tmp_path: Path, pki: TestPki) -> Iterator[Mosquitto]:
    yield from running(deployment_broker(tmp_path / "mosquitto", pki, PASSWORDS,
                                         deployment_acl()))


def password_file(tmp_path: Path, user: str) -> Path:
    path = tmp_path / f"{user}.password"
    path.write_text(PASSWORDS[user] + "\n")
    return path


class Home:
    """One home: two wearables, the gateway service on the simulated radio, TLS uplink."""

    def __init__(self, tmp_path: Path, broker: Mosquitto, pki: TestPki) -> None:
        world = SimClock(T0_MS)
        self.air = SimAir()
        self.wearables = {d: wearable_with_sets(d, [2], world=world)
                          for d in (APPLIES, NO_STORAGE)}
        self.wearables[NO_STORAGE].handler.on_program = None
        for w in self.wearables.values():
            self.air.add(w)
        self.cfg = parse({"gateway_id": GATEWAY, "outbox": "gw.db",
                          "enrolled": sorted(self.wearables),
                          "mqtt": {"host": broker.host, "port": broker.port,
                                   "ca_file": str(pki.ca_cert), "username": GATEWAY,
                                   "password_file": str(password_file(tmp_path, GATEWAY)),
                                   "reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
                          "sync": {"stagger_s": 0, "scan_timeout_s": 0.3,
                                   "response_timeout_s": 1.0, "connect_deadline_s": 10.0}},
                         tmp_path)
        self.outbox = Outbox(self.cfg.outbox)
        self.devices = DeviceRegistry(self.cfg.outbox)
        scanner, client = self.air.backends()
        gateway = Gateway(self.cfg, self.outbox, scanner, client, clock_ms=lambda: world.now_ms,
                          adapter_control=self.air.adapter_control(), devices=self.devices)
        self.uplink = Uplink(self.cfg.mqtt, self.outbox, GATEWAY)
        self.service = GatewayService(self.cfg, gateway, self.uplink,
                                      SyncPolicy(self.cfg.sync, random.Random(3)),
                                      now=lambda: NOON)

    def run_until(self, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
        async def go() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(self.service.run(stop))
            deadline = time.monotonic() + timeout_s
            while not done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await task

        asyncio.run(go())

    def close(self) -> None:
        self.uplink.stop()
        self.devices.close()
        self.outbox.close()


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_a_prescription_reaches_the_wearable_and_its_ack_the_clinic(
        tmp_path: Path, broker: Mosquitto, pki: TestPki,
        capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "enrollments.csv"
    Registry([Enrollment("P-1", APPLIES, date(2026, 3, 1)),
              Enrollment("P-1", NO_STORAGE, date(2026, 3, 1))]).save(registry)
    # The bridge's key table knows where the wearables are enrolled.
    keys = DeviceKeys(tmp_path / "rtm-device-keys.db")
    for device in (APPLIES, NO_STORAGE):
        keys.apply(EnrollmentMessage(GATEWAY, device, "enrolled", bytes(range(1, 33)), "0.1.0",
                                     T0_MS))
    keys.close()
    clinic = ["--registry", str(registry), "--clinic-db", str(tmp_path / "clinic.db"),
              "--tz", TZ.key, "--broker", f"{broker.host}:{broker.port}",
              "--ca-file", str(pki.ca_cert), "--username", "clinic",
              "--password-file", str(password_file(tmp_path, "clinic")),
              "--device-keys", str(tmp_path / "rtm-device-keys.db"), "--ack-wait", "0.3"]

    # 1. The clinic prescribes and publishes; no gateway is connected yet.
    assert cli.main(["prescribe", "P-1", "--exercise", "squat", "--sets", "3", "--reps", "10",
                     "--days-per-week", "5", "--rom", "60-90", "--exercise", "heel_raise",
                     "--sets", "2", "--reps", "15", "--days-per-week", "3", "--rest", "20",
                     "--start", "2026-01-05", "--publish", *clinic]) == 0
    out = capsys.readouterr().out
    assert f"published prescription v1 to {APPLIES} at gateway {GATEWAY}" in out
    assert out.count("at the gateway, waiting for the wearable's next sync") == 2

    # 2. The gateway connects, gets the retained program, syncs the wearables (a waiting
    # program is a reason to sync at noon) and publishes their answers.
    home = Home(tmp_path, broker, pki)
    try:
        home.uplink.start()
        assert wait_until(lambda: all(home.devices.pending_program(d) is not None
                                      for d in home.wearables))
        version = home.devices.pending_program(APPLIES).version
        home.run_until(lambda: all(home.devices.program_state(d)[0] == version
                                   for d in home.wearables))
        assert home.devices.program_state(APPLIES) == (version, "applied")
        assert home.devices.program_state(NO_STORAGE) == (version, "rejected")
        # The acks are at the broker (the clinic's session queues them). The records wait
        # in the outbox: no bridge runs here, nobody subscribes to them ("no matching
        # subscribers"), so the broker would drop them.
        assert wait_until(lambda: home.uplink.pump() == 0 and not any(
            m.topic.endswith("/program/ack") for m in home.outbox.pending(limit=1000)))
        assert home.uplink.state.no_subscriber > 0 and home.outbox.depth() > 0
    finally:
        home.close()

    # The wearable holds exactly what it can use of the prescription.
    p = program.decode(home.wearables[APPLIES].program)
    assert p.utc_offset_min == 330
    assert [(exercises.name_of(p.exercise(i)), p.sets(i), p.reps(i), p.target_rom_cdeg(i),
             p.rest_s(i)) for i in range(p.count)] == [("squat", 3, 10, 6000, 30),
                                                        ("heel_raise", 2, 15, 0, 20)]
    assert home.wearables[NO_STORAGE].program is None

    # 3. Later, the clinic's session hands over the acks that came meanwhile.
    assert cli.main(["program", "P-1", *clinic]) == 0
    out = capsys.readouterr().out
    assert f"  {APPLIES}: prescription v1 as program version {version}: on the wearable " \
           f"since" in out
    assert f"  {NO_STORAGE}: prescription v1 as program version {version}: REJECTED at" in out
    assert "the wearable's firmware has no program storage" in out

    # 4. Sent again (after a DST change, say): under a newer version.
    assert cli.main(["program", "P-1", "--publish", *clinic]) == 0
    assert f"as program version {version + 1}" in capsys.readouterr().out


def test_a_refused_login_is_reported_not_retried(tmp_path: Path, broker: Mosquitto,
                                                 pki: TestPki,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "enrollments.csv"
    Registry([Enrollment("P-1", APPLIES, date(2026, 3, 1))]).save(registry)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    started = time.monotonic()
    code = cli.main(["prescribe", "P-1", "--registry", str(registry), "--clinic-db",
                     str(tmp_path / "clinic.db"), "--exercise", "lunge", "--sets", "2",
                     "--reps", "8", "--days-per-week", "2", "--publish",
                     "--broker", f"{broker.host}:{broker.port}", "--ca-file", str(pki.ca_cert),
                     "--username", "clinic", "--password-file", str(wrong),
                     "--gateway", f"{APPLIES}={GATEWAY}"])
    out, err = capsys.readouterr()
    assert code == 1 and "the broker refused the connection" in err, err
    assert "prescription version 1" in out  # kept: `rtm-clinic program --publish` sends it
    assert time.monotonic() - started < 5
