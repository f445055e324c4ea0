"""The device shell under the real MicroPython interpreter (WebAssembly port): it imports
without a radio, and the per-sample path allocates nothing. `micropython.heap_lock()` turns
any heap allocation into a MemoryError, so these tests prove the claim rather than assume it.

The `micropython` fixture (tests/firmware/conftest.py) is one interpreter for the session:
names here start with `dev_` and injected modules are removed again. Globals assigned while
the heap is locked are created beforehand: a new global may grow the interpreter's globals dict.
"""

from __future__ import annotations

import pytest

from simulators.micropython_wasm import MicroPythonWasm

pytestmark = pytest.mark.micropython

# An I2C bus with an LSM6DSOX whose FIFO holds one batch; reads copy byte by byte so the fake
# itself allocates nothing while the heap is locked.
BUS = r"""
import struct

class dev_Bus:
    def __init__(self):
        self.regs = bytearray(128)
        self.regs[0x0F] = 0x6C
        self.fifo = bytearray()
        self.pos = 0
        self.words = 0

    def load(self, samples):
        self.fifo = bytearray()
        for i in range(samples):
            self.fifo += bytes((0x08 | (i & 3) << 1,)) + struct.pack("<hhh", 1000, -1000, i)
            self.fifo += bytes((0x10 | (i & 3) << 1,)) + struct.pack("<hhh", 0, -8192, 8192 - i)
        self.pos = 0
        self.words = 2 * samples

    def writeto_mem(self, addr, reg, buf):
        for i in range(len(buf)):
            if reg + i != 0x12 or not buf[i] & 1:
                self.regs[reg + i] = buf[i]

    def readfrom_mem_into(self, addr, reg, buf):
        n = len(buf)
        if reg == 0x3A:
            buf[0] = self.words & 0xFF
            buf[1] = self.words >> 8
        elif reg == 0x78:
            fifo = self.fifo
            pos = self.pos
            for i in range(n):
                buf[i] = fifo[pos + i]
            self.pos = pos + n
            self.words -= n // 7
        else:
            for i in range(n):
                buf[i] = self.regs[reg + i]
"""


def test_device_modules_import_without_a_radio(micropython: MicroPythonWasm) -> None:
    out = micropython.run(
        "import sys\n"
        "import firmware.device.lsm6dsox, firmware.device.uptime, firmware.device.battery\n"
        "import firmware.device.device_id, firmware.device.ui, firmware.device.ble_peripheral\n"
        "print('aioble' in sys.modules, 'bluetooth' in sys.modules)\n")
    assert out == "False False\n"


def test_fifo_decode_allocates_nothing(micropython: MicroPythonWasm) -> None:
    micropython.run(BUS)
    out = micropython.run(
        "import micropython\n"
        "from firmware.device.lsm6dsox import LSM6DSOX\n"
        "dev_bus = dev_Bus()\n"
        "dev_imu = LSM6DSOX(dev_bus, batch_samples=26, max_samples=26)\n"
        "dev_imu.start()\n"
        "dev_bus.load(26)\n"
        "dev_n = 0  # a new global inside the locked region could grow the globals dict\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    dev_n = dev_imu.read_fifo()\n"
        "finally:\n"
        "    micropython.heap_unlock()\n"
        "print(dev_n, list(dev_imu.samples[:6]), list(dev_imu.samples[150:156]))\n")
    assert out == "26 [0, -1000, 1000, 175, -175, 0] [0, -1000, 997, 175, -175, 4]\n"


def test_a_whole_batch_through_main_allocates_nothing(micropython: MicroPythonWasm) -> None:
    """Status read, burst read, decode, time stamps, 26 Recorder.sample calls and the batch
    step (the session's tick), as firmware/main.py's sampling task does them every 500 ms,
    with the heap locked."""
    micropython.run(BUS)
    out = micropython.run(
        "import sys, time, micropython\n"
        "class dev_Stub:\n"
        "    DEEPSLEEP_RESET = 4\n"
        "    WAKEUP_ALL_LOW = False\n"
        "    WAKEUP_ANY_HIGH = True\n"
        "    class Pin:\n"
        "        pass\n"
        "    ADC = I2C = Pin\n"
        "sys.modules['machine'] = dev_Stub\n"
        "sys.modules['esp32'] = dev_Stub\n"
        "try:\n"
        "    import firmware.main as dev_main\n"
        "finally:\n"
        "    del sys.modules['machine']\n"
        "    del sys.modules['esp32']\n"
        "from firmware.core.clock import DeviceClock\n"
        "from firmware.core.record_log import MemoryStorage, RecordLog\n"
        "from firmware.core.recorder import Recorder\n"
        "from firmware.core.session import Session\n"
        "from firmware.device.lsm6dsox import LSM6DSOX\n"
        "dev_bus = dev_Bus()\n"
        "dev_imu = LSM6DSOX(dev_bus, batch_samples=26, max_samples=26)\n"
        "dev_log = RecordLog(MemoryStorage(64 + 32 * 16))\n"
        "dev_rec = Recorder(dev_log, DeviceClock(dev_log.new_boot()), 52, lambda t: t)\n"
        "dev_ses = Session(dev_rec)\n"
        "dev_app = dev_main.Wearable(i2c=dev_bus, imu=dev_imu, log=dev_log, recorder=dev_rec,\n"
        "    session=dev_ses, uptime=None, battery=None, feedback=None, button=None,\n"
        "    periph=None, int1_pin=None, button_pin=None, awake_ms=1000)\n"
        "dev_imu.start()\n"
        "dev_ses.short_press(time.ticks_ms())\n"
        "for dev_round in range(3):\n"
        "    dev_bus.load(26)\n"
        "    micropython.heap_lock()\n"
        "    try:\n"
        "        dev_app._drain()\n"
        "        dev_app._after_batch()\n"
        "    finally:\n"
        "        micropython.heap_unlock()\n"
        "print(dev_rec.counter.reps, dev_bus.words, dev_log.last_seq, dev_rec.in_set)\n")
    assert out == "0 0 0 True\n"


def test_rep_pulse_and_button_sampling_allocate_nothing(micropython: MicroPythonWasm) -> None:
    out = micropython.run(
        "import asyncio, micropython\n"
        "from firmware.device import ui\n"
        "class dev_Out:\n"
        "    def value(self, v=None):\n"
        "        return 0\n"
        "dev_had_flag = hasattr(asyncio, 'ThreadSafeFlag')\n"
        "if not dev_had_flag:  # the WebAssembly port has no ThreadSafeFlag; Event has set()\n"
        "    asyncio.ThreadSafeFlag = asyncio.Event\n"
        "dev_fb = ui.Feedback(dev_Out(), dev_Out())\n"
        "dev_det = ui.PressDetector()\n"
        "dev_t = 0  # created before the heap is locked\n"
        "micropython.heap_lock()\n"
        "try:\n"
        "    for dev_t in range(0, 2000, 10):\n"
        "        ui.show(dev_fb, 2)  # firmware.core.session.ACT_REP\n"
        "        dev_det.update(dev_t, 100 <= dev_t < 300)\n"
        "finally:\n"
        "    micropython.heap_unlock()\n"
        "    if not dev_had_flag:\n"
        "        del asyncio.ThreadSafeFlag\n"
        "print(dev_fb.busy(), dev_det.busy())\n")
    assert out == "True False\n"


def test_uptime_runs_on_micropython_ticks(micropython: MicroPythonWasm) -> None:
    out = micropython.run(
        "import time\n"
        "from firmware.device.uptime import Uptime\n"
        "dev_up = Uptime()\n"
        "dev_a = dev_up.ms()\n"
        "time.sleep_ms(20)\n"
        "dev_b = dev_up.ms()\n"
        "print(dev_b - dev_a >= 20, dev_up.uptime_at(time.ticks_ms()) >= dev_b)\n")
    assert out == "True True\n"
