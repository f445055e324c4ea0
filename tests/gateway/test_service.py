"""The unattended service (what `rtm-gateway run` runs) on the simulated radio and a real
mosquitto: policy-paced syncs, the program downlink, the heartbeat behind `status`."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware.core import codec, program
from gateway.config import parse
from gateway.devices import DeviceRegistry
from gateway.downlink import build_program_message, program_topic
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from gateway.policy import SyncPolicy
from gateway.service import GatewayService, heartbeat_path, local_zone
from gateway.status import gather_status, render_status, running_service
from gateway.uplink import Uplink
from simulators.ble_backend.air import SimAir
from simulators.wearable import SimClock
from tests.sim_helpers import T0_MS, wearable_with_sets

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Europe/Berlin")
NIGHT = datetime(2026, 3, 4, 2, 0, tzinfo=TZ)
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=TZ)
DEVICES = ["a1b2c3d4e5f6", "0a0b0c0d0e0f", "112233445566"]
PROGRAM = program.encode([(1, 2, 8, 0, 30)])


class Collector:
    """A clinic-side subscriber: every message under the gateway's prefix, in order."""

    def __init__(self, host: str, port: int, gateway_id: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"clinic-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(f"rtm/v1/{gateway_id}/#", qos=1)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def on(self, suffix: str) -> list[dict]:
        with self.lock:
            return [json.loads(p) for t, p in self.messages if t.endswith(suffix) and p]

    def records(self) -> dict[str, set[bytes]]:
        out: dict[str, set[bytes]] = {}
        for body in self.on("/records"):
            for b64 in body["records"]:
                raw = base64.b64decode(b64)
                codec.check(raw)
                out.setdefault(body["device"], set()).add(raw)
        return out

    def publish_retained(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Home:
    def __init__(self, tmp_path, broker, now: datetime, sets: list[int]) -> None:
        self.gateway_id = f"home-{uuid.uuid4().hex[:8]}"
        self.world = SimClock(T0_MS)
        self.air = SimAir()
        self.wearables = [wearable_with_sets(d, sets, world=self.world) for d in DEVICES]
        for w in self.wearables:
            self.air.add(w)
        self.cfg = parse({"gateway_id": self.gateway_id, "outbox": "gw.db",
                          "enrolled": DEVICES[:2],
                          "mqtt": {"host": broker.host, "port": broker.port},
                          "sync": {"stagger_s": 0, "scan_timeout_s": 0.3,
                                   "response_timeout_s": 1.0, "connect_deadline_s": 10.0,
                                   "opportunistic_records": 1000}}, tmp_path)
        self.outbox = Outbox(self.cfg.outbox)
        self.devices = DeviceRegistry(self.cfg.outbox)
        self.devices.enroll(DEVICES[2], self.wearables[2].address, T0_MS)  # via `enroll`
        scanner, client = self.air.backends()
        self.gateway = Gateway(self.cfg, self.outbox, scanner, client,
                               clock_ms=lambda: self.world.now_ms,
                               adapter_control=self.air.adapter_control(),
                               devices=self.devices)
        self.uplink = Uplink(self.cfg.mqtt, self.outbox, self.gateway_id)
        self.now = now
        self.service = GatewayService(self.cfg, self.gateway, self.uplink,
                                      SyncPolicy(self.cfg.sync, random.Random(3)),
                                      now=lambda: self.now)
        self.clinic = Collector(broker.host, broker.port, self.gateway_id)

    def run_until(self, done, timeout_s: float = 20.0) -> None:
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
        self.clinic.close()
        self.devices.close()
        self.outbox.close()


@pytest.fixture
def home_at(tmp_path, mosquitto_broker):
    homes = []

    def make(now: datetime, sets=(3, 2)) -> Home:
        homes.append(Home(tmp_path, mosquitto_broker, now, list(sets)))
        return homes[-1]

    yield make
    for h in homes:
        h.close()


def test_a_night_syncs_every_wearable_and_delivers_a_program_exactly(home_at):
    home = home_at(NIGHT)
    home.uplink.start()
    assert home.uplink.wait_connected(10)
    target = DEVICES[2]
    home.clinic.publish_retained(program_topic(home.gateway_id, target),
                                 build_program_message(target, 4, PROGRAM))
    deadline = time.monotonic() + 10
    while home.devices.pending_program(target) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    born = {w.id_hex: {raw for raw, _ in w.born} for w in home.wearables}

    seen = {}

    def done() -> bool:
        if home.clinic.records() != born or not home.clinic.on("/program/ack"):
            return False
        home.service.write_heartbeat()  # what `status` reads while the service runs
        seen["status"] = gather_status(home.cfg, home.outbox, home.devices)
        return True

    home.run_until(done)

    # The store side got exactly what the wearables made: nothing lost, nothing extra.
    assert home.clinic.records() == born
    assert all(w.log.acked_seq == w.log.last_seq for w in home.wearables)
    assert home.wearables[2].program == PROGRAM
    (ack,) = home.clinic.on("/program/ack")
    assert (ack["device"], ack["version"], ack["status"]) == (target, 4, "applied")
    assert home.service.syncs == 3 and home.service.sync_failures == 0
    status = seen["status"]
    assert status["service"] is not None and status["service"]["broker"]["connected"]
    assert {w["device"] for w in status["wearables"]} == set(DEVICES)
    assert all(w["unsynced_estimate"] == 0 for w in status["wearables"])
    assert all(w["firmware"] == "sim" for w in status["wearables"])  # read at every sync
    text = render_status(status)
    assert "service: running" in text and "battery 90%" in text


def test_at_noon_only_a_wearable_that_asks_is_synced(home_at):
    home = home_at(NOON)
    home.uplink.start()
    charging = home.wearables[1]
    charging.charging = True  # on its charger: in reach and not worn
    home.run_until(lambda: charging.log.acked_seq == charging.log.last_seq, timeout_s=10)
    assert charging.log.acked_seq == charging.log.last_seq
    others = [w for w in home.wearables if w is not charging]
    assert all(w.log.acked_seq == 0 for w in others)  # not asked: left for the night
    assert home.service.syncs == 1


def test_a_failing_wearable_backs_off_and_the_others_are_served(home_at):
    home = home_at(NIGHT)
    home.uplink.start()
    broken = home.wearables[0]
    broken.handler.on_write = lambda data: []  # connects, never answers
    ok = home.wearables[1:]
    home.run_until(lambda: all(w.log.acked_seq == w.log.last_seq for w in ok)
                   and home.service.sync_failures >= 1)
    assert all(w.log.acked_seq == w.log.last_seq for w in ok)
    assert broken.log.acked_seq == 0 and broken.log.last_seq > 0  # kept on the wearable
    assert home.service.policy.failures(broken.id_hex) == 1  # backing off, not hammering
    status = home.devices.status(broken.id_hex)
    assert status.consecutive_failures == 1 and "no answer" in status.last_error


def test_a_stopped_or_silent_service_is_reported_not_running(home_at):
    home = home_at(NOON)
    home.uplink.start()
    home.run_until(lambda: True, timeout_s=0)
    status = gather_status(home.cfg, home.outbox, home.devices)
    assert status["service"] is None  # stopped cleanly: its last heartbeat says so
    assert "not running" in render_status(status)
    path = heartbeat_path(home.cfg)
    beat = json.loads(path.read_text())
    beat["running"] = True  # as a service killed with -9 leaves it
    path.write_text(json.dumps(beat))
    assert running_service(home.cfg, beat["written_ms"] + 29_000) is not None
    assert running_service(home.cfg, beat["written_ms"] + 31_000) is None  # 3 beats missed


def test_publishing_and_the_heartbeat_go_on_during_a_long_sync(home_at):
    home = home_at(NIGHT, sets=(8, 8))
    home.air.mtu = 49  # one record per notification ...
    home.air.faults.delay_s = (0.15, 0.15)  # ... and 150 ms each: a sync of seconds
    home.service.heartbeat_every_s = 0.2
    home.uplink.start()
    home.outbox.enqueue(f"rtm/v1/{home.gateway_id}/x/note", b"{}", 1)
    beats, published = [], []

    def during() -> bool:
        if home.air.open_links:
            beats.append(json.loads(heartbeat_path(home.cfg).read_text())["written_ms"])
            published.append(home.uplink.state.published)
        return home.service.syncs == 3

    home.run_until(during, timeout_s=30)
    assert home.service.syncs == 3
    assert len(set(beats)) >= 3, "the heartbeat was refreshed while wearables were connected"
    assert published and max(published) >= 1, "the outbox was published during the syncs"


def test_a_requested_pass_syncs_every_wearable_in_range_whatever_the_policy(home_at):
    home = home_at(NOON)
    home.uplink.start()
    home.service.request_pass()
    home.run_until(lambda: home.service.requested_pass is not None)
    done = home.service.requested_pass
    assert sorted(done["synced"]) == sorted(DEVICES) and not done["failed"]
    assert all(w.log.acked_seq == w.log.last_seq for w in home.wearables)


def test_the_service_keeps_the_systems_dst_rules(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    zone = local_zone()
    summer, winter = datetime(2026, 7, 1, 2, 0), datetime(2026, 12, 1, 2, 0)
    assert zone.utcoffset(summer).total_seconds() == 7200
    assert zone.utcoffset(winter).total_seconds() == 3600
