"""The bridge's MQTT side: a persistent QoS 1 subscription whose messages are acknowledged
only after the store has them.

paho's network thread only puts each message in a bounded inbox (cloud_bridge/inbox.py:
backpressure when the store is slow). A writer thread takes everything waiting there as one
batch, validates each message, writes all their records to the store in one call (retrying
with back-off while the store is unavailable) and only then sends each message's PUBACK
with `client.ack()`. A message the broker delivers twice is harmless: writes are idempotent.

Enrollment messages (``rtm/v1/+/+/enrollment``) go to the device-key table
(cloud_bridge/device_keys.py) on the same worker, in order with the records.

Device state messages (``rtm/v1/+/+/state``, retained; cloud_bridge/state_message.py) are
validated like the records and written with `store.write_device_states` after the batch's
records, the latest of each device in one call, retried while the store is unavailable;
their PUBACKs too wait for the store. Bad ones, and one for a wearable enrolled at another
gateway, are counted by reason (`device_states_rejected`) and dead-lettered.

Integrity (docs/mqtt.md, "Integrity"): a records message of a device with a known key must
carry the wearable's batch tag, and it must verify, or the whole message is rejected and
counted (`unsigned`, `bad_mac`, `cross_device`, `seq_conflict`). A device without a key is
accepted and counted (`unsigned_unenrolled`) unless `require_signed`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge import broker_link
from cloud_bridge import device_keys as keys_mod
from cloud_bridge.dead_letters import DeadLetters
from cloud_bridge.dead_letters import path_for as dead_letters_path_for
from cloud_bridge.device_keys import ENROLLED, DeviceKeys, EnrollmentRejected
from cloud_bridge.device_state import DeviceState
from cloud_bridge.inbox import Delivery, Inbox
from cloud_bridge.payload import TOPIC_FILTER, ParsedMessage, PayloadError, parse_message, verify
from cloud_bridge.records import StoredRecord
from cloud_bridge.state_message import TOPIC_FILTER as STATE_FILTER
from cloud_bridge.state_message import TOPIC_SUFFIX as STATE_SUFFIX
from cloud_bridge.state_message import StateRejected, parse_state
from cloud_bridge.stores.base import CheckedRecords, Store, StoreRejected, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


DEFAULT_INBOX_MESSAGES = 1000
DEFAULT_INBOX_BYTES = 64 << 20
# Messages per store write: each holds up to 256 records (one FETCH batch), so about the
# 5,000 points per request InfluxDB's documentation recommends at most.
BATCH_MESSAGES = 64


@dataclass
class _Validated:
    """A batch validated, waiting to be stored and acknowledged."""
    deliveries: list[Delivery]
    done: list[bool]
    accepted: list[_Accepted]
    states: list[_AcceptedState]

    def __len__(self) -> int:
        return len(self.deliveries)

    @classmethod
    def joined(cls, batches: list[_Validated]) -> _Validated:
        """One batch of several, in order: stored in one write, acknowledged in order."""
        if len(batches) == 1:
            return batches[0]
        whole = cls([], [], [], [])
        for batch in batches:
            offset = len(whole.deliveries)
            whole.deliveries += batch.deliveries
            whole.done += batch.done
            whole.accepted += [replace(m, index=m.index + offset) for m in batch.accepted]
            whole.states += [replace(m, index=m.index + offset) for m in batch.states]
        return whole


@dataclass
class _Accepted:
    """A records message that passed validation and integrity, waiting for the batch write."""
    index: int  # in the batch
    topic: str
    payload: bytes
    parsed: ParsedMessage
    verified: bool


@dataclass
class _AcceptedState:
    """A device state message that passed validation, waiting for the batch's write."""
    index: int  # in the batch
    topic: str
    payload: bytes
    state: DeviceState


class BridgeStats:
    """Counters of what the bridge did, by outcome; read by the CLI and tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages = 0
        self.records_stored = 0
        self.store_writes = 0  # successful store.write calls: records_stored / this = batch
        self.store_retries = 0  # writes tried again after the store was unavailable
        self.rejected: Counter[str] = Counter()  # by reason
        self.enrollments: Counter[str] = Counter()  # applied, by state
        self.enrollments_rejected: Counter[str] = Counter()  # by reason
        # Accepted records messages by integrity: "verified", "unsigned_unenrolled" (no key
        # to check against). Rejections, "replayed" among them, are in `rejected`.
        self.integrity: Counter[str] = Counter()
        self.device_states_stored = 0  # state messages the store has (or had a later one of)
        self.device_states_rejected: Counter[str] = Counter()  # by reason

    def reject(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] += 1

    def accepted(self, integrity: str) -> None:
        with self.lock:
            self.integrity[integrity] += 1

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            return {"messages": self.messages, "records_stored": self.records_stored,
                    "store_writes": self.store_writes, "store_retries": self.store_retries,
                    "rejected": dict(self.rejected), "enrollments": dict(self.enrollments),
                    "enrollments_rejected": dict(self.enrollments_rejected),
                    "integrity": dict(self.integrity),
                    "device_states_stored": self.device_states_stored,
                    "device_states_rejected": dict(self.device_states_rejected)}


def _beside_store(store: Store, path_for: Callable[[str], Path], what: str, option: str,
                  open_file: Callable[[str | Path], T]) -> T:
    """`open_file` on a file next to a SQLite store's, or in memory (with a warning) for a
    store without a file of its own."""
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:":
        return open_file(path_for(path))
    log.warning("%s kept in memory only (no file for this store): lost at a restart; use "
                "rtm-bridge %s PATH", what, option)
    return open_file(":memory:")


_SHARE_GROUP = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Bridge:
    """`device_keys` holds enrollments; by default a file next to a SQLite store's.
    `require_signed` also rejects records of devices without a known key: what a deployment
    whose wearables are all enrolled through the bridge should set.

    `share_group`: scale out. Every instance started with the same group (and a client id of
    its own) takes a share of the records through an MQTT v5 shared subscription
    (`$share/<group>/rtm/v1/+/+/records`); the broker gives each message to one of them.
    Enrollments and device states are not shared: every instance sees every one (applying
    one twice changes nothing). Without a group the bridge speaks MQTT 3.1.1, which the
    demo's embedded broker needs."""

    def __init__(self, store: Store, host: str, port: int, client_id: str = "rtm-bridge",
                 inbox_messages: int = DEFAULT_INBOX_MESSAGES,
                 inbox_bytes: int = DEFAULT_INBOX_BYTES, retry_max_s: float = 30.0,
                 device_keys: DeviceKeys | None = None, require_signed: bool = False,
                 share_group: str | None = None,
                 dead_letters: DeadLetters | None = None,
                 broker_security: broker_link.BrokerSecurity | None = None,
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.store = store
        # The bridge's Unix ms (NTP-kept): no record can have been made after a message
        # reached it, so a record dated later is flagged (cloud_bridge/payload.py).
        self.clock_ms = clock_ms if clock_ms is not None else _wall_clock_ms
        self.require_signed = require_signed
        self._own_keys = device_keys is None
        self.device_keys = device_keys if device_keys is not None else _beside_store(
            store, keys_mod.keys_path_for, "device keys (enrollments) are", "--device-keys",
            DeviceKeys)
        self._own_dead_letters = dead_letters is None
        self.dead_letters = dead_letters if dead_letters is not None else _beside_store(
            store, dead_letters_path_for, "dead letters are", "--dead-letters", DeadLetters)
        self.host = host
        self.port = port
        self.stats = BridgeStats()
        self.retry_max_s = retry_max_s
        self._pending = 0  # delivered, not yet handled
        self.inbox: Inbox[Delivery] = Inbox(inbox_messages, inbox_bytes)
        self._stop = threading.Event()
        self._connected = threading.Event()
        # Verified records of batches accepted but not yet stored (and remembered): a later
        # message repeating them is a replay, or a conflict, before they reach the key file.
        # Per device, each such message's digests (seq -> digest): one entry per message,
        # not per record, and usually none for the device a message is from.
        self._unstored: dict[str, list[dict[int, bytes]]] = {}
        self._unstored_lock = threading.Lock()
        # The writer validates a batch and stores it. With a store whose writes wait on a
        # server (InfluxDB), a second thread does the storing, so that what arrives is
        # validated meanwhile and goes into the next write, all of it: at most
        # BATCH_MESSAGES messages wait for it. Not with SQLite: sqlite3 hands the GIL back
        # and forth for every row, and a validating thread beside it made the whole slower.
        # More throughput than that comes from more instances, one per core.
        self._overlap = getattr(store, "write_waits_on_server", False)
        self._validated: Inbox[_Validated] = Inbox(inbox_messages, BATCH_MESSAGES, size=len)
        self._workers = [threading.Thread(target=self._validate_loop, name="bridge-validate",
                                          daemon=True)]
        if self._overlap:
            self._workers.append(threading.Thread(target=self._store_loop, name="bridge-store",
                                                  daemon=True))
        if share_group is not None and not _SHARE_GROUP.match(share_group):
            raise ValueError(f"share group must be 1-64 letters, digits, '-' or '_', got "
                             f"{share_group!r}")
        self.share_group = share_group
        self.records_filter = (f"$share/{share_group}/{TOPIC_FILTER}" if share_group
                               else TOPIC_FILTER)
        if share_group:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      clean_session=False, protocol=mqtt.MQTTv311,
                                      manual_ack=True)
        if broker_security is not None:
            broker_link.apply(self.client, broker_security)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- paho's network thread --------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the bridge: %s (check --username/--password-file, "
                      "and that the broker has this user)", reason_code)
            return
        client.subscribe([(self.records_filter, 1), (keys_mod.TOPIC_FILTER, 1),
                          (STATE_FILTER, 1)])
        self._connected.set()
        log.info("bridge subscribed to %s, %s and %s on %s:%d", self.records_filter,
                 keys_mod.TOPIC_FILTER, STATE_FILTER, self.host, self.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("bridge disconnected from broker: %s", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self.stats.lock:
            self._pending += 1
        # Waits while the inbox is full: backpressure instead of an unbounded queue.
        self.inbox.put(Delivery(message.mid, message.qos, message.topic, bytes(message.payload)))

    # -- the writer threads -----------------------------------------------------------
    def _validate_loop(self) -> None:
        while True:
            batch = self.inbox.take(BATCH_MESSAGES)
            if not batch:
                if self._overlap:
                    self._validated.close()
                return  # closed and empty
            done, accepted, states = self._validate([(d.topic, d.payload) for d in batch])
            item = _Validated(batch, done, accepted, states)
            if self._overlap:
                self._validated.put(item)
            else:
                self._complete(item)

    def _store_loop(self) -> None:
        while items := self._validated.take():
            self._complete(_Validated.joined(items))

    def _complete(self, item: _Validated) -> None:
        """Store a validated batch, then acknowledge what is done, in order."""
        done = self._finish(item.done, item.accepted, item.states)
        for delivery, ok in zip(item.deliveries, done, strict=True):
            if ok and delivery.qos > 0:
                self.client.ack(delivery.mid, delivery.qos)
        with self.stats.lock:
            self._pending -= len(item.deliveries)

    def handle(self, topic: str, payload: bytes) -> bool:
        """Validate and store one message: `handle_batch` of one."""
        return self.handle_batch([(topic, payload)])[0]

    def handle_batch(self, messages: Sequence[tuple[str, bytes]]) -> list[bool]:
        """Validate (topic, payload) messages in order and write all their good records to
        the store in one call (their device states in another). For each message: True once
        it is stored or rejected for good (it may be acknowledged); False if it must come
        again: the bridge is stopping before the store took it, or handling it failed
        unexpectedly (counted `internal_error`)."""
        return self._finish(*self._validate(messages))

    def _validate(self, messages: Sequence[tuple[str, bytes]]
                  ) -> tuple[list[bool], list[_Accepted], list[_AcceptedState]]:
        """Each message's outcome so far, the records messages and the device states to
        store."""
        with self.stats.lock:
            self.stats.messages += len(messages)
        done = [True] * len(messages)
        accepted: list[_Accepted] = []
        states: list[_AcceptedState] = []
        for i, (topic, payload) in enumerate(messages):
            try:
                if topic.endswith("/enrollment"):
                    done[i] = self._enrollment(topic, payload)
                    continue
                if topic.endswith(STATE_SUFFIX):
                    state = self._accept_state(i, topic, payload)
                    if state is not None:
                        states.append(state)
                    continue
                message = self._accept(i, topic, payload)
            except Exception:  # the writer must outlive any one message
                # A bug: keep the message unacknowledged (the broker delivers it again
                # after a reconnect) and go on with the next.
                log.exception("unexpected error handling a message on %s", topic)
                self.stats.reject("internal_error")
                done[i] = False
                continue
            if message is not None:
                accepted.append(message)
        return done, accepted, states

    def _finish(self, done: list[bool], accepted: list[_Accepted],
                states: list[_AcceptedState] | None = None) -> list[bool]:
        """Store the accepted messages, then the device states; `done` with their
        outcomes."""
        try:
            for message, stored in self._store(accepted):
                done[message.index] = stored
            for state_message, stored in self._store_states(states or []):
                done[state_message.index] = stored
        finally:
            with self._unstored_lock:
                for message in accepted:
                    if message.verified:
                        self._forget_unstored(message.parsed)
        return done

    def _forget_unstored(self, parsed: ParsedMessage) -> None:
        """`parsed` is stored (or will come again): no longer pending. Under the lock."""
        pending = self._unstored.get(parsed.device_id, [])
        digests = parsed.digests()
        for i, entry in enumerate(pending):
            if entry is digests:
                del pending[i]
                break
        if not pending:
            self._unstored.pop(parsed.device_id, None)

    def _accept(self, index: int, topic: str, payload: bytes) -> _Accepted | None:
        """The message's records to write, or None if there is nothing to write (rejected
        for good, counted and dead-lettered, or a replay)."""
        try:
            parsed = parse_message(topic, payload, self.clock_ms())
        except PayloadError as e:
            self.stats.reject(e.reason)
            log.warning("rejected message on %s: %s", topic, e)
            self.dead_letters.add(topic, payload, e.reason, str(e))
            return None
        verdict, verified = self._integrity(parsed)
        if verdict is not None:
            self.stats.reject(verdict)
            log.warning("rejected records message on %s: %s", topic, verdict)
            if verdict != "replayed":  # a copy of stored records: nothing to keep
                self.dead_letters.add(topic, payload, verdict, "the whole message")
            return None
        for reason in parsed.rejected:
            self.stats.reject("bad_record")
            log.warning("rejected record from device %s: %s", parsed.device_id, reason)
        if parsed.rejected:
            # The message's good records are stored; the payload keeps the bad ones too.
            self.dead_letters.add(topic, payload, "bad_record", "; ".join(parsed.rejected))
        if not parsed.records:
            return None
        if verified:
            with self._unstored_lock:
                self._unstored.setdefault(parsed.device_id, []).append(parsed.digests())
        return _Accepted(index, topic, payload, parsed, verified)

    def _store(self, accepted: list[_Accepted]) -> list[tuple[_Accepted, bool]]:
        """Write the accepted messages' records in one call; each message with whether it
        is done. A failing batch is written again message by message, so that one bad
        message neither holds up nor takes down the others."""
        if not accepted:
            return []
        records = CheckedRecords.join([message.parsed.records for message in accepted])
        try:
            stored = self._write(records)
        except StoreRejected as e:
            log.error("store rejected a batch of %d records of %d messages: %s; writing them "
                      "message by message", len(records), len(accepted), e)
            return self._store_each(accepted)
        except Exception:
            log.exception("unexpected error writing a batch of %d messages; writing them "
                          "message by message", len(accepted))
            return self._store_each(accepted)
        if stored:
            self._remember_verified(accepted)
        return [(message, stored) for message in accepted]

    def _store_each(self, accepted: list[_Accepted]) -> list[tuple[_Accepted, bool]]:
        outcome = []
        for message in accepted:
            try:
                try:
                    stored = self._write(message.parsed.records)
                except StoreRejected as e:
                    # Validation should have caught it; find the culprit instead of losing
                    # the message: write one by one, drop only what the store refuses.
                    log.error("store rejected %d records from %s: %s; retrying singly",
                              len(message.parsed.records), message.parsed.device_id, e)
                    stored = self._write_singly(message.parsed.records, message.topic,
                                                message.payload)
                if stored:
                    self._remember_verified([message])
            except Exception:
                log.exception("unexpected error storing a message on %s", message.topic)
                self.stats.reject("internal_error")
                stored = False
            outcome.append((message, stored))
        return outcome

    def _remember_verified(self, messages: list[_Accepted]) -> None:
        """Only now: a record noted as verified is one the store has."""
        verified = [(m.parsed.device_id, m.parsed.digests()) for m in messages if m.verified]
        if verified:
            self.device_keys.remember_verified(verified)

    def _integrity(self, parsed: ParsedMessage) -> tuple[str | None, bool]:
        """(None if the message may be stored, counted by how it was accepted, else the
        reason to reject all of it; whether its tag verified)."""
        key = self.device_keys.get(parsed.device_id)
        secret = key.secret if key is not None else None
        enrolled = key is not None and key.state == ENROLLED and secret is not None
        # An unenrolled device keeps its key: a tag it made is still checked with it.
        if secret is None or (not enrolled and parsed.mac is None):
            if self.require_signed:
                return "unsigned_unenrolled", False
            self.stats.accepted("unsigned_unenrolled")
            return None, False
        if parsed.mac is None:
            return "unsigned", False  # a gateway stripped the tag, or an unprovisioned wearable
        if not verify(parsed, parsed.device_id, secret):
            return ("cross_device" if self._verifies_elsewhere(parsed) else "bad_mac"), False
        digests = parsed.digests()
        seen = self.device_keys.verified_digests(parsed.device_id, list(digests))
        with self._unstored_lock:  # accepted, being stored
            for pending in self._unstored.get(parsed.device_id, ()):
                for seq in digests.keys() & pending.keys():
                    seen.setdefault(seq, pending[seq])
        for seq, digest in digests.items():
            old = seen.get(seq)
            if old is not None and old != digest:
                # Two different verified records with one seq: only a leaked key or broken
                # firmware makes that. Keep the first, let an operator look.
                return "seq_conflict", False
        if digests and len(seen) == len(digests):
            # Every record is stored already, with these bytes: a redelivery or a replay.
            # Nothing to write; rejected (and acknowledged) so that it shows.
            return "replayed", True
        self.stats.accepted("verified")
        return None, True

    def _verifies_elsewhere(self, parsed: ParsedMessage) -> bool:
        """Whether the tag is that of another wearable at the same gateway: records moved
        from one device's topic to another's. Only tried on a failure, so cheap."""
        return any(verify(parsed, device_id, secret)
                   for device_id, secret in self.device_keys.enrolled_at(parsed.gateway_id)
                   if device_id != parsed.device_id)

    def _enrollment(self, topic: str, payload: bytes) -> bool:
        """Apply an enrollment to the key table; a rejected one is counted and acknowledged
        (redelivery would not make it better). A key-table error propagates: the message
        is not acknowledged and comes again."""
        try:
            key = self.device_keys.apply_message(topic, payload)
        except EnrollmentRejected as e:
            with self.stats.lock:
                self.stats.enrollments_rejected[e.reason] += 1
            log.warning("rejected enrollment on %s: %s", topic, e)
            self.dead_letters.add(topic, payload, e.reason, str(e))
            return True
        with self.stats.lock:
            self.stats.enrollments[key.state] += 1
        log.info("device %s %s at gateway %s", key.device_id, key.state, key.gateway_id)
        return True

    def _accept_state(self, index: int, topic: str, payload: bytes) -> _AcceptedState | None:
        """The device state to write, or None if the message is rejected for good (counted
        and dead-lettered)."""
        try:
            state = parse_state(topic, payload)
        except StateRejected as e:
            self._reject_state(topic, payload, e.reason, str(e))
            return None
        key = self.device_keys.get(state.device_id)
        if key is not None and key.state == ENROLLED and key.gateway_id != state.gateway_id:
            # A gateway may speak for the wearables enrolled at it only: another home's
            # report would hide the real one's problems.
            self._reject_state(topic, payload, "other_gateway",
                               f"device {state.device_id} is enrolled at gateway "
                               f"{key.gateway_id}, not {state.gateway_id}")
            return None
        return _AcceptedState(index, topic, payload, state)

    def _reject_state(self, topic: str, payload: bytes, reason: str, detail: str) -> None:
        with self.stats.lock:
            self.stats.device_states_rejected[reason] += 1
        log.warning("rejected device state on %s: %s", topic, detail)
        self.dead_letters.add(topic, payload, reason, detail)

    def _store_states(self, accepted: list[_AcceptedState]
                      ) -> list[tuple[_AcceptedState, bool]]:
        """Write the latest accepted state of each device in one call; each message with
        whether it is done (an older state of a device is done once a later one is stored:
        the store would keep the later one anyway)."""
        if not accepted:
            return []
        latest: dict[str, DeviceState] = {}
        for message in accepted:
            have = latest.get(message.state.device_id)
            if have is None or have.reported_ms <= message.state.reported_ms:
                latest[message.state.device_id] = message.state
        try:
            stored = self._write_states(list(latest.values()))
        except StoreRejected as e:
            # Validation should have caught it: find the culprit, keep the others.
            log.error("store rejected %d device states: %s; writing them singly",
                      len(latest), e)
            return [(message, self._store_state_alone(message)) for message in accepted]
        except Exception:
            # A bug: the messages stay unacknowledged and come again after a reconnect.
            log.exception("unexpected error writing %d device states", len(latest))
            self.stats.reject("internal_error")
            return [(message, False) for message in accepted]
        if stored:
            with self.stats.lock:
                self.stats.device_states_stored += len(accepted)
        return [(message, stored) for message in accepted]

    def _store_state_alone(self, message: _AcceptedState) -> bool:
        try:
            stored = self._write_states([message.state])
        except StoreRejected as e:
            self._reject_state(message.topic, message.payload, "store_rejected", str(e))
            return True
        except Exception:
            log.exception("unexpected error storing a device state on %s", message.topic)
            self.stats.reject("internal_error")
            return False
        if stored:
            with self.stats.lock:
                self.stats.device_states_stored += 1
        return stored

    def _write_states(self, states: list[DeviceState]) -> bool:
        """`store.write_device_states`, retried like `_write`."""
        return self._retrying(lambda: self.store.write_device_states(states))

    def _write(self, records: list[StoredRecord]) -> bool:
        """Write, retrying with back-off while the store is unavailable. True once stored;
        False if the bridge is stopping first (then nothing is acknowledged and the broker
        delivers the message again). StoreRejected goes to the caller."""
        if not self._retrying(lambda: self.store.write(records)):
            return False
        with self.stats.lock:
            self.stats.records_stored += len(records)
            self.stats.store_writes += 1
        return True

    def _retrying(self, write: Callable[[], None]) -> bool:
        """Call `write` until it returns, with back-off while the store is unavailable; True
        once it returned, False if the bridge is stopping first."""
        delay = 0.5
        while True:
            try:
                write()
            except StoreUnavailable as e:
                if self._stop.is_set():
                    return False
                wait = min(max(delay, e.retry_after_s or 0.0), self.retry_max_s)
                log.warning("store unavailable (%s); retrying in %.1f s", e, wait)
                with self.stats.lock:
                    self.stats.store_retries += 1
                # Woken early by stop(): the message stays unacknowledged and comes again.
                if self._stop.wait(wait):
                    return False
                delay = min(delay * 2, self.retry_max_s)
                continue
            return True

    def _write_singly(self, records: list[StoredRecord], topic: str, payload: bytes) -> bool:
        for rec in records:
            try:
                if not self._write([rec]):
                    return False
            except StoreRejected as e:
                self.stats.reject("store_rejected")
                log.error("store refuses record (%s, %d): %s", rec.device_id, rec.seq, e)
                self.dead_letters.add(topic, payload, "store_rejected",
                                      f"seq {rec.seq}: {e}")
        return True

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        for worker in self._workers:
            worker.start()
        if self.share_group:
            # MQTT v5: a session survives the connection only with an expiry interval (the
            # maximum: the broker keeps queueing for this instance while it is away).
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0xFFFFFFFF
            self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                      properties=props)
        else:
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def idle(self) -> bool:
        """True when every delivered message has been handled."""
        with self.stats.lock:
            return self._pending == 0

    def _drain_handled(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self.share_group and self._connected.is_set():
            # Leave the group first: the broker keeps dealing shares to a member whose
            # session persists, so a stopped instance would hold records until it returns.
            # (One that crashes does hold its share until it reconnects with its client id.)
            left = threading.Event()
            self.client.on_unsubscribe = lambda *_: left.set()
            self.client.unsubscribe(self.records_filter)
            left.wait(5)
            self._drain_handled(timeout_s=10)
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        self.inbox.close()
        for worker in self._workers:
            worker.join(timeout=10)
        stopped = not any(worker.is_alive() for worker in self._workers)
        if self._own_keys and stopped:
            self.device_keys.close()
        if self._own_dead_letters and stopped:
            self.dead_letters.close()
