"""Radio faults for the simulated air, drawn from a seeded generator so that a failing test
replays exactly.

The errors are bleak's own exception types carrying the strings BlueZ really sends (as
bleak and bleak-retry-connector see them), so the gateway's error handling meets here what
it meets on a Raspberry Pi. Faults act on the air only: the virtual wearable's firmware
core runs untouched and keeps every record until it is acknowledged.

    plan = FaultPlan(seed=7, disconnect=0.2, duplicate=0.1)
    air = SimAir(faults=plan)
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from bleak.exc import BleakDBusError, BleakDeviceNotFoundError, BleakError

from firmware.core.protocol import FRAME_RECORDS

# BlueZ's answers to Device1.Connect while another operation is pending on the adapter:
# btd_error_in_progress(), and btd_error_failed() with strerror(EALREADY).
_IN_PROGRESS = (("org.bluez.Error.InProgress", "In Progress"),
                ("org.bluez.Error.Failed", "Operation already in progress"))


def in_progress_error(rng: random.Random) -> BleakDBusError:
    name, text = rng.choice(_IN_PROGRESS)
    return BleakDBusError(name, [text])  # as bleak's assert_reply builds it from the reply


def connect_abort_error() -> BleakDBusError:
    """The controller gave up creating the link (interference, range)."""
    return BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"])


def out_of_slots_error(address: str, rng: random.Random) -> BleakError:
    """The controller has no free link: BlueZ drops the device object, so bleak reports it
    missing; a proxy-style adapter says so (bleak-retry-connector matches "connection
    slot" in either case)."""
    if rng.random() < 0.5:
        return BleakDeviceNotFoundError(
            address, f"Device with address {address} was not found. It may have been "
                     f"removed from BlueZ when scanning stopped.")
    return BleakError(f"{address}: no free connection slot on the adapter")


def not_connected_error() -> BleakError:
    return BleakError("Not connected")  # what bleak's BlueZ backend raises after a drop


@dataclass
class Delivery:
    """What the air does with one command's notifications."""

    frames: list[bytes]
    drop_link_after: bool


@dataclass
class FaultPlan:
    """Probabilities of each fault; all zero is a perfect radio."""

    seed: int = 0
    disconnect: float = 0.0  # per command: the link drops at a random point of its answer
    duplicate: float = 0.0  # per notification: delivered twice
    reorder: float = 0.0  # per adjacent pair of record frames: swapped
    corrupt: float = 0.0  # per notification: a byte flipped (records) or cut off (others)
    delay_s: tuple[float, float] = (0.0, 0.0)  # slow device: pause before each notification
    out_of_slots: float = 0.0  # per connect attempt
    in_progress: float = 0.0  # per connect attempt
    connect_abort: float = 0.0  # per connect attempt
    slots: int | None = None  # links the adapter can hold (None: as many as asked)
    cut_after_bytes: int | None = None  # once: the link drops after this many bytes notified
    deaf_until_resets: int = 0  # the adapter hears no advertisement until reset so often
    wedged_until_resets: int = 0  # every connect answers InProgress until reset so often
    # Addresses whose GATT table the adapter has cached from an older firmware without the
    # RTM service, until the gateway has the cache dropped.
    stale_gatt: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter, init=False)  # faults injected
    _rng: random.Random = field(init=False, repr=False)
    notified_bytes: int = field(default=0, init=False)  # counted while cut_after_bytes is set

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- adapter ------------------------------------------------------------------------
    @property
    def deaf(self) -> bool:
        return self.deaf_until_resets > 0

    def adapter_reset(self) -> None:
        self.deaf_until_resets = max(0, self.deaf_until_resets - 1)
        self.wedged_until_resets = max(0, self.wedged_until_resets - 1)

    def connect_error(self, address: str, open_links: int) -> BleakError | None:
        """The error a connect attempt fails with, or None if it succeeds."""
        rng = self._rng
        if self.wedged_until_resets:
            self.counts["in_progress"] += 1
            return in_progress_error(rng)
        if self.slots is not None and open_links >= self.slots:
            self.counts["out_of_slots"] += 1
            return out_of_slots_error(address, rng)
        for name, p, make in (
                ("out_of_slots", self.out_of_slots, lambda: out_of_slots_error(address, rng)),
                ("in_progress", self.in_progress, lambda: in_progress_error(rng)),
                ("connect_abort", self.connect_abort, connect_abort_error)):
            if p and rng.random() < p:
                self.counts[name] += 1
                return make()
        return None

    def serves_stale_gatt(self, address: str) -> bool:
        if address.upper() in self.stale_gatt:
            self.counts["stale_gatt"] += 1
            return True
        return False

    def forget_services(self, address: str) -> bool:
        if address.upper() not in self.stale_gatt:
            return False
        self.stale_gatt.discard(address.upper())
        return True

    # -- notifications ------------------------------------------------------------------
    def delay(self) -> float:
        low, high = self.delay_s
        return self._rng.uniform(low, high) if high > 0 else 0.0

    def deliver(self, frames: list[bytes]) -> Delivery:
        """The notifications the gateway gets for one command's answer `frames`."""
        frames = self._reordered(list(frames))
        frames = [self._maybe_corrupt(f) for f in frames]
        frames = self._duplicated(frames)
        frames, cut = self._cut(frames)
        return Delivery(frames, cut)

    def _reordered(self, frames: list[bytes]) -> list[bytes]:
        for i in range(len(frames) - 1):
            both_records = frames[i][:1] == frames[i + 1][:1] == bytes((FRAME_RECORDS,))
            if both_records and self.reorder and self._rng.random() < self.reorder:
                frames[i], frames[i + 1] = frames[i + 1], frames[i]
                self.counts["reorder"] += 1
        return frames

    def _maybe_corrupt(self, frame: bytes) -> bytes:
        if not (self.corrupt and self._rng.random() < self.corrupt):
            return frame
        self.counts["corrupt"] += 1
        if frame[:1] == bytes((FRAME_RECORDS,)) and len(frame) > 2:
            # A flipped bit in the count breaks the length, anywhere else the record's CRC.
            i = self._rng.randrange(1, len(frame))
            return frame[:i] + bytes((frame[i] ^ (1 << self._rng.randrange(8)),)) + frame[i + 1:]
        # Responses carry no CRC of their own (the link layer's protects them on a real
        # radio): a firmware fault shows as a short frame, which every parser rejects.
        return frame[:self._rng.randrange(len(frame))]

    def _duplicated(self, frames: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            out.append(frame)
            if self.duplicate and self._rng.random() < self.duplicate:
                out.append(frame)
                self.counts["duplicate"] += 1
        return out

    def _cut(self, frames: list[bytes]) -> tuple[list[bytes], bool]:
        if self.cut_after_bytes is not None:
            return self._cut_at_byte(frames)
        if self.disconnect and self._rng.random() < self.disconnect:
            self.counts["disconnect"] += 1
            return frames[:self._rng.randint(0, len(frames))], True
        return frames, False

    def _cut_at_byte(self, frames: list[bytes]) -> tuple[list[bytes], bool]:
        assert self.cut_after_bytes is not None
        budget = self.cut_after_bytes - self.notified_bytes
        total = sum(len(f) for f in frames)
        if budget >= total:
            self.notified_bytes += total
            return frames, False
        out: list[bytes] = []
        for frame in frames:
            if budget < len(frame):
                if budget:
                    out.append(frame[:budget])  # the notification that was on the air
                break
            out.append(frame)
            budget -= len(frame)
        self.cut_after_bytes = None  # once
        self.counts["disconnect"] += 1
        return out, True
