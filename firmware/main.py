"""The wearable's composition root: builds the core and the device shell, then runs the tasks.

Copied to / on the board (MicroPython runs /main.py after boot); the packages live in
/firmware/core and /firmware/device (firmware/README.md). Every pin number lives here and in
hardware/pinmap.md (Seeed XIAO ESP32S3).

The patient experience (which set is next, targets, rests, skips, the low-battery warning,
the day's progress) is the core's session state machine (firmware/core/session.py); this file
turns hardware into its events and its actions into patterns (firmware/device/ui.py). The
program (from the gateway, protocol SET_PROGRAM) and the day's progress are kept in two small
files, each written to a temporary file and renamed over the old one, so a power cut leaves
the old or the new version.

Tasks:
  sampling  during a set, every 500 ms: drain the IMU FIFO and feed each sample to the
            Recorder; counter events (a rep, a partial rep) go to the session, whose answer
            is played; then the session's tick (a set ends by itself after inactivity).
  button    short press: start the next set, or end the running one. Long press: end the
            running set, or outside a set skip the next prescribed set; with nothing to skip
            (no program, or done for today) go to deep sleep now.
  radio     advertise and serve the gateway, only while no set runs (cancelled at set start).
  idle      every second the session's tick (rest timer) and, if the program allows
            auto-start, the IMU's motion flag; every minute the battery and the day; deep
            sleep once the wearable has been quiet long enough.
  feedback  plays the LED / motor patterns.

Sleep: the wearable deep-sleeps when no set or rest runs, no gateway is connected and USB
power is absent for the awake window: 2 min after power-on, a button wake, the last press or
the end of a set or rest; 30 s after a wake by motion (someone picked it up); 60 s after a
timer wake. A gateway's writes restart the window without lengthening it. The day's progress
is in flash, so a wake continues where the patient left off.
Before sleeping the IMU is put in wake-on-motion mode (INT1, ext0) and the button is armed
(ext1). A timer wake comes after 4 h while records wait for the gateway, else after 24 h (a
heartbeat sync). A deep-sleep wake is a reboot: the log counts a new boot and records carry
uptime until a gateway sets the time again (the core's design).

Hold the button while powering on to stop here with the REPL free (safe mode).
"""

import asyncio
import gc
import os
import time

import esp32
import machine
from machine import ADC, I2C, Pin
from micropython import const

from firmware.core import program, protocol
from firmware.core.clock import DeviceClock
from firmware.core.counter import EVENT_NONE
from firmware.core.protocol import ProtocolHandler
from firmware.core.record_log import PagedFileStorage, RecordLog
from firmware.core.recorder import Recorder
from firmware.core.session import ACT_NONE, ACT_SLEEP, Session
from firmware.device import device_id, ui
from firmware.device.battery import Battery
from firmware.device.ble_peripheral import Peripheral
from firmware.device.lsm6dsox import LSM6DSOX
from firmware.device.rtc_time import RtcTime
from firmware.device.uptime import Uptime

FIRMWARE_VERSION = "0.1.0"
MANUFACTURER = "RTM project"
MODEL = "RTM-W1 XIAO-S3"

# Seeed XIAO ESP32S3 (hardware/pinmap.md).
_PIN_VBAT = const(1)  # D0, ADC1_CH0, 1M/1M divider from the cell
_PIN_IMU_INT1 = const(2)  # D1, RTC GPIO: ext0 wake, FIFO watermark / wake-up
_PIN_LED = const(3)  # D2, LED to GND through 1k
_PIN_BUTTON = const(4)  # D3, RTC GPIO: ext1 wake; button to GND, 100k pull-up to 3V3
_PIN_SDA = const(5)  # D4
_PIN_SCL = const(6)  # D5
_PIN_MOTOR = const(7)  # D8, gate of the motor MOSFET (100k pull-down)
_PIN_VBUS_SENSE = const(8)  # D9, USB 5 V through 100k/150k: high while charging possible

_I2C_HZ = const(400_000)
_CPU_HZ = const(80_000_000)  # lowest clock the radio runs with
_RATE_HZ = const(52)
_BATCH_MS = const(500)  # FIFO watermark = 26 samples = 500 ms at 52 Hz
_TICKS_MASK = const(0x3FFFFFFF)
_LOG_PATH = "/rtm_log"  # a directory of 2 KB page files
_LOG_BYTES = const(64 + 32 * 4096)  # 4096 records: weeks of sessions without a sync
_PROGRAM_PATH = "/rtm_program.bin"  # the program as received (firmware/core/program.py)
_PROGRESS_PATH = "/rtm_progress.bin"  # the day's progress, rewritten a few times a day
_SECRET_PATH = "/rtm_secret.bin"  # the per-device secret from enrollment (write-once)
_IDLE_TIMEOUT_MS = const(120_000)
_MOTION_WINDOW_MS = const(30_000)
_SYNC_WINDOW_MS = const(60_000)
_RETRY_SLEEP_MS = const(4 * 3600 * 1000)
_HEARTBEAT_SLEEP_MS = const(24 * 3600 * 1000)
_BATTERY_PERIOD_MS = const(60_000)
_RADIO_STOP_MS = const(30)
# 1: light-sleep between FIFO batches during a set (the power budget's big lever: the CPU
# idles at ~0.24 mA instead of ~20 mA). Off until measured on the board: it stops USB serial,
# and the button then wakes the chip through ext1 rather than its pin interrupt.
_LIGHTSLEEP_IN_SET = const(0)


def _open_imu(i2c):
    try:
        return LSM6DSOX(i2c, odr_hz=_RATE_HZ, batch_samples=_RATE_HZ * _BATCH_MS // 1000)
    except OSError as exc:
        print("imu:", exc)
        return None


def _read_file(path: str):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file: littlefs renames atomically, so a
    power cut leaves either the old or the new file, never a torn one."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def _load_program():
    data = _read_file(_PROGRAM_PATH)
    if data is None:
        return None
    try:
        return program.decode(data)
    except ValueError as exc:  # not expected: it was checked before it was written
        print("program:", exc)
        return None


def _load_progress():
    data = _read_file(_PROGRESS_PATH)
    if data is None:
        return None
    try:
        return program.decode_progress(data)
    except ValueError as exc:
        print("progress:", exc)
        return None


def _save_progress(data: bytes) -> None:
    try:
        _write_atomic(_PROGRESS_PATH, data)
    except OSError as exc:  # losing the day's position is better than stopping
        print("progress:", exc)


def _load_secret():
    data = _read_file(_SECRET_PATH)
    if data is None or len(data) != protocol.SECRET_SIZE:
        return None
    return data


def _true_random(n: int) -> bytes:
    # The ESP32-S3 RNG is only truly random while RF runs: switch the radio on first (the
    # same BLE singleton aioble takes over later). Used once, on the very first boot.
    import bluetooth

    bluetooth.BLE().active(True)
    return os.urandom(n)


class Wearable:
    def __init__(self, *, i2c, imu, log, recorder, session, uptime, battery, feedback, button,
                 periph, int1_pin, button_pin, awake_ms: int) -> None:
        self.i2c = i2c
        self.imu = imu
        self.log = log
        self.recorder = recorder
        self.session = session
        self.uptime = uptime
        self.battery = battery
        self.feedback = feedback
        self.button = button
        self.periph = periph
        self._int1_pin = int1_pin
        self._button_pin = button_pin
        self._awake_ms = awake_ms
        self._last_activity = time.ticks_ms()
        self._last_stamp = time.ticks_add(self._last_activity, -1)
        self._set_event = asyncio.Event()
        self._end_requested = False
        self._sleep_requested = False
        self._refused_seen = recorder.refused
        self._radio_task: asyncio.Task | None = None
        self._radio_wanted = False
        self._tasks: list = []

    def activity(self) -> None:
        """A press or the end of a set: stay awake the full idle timeout from now."""
        self._last_activity = time.ticks_ms()
        self._awake_ms = _IDLE_TIMEOUT_MS

    def link_activity(self) -> None:
        """A gateway connected or wrote: the awake window restarts but keeps its length, so
        the nightly sync after a timer wake does not keep the wearable up for 2 minutes."""
        self._last_activity = time.ticks_ms()

    def program_received(self, data: bytes) -> None:
        """ProtocolHandler's on_program: keep the checked program, then follow it. A storage
        error propagates, so the gateway gets no OK and sends it again."""
        _write_atomic(_PROGRAM_PATH, data)
        self.session.load(program.decode(data))
        self._check_day()

    def secret_received(self, secret: bytes) -> None:
        """ProtocolHandler's on_secret: the per-device secret from enrollment, kept through
        a temporary file like the program. Only a factory reset removes it."""
        _write_atomic(_SECRET_PATH, secret)

    def forget_gateway(self) -> None:
        """ProtocolHandler's on_forget: unenrolled, so no gateway stays bonded."""
        self.periph.forget_bonds()

    def advert_state(self) -> tuple:
        """(charging, unsynced records) for the advertisement: the gateway's sync policy."""
        return self.battery.charging(), self.log.unacked()

    async def run(self, greet: bool) -> None:
        self._check_day()
        self._tasks = [asyncio.create_task(self.feedback.run()),
                       asyncio.create_task(self._buttons()),
                       asyncio.create_task(self._sampling())]
        self._start_radio()
        if greet:
            self.feedback.play(ui.READY)
        await self._idle()

    # -- sets ---------------------------------------------------------------------------
    async def _start_set(self, by_motion: bool = False) -> None:
        """Get the IMU streaming, then let the session start the set (a press always starts
        one; motion only if auto-start allows it)."""
        if self.imu is None:
            self.imu = _open_imu(self.i2c)
            if self.imu is None:
                self.feedback.play(ui.ERROR, ui.PRIO_HIGH)
                return
        await self._stop_radio()  # the radio stays off while a set runs
        gc.collect()  # collect now rather than in the middle of the set
        if _LIGHTSLEEP_IN_SET:
            esp32.wake_on_ext1((self._button_pin,), esp32.WAKEUP_ALL_LOW)
        try:
            self.imu.start()
        except OSError as exc:
            print("imu:", exc)
            self.imu = None
            self.feedback.play(ui.ERROR, ui.PRIO_HIGH)
            self._start_radio()
            return
        t = time.ticks_ms()
        session = self.session
        action = session.motion(t) if by_motion else session.short_press(t)
        if not self.recorder.in_set:  # motion came too late: back to idle
            self._imu_idle()
            self._start_radio()
            return
        if self.log.unacked() >= self.log.capacity:
            self.feedback.play(ui.ERROR, ui.PRIO_HIGH)  # log full: reps are refused
        else:
            ui.show(self.feedback, action, session.item)
        self._end_requested = False
        self._set_event.set()

    def _imu_idle(self) -> None:
        if self.imu is not None:
            try:
                self.imu.wake_on_motion()  # low-power until the next set
            except OSError:
                self.imu = None

    def _finish_set(self) -> None:
        """The session ended the set (and wrote its SET record): back to idle."""
        self._set_event.clear()
        self._end_requested = False
        self._imu_idle()
        self._check_refused()
        self.activity()
        self._start_radio()
        gc.collect()

    def _check_refused(self) -> None:
        if self.recorder.refused != self._refused_seen:
            self._refused_seen = self.recorder.refused
            self.feedback.play(ui.ERROR, ui.PRIO_HIGH)

    async def _sampling(self) -> None:
        while True:
            await self._set_event.wait()
            while self.recorder.in_set:
                await self._wait_batch()
                try:
                    self._drain()
                except OSError as exc:  # the IMU stopped answering: keep what was counted
                    print("imu:", exc)
                    self.imu = None
                    self.feedback.play(ui.ERROR, ui.PRIO_HIGH)
                    self._end_requested = True
                self._after_batch()

    def _after_batch(self) -> None:
        """End the set on a press (or an IMU failure); else the session's tick may end it
        for inactivity."""
        self._check_refused()
        t = time.ticks_ms()
        session = self.session
        action = session.end_set(t) if self._end_requested else session.tick(t)
        if action != ACT_NONE:
            ui.show(self.feedback, action)
        if not self.recorder.in_set:
            self._finish_set()

    async def _wait_batch(self) -> None:
        if _LIGHTSLEEP_IN_SET and not self.feedback.busy() and not self._end_requested:
            machine.lightsleep(_BATCH_MS)  # blocks every task: nothing else runs in a set
            self.button.poke()  # an edge during the sleep raised no interrupt
            await asyncio.sleep_ms(0)
        else:
            await asyncio.sleep_ms(_BATCH_MS)

    def _drain(self) -> None:
        """Read the FIFO empty and feed every sample to the recorder. The per-sample path
        allocates nothing: the driver decodes into a preallocated array of small ints and the
        ticks are small ints. The newest sample is stamped `now`, older ones one period back
        each (the IMU's own clock and ours may differ by a few per cent)."""
        imu = self.imu
        if imu is None:
            return
        backlog = imu.fifo_words() // 2
        now = time.ticks_ms()
        rec = self.recorder
        session = self.session
        fb = self.feedback
        s = imu.samples
        j = 0
        last = self._last_stamp
        while True:
            n = imu.read_fifo()
            k = 0
            for _ in range(n):
                back = backlog - 1 - j
                if back < 0:
                    back = 0
                t = (now - back * 1000 // _RATE_HZ) & _TICKS_MASK
                # The IMU's clock may run a little fast: never stamp a sample at or before
                # the previous one (the counter would read it as a 12-day gap).
                if time.ticks_diff(t, last) <= 0:
                    t = time.ticks_add(last, 1)
                last = t
                self._last_stamp = t
                event = rec.sample(t, s[k], s[k + 1], s[k + 2], s[k + 3], s[k + 4], s[k + 5])
                if event != EVENT_NONE:  # a rep or a partial: once per rep, not per sample
                    ui.show(fb, session.counted(t, event))
                k += 6
                j += 1
            if n < len(s) // 6:
                return

    # -- button -------------------------------------------------------------------------
    async def _buttons(self) -> None:
        while True:
            event = await self.button.press()
            self.activity()
            if self.recorder.in_set:
                self._end_requested = True  # the sampling task drains the FIFO, then ends
            elif event == ui.PRESS_SHORT:
                await self._start_set()
            else:
                action = self.session.long_press(time.ticks_ms())  # skip the next set
                if action != ACT_SLEEP:
                    ui.show(self.feedback, action)
                    continue
                self.feedback.play(ui.GOODBYE)  # nothing to skip: sleep now
                while self.button.is_pressed():  # a held button would wake us at once
                    await asyncio.sleep_ms(20)
                await asyncio.sleep_ms(ui.pattern_ms(ui.GOODBYE))
                self._sleep_requested = True

    # -- radio --------------------------------------------------------------------------
    def _start_radio(self) -> None:
        if self._radio_task is None:
            self._radio_wanted = True
            self._radio_task = asyncio.create_task(self._radio())

    async def _stop_radio(self) -> None:
        self._radio_wanted = False
        task = self._radio_task
        self._radio_task = None
        if task is not None:
            task.cancel()
            await asyncio.sleep_ms(_RADIO_STOP_MS)  # let it leave aioble's waits
        self.periph.radio_off()

    async def _radio(self) -> None:
        while self._radio_wanted:
            try:
                await self.periph.serve()
            except Exception as exc:  # the radio must never stop the counting
                print("radio:", exc)
                await asyncio.sleep_ms(1000)

    # -- idle and sleep -----------------------------------------------------------------
    async def _idle(self) -> None:
        battery_due = time.ticks_ms()
        while True:
            await asyncio.sleep_ms(1000)
            now = time.ticks_ms()
            self.uptime.ms()  # at least every 6 days, or the tick difference wraps
            if time.ticks_diff(now, battery_due) >= 0:
                battery_due = time.ticks_add(now, _BATTERY_PERIOD_MS)
                self._check_battery()
                self._check_day()
            if not self.recorder.in_set:
                await self._idle_session(now)
            if (self.recorder.in_set or self.session.resting()
                    or self.periph.connection is not None or self.battery.charging()):
                self._last_activity = now
                continue
            if (self._sleep_requested
                    or time.ticks_diff(now, self._last_activity) >= self._awake_ms):
                await self._deep_sleep()

    async def _idle_session(self, now) -> None:
        """Outside a set: the rest timer, and motion as a hint to start the next set."""
        session = self.session
        ui.show(self.feedback, session.tick(now))
        if self.imu is None or not session.wants_motion(now):
            return
        try:
            moved = self.imu.clear_motion()  # read every second: motion during a rest is dropped
        except OSError:
            return
        if moved and session.motion_starts_set(now):
            self.activity()
            await self._start_set(True)

    def _check_battery(self) -> None:
        pct = self.battery.percent()
        self.periph.update_battery(pct)
        ui.show(self.feedback, self.session.battery(pct, self.battery.charging()))

    def _check_day(self) -> None:
        """The session's clocks: the RTC's seconds (time.time(), running through deep sleep
        even before a gateway set it) and Unix seconds (0 while unknown)."""
        unix_ms = self.recorder.clock.unix_ms(self.uptime.ms())
        self.session.clock(int(time.time()), unix_ms // 1000)

    async def _deep_sleep(self) -> None:
        await self._stop_radio()
        self.feedback.off()
        if self.imu is not None:
            try:
                self.imu.wake_on_motion()
                esp32.wake_on_ext0(self._int1_pin, esp32.WAKEUP_ANY_HIGH)
            except OSError:
                self.imu = None
        esp32.wake_on_ext1((self._button_pin,), esp32.WAKEUP_ALL_LOW)
        machine.deepsleep(_RETRY_SLEEP_MS if self.log.unacked() else _HEARTBEAT_SLEEP_MS)


def _awake_window_ms(woke: bool) -> int:
    if not woke:
        return _IDLE_TIMEOUT_MS
    reason = machine.wake_reason()
    if reason == machine.EXT0_WAKE:
        return _MOTION_WINDOW_MS
    if reason == machine.TIMER_WAKE:
        return _SYNC_WINDOW_MS
    return _IDLE_TIMEOUT_MS


def main() -> None:
    button_pin = Pin(_PIN_BUTTON, Pin.IN)  # external pull-up: it must hold in deep sleep
    woke = machine.reset_cause() == machine.DEEPSLEEP_RESET
    if not woke and button_pin.value() == 0:
        print("safe mode: button held at power-up, main.py stopped (REPL free)")
        return
    machine.freq(_CPU_HZ)
    awake_ms = _awake_window_ms(woke)

    feedback = ui.Feedback(Pin(_PIN_LED, Pin.OUT, value=0), Pin(_PIN_MOTOR, Pin.OUT, value=0))
    button = ui.Button(button_pin)
    if woke and button.is_pressed():
        button.detector.swallow(time.ticks_ms())  # the press that woke us starts nothing
    battery = Battery(ADC(Pin(_PIN_VBAT), atten=ADC.ATTN_11DB), Pin(_PIN_VBUS_SENSE, Pin.IN))
    int1_pin = Pin(_PIN_IMU_INT1, Pin.IN)
    i2c = I2C(0, scl=Pin(_PIN_SCL), sda=Pin(_PIN_SDA), freq=_I2C_HZ)
    imu = _open_imu(i2c)
    if imu is not None:
        imu.clear_motion()

    # A log id only matters when the log is created; os.urandom is good enough for it (it
    # only has to differ from a lost log's).
    log = RecordLog(PagedFileStorage(_LOG_PATH, _LOG_BYTES),
                    new_log_id=int.from_bytes(os.urandom(4), "little"))
    uptime = Uptime()
    rtc_time = RtcTime(machine.RTC())
    clock = DeviceClock(log.new_boot(), on_set=rtc_time.save)
    if woke:
        rtc_ms = rtc_time.unix_ms()  # the RTC ran on through deep sleep
        if rtc_ms is not None:
            clock.restore_unix_ms(rtc_ms, uptime.ms())
    recorder = Recorder(log, clock, _RATE_HZ, uptime.uptime_at)
    session = Session(recorder, _load_program(), _load_progress(), _save_progress)
    dev_id = device_id.load_or_create(random_bytes=_true_random)
    handler = ProtocolHandler(log, clock, dev_id, uptime.ms, battery.percent,
                              secret=_load_secret())

    periph = Peripheral(handler, dev_id, battery.percent, manufacturer=MANUFACTURER,
                        model=MODEL, firmware=FIRMWARE_VERSION)
    app = Wearable(i2c=i2c, imu=imu, log=log, recorder=recorder, session=session,
                   uptime=uptime, battery=battery, feedback=feedback, button=button,
                   periph=periph, int1_pin=int1_pin, button_pin=button_pin, awake_ms=awake_ms)
    periph.on_activity = app.link_activity
    periph.advert_state = app.advert_state
    handler.on_program = app.program_received
    handler.on_secret = app.secret_received
    handler.on_forget = app.forget_gateway
    if imu is None:
        feedback.play(ui.ERROR, ui.PRIO_HIGH)
    greet = not woke or machine.wake_reason() != machine.TIMER_WAKE  # no blink at night
    asyncio.run(app.run(greet))


if __name__ == "__main__":  # MicroPython runs /main.py as __main__; tests import it
    main()
