"""firmware/main.py's set handling and per-sample path, with the real core (recorder, session,
program), the real IMU driver on the emulated bus, and fakes only at the edges (ticks,
feedback, radio, battery, button, files in a temporary directory)."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from firmware.core import codec, program
from firmware.core.clock import DeviceClock
from firmware.core.record_log import MemoryStorage, RecordLog
from firmware.core.recorder import Recorder
from firmware.core.session import DONE, IDLE, IN_SET, RESTING, SET_IDLE_MS, Session
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


class FakeBattery:
    def __init__(self, pct: int = 80, charging: bool = False) -> None:
        self.pct = pct
        self.is_charging = charging

    def percent(self) -> int:
        return self.pct

    def charging(self) -> bool:
        return self.is_charging


class FakeUptime:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def ms(self) -> int:
        return self.clock.raw_ms


class Rig:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path, program_bytes=None) -> None:
        self.clock = FakeClock(10_000)
        self.main = import_main(monkeypatch, self.clock)
        monkeypatch.setattr(self.main, "_PROGRAM_PATH", str(tmp_path / "rtm_program.bin"))
        monkeypatch.setattr(self.main, "_PROGRESS_PATH", str(tmp_path / "rtm_progress.bin"))
        self.tmp_path = tmp_path
        self.bus = FakeLSM6DSOX()
        self.imu = LSM6DSOX(self.bus, odr_hz=RATE_HZ, batch_samples=26)
        self.log = RecordLog(MemoryStorage(64 + 32 * 256))
        self.recorder = SpyRecorder(self.log, DeviceClock(self.log.new_boot()), RATE_HZ,
                                    lambda t: t)
        if program_bytes is not None:
            (tmp_path / "rtm_program.bin").write_bytes(program_bytes)
        self.session = Session(self.recorder, self.main._load_program(),
                               self.main._load_progress(), self.main._save_progress)
        self.feedback = FakeFeedback()
        self.periph = FakePeripheral()
        self.battery = FakeBattery()
        self.app = self.main.Wearable(
            i2c=self.bus, imu=self.imu, log=self.log, recorder=self.recorder,
            session=self.session, uptime=FakeUptime(self.clock), battery=self.battery,
            feedback=self.feedback, button=None, periph=self.periph, int1_pin=None,
            button_pin=None, awake_ms=120_000)
        self.slot = 0

    def batches(self, angles: list[float], per_batch: int = 26) -> None:
        """Push the samples in 500 ms batches, each drained and followed by the batch step,
        as the sampling task does."""
        for i in range(0, len(angles), per_batch):
            self.push_tilts(angles[i:i + per_batch])
            self.clock.advance(500)
            self.app._drain()
            self.app._after_batch()

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
def rig(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Rig:
    return Rig(monkeypatch, tmp_path)


SQUAT, HEEL_RAISE = 1, 4
PROGRAM = program.encode([(SQUAT, 2, 3, 3000, 45), (HEEL_RAISE, 1, 2, 0, 0)])


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


def test_without_a_program_reps_pulse_and_the_tenth_plays_the_target(rig: Rig) -> None:
    asyncio.run(rig.app._start_set())
    assert rig.feedback.played == [(ui.SET_START, ui.PRIO_NORMAL)]
    rig.feedback.played.clear()
    rig.batches(rep_profile() * 12)
    reps = rig.recorder.counter.reps
    assert reps == 12 and rig.recorder.in_set
    played = rig.feedback.played
    assert played.count((ui.TARGET, ui.PRIO_HIGH)) == 1
    assert played.index((ui.TARGET, ui.PRIO_HIGH)) == 9  # the tenth rep event
    assert played.count((ui.REP, ui.PRIO_NORMAL)) == reps - 1
    kinds = [codec.decode(rig.log.read(s))["kind"] for s in range(1, rig.log.last_seq + 1)]
    assert kinds == ["rep"] * 12
    assert rig.recorder.exercise == 0


def test_start_and_finish_a_set(rig: Rig) -> None:
    async def scenario() -> None:
        await rig.app._start_set()
        assert rig.recorder.in_set
        assert rig.bus.regs[0x10] == 0x3A and rig.bus.regs[0x11] == 0x34  # streaming
        assert rig.feedback.played[-1] == (ui.SET_START, ui.PRIO_NORMAL)
        assert rig.app._set_event.is_set()
        rig.batches([0.0] * 26)
        assert rig.recorder.in_set
        rig.app._end_requested = True  # a press: the next batch step ends the set
        rig.batches([0.0] * 26)
        assert not rig.recorder.in_set and not rig.app._set_event.is_set()
        assert rig.bus.regs[0x10] == 0x18 and rig.bus.regs[0x11] == 0  # wake-on-motion
        assert rig.feedback.played[-1] == (ui.SET_VOID, ui.PRIO_NORMAL)  # no rep: void
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


class FakeButton:
    """press() answers the scripted events, then waits forever."""

    def __init__(self, *events: int) -> None:
        self.events = list(events)

    async def press(self) -> int:
        if not self.events:
            await asyncio.Event().wait()
        return self.events.pop(0)

    def is_pressed(self) -> bool:
        return False


def run_buttons(rig: Rig, *events: int, wait_s: float = 0.01) -> None:
    async def scenario() -> None:
        rig.app.button = FakeButton(*events)
        task = asyncio.create_task(rig.app._buttons())
        await asyncio.sleep(wait_s)
        task.cancel()
        await rig.app._stop_radio()

    asyncio.run(scenario())


def test_a_program_arrives_and_is_followed(rig: Rig) -> None:
    rig.app.program_received(PROGRAM)
    assert (rig.tmp_path / "rtm_program.bin").read_bytes() == PROGRAM
    assert not (rig.tmp_path / "rtm_program.bin.tmp").exists()
    assert rig.session.sets_left() == 3

    async def first_set() -> None:
        await rig.app._start_set()
        assert rig.recorder.exercise == SQUAT and rig.recorder.counter.min_rom_cdeg == 3000
        assert rig.feedback.played[-1] == (ui.SET_START_ITEM[0], ui.PRIO_NORMAL)
        rig.feedback.played.clear()
        rig.batches(rep_profile() * 6)
        rig.app._end_requested = True
        rig.batches([0.0] * 26)
        await rig.app._stop_radio()

    asyncio.run(first_set())
    reps = rig.recorder.counter.reps
    assert reps > 3
    assert rig.feedback.played == [(ui.REP, 0), (ui.REP, 0), (ui.TARGET, 1)] + [
        (ui.REP, 0)] * (reps - 3) + [(ui.SET_END, 0)]
    assert rig.session.state == RESTING
    saved = program.decode_progress((rig.tmp_path / "rtm_progress.bin").read_bytes())
    assert saved.next_set == 1 and saved.program_crc == program.decode(PROGRAM).crc
    # The rest keeps the wearable awake; its end is played by the idle task.
    rig.clock.advance(45_000)
    asyncio.run(rig.app._idle_session(rig.clock.ticks_ms()))
    assert rig.feedback.played[-1] == (ui.REST_OVER, 0) and rig.session.state == IDLE
    # A reboot (every deep-sleep wake) continues where the patient left off.
    again = Session(rig.recorder, rig.main._load_program(), rig.main._load_progress())
    assert again.progress.next_set == 1 and again.state == IDLE


def test_a_set_ends_by_itself_after_inactivity(rig: Rig) -> None:
    async def scenario() -> None:
        await rig.app._start_set()
        rig.batches(rep_profile() * 6)
        assert rig.recorder.in_set and rig.session.reps == 6
        rig.batches([0.0] * (52 * SET_IDLE_MS // 1000))
        assert not rig.recorder.in_set
        await rig.app._stop_radio()

    asyncio.run(scenario())
    assert rig.feedback.played[-1] == (ui.SET_END, ui.PRIO_NORMAL)
    assert rig.bus.regs[0x10] == 0x18  # the IMU is back in wake-on-motion


def test_long_press_skips_then_sleeps_when_nothing_is_left(rig: Rig) -> None:
    rig.app.program_received(PROGRAM)
    run_buttons(rig, ui.PRESS_LONG, ui.PRESS_LONG)
    assert rig.feedback.played == [(ui.SKIPPED, 0), (ui.SKIPPED, 0)]
    assert rig.session.progress.next_set == 2 and not rig.app._sleep_requested
    run_buttons(rig, ui.PRESS_LONG)
    assert rig.feedback.played[-1] == (ui.PROGRAM_DONE, ui.PRIO_HIGH)
    assert rig.session.state == DONE and not rig.app._sleep_requested
    run_buttons(rig, ui.PRESS_LONG, wait_s=ui.pattern_ms(ui.GOODBYE) / 1000 + 0.1)
    assert rig.feedback.played[-1] == (ui.GOODBYE, ui.PRIO_NORMAL)
    assert rig.app._sleep_requested


def test_a_short_press_starts_and_ends_a_set_through_the_button_task(rig: Rig) -> None:
    run_buttons(rig, ui.PRESS_SHORT)
    assert rig.recorder.in_set and rig.session.state == IN_SET
    run_buttons(rig, ui.PRESS_SHORT)
    assert rig.app._end_requested  # the sampling task drains the FIFO, then ends the set


def test_low_battery_warns_once(rig: Rig) -> None:
    rig.battery.pct = 30
    rig.app._check_battery()
    rig.battery.pct = 18
    rig.app._check_battery()
    rig.app._check_battery()
    assert rig.feedback.played == [(ui.LOW_BATTERY, ui.PRIO_NORMAL)]
    assert rig.periph.batteries == [30, 18, 18]


def test_motion_after_a_rest_starts_the_next_set_when_the_program_allows(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    auto = program.encode([(SQUAT, 2, 3, 0, 10)], flags=program.FLAG_AUTO_START)
    rig = Rig(monkeypatch, tmp_path, auto)

    async def scenario() -> None:
        await rig.app._start_set()
        rig.batches(rep_profile() * 6)
        assert rig.session.reps == 6
        rig.app._end_requested = True
        rig.batches([0.0] * 26)
        assert rig.session.state == RESTING
        rig.bus.regs[0x1B] = 0x08  # WAKE_UP_SRC: motion (the fake keeps it latched)
        await rig.app._idle_session(rig.clock.ticks_ms())
        assert rig.session.state == RESTING  # motion during the rest is dropped
        rig.clock.advance(10_000)
        await rig.app._idle_session(rig.clock.ticks_ms())
        assert rig.session.state == IN_SET and rig.recorder.set_no == 2
        await rig.app._stop_radio()

    asyncio.run(scenario())
    assert (ui.REST_OVER, 0) in rig.feedback.played
    assert rig.feedback.played[-1] == (ui.SET_START_ITEM[0], ui.PRIO_NORMAL)


def test_a_damaged_program_file_means_generic_sets(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path) -> None:
    rig = Rig(monkeypatch, tmp_path, PROGRAM[:-1] + b"\x00")
    assert rig.session.program is None
    (tmp_path / "rtm_progress.bin").write_bytes(b"junk")
    assert rig.main._load_progress() is None


def test_the_day_check_uses_the_device_clock(rig: Rig) -> None:
    rig.app.program_received(PROGRAM)
    run_buttons(rig, ui.PRESS_LONG)
    assert rig.session.progress.next_set == 1
    rig.recorder.clock.set_unix_ms(1_790_000_000_000, rig.clock.raw_ms)
    rig.app._check_day()
    assert rig.session.progress.day == 1_790_000_000 // 86_400
    rig.recorder.clock.set_unix_ms(1_790_000_000_000 + 86_400_000, rig.clock.raw_ms)
    rig.app._check_day()
    assert rig.session.progress.next_set == 0
