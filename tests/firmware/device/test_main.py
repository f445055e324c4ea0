"""firmware/main.py's set handling and per-sample path, with the real core, the real IMU driver
on the emulated bus, and fakes only at the edges (ticks, feedback, radio)."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from firmware.core import codec
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
from firmware.device import ui
from firmware.device.lsm6dsox import LSM6DSOX
from tests.firmware.device.fake_i2c import TAG_ACCEL, TAG_GYRO, FakeLSM6DSOX, word
from tests.firmware.device.main_shim import FakeClock, FakeFeedback, FakePeripheral, import_main

RATE_HZ = 52


class SpyRecorder(Recorder):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.ticks: list[int] = []

    def sample(self, t_ms, ax, ay, az, gx, gy, gz):
        self.ticks.append(t_ms)
        return super().sample(t_ms, ax, ay, az, gx, gy, gz)


class Rig:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = FakeClock(10_000)
        self.main = import_main(monkeypatch, self.clock)
        self.bus = FakeLSM6DSOX()
        self.imu = LSM6DSOX(self.bus, odr_hz=RATE_HZ, batch_samples=26)
        self.log = RecordLog(MemoryStorage(64 + 32 * 256))
        self.recorder = SpyRecorder(self.log, DeviceClock(self.log.new_boot()), RATE_HZ,
                                    lambda t: t)
        self.feedback = FakeFeedback()
        self.periph = FakePeripheral()
        self.app = self.main.Wearable(
            i2c=self.bus, imu=self.imu, log=self.log, recorder=self.recorder, uptime=None,
            battery=None, feedback=self.feedback, button=None, periph=self.periph,
            int1_pin=None, button_pin=None, awake_ms=120_000)
        self.slot = 0

    def push_tilts(self, angles_deg: list[float]) -> None:
        """Samples of the wearable tilted by these angles (gravity only), as FIFO words."""
        for angle in angles_deg:
            rad = math.radians(angle)
            ay, az = (round(1000 * f * 32768 / 4000) for f in (math.sin(rad), math.cos(rad)))
            self.bus.push(word(TAG_GYRO, self.slot, 0, 0, 0),
                          word(TAG_ACCEL, self.slot, 0, ay, az))
            self.slot += 1


def rep_profile() -> list[float]:
    rest, move = [0.0] * 31, 52
    up = [60.0 * i / move for i in range(move)]
    return rest + up + [60.0] * 5 + up[::-1] + rest


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Rig:
    return Rig(monkeypatch)


def test_samples_are_stamped_back_from_the_read_time(rig: Rig) -> None:
    rig.recorder.start_set(0, rig.clock.ticks_ms())
    rig.imu.start()
    rig.push_tilts([0.0] * 26)
    rig.clock.advance(500)
    rig.app._drain()
    now = rig.clock.ticks_ms()
    assert len(rig.recorder.ticks) == 26
    assert rig.recorder.ticks[-1] == now
    assert rig.recorder.ticks[0] == now - 25 * 1000 // RATE_HZ
    assert rig.recorder.ticks == sorted(rig.recorder.ticks)


def test_a_backlog_larger_than_one_read_is_drained_in_order(rig: Rig) -> None:
    rig.recorder.start_set(0, rig.clock.ticks_ms())
    rig.imu.start()
    rig.push_tilts([0.0] * 100)  # 200 words: more than one 128-word read
    rig.clock.advance(2000)
    rig.app._drain()
    ticks = rig.recorder.ticks
    assert len(ticks) == 100
    assert ticks[-1] == rig.clock.ticks_ms()
    assert ticks[0] == ticks[-1] - 99 * 1000 // RATE_HZ
    assert ticks == sorted(ticks)
    assert rig.bus.fifo_reads == [128 * 7, 72 * 7]


def test_reps_pulse_and_the_tenth_plays_the_target(rig: Rig) -> None:
    rig.recorder.start_set(0, rig.clock.ticks_ms())
    rig.imu.start()
    angles = rep_profile() * 12
    for i in range(0, len(angles), 26):
        rig.push_tilts(angles[i:i + 26])
        rig.clock.advance(500)
        rig.app._drain()
    reps = rig.recorder.counter.reps
    assert reps == 12
    played = rig.feedback.played
    assert played.count((ui.TARGET, ui.PRIO_HIGH)) == 1
    assert played.index((ui.TARGET, ui.PRIO_HIGH)) == 9  # the tenth rep event
    assert played.count((ui.REP, ui.PRIO_NORMAL)) == reps - 1
    kinds = [codec.decode(rig.log.read(s))["kind"] for s in range(1, rig.log.last_seq + 1)]
    assert kinds == ["rep"] * 12


def test_start_and_finish_a_set(rig: Rig) -> None:
    async def scenario() -> None:
        await rig.app._start_set()
        assert rig.recorder.in_set
        assert rig.bus.regs[0x10] == 0x3A and rig.bus.regs[0x11] == 0x34  # streaming
        assert rig.feedback.played[-1] == (ui.SET_START, ui.PRIO_NORMAL)
        assert rig.app._set_event.is_set()
        rig.push_tilts([0.0] * 26)
        rig.clock.advance(500)
        rig.app._drain()
        rig.app._finish_set()
        assert not rig.recorder.in_set
        assert rig.bus.regs[0x10] == 0x18 and rig.bus.regs[0x11] == 0  # wake-on-motion
        assert rig.feedback.played[-1] == (ui.SET_END, ui.PRIO_NORMAL)
        assert rig.app._radio_task is not None  # the radio may come back
        await rig.app._stop_radio()

    asyncio.run(scenario())
    record = codec.decode(rig.log.read(rig.log.last_seq))
    assert record["kind"] == "set" and record["reps"] == 0


def test_a_full_log_is_signalled_at_set_start(rig: Rig) -> None:
    boot = rig.log.boot
    while rig.log.append(codec.encode_rep(rig.log.next_seq(), 0, 0, 1, 0, boot, 1, 1, 1, 1)):
        pass
    asyncio.run(rig.app._start_set())
    assert rig.feedback.played[-1] == (ui.ERROR, ui.PRIO_HIGH)


def test_a_missing_imu_refuses_the_set(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.app.imu = None
    monkeypatch.setattr(rig.main, "_open_imu", lambda i2c: None)
    asyncio.run(rig.app._start_set())
    assert not rig.recorder.in_set
    assert rig.feedback.played == [(ui.ERROR, ui.PRIO_HIGH)]


def test_awake_window_depends_on_what_woke_us(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    main = rig.main
    assert main._awake_window_ms(False) == 120_000
    for reason, window in ((2, 30_000), (4, 60_000), (3, 120_000)):
        monkeypatch.setattr(main.machine, "wake_reason", lambda r=reason: r, raising=False)
        assert main._awake_window_ms(True) == window


def test_stamps_stay_increasing_when_the_imu_runs_fast(rig: Rig) -> None:
    """An IMU 3% fast delivers 27 samples in a 500 ms batch period: stamped back from the
    read time, the first of a batch would land before the last of the previous batch."""
    rig.recorder.start_set(0, rig.clock.ticks_ms())
    rig.imu.start()
    profile = rep_profile() * 4
    for i in range(0, len(profile), 27):
        rig.push_tilts(profile[i:i + 27])
        rig.clock.advance(500)
        rig.app._drain()
    ticks = rig.recorder.ticks
    assert all(b > a for a, b in itertools.pairwise(ticks))
    assert rig.recorder.counter.reps == 4 and rig.recorder.counter.partials == 0
