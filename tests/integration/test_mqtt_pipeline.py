"""Gateway uplink -> a real mosquitto -> the bridge -> a store: delivery, persistence while
the bridge is away, and malformed traffic that must not cost good data."""

import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from firmware.core import codec
from gateway import payload
from gateway.config import MqttConfig
from gateway.outbox import Outbox
from gateway.uplink import Uplink

pytestmark = pytest.mark.integration
T0 = 1_790_000_000_000


def rep(seq):
    return bytes(codec.encode_rep(seq, codec.FLAG_TIME_VALID, 1, 1, T0 + seq * 1000, 1, seq,
                                  900, 4000, 80))


def fill_outbox(outbox, device, n_batches, per_batch=10):
    topic = payload.records_topic("home-it", device)
    for b in range(n_batches):
        seqs = range(b * per_batch + 1, (b + 1) * per_batch + 1)
        body = payload.build("home-it", device, [rep(s) for s in seqs], 1, 1000, T0)
        outbox.commit_batch(device, 0, seqs[0], seqs[-1], topic, body, T0)


def wait_until(predicate, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def start_bridge(store, broker, client_id=None):
    bridge = Bridge(store, broker.host, broker.port,
                    client_id=client_id or f"bridge-{uuid.uuid4().hex[:8]}")
    bridge.start()
    assert bridge.wait_connected(10)
    return bridge


def start_uplink(outbox, broker):
    uplink = Uplink(MqttConfig(broker.host, broker.port, f"gw-{uuid.uuid4().hex[:8]}"), outbox,
                    "home-it")
    uplink.start()
    assert uplink.wait_connected(10)
    return uplink


def new_device():
    return uuid.uuid4().hex[:12]


def test_outbox_reaches_the_store_and_empties(tmp_path, mosquitto_broker):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = start_bridge(store, mosquitto_broker)
    device = new_device()
    outbox = Outbox(tmp_path / "o.db")
    fill_outbox(outbox, device, 12)
    uplink = start_uplink(outbox, mosquitto_broker)
    assert uplink.drain(20) and outbox.depth() == 0
    assert wait_until(lambda: len(store.query([device], 0, 2**62)) == 120)
    bridge.stop()
    uplink.stop()
    assert [r.seq for r in store.query([device], 0, 2**62)] == list(range(1, 121))


def test_bridge_offline_gets_everything_after_restart(tmp_path, mosquitto_broker):
    """Persistent session, QoS 1: what was published while the bridge was away is
    delivered when it comes back with the same client id."""
    store = SQLiteStore(tmp_path / "s.db")
    client_id = f"bridge-{uuid.uuid4().hex[:8]}"
    bridge = start_bridge(store, mosquitto_broker, client_id)
    bridge.stop()
    device = new_device()
    outbox = Outbox(tmp_path / "o.db")
    fill_outbox(outbox, device, 5)
    uplink = start_uplink(outbox, mosquitto_broker)
    assert uplink.drain(20)
    uplink.stop()
    again = start_bridge(store, mosquitto_broker, client_id)
    assert wait_until(lambda: len(store.query([device], 0, 2**62)) == 50)
    again.stop()


def test_malformed_messages_are_counted_and_good_ones_stored(tmp_path, mosquitto_broker):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = start_bridge(store, mosquitto_broker)
    device = new_device()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"evil-{uuid.uuid4().hex[:6]}")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    topic = payload.records_topic("home-it", device)
    good = payload.build("home-it", device, [rep(1), rep(2)], 1, 1000, T0)
    infos = [
        pub.publish(topic, b"\x00\x01garbage", qos=1),
        pub.publish(topic, b'{"schema": "rtm.records.v1"}', qos=1),
        pub.publish(f"rtm/v1/home-it/{device}/records", good.replace(b"home-it", b"other"),
                    qos=1),
        pub.publish(topic, good, qos=1),
    ]
    for info in infos:
        info.wait_for_publish(10)
    assert wait_until(lambda: len(store.query([device], 0, 2**62)) == 2)
    assert wait_until(lambda: sum(bridge.stats.snapshot()["rejected"].values()) >= 3)
    rejected = bridge.stats.snapshot()["rejected"]
    assert rejected == {"not_json": 1, "topic_mismatch": 2}
    pub.loop_stop()
    pub.disconnect()
    bridge.stop()
