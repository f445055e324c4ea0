"""The gateway's sync against virtual wearables through bleak's public API and the
simulator backend: commit before ack, no duplicates, malformed frames, log restarts."""

import asyncio
import json

import pytest

from firmware.core import protocol
from gateway.config import parse
from gateway.gateway import Gateway
from gateway.outbox import Outbox
from simulators.ble_backend.air import SimAir
from tests.sim_helpers import wearable_with_sets

DEV = "a1b2c3d4e5f6"


def make_gateway(tmp_path, air, world, batch=8, enrolled=(DEV,)):
    cfg = parse({"gateway_id": "home-1", "outbox": "o.db", "enrolled": list(enrolled),
                 "sync": {"batch_records": batch, "scan_timeout_s": 0.5,
                          "response_timeout_s": 1.0}}, tmp_path)
    outbox = Outbox(cfg.outbox)
    scanner, client = air.backends()
    return Gateway(cfg, outbox, scanner, client, clock_ms=lambda: world.now_ms), outbox


def outbox_seqs(outbox):
    seqs = []
    for m in outbox.pending(limit=1000):
        seqs.extend(range(m.first_seq, m.last_seq + 1))
    return seqs


def test_sync_commits_then_acknowledges_everything(tmp_path):
    w = wearable_with_sets(DEV, [5, 7])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    report = asyncio.run(gw.sync_pass())
    assert not report.failed and not report.missing
    assert report.synced[0].fetched == len(w.born) == 14
    assert outbox_seqs(outbox) == list(range(1, 15))
    assert w.log.acked_seq == 14 and w.clock.time_valid
    msg = outbox.pending()[0]
    assert msg.topic == f"rtm/v1/home-1/{DEV}/records"
    body = json.loads(msg.payload)
    assert body["device"] == DEV and len(body["records"]) == 8
    assert asyncio.run(gw.sync_pass()).synced[0].fetched == 0


def test_lost_ack_never_duplicates_records(tmp_path, monkeypatch):
    w = wearable_with_sets(DEV, [6])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world, batch=4)
    real = w.handler.on_write
    calls = {"acks": 0}

    def drop_second_ack(data):
        if data[0] == protocol.CMD_ACK:
            calls["acks"] += 1
            if calls["acks"] == 2:
                w.in_range = False  # link lost right after the gateway committed batch 2
                return []
        return real(data)

    monkeypatch.setattr(w.handler, "on_write", drop_second_ack)
    report = asyncio.run(gw.sync_pass())
    assert DEV in report.failed
    assert w.log.acked_seq == 4 and outbox.committed_seq(DEV) == 7
    w.in_range = True
    report = asyncio.run(gw.sync_pass())
    assert not report.failed
    assert outbox_seqs(outbox) == list(range(1, 8)), "each record exactly once"
    assert w.log.acked_seq == 7


def test_corrupt_notification_ends_the_session_and_loses_nothing(tmp_path, monkeypatch):
    w = wearable_with_sets(DEV, [5])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    real = w.handler.on_write

    def corrupt_fetch(data):
        frames = real(data)
        if data[0] == protocol.CMD_FETCH:
            f = bytearray(frames[0])
            f[20] ^= 0xFF
            frames[0] = bytes(f)
        return frames

    monkeypatch.setattr(w.handler, "on_write", corrupt_fetch)
    report = asyncio.run(gw.sync_pass())
    assert "CRC" in report.failed[DEV]
    assert outbox.depth() == 0 and w.log.acked_seq == 0
    monkeypatch.setattr(w.handler, "on_write", real)
    assert asyncio.run(gw.sync_pass()).synced[0].fetched == 6


def test_wearable_out_of_range_is_reported_missing(tmp_path):
    w = wearable_with_sets(DEV, [3])
    w.in_range = False
    air = SimAir()
    air.add(w)
    gw, _ = make_gateway(tmp_path, air, w.world)
    report = asyncio.run(gw.sync_pass())
    assert report.missing == [DEV] and not report.synced


def test_log_restart_is_detected(tmp_path):
    w = wearable_with_sets(DEV, [3])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    asyncio.run(gw.sync_pass())
    # The log is recreated (flash lost): a new log id, and numbering from a new base.
    fresh = wearable_with_sets(DEV, [2], world=w.world, log_id=0x5EED)
    air.remove(w.address)
    air.add(fresh)
    report = asyncio.run(gw.sync_pass())
    assert report.synced[0].fetched == 3 and fresh.log.acked_seq == 0x5EED + 3
    assert outbox.device_state(DEV) == (0x5EED, 0x5EED + 3)
    assert outbox_seqs(outbox)[-3:] == [0x5EED + 1, 0x5EED + 2, 0x5EED + 3]


def test_recreated_log_with_more_records_is_not_acknowledged_blindly(tmp_path):
    """The new log holds more records than the old one had committed: the gateway must
    not acknowledge them from the old log's count before fetching them."""
    w = wearable_with_sets(DEV, [2])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    asyncio.run(gw.sync_pass())
    fresh = wearable_with_sets(DEV, [4, 4], world=w.world, log_id=1)  # seqs 2..11
    air.remove(w.address)
    air.add(fresh)
    asyncio.run(gw.sync_pass())
    assert outbox_seqs(outbox) == [1, 2, 3, *list(range(2, 12))]


@pytest.mark.parametrize("mtu", [49, 64, 247, 517])
def test_any_mtu_gives_the_same_records(tmp_path, mtu):
    w = wearable_with_sets(DEV, [9])
    air = SimAir(mtu=mtu)
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world, batch=64)
    asyncio.run(gw.sync_pass())
    assert outbox_seqs(outbox) == list(range(1, 11))


def test_an_adapter_that_cannot_scan_is_reported_not_raised(tmp_path):
    from simulators.ble_backend.scanner import SimBleakScanner

    class BrokenAdapter(SimBleakScanner):
        async def start(self):
            raise FileNotFoundError(2, "No such file or directory")  # no D-Bus socket

    w = wearable_with_sets(DEV, [3])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    gw.link.scanner_backend = type("Broken", (BrokenAdapter,), {"air": air})
    report = asyncio.run(gw.sync_pass())
    assert "cannot scan" in report.scan_error and report.missing == [DEV]
    assert gw.errors == 1 and outbox.depth() == 0 and w.log.acked_seq == 0


def test_an_mtu_below_the_minimum_fails_cleanly_and_loses_nothing(tmp_path):
    w = wearable_with_sets(DEV, [3])
    air = SimAir(mtu=23)
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    report = asyncio.run(gw.sync_pass())
    assert "does not fit the ATT MTU of 23" in report.failed[DEV]
    assert outbox.depth() == 0 and w.log.acked_seq == 0
