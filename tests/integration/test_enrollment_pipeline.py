"""An enrollment through a real mosquitto to the bridge's device-key table, after the
bridge subscribed: the secret arrives; a second gateway's claim is refused and counted."""

import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.stores.sqlite_store import SQLiteStore
from gateway.enrollment import build_registration, enrollment_topic
from tests.integration.test_mqtt_pipeline import start_bridge, wait_until

pytestmark = pytest.mark.integration
T0 = 1_790_000_000_000


def test_enrollment_reaches_the_key_table(tmp_path, mosquitto_broker):
    store = SQLiteStore(tmp_path / "s.db")
    bridge = start_bridge(store, mosquitto_broker)
    device = uuid.uuid4().hex[:12]
    secret = uuid.uuid4().bytes * 2
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{uuid.uuid4().hex[:6]}")
    pub.connect(mosquitto_broker.host, mosquitto_broker.port)
    pub.loop_start()
    for gateway, s in (("home-it", secret), ("home-other", bytes(range(1, 33)))):
        pub.publish(enrollment_topic(gateway, device),
                    build_registration(gateway, device, "enrolled", s, "0.1.0", T0),
                    qos=1).wait_for_publish(10)
    assert wait_until(lambda: bridge.stats.snapshot()["enrollments_rejected"])
    assert bridge.device_keys.secret_of(device) == secret
    assert bridge.stats.snapshot()["enrollments_rejected"] == {"other_gateway": 1}
    pub.loop_stop()
    pub.disconnect()
    bridge.stop()
