"""Publishing the outbox to the MQTT broker with paho-mqtt 2.x (QoS 1, persistent session).

Session: MQTT 3.1.1 with `clean_session=False` and a fixed client id. The outbox, not the
broker session, is what keeps the gateway's messages; the session keeps the gateway's
subscriptions (its wearables' program topics) and what the broker queued for it while it
was away. 3.1.1 is what the bridge speaks too, and mosquitto bounds abandoned sessions with
`persistent_client_expiration`, which is what v5's session expiry would give.

Status: `rtm/v1/<gateway_id>/status`, retained, QoS 1. The last will ("offline") is set
before connecting; the birth ("online") is published at every (re)connect, because a will
the broker fired in between has overwritten the retained status; a clean stop publishes
"offline" before disconnecting.

Order: outbox order is delivery order (first arrivals at the broker), across reconnects and
restarts. An outbox row is deleted only once paho reports the broker's PUBACK for it.
- Within a connection, TCP keeps the order of what paho writes.
- paho keeps every QoS 1 message it accepted (also with NO_CONN) until its PUBACK and, after
  a reconnect, sends them again in the order they were published - but only after calling
  on_connect, and anything published from then on would overtake them. So on_connect takes
  a barrier: the messages in flight at that moment; `pump` publishes nothing new until all
  of them are acknowledged. The check of `connected` and the publish happen under the lock
  that on_connect and on_disconnect take, so no publish slips in between.
- After a restart nothing is in flight and the cursor (`_last_id`) starts at 0: the outbox
  is sent again from its oldest row. Duplicates are possible (QoS 1); the bridge stores
  idempotently.
An Uplink is started once and stopped once.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.clock import wall_clock_ms
from gateway.config import MqttConfig
from gateway.outbox import Outbox

log = logging.getLogger(__name__)

STATUS_SCHEMA = "rtm.status.v1"
STOP_PUBLISH_TIMEOUT_S = 5.0

MessageHandler = Callable[[str, bytes, bool], None]


def status_topic(gateway_id: str) -> str:
    return f"rtm/v1/{gateway_id}/status"


def status_payload(gateway_id: str, state: str, since_ms: int) -> bytes:
    return json.dumps({"schema": STATUS_SCHEMA, "gateway": gateway_id, "state": state,
                       "since_ms": since_ms}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class UplinkState:
    connected: bool
    since_ms: int | None  # wall clock of the last connect or disconnect; None: neither yet
    last_error: str | None  # the last connection failure or refusal, kept after recovery
    published: int  # outbox messages acknowledged by the broker (and deleted)
    reconnects: int  # successful connections after the first one
    connect_failures: int  # attempts that failed (TLS, refused, unreachable)
    handler_errors: int  # exceptions raised by subscription handlers


def _read_password(config: MqttConfig) -> str | None:
    if config.password_file is None:
        return None
    return config.password_file.read_text().strip()


class Uplink:
    def __init__(self, config: MqttConfig, outbox: Outbox, gateway_id: str | None = None,
                 max_in_flight: int = 20) -> None:
        self.outbox = outbox
        self.config = config
        self.gateway_id = gateway_id  # None: no status topic (no birth, no will)
        self.max_in_flight = max_in_flight
        self._lock = threading.Lock()  # connected flag, barrier, publishing, subscriptions
        self._in_flight: dict[int, int] = {}  # paho's message id -> outbox row id
        self._barrier: set[int] = set()  # message ids to be acknowledged before new ones go
        # Filled by paho's thread while it holds its own message lock: a deque, whose append
        # is thread-safe, rather than our lock (which pump() holds while calling into paho).
        self._acknowledged: deque[int] = deque()
        self._last_id = 0
        self._connected = threading.Event()
        self._stopping = False
        self._subscriptions: dict[str, tuple[MessageHandler, int]] = {}
        self._since_ms: int | None = None
        self._connect_started_ms = 0
        self._last_error: str | None = None
        self._connections = 0
        self._connect_failures = 0
        self._handler_errors = 0
        self.published = 0
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(self.max_in_flight)
        client.reconnect_delay_set(min_delay=self.config.reconnect_min_s,  # type: ignore[arg-type]
                                   max_delay=self.config.reconnect_max_s)  # type: ignore[arg-type]
        if self.config.tls:
            client.tls_set(ca_certs=str(self.config.ca_file),
                           certfile=_optional_str(self.config.cert_file),
                           keyfile=_optional_str(self.config.key_file),
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
            client.tls_insecure_set(False)  # the broker's name must match its certificate
        if self.config.username is not None:
            client.username_pw_set(self.config.username, _read_password(self.config))
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._dispatch
        client.on_publish = self._on_publish
        return client

    # --- paho's thread -------------------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        self._connect_started_ms = wall_clock_ms()
        if self.gateway_id is not None:
            # The broker publishes the will at some unknown later moment; since_ms in it is
            # the start of the connection that was lost.
            client.will_set(status_topic(self.gateway_id),
                            status_payload(self.gateway_id, "offline",
                                           self._connect_started_ms), qos=1, retain=True)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason_code: mqtt.ReasonCode, properties: object) -> None:
        if reason_code.is_failure:
            self._connect_failures += 1
            self._last_error = f"broker refused the connection: {reason_code}"
            log.error("%s (%s:%d, user %r)", self._last_error, self.config.host,
                      self.config.port, self.config.username)
            return
        with self._lock:
            self._barrier = set(self._in_flight)
            self._connections += 1
            self._since_ms = wall_clock_ms()
            self._connected.set()
            for topic_filter, (_handler, qos) in self._subscriptions.items():
                client.subscribe(topic_filter, qos)
            if self.gateway_id is not None:  # under the lock: the birth goes before records
                client.publish(status_topic(self.gateway_id),
                               status_payload(self.gateway_id, "online", self._since_ms),
                               qos=1, retain=True)
        log.info("connected to broker %s:%d (session present: %s, %d messages to resend)",
                 self.config.host, self.config.port, flags.session_present, len(self._barrier))

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError`: the exception is the one in hand.
        error = sys.exception()
        self._connect_failures += 1
        self._last_error = (f"cannot connect: {type(error).__name__}: {error}" if error
                            else "cannot connect")
        log.error("%s (%s:%d); retrying with back-off", self._last_error, self.config.host,
                  self.config.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: object,
                       flags: mqtt.DisconnectFlags, reason_code: mqtt.ReasonCode,
                       properties: object) -> None:
        if self._stopping:
            # stop() may have paho write DISCONNECT while holding its message lock; taking
            # ours here could then deadlock with a pump() waiting for paho's lock.
            was_connected = self._mark_disconnected()
        else:
            with self._lock:  # no pump() publish between this and the next on_connect
                was_connected = self._mark_disconnected()
        if not self._stopping and was_connected:
            log.warning("disconnected from broker: %s", reason_code)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int,
                    reason_code: mqtt.ReasonCode, properties: object) -> None:
        # Not MQTTMessageInfo.is_published(): it raises for ever for a message first
        # accepted with NO_CONN, even after paho resent it and got its PUBACK.
        self._acknowledged.append(mid)

    def _mark_disconnected(self) -> bool:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            self._since_ms = wall_clock_ms()
        return was_connected

    def _dispatch(self, client: mqtt.Client, userdata: object,
                  message: mqtt.MQTTMessage) -> None:
        # _subscriptions is replaced, never changed in place: reading it needs no lock.
        matches = [h for f, (h, _q) in self._subscriptions.items()
                   if mqtt.topic_matches_sub(f, message.topic)]
        for handler in matches:
            try:
                handler(message.topic, bytes(message.payload), bool(message.retain))
            except Exception:
                # A handler's bug must not stop paho's thread (and with it the uplink).
                self._handler_errors += 1
                log.exception("handler for %s failed (%d handler errors so far)",
                              message.topic, self._handler_errors)

    # --- the caller's thread -------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        """Publish the retained "offline" status (if connected), then disconnect."""
        self._stopping = True
        if self.gateway_id is not None and self._connected.is_set():
            info = self.client.publish(status_topic(self.gateway_id),
                                       status_payload(self.gateway_id, "offline",
                                                      wall_clock_ms()), qos=1, retain=True)
            try:
                info.wait_for_publish(STOP_PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as e:
                log.warning("could not publish the offline status: %s", e)
        self.client.disconnect()
        self.client.loop_stop()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Call handler(topic, payload, retained) on paho's thread for each message matching
        topic_filter; the subscription is made again at every reconnect."""
        with self._lock:
            self._subscriptions = {**self._subscriptions, topic_filter: (handler, qos)}
            if self._connected.is_set():
                self.client.subscribe(topic_filter, qos)

    @property
    def state(self) -> UplinkState:
        return UplinkState(self._connected.is_set(), self._since_ms, self._last_error,
                           self.published, max(self._connections - 1, 0),
                           self._connect_failures, self._handler_errors)

    def pump(self) -> int:
        """Retire acknowledged messages and publish more; returns how many are in flight.
        Cheap when there is nothing to do: the service calls it twice a second."""
        self._retire_acknowledged()
        with self._lock:
            if self._connected.is_set() and self._barrier_passed():
                self._publish_more()
            return len(self._in_flight)

    def _retire_acknowledged(self) -> None:
        mids: list[int] = []
        while self._acknowledged:
            mids.append(self._acknowledged.popleft())
        rows = {mid: self._in_flight[mid] for mid in mids if mid in self._in_flight}
        try:
            self.outbox.delete(*rows.values())  # status messages are no outbox rows
        except Exception:
            self._acknowledged.extendleft(reversed(mids))  # retire them next time
            raise
        with self._lock:
            for mid in rows:
                del self._in_flight[mid]
        self.published += len(rows)

    def _barrier_passed(self) -> bool:
        self._barrier &= self._in_flight.keys()
        return not self._barrier

    def _publish_more(self) -> None:
        room = self.max_in_flight - len(self._in_flight)
        if room <= 0:
            return
        for msg in self.outbox.pending(limit=room, after_id=self._last_id):
            info = self.client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break  # not accepted (e.g. paho's queue is full): this one again next pump
            # NO_CONN: paho keeps the message and sends it, in order, after reconnecting.
            self._in_flight[info.mid] = msg.id
            self._last_id = msg.id

    def drain(self, timeout_s: float) -> bool:
        """Publish until the outbox is empty; False if `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pump() == 0 and self.outbox.depth() == 0:
                return True
            time.sleep(0.01)
        return self.pump() == 0 and self.outbox.depth() == 0


def _optional_str(path: object | None) -> str | None:
    return None if path is None else str(path)
