"""Enrolling a wearable at this gateway, and unenrolling it (`rtm-gateway enroll|unenroll`).

Enroll: find the wearable, connect, pair (LE Secure Connections, "just works" bonding: the
link is encrypted from then on), give it a fresh 32-byte secret (SET_SECRET), register it in
the device registry, and queue the registration for the clinic (topic
``rtm/v1/<gateway>/<device>/enrollment``, docs/mqtt.md). The secret goes to the clinic and
to the wearable only: once the registration is in the outbox the gateway drops it, so a
gateway cannot sign records in the wearable's name (issue 5). The outbox row holds it until
the broker's PUBACK; MQTT must run over TLS for it to travel safely.

Unenroll: queue the "unenrolled" registration, drop the device from the registry and, if it
is in range, tell it to forget its bonded gateway (FORGET). Its secret stays: only a factory
reset with physical access removes it (firmware/README.md), so neither a careless nor a
stolen gateway can make a wearable take a key the clinic has not seen.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from firmware.core import protocol
from gateway.ble_link import BleLink
from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.downlink import MessageOutbox
from gateway.payload import TOPIC_ROOT
from gateway.wearable_session import SessionError, WearableSession

log = logging.getLogger(__name__)

SCHEMA = "rtm.enrollment.v1"
ENROLLED = "enrolled"
UNENROLLED = "unenrolled"
_DEVICE_ID = re.compile(r"^[0-9a-f]{12}$")


class EnrollmentError(Exception):
    """Enrollment or unenrollment cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class EnrollmentResult:
    device_id: str
    address: str
    firmware: str | None
    enrolled_ms: int
    message_id: int  # the registration's outbox row


@dataclass(frozen=True)
class UnenrollmentResult:
    device_id: str
    was_enrolled: bool  # in this gateway's registry before
    message_id: int
    wearable_told: bool  # the wearable answered FORGET
    detail: str  # why it was not, or "forgot its bonded gateway"


def enrollment_topic(gateway_id: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{gateway_id}/{device_id}/enrollment"


def build_registration(gateway_id: str, device_id: str, state: str, secret: bytes | None,
                       firmware: str | None, at_ms: int) -> bytes:
    body: dict[str, object] = {"schema": SCHEMA, "gateway": gateway_id, "device": device_id,
                               "state": state}
    if secret is not None:
        body["secret"] = base64.b64encode(secret).decode("ascii")
    body["firmware"] = firmware
    body["at_ms"] = at_ms
    return json.dumps(body, separators=(",", ":")).encode()


async def _find(link: BleLink, device_id: str) -> BLEDevice | None:
    sighting = (await link.scan({device_id})).get(device_id)
    return sighting.device if sighting is not None else None


def _check_device_id(device_id: str) -> None:
    if not _DEVICE_ID.match(device_id):
        raise EnrollmentError(f"device id must be 12 lowercase hex digits (as printed on the "
                              f"wearable), got {device_id!r}")


async def _pair(client: BleakClient) -> None:
    try:
        await client.pair()
    except BleakError as e:
        raise EnrollmentError(f"pairing with the wearable failed ({e}); nothing was sent to "
                              f"it: keep it near the gateway and try again") from None
    except NotImplementedError:
        # macOS pairs by itself when a characteristic asks for it; the wearable refuses the
        # secret if it knows the link is not encrypted.
        log.warning("this Bluetooth backend cannot pair on request; going on")


async def enroll(config: GatewayConfig, device_id: str, *, devices: DeviceRegistry,
                 outbox: MessageOutbox, clock_ms: Callable[[], int],
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 client_backend: type[BaseBleakClient] | None = None,
                 allow_plaintext_mqtt: bool = False,
                 token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> EnrollmentResult:
    """Enroll `device_id` here (see the module docstring). Raises EnrollmentError with what
    to do; nothing is registered unless the wearable took the secret."""
    _check_device_id(device_id)
    if not config.mqtt.tls and not allow_plaintext_mqtt:
        raise EnrollmentError("the enrollment carries the wearable's secret to the clinic: "
                              "configure mqtt.ca_file (TLS) first, or allow plaintext MQTT "
                              "explicitly for a test setup")
    if device_id in devices.enrolled():
        raise EnrollmentError(f"wearable {device_id} is already enrolled here; unenroll it "
                              f"first to enroll it again")
    timeout_s = config.sync.response_timeout_s
    # The same radio path as a sync: the configured adapter, stale links closed, retries.
    link = BleLink(config.sync, scanner_backend, client_backend)
    device = await _find(link, device_id)
    if device is None:
        raise EnrollmentError(f"wearable {device_id} not found within "
                              f"{config.sync.scan_timeout_s:g} s: wake it (press its button) "
                              f"and keep it near the gateway")
    secret = bytearray(token_bytes(protocol.SECRET_SIZE))
    try:
        try:
            async with link.connection(device) as client:
                await _pair(client)
                session = WearableSession(client, timeout_s)
                await session.open()
                info = await session.info()
                if info["device_id"].hex() != device_id:
                    raise EnrollmentError(f"the wearable found reports id "
                                          f"{info['device_id'].hex()}, not {device_id}")
                firmware = await session.firmware_revision()
                frame = await session.command(protocol.cmd_set_secret(bytes(secret)))
                address = client.address
        except (BleakError, SessionError, TimeoutError, OSError) as e:
            raise EnrollmentError(f"wearable {device_id}: {type(e).__name__}: {e}; if it "
                                  f"took the secret before the link failed, enrolling again "
                                  f"is refused until it is factory-reset") from None
        _check_secret_answer(device_id, frame)
        now = clock_ms()
        body = build_registration(config.gateway_id, device_id, ENROLLED, bytes(secret),
                                  firmware, now)
        try:
            message_id = outbox.enqueue(enrollment_topic(config.gateway_id, device_id), body,
                                        now, device_id=device_id)
        except Exception as e:  # OutboxFull, a disk error: the clinic will not get the key
            raise EnrollmentError(f"wearable {device_id} took its secret but the registration "
                                  f"could not be queued ({type(e).__name__}: {e}): free the "
                                  f"outbox, factory-reset the wearable and enroll it "
                                  f"again") from None
        finally:
            del body
    finally:
        # Best effort in CPython (copies were made on the way), but no reference stays.
        secret[:] = bytes(len(secret))
    devices.enroll(device_id, address, now, firmware)
    log.info("wearable %s enrolled at gateway %s (firmware %s)", device_id, config.gateway_id,
             firmware or "unknown")
    return EnrollmentResult(device_id, address, firmware, now, message_id)


def _check_secret_answer(device_id: str, frame: bytes) -> None:
    op = protocol.CMD_SET_SECRET | protocol.RESPONSE_BIT
    if len(frame) != 2 or frame[0] != op:
        raise EnrollmentError(f"wearable {device_id}: unexpected answer {frame.hex()} to "
                              f"SET_SECRET")
    code = frame[1]
    if code == protocol.STATUS_OK:
        return
    if code == protocol.STATUS_REFUSED:
        raise EnrollmentError(f"wearable {device_id} refuses the secret: it already holds "
                              f"one (factory-reset it, firmware/README.md) or the link is "
                              f"not encrypted (pairing failed)")
    if code == protocol.STATUS_UNKNOWN_COMMAND:
        raise EnrollmentError(f"wearable {device_id} has firmware without enrollment "
                              f"(SET_SECRET): update it first")
    raise EnrollmentError(f"wearable {device_id} answered SET_SECRET with status {code}")


async def unenroll(config: GatewayConfig, device_id: str, *, devices: DeviceRegistry,
                   outbox: MessageOutbox, clock_ms: Callable[[], int],
                   scanner_backend: type[BaseBleakScanner] | None = None,
                   client_backend: type[BaseBleakClient] | None = None,
                   reach_wearable: bool = True) -> UnenrollmentResult:
    """Unenroll `device_id` (see the module docstring). The clinic's registration and the
    registry change happen first and always; reaching the wearable is best effort."""
    _check_device_id(device_id)
    was_enrolled = device_id in devices.enrolled()
    now = clock_ms()
    message_id = outbox.enqueue(enrollment_topic(config.gateway_id, device_id),
                                build_registration(config.gateway_id, device_id, UNENROLLED,
                                                   None, None, now), now, device_id=device_id)
    devices.unenroll(device_id)
    if device_id in config.enrolled:
        log.warning("wearable %s is still listed in the configuration's `enrolled`: remove "
                    "it there too, or the gateway keeps syncing it", device_id)
    if not reach_wearable:
        return UnenrollmentResult(device_id, was_enrolled, message_id, False, "not attempted")
    told, detail = await _tell_forget(config, device_id, scanner_backend, client_backend)
    return UnenrollmentResult(device_id, was_enrolled, message_id, told, detail)


async def _tell_forget(config: GatewayConfig, device_id: str,
                       scanner_backend: type[BaseBleakScanner] | None,
                       client_backend: type[BaseBleakClient] | None) -> tuple[bool, str]:
    timeout_s = config.sync.response_timeout_s
    link = BleLink(config.sync, scanner_backend, client_backend)
    try:
        device = await _find(link, device_id)
        if device is None:
            return False, "not in range (it forgets the bond at a factory reset)"
        async with link.connection(device) as client:
            await _pair(client)  # already bonded: only brings the link up to encryption
            session = WearableSession(client, timeout_s)
            await session.open()
            frame = await session.command(protocol.cmd_forget())
            with contextlib.suppress(BleakError, NotImplementedError, OSError):
                await client.unpair()  # and this gateway forgets the wearable's keys
    except (BleakError, SessionError, TimeoutError, OSError) as e:
        return False, f"{type(e).__name__}: {e}"
    if frame == bytes((protocol.CMD_FORGET | protocol.RESPONSE_BIT, protocol.STATUS_OK)):
        return True, "forgot its bonded gateway"
    return False, f"answered FORGET with {frame.hex()}"
