"""Signed records through a real mosquitto: a wearable enrolled (its secret at the bridge)
is synced by the gateway, the bridge verifies every batch and the store equals the
wearable's ground truth; a tampered copy published straight to the broker is rejected with
its reason and changes nothing."""

import asyncio
import base64
import json
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.stores.sqlite_store import SQLiteStore
from firmware.core import codec, protocol
from gateway.enrollment import build_registration, enrollment_topic
from simulators.ble_backend.air import SimAir
from tests.gateway.test_sync import make_gateway
from tests.integration.test_mqtt_pipeline import start_bridge, start_uplink, wait_until
from tests.sim_helpers import wearable_with_sets

# Security: a gateway cannot forge or change a record undetected.
pytestmark = [pytest.mark.integration, pytest.mark.security]
SECRET = bytes(range(7, 39))


def publish(broker, topic, payload):
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    pub.publish(topic, payload, qos=1).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()


def test_signed_sync_is_verified_and_a_tampered_copy_rejected(tmp_path, mosquitto_broker):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = start_bridge(store, mosquitto_broker)
    device = uuid.uuid4().hex[:12]
    w = wearable_with_sets(device, [5, 6])
    # Enrollment: the wearable takes the secret, the gateway announces it to the bridge.
    assert w.handler.on_write(protocol.cmd_set_secret(SECRET)) == [b"\x86\x00"]
    publish(mosquitto_broker, enrollment_topic("home-1", device),
            build_registration("home-1", device, "enrolled", SECRET, "0.1.0", w.world.now_ms))
    assert wait_until(lambda: bridge.device_keys.secret_of(device) == SECRET)

    air = SimAir()
    air.add(w)
    gw, outbox = make_gateway(tmp_path, air, w.world, batch=4, enrolled=(device,))
    assert asyncio.run(gw.sync_pass()).synced[0].fetched == len(w.born) == 13
    sent = [m.payload for m in outbox.pending(limit=100)]
    uplink = start_uplink(outbox, mosquitto_broker)
    try:
        assert uplink.drain(20)
        truth = {codec.seq_of(raw): codec.decode(raw) for raw, _ in w.born}
        assert wait_until(lambda: len(store.query([device], 0, 2**62)) == len(truth))
        stored = store.query([device], 0, 2**62)
        assert [r.seq for r in stored] == sorted(truth)
        for r in stored:
            want = truth[r.seq]
            assert r.kind == want["kind"] and r.set_no == want["set_no"]
            assert r.values == {k: want[k] for k in r.values}
        assert wait_until(lambda: bridge.stats.snapshot()["integrity"] == {"verified": 4})
        assert bridge.stats.snapshot()["rejected"] == {}

        # A gateway (or anyone on the broker) changes one record, re-sealing its CRC.
        body = json.loads(sent[0])
        fields = codec.decode(base64.b64decode(body["records"][0]))
        forged = codec.encode_rep(fields["seq"], codec.FLAG_TIME_VALID, fields["exercise"],
                                  fields["set_no"], fields["t_ms"], fields["boot"], 99, 900,
                                  12000, 80)
        body["records"][0] = base64.b64encode(forged).decode()
        before = store.query([device], 0, 2**62)
        publish(mosquitto_broker, f"rtm/v1/home-1/{device}/records", json.dumps(body).encode())
        assert wait_until(lambda: bridge.stats.snapshot()["rejected"] == {"bad_mac": 1})
        assert wait_until(bridge.idle)
        assert store.query([device], 0, 2**62) == before
    finally:
        uplink.stop()
        bridge.stop()
        store.close()
