"""A wearable's state from a sync to the clinic's store, on the deployment's broker (TLS,
passwords, the docs' ACL): the real gateway syncs a virtual wearable over the simulated
radio and reports its state retained; the bridge, logged in as the deployment's bridge user,
stores it; a failed sync updates it; a bridge that subscribes later still gets it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud_bridge.broker_link import BrokerSecurity
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from gateway.config import parse
from gateway.devices import DeviceRegistry
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from gateway.uplink import Uplink
from simulators.ble_backend.air import SimAir
from tests.conftest import running
from tests.deployment import CLIENT_ID_PREFIX, bridge_acl, deployment_acl, deployment_broker
from tests.integration.test_mqtt_pipeline import wait_until
from tests.services import Mosquitto, TestPki
from tests.sim_helpers import wearable_with_sets

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

GATEWAY = "home-5"
DEVICE = "a1b2c3d4e5f6"
PASSWORDS = {GATEWAY: "gw-secret", "bridge": "bridge-secret", "bridge-2": "bridge-2-secret"}


@pytest.fixture
def broker(tmp_path: Path, pki: TestPki) -> Iterator[Mosquitto]:
    acl = deployment_acl() + bridge_acl("bridge-2")
    yield from running(deployment_broker(tmp_path / "mosquitto", pki, PASSWORDS, acl))


def password_file(tmp_path: Path, user: str) -> Path:
    path = tmp_path / f"{user}.password"
    path.write_text(PASSWORDS[user] + "\n")
    return path


@pytest.fixture
def start_bridge(broker: Mosquitto, pki: TestPki, tmp_path: Path
                 ) -> Iterator[Callable[[SQLiteStore, str], Bridge]]:
    started: list[Bridge] = []

    def start(store: SQLiteStore, user: str) -> Bridge:
        security = BrokerSecurity(ca_file=pki.ca_cert, username=user,
                                  password_file=password_file(tmp_path, user))
        bridge = Bridge(store, broker.host, broker.port, client_id=f"{CLIENT_ID_PREFIX}{user}",
                        broker_security=security)
        started.append(bridge)
        bridge.start()
        assert bridge.wait_connected(10)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


def test_a_sync_brings_the_wearables_state_to_the_store(
        tmp_path: Path, broker: Mosquitto, pki: TestPki,
        start_bridge: Callable[[SQLiteStore, str], Bridge]) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    bridge = start_bridge(store, "bridge")

    w = wearable_with_sets(DEVICE, [3, 2], log_id=0x5EED)
    w.battery_pct = 23
    air = SimAir()
    air.add(w)
    cfg = parse({"gateway_id": GATEWAY, "outbox": "gw.db", "enrolled": [DEVICE],
                 "mqtt": {"host": broker.host, "port": broker.port,
                          "ca_file": str(pki.ca_cert), "username": GATEWAY,
                          "password_file": str(password_file(tmp_path, GATEWAY)),
                          "reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
                 "sync": {"scan_timeout_s": 0.3, "response_timeout_s": 0.5,
                          "connect_deadline_s": 5.0}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    devices = DeviceRegistry(cfg.outbox)
    scanner, client = air.backends()
    gateway = Gateway(cfg, outbox, scanner, client, clock_ms=lambda: w.world.now_ms,
                      adapter_control=air.adapter_control(), devices=devices)
    uplink = Uplink(cfg.mqtt, outbox, GATEWAY)
    uplink.start()
    try:
        # 1. A sync: the records and then the state reach the store.
        assert not asyncio.run(gateway.sync_pass()).failed
        synced_at = w.world.now_ms
        assert uplink.drain(15)
        assert wait_until(lambda: DEVICE in store.device_states([DEVICE]))
        state = store.device_states([DEVICE])[DEVICE]
        assert (state.gateway_id, state.battery_pct, state.last_sync_ms,
                state.last_attempt_ms, state.consecutive_failures, state.log_used_pct,
                state.refused, state.firmware) == (
            GATEWAY, 23, synced_at, synced_at, 0, 0, 0, "sim")
        assert len(store.query([DEVICE], 0, 2**62)) == len(w.born)

        # 2. A failed attempt an hour later: the clinic sees it, and the last good sync.
        w.world.advance_to(synced_at + 3_600_000)
        air.faults.corrupt = 1.0
        assert DEVICE in asyncio.run(gateway.sync_pass()).failed
        assert uplink.drain(15)
        assert wait_until(
            lambda: store.device_states([DEVICE])[DEVICE].consecutive_failures == 1)
        state = store.device_states([DEVICE])[DEVICE]
        assert (state.last_sync_ms, state.last_attempt_ms, state.reported_ms,
                state.battery_pct) == (synced_at, w.world.now_ms, w.world.now_ms, 23)
        assert wait_until(bridge.idle)
        stats = bridge.stats.snapshot()
        assert stats["device_states_stored"] == 2 and stats["device_states_rejected"] == {}
        assert stats["rejected"] == {}
    finally:
        uplink.stop()
        devices.close()
        outbox.close()

    # 3. Retained: a bridge that subscribes only now (another instance's user, an empty
    # store) gets the wearable's latest state from the broker.
    late_store = SQLiteStore(tmp_path / "late.db")
    start_bridge(late_store, "bridge-2")
    assert wait_until(lambda: late_store.device_states(None) == store.device_states(None))
    late_store.close()
    store.close()


def test_the_bridge_user_gets_no_state_a_gateway_may_not_send(
        tmp_path: Path, broker: Mosquitto, pki: TestPki,
        start_bridge: Callable[[SQLiteStore, str], Bridge]) -> None:
    """A gateway's ACL covers its own states only: one published under another gateway's
    id is refused by the broker (MQTT v5 PUBACK 0x87), never reaches the store, and stays
    in the gateway's outbox; the gateway's own state is delivered meanwhile."""
    store = SQLiteStore(tmp_path / "store.db")
    bridge = start_bridge(store, "bridge")
    cfg = parse({"gateway_id": GATEWAY, "outbox": "gw.db",
                 "mqtt": {"host": broker.host, "port": broker.port,
                          "ca_file": str(pki.ca_cert), "username": GATEWAY,
                          "password_file": str(password_file(tmp_path, GATEWAY)),
                          "client_id": f"{CLIENT_ID_PREFIX}gw-{uuid.uuid4().hex[:6]}",
                          "reconnect_min_s": 0.05, "reconnect_max_s": 0.5}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    from tests.cloud_bridge.test_state_message import payload
    outbox.enqueue_latest(f"rtm/v1/home-6/{DEVICE}/state",
                          payload(gateway="home-6"), 1)  # not this gateway's topic
    outbox.enqueue_latest(f"rtm/v1/{GATEWAY}/{DEVICE}/state", payload(gateway=GATEWAY), 2)
    uplink = Uplink(cfg.mqtt, outbox, GATEWAY)
    uplink.start()
    try:
        assert wait_until(lambda: uplink.pump() == 0 and outbox.depth() == 1, 15)
        assert [m.topic for m in outbox.pending()] == [f"rtm/v1/home-6/{DEVICE}/state"]
        assert uplink.state.refused >= 1
        assert wait_until(lambda: DEVICE in store.device_states(None))
        assert wait_until(bridge.idle)
        assert store.device_states(None)[DEVICE].gateway_id == GATEWAY
        assert bridge.stats.snapshot()["device_states_stored"] == 1
    finally:
        uplink.stop()
        outbox.close()
        store.close()
