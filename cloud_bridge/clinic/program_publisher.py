"""Delivering a prescription to the patient's wearables, and hearing back that it arrived
(docs/mqtt.md, "Program" and "Program ack").

The program bytes are built with firmware/core/program.py, the one implementation of the
format (so the clinic cannot build what the wearable would refuse), and published retained,
QoS 1, on ``rtm/v1/<gateway_id>/<device_id>/program`` for each of the patient's wearables
whose gateway is known (device_gateways.py). The gateway keeps it and sends it at the
wearable's next sync, then publishes an ack on ``.../program/ack``.

What the wearable gets of a prescription, per item in order: the exercise code, sets, reps
per set, the rest between sets and, as its target ROM, the lower end of the range (what a
rep should reach; the wearable counts a rep below half of it as partial, firmware/core/
counter.py). Plus the home's UTC offset, so its day starts at local midnight. What it does
not get, and why:

* days per week: the wearable has no calendar; it offers the day's sets every day and the
  patient decides. Days per week only matter to adherence, computed here.
* the upper end of the ROM range: the wearable has no upper limit (a rep that goes further
  still counts). The clinic sees it in the reps' ROM (adherence.py's "in range").
* the start date: a program applies from when it arrives. A version that starts later is
  published on or after its start day (the publisher sends the version in force today).
* the patient's identity: no identity travels to a gateway (docs/mqtt.md).
* AUTO_START (a set starting by itself on motion) is never set: it is not part of the
  prescription model.

The UTC offset is the one of the moment of publishing: after a change of daylight saving
time, publish again (`rtm-clinic program --publish`), or the wearable's day starts an hour
off until then.

Versions: the gateway ignores a version not newer than one it has (docs/mqtt.md), so each
device's version must only grow. It is the larger of the device's last version here + 1 and
the minutes since 2020: a lost or second clinic.db still publishes newer versions than the
broker holds. Every publication is kept (table program_publications), confirmed once the
broker's PUBACK came.

Acks: the clinic's client keeps a persistent session (a fixed client id, clean_session off)
subscribed to ``rtm/v1/+/+/program/ack``, so acks that come while no clinic tool runs wait at
the broker (QoS 1) for the next run. Each is checked and the newest per device kept (table
program_acks). The broker's session belongs to one user: two clinic tools with the same
user at once take it from each other.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge import broker_link
from cloud_bridge.broker_link import BrokerSecurity
from cloud_bridge.clinic.prescriptions import Prescription
from firmware.core import exercises
from firmware.core import program as program_codec
from gateway.downlink import (
    ACK_SCHEMA,
    APPLIED,
    MAX_VERSION,
    REJECTED,
    build_program_message,
    program_topic,
)

log = logging.getLogger(__name__)

ACK_FILTER = "rtm/v1/+/+/program/ack"
DEFAULT_CLIENT_ID = "rtm-clinic"  # the deployment's broker wants ids starting with rtm-
_ACK_TOPIC = re.compile(r"^rtm/v1/([A-Za-z0-9_-]{1,64})/([0-9a-f]{12})/program/ack$")
_MAX_ACK_BYTES = 4096
_VERSION_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z

_SCHEMA = """
CREATE TABLE IF NOT EXISTS program_publications (
    device_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    gateway_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    prescription_version INTEGER NOT NULL,
    program BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    broker_ms INTEGER,  -- the broker's PUBACK; NULL: not confirmed
    PRIMARY KEY (device_id, version)
);
CREATE TABLE IF NOT EXISTS program_acks (
    device_id TEXT PRIMARY KEY,  -- the newest version's answer per device
    gateway_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    at_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL
);
"""


class PublishError(Exception):
    """The broker could not be reached, refused the client, or did not confirm."""


def utc_offset_min(zone: ZoneInfo, when: datetime) -> int:
    """The zone's offset from UTC at `when`, in whole minutes (every zone's offset is)."""
    offset = when.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds()) // 60


def program_bytes(prescription: Prescription, utc_offset: int) -> bytes:
    """The wearable's program for `prescription` (see the module doc for what is left out).
    A prescription without items gives the empty program, which clears the wearable's."""
    items = [(exercises.code_of(i.exercise), i.sets, i.reps,
              (i.rom_min_deg or 0) * 100, i.rest_s) for i in prescription.items]
    return program_codec.encode(items, flags=0, utc_offset_min=utc_offset)


@dataclass(frozen=True)
class Publication:
    device_id: str
    version: int
    gateway_id: str
    patient_id: str
    prescription_version: int
    created_ms: int
    broker_ms: int | None


@dataclass(frozen=True)
class ProgramAck:
    gateway_id: str
    device_id: str
    version: int
    status: str  # "applied" or "rejected"
    reason: str | None
    at_ms: int


def parse_ack(topic: str, payload: bytes) -> ProgramAck:
    """A gateway's ack (gateway/downlink.py build_ack), checked; ValueError says why not."""
    m = _ACK_TOPIC.match(topic)
    if not m:
        raise ValueError(f"topic {topic!r} is not rtm/v1/<gateway>/<device>/program/ack")
    if len(payload) > _MAX_ACK_BYTES:
        raise ValueError(f"{len(payload)} bytes, limit {_MAX_ACK_BYTES}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("payload is not JSON") from None
    if not isinstance(body, dict) or body.get("schema") != ACK_SCHEMA:
        raise ValueError(f"not a {ACK_SCHEMA} object")
    if body.get("device") != m.group(2):
        raise ValueError(f"payload device {body.get('device')!r} differs from the topic's")
    version, status, reason, at_ms = (body.get(k) for k in ("version", "status", "reason",
                                                             "at_ms"))
    if isinstance(version, bool) or not isinstance(version, int) \
            or not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version must be 1..{MAX_VERSION}, got {version!r}")
    if status not in (APPLIED, REJECTED):
        raise ValueError(f"status must be {APPLIED} or {REJECTED}, got {status!r}")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
        raise ValueError("reason must be null or a string")
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0:
        raise ValueError(f"at_ms must be Unix ms, got {at_ms!r}")
    return ProgramAck(m.group(1), m.group(2), version, status, reason, at_ms)


class Deliveries:
    """Publications and acks in the clinic's file (an open_clinic_db connection). The
    ack handler writes from paho's thread, hence the lock."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    def reserve(self, patient_id: str, device_id: str, gateway_id: str,
                prescription_version: int, program: bytes, now_ms: int) -> int:
        """Note a publication about to be made; its version (never used before)."""
        floor = (now_ms - _VERSION_EPOCH_MS) // 60_000
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (last,) = self._db.execute("SELECT coalesce(max(version), 0) FROM "
                                           "program_publications WHERE device_id = ?",
                                           (device_id,)).fetchone()
                version = max(last + 1, floor)
                if version > MAX_VERSION:
                    raise PublishError(f"device {device_id}: program versions exhausted")
                self._db.execute("INSERT INTO program_publications VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, NULL)",
                                 (device_id, version, gateway_id, patient_id,
                                  prescription_version, program, now_ms))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return version

    def confirm(self, device_id: str, version: int, now_ms: int) -> None:
        with self._lock:
            self._db.execute("UPDATE program_publications SET broker_ms = ? WHERE "
                             "device_id = ? AND version = ?", (now_ms, device_id, version))

    def store_ack(self, ack: ProgramAck, received_ms: int) -> bool:
        """Keep `ack` unless an answer for a newer version is kept already."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO program_acks VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(device_id) DO UPDATE SET gateway_id = excluded.gateway_id, "
                "version = excluded.version, status = excluded.status, "
                "reason = excluded.reason, at_ms = excluded.at_ms, "
                "received_ms = excluded.received_ms WHERE excluded.version >= version",
                (ack.device_id, ack.gateway_id, ack.version, ack.status, ack.reason,
                 ack.at_ms, received_ms))
            return cur.rowcount > 0

    def last_publication(self, device_id: str) -> Publication | None:
        with self._lock:
            row = self._db.execute(
                "SELECT device_id, version, gateway_id, patient_id, prescription_version, "
                "created_ms, broker_ms FROM program_publications WHERE device_id = ? "
                "ORDER BY version DESC LIMIT 1", (device_id,)).fetchone()
        return Publication(*row) if row else None

    def last_ack(self, device_id: str) -> ProgramAck | None:
        with self._lock:
            row = self._db.execute("SELECT gateway_id, device_id, version, status, reason, "
                                   "at_ms FROM program_acks WHERE device_id = ?",
                                   (device_id,)).fetchone()
        return ProgramAck(*row) if row else None


def delivery_state(pub: Publication | None, ack: ProgramAck | None, zone: ZoneInfo) -> str:
    """Where the device's newest program is, in words (times in `zone`)."""
    if pub is None:
        return "no program published"
    what = f"prescription v{pub.prescription_version} as program version {pub.version}"
    if pub.broker_ms is None:
        return f"{what}: NOT confirmed by the broker, publish again"
    if ack is not None and ack.version == pub.version:
        at = datetime.fromtimestamp(ack.at_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
        if ack.status == APPLIED:
            return f"{what}: on the wearable since {at}"
        return f"{what}: REJECTED at {at} ({ack.reason})"
    if ack is not None and ack.version > pub.version:
        return f"{what}; the wearable answered a newer version {ack.version} ({ack.status})"
    return f"{what}: at the gateway, waiting for the wearable's next sync"


class ProgramLink:
    """The clinic's MQTT client: paho 2.x (VERSION2 callbacks), MQTT 3.1.1, persistent
    session subscribed to every program ack; TLS and login as cloud_bridge/broker_link.py
    (the clinic's broker user: docs/deploy/mosquitto.conf, `user clinic`)."""

    def __init__(self, host: str, port: int, deliveries: Deliveries,
                 security: BrokerSecurity | None = None,
                 client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.host = host
        self.port = port
        self.deliveries = deliveries
        self.acks_received = 0
        self.acks_refused = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._lost = False
        self._last_message = time.monotonic()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        if security is not None:
            broker_link.apply(self.client, security)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason: object, properties: object) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
            self._connected.set()
            return
        # Again at every connection: harmless when the session has it already.
        client.subscribe(ACK_FILTER, qos=1)
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object,
                       flags: mqtt.DisconnectFlags, reason: object, properties: object) -> None:
        self._lost = True

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list, properties: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        # paho acknowledges (PUBACK) after this returns: the ack is kept before the broker
        # forgets it. Nothing may raise into paho's thread.
        self._last_message = time.monotonic()
        try:
            ack = parse_ack(msg.topic, bytes(msg.payload))
            self.deliveries.store_ack(ack, int(time.time() * 1000))
            self.acks_received += 1
        except ValueError as e:
            self.acks_refused += 1
            log.warning("ignored a program ack on %s: %s", msg.topic, e)
        except Exception:
            self.acks_refused += 1
            log.exception("program ack on %s could not be kept", msg.topic)

    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; PublishError says why not."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as e:
            raise PublishError(f"cannot connect to the broker {self.host}:{self.port}: "
                               f"{type(e).__name__}: {e}") from None
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise PublishError(f"the broker {self.host}:{self.port} did not answer in "
                               f"{timeout_s:.0f} s")
        if self._refused is not None:
            self.close()
            raise PublishError(f"the broker refused the connection: {self._refused} (check "
                               f"--username/--password-file)")
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise PublishError("the broker did not confirm the ack subscription")
        self._last_message = time.monotonic()
        self._lost = False

    def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
        """Publish retained at QoS 1 and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1, retain=True)
        try:
            info.wait_for_publish(timeout_s)
        except (ValueError, RuntimeError) as e:
            raise PublishError(f"publishing on {topic} failed: {e}") from None
        if not info.is_published():
            raise PublishError(f"the broker did not confirm {topic} in {timeout_s:.0f} s")

    @property
    def lost(self) -> bool:
        """The connection dropped since connect(): mosquitto closes it after a publish its
        ACL denied (after the PUBACK, so a denied program looks confirmed otherwise)."""
        return self._lost

    def collect_acks(self, quiet_s: float, max_s: float = 30.0) -> None:
        """Listen until no ack came for `quiet_s` (the broker sends a session's queued
        messages at once after connecting), or `max_s` in all."""
        deadline = time.monotonic() + max_s
        while True:
            now = time.monotonic()
            if now >= deadline or now - self._last_message >= quiet_s:
                return
            time.sleep(min(0.05, quiet_s))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_prescription(link: ProgramLink, deliveries: Deliveries, prescription: Prescription,
                         targets: dict[str, str], zone: ZoneInfo, now_ms: int,
                         timeout_s: float = 10.0) -> list[Publication]:
    """Publish `prescription` to each device -> gateway of `targets`, each with its next
    version; the publications, confirmed ones with their broker_ms."""
    offset = utc_offset_min(zone, datetime.fromtimestamp(now_ms / 1000, zone))
    program = program_bytes(prescription, offset)
    done = []
    for device, gateway in sorted(targets.items()):
        version = deliveries.reserve(prescription.patient_id, device, gateway,
                                     prescription.version, program, now_ms)
        link.publish(program_topic(gateway, device),
                     build_program_message(device, version, program), timeout_s)
        confirmed = int(time.time() * 1000)
        deliveries.confirm(device, version, confirmed)
        done.append(Publication(device, version, gateway, prescription.patient_id,
                                prescription.version, now_ms, confirmed))
    return done
