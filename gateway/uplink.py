"""Publishing the outbox to the MQTT broker with paho-mqtt (QoS 1, persistent session).

An outbox row is deleted only once paho reports the broker's PUBACK for it. Messages go
out in outbox order with a bounded number in flight; anything not acknowledged is
published again after a reconnect or a restart (the bridge stores idempotently).
"""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import MqttConfig
from gateway.outbox import Outbox

log = logging.getLogger(__name__)


class Uplink:
    def __init__(self, config: MqttConfig, outbox: Outbox, max_in_flight: int = 20) -> None:
        self.outbox = outbox
        self.config = config
        self.max_in_flight = max_in_flight
        self._in_flight: dict[int, mqtt.MQTTMessageInfo] = {}
        self._last_id = 0
        self._connected = threading.Event()
        self._stopping = False
        self.published = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(max_in_flight)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        log.info("connected to broker %s:%d", self.config.host, self.config.port)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        if not self._stopping:
            log.warning("disconnected from broker: %s", reason_code)

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def pump(self) -> int:
        """Retire acknowledged messages and publish more; returns how many remain."""
        for row_id, info in list(self._in_flight.items()):
            if info.is_published():
                self.outbox.delete(row_id)
                del self._in_flight[row_id]
                self.published += 1
        if not self._connected.is_set():
            return self.outbox.depth()
        room = self.max_in_flight - len(self._in_flight)
        if room > 0:
            for msg in self.outbox.pending(limit=room, after_id=self._last_id):
                info = self.client.publish(msg.topic, msg.payload, qos=1)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    break  # not queued (e.g. paho's queue is full): try again next pump
                # NO_CONN: paho keeps a QoS 1 message and sends it after reconnecting.
                self._in_flight[msg.id] = info
                self._last_id = msg.id
        return self.outbox.depth()

    def drain(self, timeout_s: float) -> bool:
        """Publish until the outbox is empty; False if `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pump() == 0:
                return True
            time.sleep(0.01)
        return self.pump() == 0
