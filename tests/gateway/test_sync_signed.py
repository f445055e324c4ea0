"""A wearable holding a secret signs every FETCH: the gateway carries the tag into the MQTT
message (`mac`, `log_id`), one message per FETCH, and cannot make or change it."""

import asyncio
import base64
import json

import pytest

from firmware.core import auth, protocol
from gateway import payload
from simulators.ble_backend.air import SimAir
from tests.gateway.test_sync import DEV, make_gateway
from tests.sim_helpers import wearable_with_sets

SECRET = bytes(range(1, 33))


def signed_wearable(sets, log_id=0):
    w = wearable_with_sets(DEV, sets, log_id=log_id)
    assert w.handler.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x00"]
    return w


def bodies(outbox):
    return [json.loads(m.payload) for m in outbox.pending(limit=1000)]


def test_every_batch_carries_the_wearables_tag_of_exactly_its_records(tmp_path):
    w = signed_wearable([5, 7], log_id=0x5EED)
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world, batch=4)
    assert asyncio.run(gw.sync_pass()).synced[0].fetched == len(w.born) == 14
    sent = bodies(outbox)
    assert [len(b["records"]) for b in sent] == [4, 4, 4, 2], "one message per FETCH"
    for b in sent:
        records = [base64.b64decode(r) for r in b["records"]]
        assert b["log_id"] == w.log.log_id
        assert base64.b64decode(b["mac"]) == auth.batch_tag(SECRET, bytes.fromhex(DEV),
                                                            b["log_id"], records)
    assert [raw for b in sent for raw in map(base64.b64decode, b["records"])] == [
        raw for raw, _ in w.born]


def test_the_secret_survives_a_reboot_and_keeps_signing(tmp_path):
    w = signed_wearable([3])
    w.reboot()
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    asyncio.run(gw.sync_pass())
    (b,) = bodies(outbox)
    assert "mac" in b


def test_a_wearable_without_a_secret_sends_no_mac(tmp_path):
    w = wearable_with_sets(DEV, [3])
    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world)
    asyncio.run(gw.sync_pass())
    (b,) = bodies(outbox)
    assert "mac" not in b and b["log_id"] == w.log.log_id


def test_payload_fields_and_a_mac_needs_its_log_id():
    body = json.loads(payload.build("home-1", DEV, [bytes(32)], 1, 2, 3, log_id=7,
                                    mac=b"\x01" * 32))
    assert body["log_id"] == 7 and base64.b64decode(body["mac"]) == b"\x01" * 32
    assert "mac" not in json.loads(payload.build("home-1", DEV, [bytes(32)], 1, 2, 3))
    with pytest.raises(ValueError, match="log id"):
        payload.build("home-1", DEV, [bytes(32)], 1, 2, 3, mac=b"\x01" * 32)
