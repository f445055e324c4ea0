"""The simulated air over a socket (simulators/ble_backend/remote.py): the gateway syncs
wearables served from another thread exactly as it does in-process, faults included, and a
closed air is out of reach."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import bleak_retry_connector
import pytest

from gateway.config import parse
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from simulators.ble_backend.air import SimAir
from simulators.ble_backend.faults import FaultPlan
from simulators.ble_backend.remote import AirServer, remote_backends
from simulators.wearable import SimClock, VirtualWearable
from tests.sim_helpers import T0_MS, wearable_with_sets

DEVICES = ("a1b2c3d4e5f6", "0a0b0c0d0e0f")


@pytest.fixture(autouse=True)
def quick_connect_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BLEAK_OUT_OF_SLOTS_BACKOFF_TIME", "BLEAK_DBUS_BACKOFF_TIME",
                 "BLEAK_TRANSIENT_BACKOFF_TIME", "BLEAK_TRANSIENT_MEDIUM_BACKOFF_TIME",
                 "BLEAK_TRANSIENT_LONG_BACKOFF_TIME", "BLEAK_BACKOFF_TIME"):
        monkeypatch.setattr(bleak_retry_connector, name, 0.001)


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[AirServer, list[VirtualWearable],
                                                            SimClock]]:
    plan = getattr(request, "param", None) or FaultPlan()
    world = SimClock(T0_MS)
    ws = [wearable_with_sets(dev, [5, 6, 4], world=world) for dev in DEVICES]
    air = SimAir(faults=plan)
    for w in ws:
        air.add(w)
    server = AirServer(air)
    server.start()
    try:
        yield server, ws, world
    finally:
        server.stop()


def remote_gateway(tmp_path: Path, server: AirServer, world: SimClock) -> tuple[Gateway, Outbox]:
    cfg = parse({"gateway_id": "home-1", "outbox": str(tmp_path / "outbox.db"),
                 "enrolled": list(DEVICES),
                 "sync": {"batch_records": 4, "scan_timeout_s": 1.0,
                          "response_timeout_s": 1.0, "connect_deadline_s": 5.0}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    scanner, client = remote_backends(server.host, server.port)
    return Gateway(cfg, outbox, scanner, client, clock_ms=lambda: world.now_ms), outbox


def committed(outbox: Outbox) -> dict[str, int]:
    return {dev: (outbox.device_state(dev) or (0, 0))[1] for dev in DEVICES}


def test_a_pass_over_the_socket_fetches_and_acknowledges_everything(tmp_path, served):
    server, ws, world = served
    gw, outbox = remote_gateway(tmp_path, server, world)
    report = asyncio.run(gw.sync_pass())
    assert sorted(r.device_id for r in report.synced) == sorted(DEVICES), report
    assert all(w.log.acked_seq == w.log.last_seq > 0 for w in ws)
    assert committed(outbox) == {w.id_hex: w.log.last_seq for w in ws}
    assert server.links_served >= 2


@pytest.mark.parametrize("served", [FaultPlan(seed=3, disconnect=0.3)], indirect=True)
def test_dropped_links_lose_nothing_and_the_next_passes_finish(tmp_path, served):
    server, ws, world = served
    gw, outbox = remote_gateway(tmp_path, server, world)
    for _ in range(30):
        asyncio.run(gw.sync_pass())
        if all(w.log.acked_seq == w.log.last_seq for w in ws):
            break
    assert server.air.faults.counts["disconnect"] > 0
    assert committed(outbox) == {w.id_hex: w.log.last_seq for w in ws}


def test_a_closed_air_is_out_of_reach_until_opened(tmp_path, served):
    server, ws, world = served
    gw, _ = remote_gateway(tmp_path, server, world)
    server.close()
    report = asyncio.run(gw.sync_pass())
    assert report.synced == [] and sorted(report.missing) == sorted(DEVICES)
    assert all(w.log.acked_seq == 0 for w in ws)
    server.open()
    report = asyncio.run(gw.sync_pass())
    assert len(report.synced) == len(DEVICES)
