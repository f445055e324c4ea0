"""Publishing the outbox to the MQTT broker with paho-mqtt 2.x (QoS 1, persistent session).

Session: MQTT v5 (`mqtt.protocol = "5"`, the default) with `clean_start=False`, a Session
Expiry Interval of 0xFFFFFFFF ("never", which mosquitto bounds with
`persistent_client_expiration` exactly as it bounds a 3.1.1 persistent session) and a fixed
client id; `mqtt.protocol = "3.1.1"` (`clean_session=False`) only for a broker without v5,
the demo's. The outbox, not the broker session, is what keeps the gateway's messages; the
session keeps the gateway's subscriptions (its wearables' program topics, made again at
every reconnect anyway) and what the broker queued for it while it was away.

Status: `rtm/v1/<gateway_id>/status`, retained, QoS 1. The last will ("offline") is set
before connecting; the birth ("online") is published at every (re)connect, because a will
the broker fired in between has overwritten the retained status; a clean stop publishes
"offline" before disconnecting.

What a PUBACK means (v5 reason codes; 3.1.1 has none, every PUBACK is a success). An outbox
row is deleted only once the broker has taken it:
- 0x00, or 0x10 "No matching subscribers" for a retained message (the broker keeps it for
  later subscribers): taken, the row is deleted.
- 0x10 for a message that is not retained: nobody got it and the broker has dropped it (a
  scaled-out bridge's shared subscription after a mosquitto restart, before the bridge
  subscribed again: docs/deploy/scale-out.md). The row is kept and the whole uplink holds
  back (below): the records' readers are away, sending more would only lose the race again.
- 0x80 and above (0x87 not authorized by the ACL, 0x97 quota exceeded, 0x95 packet too
  large, ...): refused. The row is kept and set aside alone, sent again with its own
  back-off (RETRY_MIN_S doubling to REFUSED_RETRY_MAX_S), logged at ERROR with the reason
  each time; the rest of the outbox goes on. A refusal is a property of the message (its
  topic not in the ACL, its size), and an unattended gateway must not stop delivering every
  wearable's records, and fill its outbox and then the wearables' logs, behind one message
  it cannot fix; it must not drop it either. `UplinkState.refused` counts refusals and
  `held` the rows kept now, for `rtm-gateway status`.

Order: outbox order is delivery order (first arrivals at the broker), across reconnects and
restarts, with the two exceptions that negative acknowledgements make (below).
- Within a connection, TCP keeps the order of what paho writes.
- paho keeps every QoS 1 message it accepted (also with NO_CONN) until its PUBACK and, after
  a reconnect, sends them again in the order they were published - but only after calling
  on_connect, and anything published from then on would overtake them. So on_connect takes
  a barrier: the messages in flight at that moment; `pump` publishes nothing new until all
  of them are acknowledged. The check of `connected` and the publish happen under the lock
  that on_connect and on_disconnect take, so no publish slips in between.
- No subscriber (0x10): from the first such PUBACK on, `pump` publishes nothing new until
  every message in flight is answered (so every kept row is known), waits a back-off
  (RETRY_MIN_S doubling to NO_SUBSCRIBER_RETRY_MAX_S; back to RETRY_MIN_S once a row sent
  again is taken), then rewinds the cursor to the earliest kept row and goes on from there
  in outbox order. What changes: the rows that were in flight behind a kept one and were
  taken (a bridge subscribed in between) have arrived before it.
- Refused (>= 0x80): the row loses its place; it arrives, once the broker takes it, after
  rows that came after it. Refused rows are retried each on its own timer, so among
  themselves their order is not kept either (one refused later, with a shorter back-off,
  may go first once the broker takes them). Records do not mind (the store is idempotent
  on device and seq); an enrollment and the unenrollment after it on one topic, both
  refused, may arrive swapped.
- After a restart nothing is in flight and the cursor (`_last_id`) starts at 0: the outbox
  is sent again from its oldest row, kept rows included. Duplicates are possible (QoS 1);
  the bridge stores idempotently.
An Uplink is started once and stopped once.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.clock import wall_clock_ms
from gateway.config import MqttConfig
from gateway.outbox import Outbox, OutboxMessage

log = logging.getLogger(__name__)

STATUS_SCHEMA = "rtm.status.v1"
STOP_PUBLISH_TIMEOUT_S = 5.0
SESSION_NEVER_EXPIRES = 0xFFFFFFFF  # v5 Session Expiry Interval: as a 3.1.1 persistent one
NO_MATCHING_SUBSCRIBERS = 0x10  # v5 PUBACK reason: taken, but nobody subscribes to it
FIRST_FAILURE_CODE = 0x80  # v5 reason codes from here on are refusals
RETRY_MIN_S = 1.0
NO_SUBSCRIBER_RETRY_MAX_S = 60.0  # a bridge restarting is back within seconds to minutes
# A refusal mostly needs a person (the ACL, the broker's limits); each retry of one costs a
# reconnection too (mosquitto 2.0.11 closes the connection after a denied publish).
REFUSED_RETRY_MAX_S = 300.0

MessageHandler = Callable[[str, bytes, bool], None]


def status_topic(gateway_id: str) -> str:
    return f"rtm/v1/{gateway_id}/status"


def status_payload(gateway_id: str, state: str, since_ms: int) -> bytes:
    return json.dumps({"schema": STATUS_SCHEMA, "gateway": gateway_id, "state": state,
                       "since_ms": since_ms}, separators=(",", ":")).encode()


class Outcome(Enum):
    TAKEN = "taken"  # delete the row
    NO_SUBSCRIBER = "no subscriber"  # keep it; hold the uplink back, then rewind
    REFUSED = "refused"  # keep it; set it aside with its own back-off


def ack_outcome(reason_code: int, retained: bool) -> Outcome:
    """What a PUBACK with `reason_code` means for the outbox row of a message."""
    if reason_code >= FIRST_FAILURE_CODE:
        return Outcome.REFUSED
    if reason_code == NO_MATCHING_SUBSCRIBERS and not retained:
        return Outcome.NO_SUBSCRIBER
    return Outcome.TAKEN


def next_delay(delay_s: float, max_s: float) -> float:
    """The back-off after `delay_s`: doubled, at most `max_s`."""
    return min(delay_s * 2, max_s)


@dataclass(frozen=True)
class _Sent:
    """An outbox row paho holds (by its message id) until the broker answers."""
    row_id: int
    topic: str
    retain: bool


@dataclass
class _SetAside:
    """A refused row: sent again at `due_s` (monotonic), or in flight again (None)."""
    delay_s: float
    due_s: float | None


@dataclass(frozen=True)
class UplinkState:
    connected: bool
    since_ms: int | None  # wall clock of the last connect or disconnect; None: neither yet
    last_error: str | None  # the last connection failure or refusal, kept after recovery
    published: int  # outbox messages acknowledged by the broker (and deleted)
    reconnects: int  # successful connections after the first one
    connect_failures: int  # attempts that failed (TLS, refused, unreachable)
    handler_errors: int  # exceptions raised by subscription handlers
    no_subscriber: int = 0  # PUBACKs "no matching subscribers" of outbox rows (kept, resent)
    refused: int = 0  # PUBACKs refusing an outbox row (reason >= 0x80; kept, resent)
    held: int = 0  # outbox rows kept after such a PUBACK, waiting to be sent again
    last_refusal: str | None = None  # topic and reason of the last refusal, kept after


def _read_password(config: MqttConfig) -> str | None:
    if config.password_file is None:
        return None
    return config.password_file.read_text().strip()


class Uplink:
    def __init__(self, config: MqttConfig, outbox: Outbox, gateway_id: str | None = None,
                 max_in_flight: int = 20,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.config = config
        self.gateway_id = gateway_id  # None: no status topic (no birth, no will)
        self.max_in_flight = max_in_flight
        self._monotonic = monotonic  # back-off timing (tests pass a fake clock)
        self._lock = threading.Lock()  # connected flag, barrier, publishing, subscriptions
        self._in_flight: dict[int, _Sent] = {}  # paho's message id -> outbox row
        self._barrier: set[int] = set()  # message ids to be acknowledged before new ones go
        # Filled by paho's thread while it holds its own message lock: a deque, whose append
        # is thread-safe, rather than our lock (which pump() holds while calling into paho).
        # (message id, reason code, reason name)
        self._acknowledged: deque[tuple[int, int, str]] = deque()
        self._last_id = 0
        # No subscriber: rows kept since the last rewind, when publishing resumes (None:
        # not yet decided), the next hold's length, the rows sent again at the last rewind.
        self._unheard: set[int] = set()
        self._resume_at: float | None = None
        self._hold_s = RETRY_MIN_S
        self._retried: set[int] = set()
        self._set_aside: dict[int, _SetAside] = {}  # refused rows, by outbox row id
        self._no_subscriber = 0
        self._refused = 0
        self._last_refusal: str | None = None
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

    @property
    def _v5(self) -> bool:
        return self.config.protocol == "5"

    def _make_client(self) -> mqtt.Client:
        if self._v5:  # the session is made persistent at connect (clean_start, expiry)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
                                 protocol=mqtt.MQTTv5)
        else:
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
        # accepted with NO_CONN, even after paho resent it and got its PUBACK. (3.1.1: the
        # reason is always Success.)
        self._acknowledged.append((mid, reason_code.value, reason_code.getName()))

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
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
            # paho sends the same clean_start and properties at every reconnect.
            self.client.connect_async(self.config.host, self.config.port,
                                      self.config.keepalive_s, clean_start=False,
                                      properties=properties)
        else:
            self.client.connect_async(self.config.host, self.config.port,
                                      self.config.keepalive_s)
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
                           self._connect_failures, self._handler_errors,
                           no_subscriber=self._no_subscriber, refused=self._refused,
                           held=len(self._unheard) + len(self._set_aside),
                           last_refusal=self._last_refusal)

    def pump(self) -> int:
        """Retire acknowledged messages and publish more; returns how many are in flight.
        Cheap when there is nothing to do: the service calls it twice a second."""
        self._retire_acknowledged()
        with self._lock:
            if self._connected.is_set() and self._barrier_passed() and self._not_holding():
                self._publish_more()
            return len(self._in_flight)

    def _retire_acknowledged(self) -> None:
        acks: list[tuple[int, int, str]] = []
        while self._acknowledged:
            acks.append(self._acknowledged.popleft())
        # Status messages are no outbox rows: not in _in_flight.
        answered = [(mid, sent, code, name, ack_outcome(code, sent.retain))
                    for mid, code, name in acks if (sent := self._in_flight.get(mid))]
        taken = [sent.row_id for _m, sent, _c, _n, outcome in answered
                 if outcome is Outcome.TAKEN]
        try:
            self.outbox.delete(*taken)
        except Exception:
            self._acknowledged.extendleft(reversed(acks))  # retire them next time
            raise
        unheard: Counter[str] = Counter()
        with self._lock:
            for mid, sent, code, name, outcome in answered:
                del self._in_flight[mid]
                if outcome is Outcome.TAKEN:
                    self._taken(sent.row_id)
                elif outcome is Outcome.NO_SUBSCRIBER:
                    self._set_aside.pop(sent.row_id, None)  # it waits with the others now
                    self._unheard.add(sent.row_id)
                    self._no_subscriber += 1
                    unheard[sent.topic] += 1
                else:
                    self._keep_refused(sent, code, name)
        self.published += len(taken)
        for topic, count in unheard.items():
            log.warning("no subscriber (a bridge restarting?), kept: %d message(s) on %s "
                        "stay in the outbox and go again after a back-off (%d such "
                        "acknowledgements so far)", count, topic, self._no_subscriber)

    def _taken(self, row_id: int) -> None:
        self._set_aside.pop(row_id, None)
        if row_id in self._retried:  # a row sent again after a hold got through
            self._retried.discard(row_id)
            self._hold_s = RETRY_MIN_S

    def _keep_refused(self, sent: _Sent, code: int, name: str) -> None:
        before = self._set_aside.get(sent.row_id)
        delay_s = (RETRY_MIN_S if before is None
                   else next_delay(before.delay_s, REFUSED_RETRY_MAX_S))
        self._set_aside[sent.row_id] = _SetAside(delay_s, self._monotonic() + delay_s)
        self._refused += 1
        self._last_refusal = f"{sent.topic}: {name} (0x{code:02X})"
        log.error("the broker refused the message on %s (outbox row %d): %s (0x%02X); kept "
                  "in the outbox and sent again in %.0f s, the rest goes on (%d refusals so "
                  "far; check the broker's ACL and limits)", sent.topic, sent.row_id, name,
                  code, delay_s, self._refused)

    def _not_holding(self) -> bool:
        """False while the uplink holds back after "no matching subscribers": until every
        message in flight is answered, then for the back-off; then rewind the cursor to the
        earliest kept row and go on."""
        if not self._unheard:
            return True
        if self._in_flight:
            return False
        now = self._monotonic()
        if self._resume_at is None:
            self._resume_at = now + self._hold_s
            log.warning("holding the outbox back %.0f s: %d message(s) had no subscriber",
                        self._hold_s, len(self._unheard))
            self._hold_s = next_delay(self._hold_s, NO_SUBSCRIBER_RETRY_MAX_S)
        if now < self._resume_at:
            return False
        self._last_id = min(self._last_id, min(self._unheard) - 1)
        self._retried = set(self._unheard)
        self._unheard.clear()
        self._resume_at = None
        return True

    def _barrier_passed(self) -> bool:
        self._barrier &= self._in_flight.keys()
        return not self._barrier

    def _publish_more(self) -> None:
        room = self.max_in_flight - len(self._in_flight)
        if room <= 0:
            return
        room -= self._resend_set_aside(room)
        while room > 0:
            batch = self.outbox.pending(limit=room, after_id=self._last_id)
            if not batch:
                return
            for msg in batch:
                if msg.id not in self._set_aside:  # those go at their own time
                    if not self._send(msg):
                        return  # not accepted (e.g. paho's queue is full): again next pump
                    room -= 1
                self._last_id = msg.id

    def _resend_set_aside(self, room: int) -> int:
        """Send the refused rows whose back-off is over; returns how many went."""
        now = self._monotonic()
        due = sorted(row for row, s in self._set_aside.items()
                     if s.due_s is not None and s.due_s <= now)[:room]
        if not due:
            return 0
        found = {msg.id: msg for msg in self.outbox.messages(*due)}
        sent = 0
        for row in due:
            msg = found.get(row)
            if msg is None:  # superseded meanwhile (Outbox.enqueue_latest)
                del self._set_aside[row]
            elif self._send(msg):
                self._set_aside[row].due_s = None
                sent += 1
            else:
                break
        return sent

    def _send(self, msg: OutboxMessage) -> bool:
        info = self.client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return False
        # NO_CONN: paho keeps the message and sends it, in order, after reconnecting.
        self._in_flight[info.mid] = _Sent(msg.id, msg.topic, msg.retain)
        return True

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
