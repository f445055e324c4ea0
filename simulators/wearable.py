"""A virtual wearable: the real firmware core (recorder, counter, record log, protocol
handler) on simulated time, fed by the motion synthesizer instead of an IMU.

It keeps the simulator's ground truth: every record the core actually stored (`born`), and
the synthesizer's labels for every set performed (`performed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.core import advert, codec
from firmware.core.clock import DeviceClock
from firmware.core.exercises import code_of
from firmware.core.protocol import DEVICE_NAME_PREFIX, ProtocolHandler
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
from simulators.firmware_units import TICKS_MASK, motion_units


@dataclass(frozen=True)
class PerformedSet:
    """Ground truth of one set: what the synthesized person really did."""

    device_id: str
    exercise: str
    start_unix_ms: int
    true_reps: int
    counted_reps: int


class SimClock:
    """The simulated world's wall clock in Unix ms, advanced by the scenario."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def advance_to(self, unix_ms: int) -> None:
        if unix_ms < self.now_ms:
            raise ValueError("simulated time cannot go backwards")
        self.now_ms = unix_ms


class VirtualWearable:
    def __init__(self, device_id: bytes, world: SimClock, rate_hz: int = 52,
                 log_bytes: int = 64 * 1024, battery_pct: int = 90, log_id: int = 0) -> None:
        if len(device_id) != 6:
            raise ValueError("device id must be 6 bytes")
        self.device_id = device_id
        self.id_hex = device_id.hex()
        self.name = DEVICE_NAME_PREFIX + self.id_hex
        self.address = ":".join(f"{b:02X}" for b in device_id)
        self.world = world
        self.rate_hz = rate_hz
        self.battery_pct = battery_pct
        self.storage = MemoryStorage(log_bytes)
        self.born: list[tuple[bytes, int]] = []  # (record, its true Unix time in ms)
        self.performed: list[PerformedSet] = []
        self.in_range = True
        self.log_id = log_id  # used when the log is created; the device draws it at random
        self.rtc_valid = False
        # The RTC's slow clock (firmware/device/rtc_time.py) keeps whatever time the gateway
        # set, right or wrong, and drifts from then on by `rtc_drift_ppm` (the internal
        # oscillator: a few per cent, tens of thousands of ppm; positive runs fast).
        self.rtc_drift_ppm = 0
        self._rtc_set_ms = 0  # the time the gateway set, and the world's time then
        self._rtc_set_world_ms = 0
        self.charging = False  # advertised (firmware/core/advert.py) for the sync policy
        self.secret: bytes | None = None  # in "flash": kept across reboots, like the device
        self.program: bytes | None = None  # the last program received (SET_PROGRAM), in flash
        self.forgotten = 0  # FORGET commands served (unenrollment)
        self._boot()

    def _boot(self, rtc_unix_ms: int | None = None) -> None:
        """Start: RAM state gone, flash (the record log) kept, time from the RTC if given."""
        self.log = RecordLog(self.storage, self.log_id)
        boot = self.log.new_boot()
        self._boot_unix_ms = self.world.now_ms
        self.clock = DeviceClock(boot, on_set=self._rtc_set)
        if rtc_unix_ms is not None:
            self.clock.restore_unix_ms(rtc_unix_ms, 0)
        self._uptime = 0
        self.recorder = Recorder(self.log, self.clock, self.rate_hz, self._uptime_at)
        self.handler = ProtocolHandler(self.log, self.clock, self.device_id,
                                       self.uptime_ms, lambda: self.battery_pct,
                                       on_program=self._store_program,
                                       on_secret=self._store_secret, secret=self.secret,
                                       on_forget=self._forget)

    def _store_program(self, data: bytes) -> None:
        self.program = data

    def _store_secret(self, secret: bytes) -> None:
        self.secret = secret

    def _forget(self) -> None:
        self.forgotten += 1

    def factory_reset_secret(self) -> None:
        """What clinic staff do with physical access (firmware/README.md): the wearable may
        be enrolled again."""
        self.secret = None
        self.handler.secret = None

    def advertisement_manufacturer_data(self) -> dict[int, bytes]:
        """Manufacturer data as a scanner reports it (company id -> bytes after it)."""
        return {advert.COMPANY_ID: advert.encode(self.charging, self.log.unacked())}

    def _rtc_set(self, unix_ms: int) -> None:
        self.rtc_valid = True  # the RTC now counts on from the time it was given
        self._rtc_set_ms = unix_ms
        self._rtc_set_world_ms = self.world.now_ms

    def rtc_unix_ms(self) -> int | None:
        """What the RTC reads now: the time set, plus the world's time since, drifted; None
        if no gateway set it since power-up."""
        if not self.rtc_valid:
            return None
        elapsed = self.world.now_ms - self._rtc_set_world_ms
        return self._rtc_set_ms + elapsed + elapsed * self.rtc_drift_ppm // 1_000_000

    def reboot(self) -> None:
        """Power loss and power-up: the RTC stops, so the time is unknown until a sync."""
        # The secret and the program are in flash: they survive, as on the device.
        self.rtc_valid = False
        # The RTC's slow clock (firmware/device/rtc_time.py) keeps whatever time the gateway
        # set, right or wrong, and drifts from then on by `rtc_drift_ppm` (the internal
        # oscillator: a few per cent, tens of thousands of ppm; positive runs fast).
        self.rtc_drift_ppm = 0
        self._rtc_set_ms = 0  # the time the gateway set, and the world's time then
        self._rtc_set_world_ms = 0
        self.charging = False
        self._boot()

    def wake_from_deep_sleep(self) -> None:
        """Every wake is a new boot; the RTC ran on, so a time once set is still known."""
        self._boot(self.rtc_unix_ms())

    def uptime_ms(self) -> int:
        return self.world.now_ms - self._boot_unix_ms

    def _uptime_at(self, tick: int) -> int:
        # The core asks for the uptime of the tick of the sample being processed.
        return self._uptime - (((self._uptime & TICKS_MASK) - tick) & TICKS_MASK)

    def perform_set(self, exercise: str, t_s: np.ndarray, acc_g: np.ndarray,
                    gyro_dps: np.ndarray | None, true_reps: int) -> int:
        """Run one set through the firmware, starting now on the world clock.

        The world clock ends at the set's last sample. Returns the reps counted.
        """
        start_unix = self.world.now_ms
        start_uptime = self.uptime_ms()
        acc, gyro = motion_units(acc_g, gyro_dps)
        uptimes = start_uptime + np.rint(t_s * 1000.0).astype(int)
        before = self.log.last_seq
        rec = self.recorder
        rec.start_set(code_of(exercise), int(uptimes[0]) & TICKS_MASK)
        for up, a, g in zip(uptimes.tolist(), acc.tolist(), gyro.tolist(), strict=True):
            self._uptime = up
            rec.sample(up & TICKS_MASK, a[0], a[1], a[2], g[0], g[1], g[2])
        self._uptime = int(uptimes[-1])
        self.world.advance_to(self._boot_unix_ms + self._uptime)
        rec.end_set(self._uptime & TICKS_MASK)
        # The record's stamp is the clock's offset (0 while the time is unknown) plus its
        # uptime; the truth is the world's time at that uptime, whatever the clock believed.
        offset_ms = self.clock.stamp(0)
        for seq in range(before + 1, self.log.last_seq + 1):
            raw = self.log.read(seq)
            if raw is not None:
                fields = codec.decode(raw)
                self.born.append((raw, self._boot_unix_ms + fields["t_ms"] - offset_ms))
        counted = rec.counter.reps
        self.performed.append(PerformedSet(self.id_hex, exercise, start_unix, true_reps, counted))
        return counted

    def born_records(self) -> list[dict]:
        """Every record the firmware stored, decoded, with `true_t_ms`: when it really was."""
        return [{**codec.decode(raw), "true_t_ms": true_ms} for raw, true_ms in self.born]
