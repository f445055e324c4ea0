"""Programs from the clinic to the wearables (docs/mqtt.md, "Program" and "Program ack").

The clinic publishes each wearable's program on the retained topic
``rtm/v1/<gateway_id>/<device_id>/program``; the gateway checks it, keeps it in the device
registry and sends it at the wearable's next sync (gateway/sync.py), which enqueues the
acknowledgement on ``.../program/ack``. A message is checked completely before anything is
kept, so a bad one never replaces a good waiting program; every rejection is counted by
reason and logged, and never raises into paho's thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from firmware.core import program as program_codec
from gateway import devices as devices_mod
from gateway.devices import DeviceRegistry
from gateway.payload import TOPIC_ROOT

log = logging.getLogger(__name__)

PROGRAM_SCHEMA = "rtm.program.v1"
ACK_SCHEMA = "rtm.program_ack.v1"
MAX_PROGRAM_MESSAGE_BYTES = 4096
MAX_VERSION = 2**31 - 1
APPLIED = "applied"
REJECTED = "rejected"
_TOPIC = re.compile(r"^rtm/v1/([A-Za-z0-9_-]{1,64})/([0-9a-f]{12})/program$")


class MessageOutbox(Protocol):
    """The outbox's generic message API (gateway/outbox.py): durable until the PUBACK."""

    def enqueue(self, topic: str, payload: bytes, now_ms: int, device_id: str = "",
                retain: bool = False) -> int: ...


def program_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/program"


def program_filter(gateway_id: str) -> str:
    """What the gateway subscribes to (Uplink.subscribe)."""
    return f"{TOPIC_ROOT}/{gateway_id}/+/program"


def ack_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/program/ack"


def build_ack(device_id: str, version: int, status: str, reason: str | None,
              at_ms: int) -> bytes:
    body = {"schema": ACK_SCHEMA, "device": device_id, "version": version, "status": status,
            "reason": reason, "at_ms": at_ms}
    return json.dumps(body, separators=(",", ":")).encode()


def build_program_message(device_id: str, version: int, program: bytes) -> bytes:
    """The clinic's message (its tools and the tests build it with this)."""
    body = {"schema": PROGRAM_SCHEMA, "device": device_id, "version": version,
            "program": base64.b64encode(program).decode("ascii")}
    return json.dumps(body, separators=(",", ":")).encode()


class ProgramMessageError(ValueError):
    """A program message cannot be used; `reason` is a short category for counting.
    `device_id`/`version` are set when they could be read (the clinic then gets a
    "rejected" ack)."""

    def __init__(self, reason: str, detail: str, device_id: str | None = None,
                 version: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.device_id = device_id
        self.version = version


@dataclass(frozen=True)
class ProgramMessage:
    device_id: str
    version: int
    program: bytes


def parse_program_message(gateway_id: str, topic: str, payload: bytes) -> ProgramMessage:
    m = _TOPIC.match(topic)
    if not m:
        raise ProgramMessageError("bad_topic", f"topic {topic!r} is not "
                                               f"rtm/v1/<gateway>/<device>/program")
    if m.group(1) != gateway_id:
        raise ProgramMessageError("other_gateway", f"topic is for gateway {m.group(1)!r}, "
                                                   f"this is {gateway_id!r}")
    device_id = m.group(2)
    if len(payload) > MAX_PROGRAM_MESSAGE_BYTES:
        raise ProgramMessageError("too_large", f"{len(payload)} bytes, limit "
                                               f"{MAX_PROGRAM_MESSAGE_BYTES}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProgramMessageError("not_json", f"payload is not JSON ({type(e).__name__})") \
            from None
    if not isinstance(body, dict):
        raise ProgramMessageError("not_object", f"payload is a JSON {type(body).__name__}")
    if body.get("schema") != PROGRAM_SCHEMA:
        raise ProgramMessageError("bad_schema", f"schema {body.get('schema')!r}, expected "
                                                f"{PROGRAM_SCHEMA!r}")
    if body.get("device") != device_id:
        raise ProgramMessageError("topic_mismatch", f"payload device {body.get('device')!r} "
                                                    f"differs from the topic's {device_id}")
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) \
            or not 1 <= version <= MAX_VERSION:
        raise ProgramMessageError("bad_field", f"version must be an integer in "
                                               f"1..{MAX_VERSION}, got {version!r}")
    encoded = body.get("program")
    try:
        if not isinstance(encoded, str):
            raise ValueError("not a base64 string")
        raw = base64.b64decode(encoded, validate=True)
        program_codec.decode(raw)
    except (ValueError, binascii.Error) as e:
        raise ProgramMessageError("bad_program", f"program: {e}", device_id, version) from None
    return ProgramMessage(device_id, version, raw)


class Downlink:
    """Receives program messages (paho's thread) into the device registry.

    `is_enrolled(device_id)` says whether this gateway serves the device (the registry's
    and the configuration's union); `outbox`, if given, carries a "rejected" ack for a
    program that can be identified but not used, so the clinic sees why.
    """

    def __init__(self, gateway_id: str, devices: DeviceRegistry, clock_ms: Callable[[], int],
                 is_enrolled: Callable[[str], bool] | None = None,
                 outbox: MessageOutbox | None = None) -> None:
        self.gateway_id = gateway_id
        self.devices = devices
        self.clock_ms = clock_ms
        self.is_enrolled = is_enrolled
        self.outbox = outbox
        self.outcomes: Counter[str] = Counter()  # stored, duplicate, already_done, ...
        self.rejected: Counter[str] = Counter()  # by reason
        # The version last acknowledged as rejected, per device: a retained message comes
        # again at every reconnect and must not be rejected to the clinic every time.
        self._rejected_version: dict[str, int] = {}

    def on_program_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """Handler for Uplink.subscribe(program_filter(gateway_id), ...). Never raises."""
        try:
            self._handle(topic, payload, retained)
        except Exception:  # a bug or a broken registry must not kill paho's thread
            self.rejected["internal_error"] += 1
            log.exception("program message on %s could not be handled", topic)

    def _handle(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:
            # The clinic cleared the retained message: nothing new to send; a program
            # waiting already stays (the clinic clears a program by sending an empty one).
            self.outcomes["cleared"] += 1
            return
        try:
            msg = parse_program_message(self.gateway_id, topic, payload)
            if self.is_enrolled is not None and not self.is_enrolled(msg.device_id):
                raise ProgramMessageError("not_enrolled", f"device {msg.device_id} is not "
                                                          f"enrolled at this gateway")
        except ProgramMessageError as e:
            self.rejected[e.reason] += 1
            log.warning("rejected program message on %s: %s", topic, e)
            self._ack_rejected(e)
            return
        now = self.clock_ms()
        outcome = self.devices.offer_program(msg.device_id, msg.version, msg.program, now)
        self.outcomes[outcome] += 1
        if outcome == devices_mod.STORED:
            log.info("program version %d for wearable %s waits for its next sync%s",
                     msg.version, msg.device_id, " (retained)" if retained else "")

    def _ack_rejected(self, e: ProgramMessageError) -> None:
        if self.outbox is None or e.device_id is None or e.version is None:
            return
        if self._rejected_version.get(e.device_id) == e.version:
            return
        self._rejected_version[e.device_id] = e.version
        now = self.clock_ms()
        self.outbox.enqueue(ack_topic(self.gateway_id, e.device_id),
                            build_ack(e.device_id, e.version, REJECTED, str(e), now), now,
                            device_id=e.device_id)
