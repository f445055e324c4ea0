"""Import firmware/main.py on CPython: stand-ins for `machine`, `esp32`, `micropython` and the
MicroPython additions to `time`, installed for one test with pytest's monkeypatch.

main.py is the composition root and only runs `main()` as __main__, so importing it builds
nothing; the tests then assemble a `Wearable` from real core objects, the real IMU driver on
the emulated bus, and recording fakes at the edges (feedback, radio).
"""

from __future__ import annotations

import importlib
import sys
import time
import types

import pytest

from tests.firmware.device import mp_shim


class FakeClock(mp_shim.FakeTicks):
    def ticks_add(self, a: int, delta: int) -> int:
        return (a + delta) & (mp_shim.TICKS_PERIOD - 1)


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def import_main(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> types.ModuleType:
    mp_shim.install(monkeypatch)
    monkeypatch.setattr(time, "ticks_ms", clock.ticks_ms, raising=False)
    monkeypatch.setattr(time, "ticks_diff", clock.ticks_diff, raising=False)
    monkeypatch.setattr(time, "ticks_add", clock.ticks_add, raising=False)
    pin = type("Pin", (), {"IN": 1, "OUT": 3})
    monkeypatch.setitem(sys.modules, "machine", _module(
        "machine", Pin=pin, ADC=object, I2C=object, DEEPSLEEP_RESET=4, EXT0_WAKE=2,
        TIMER_WAKE=4))
    monkeypatch.setitem(sys.modules, "esp32", _module("esp32", WAKEUP_ALL_LOW=False,
                                                      WAKEUP_ANY_HIGH=True))
    monkeypatch.setitem(sys.modules, "micropython", _module("micropython", const=lambda v: v))
    monkeypatch.delitem(sys.modules, "firmware.main", raising=False)
    return importlib.import_module("firmware.main")


class FakeFeedback:
    def __init__(self) -> None:
        self.played: list[tuple[object, int]] = []

    def play(self, pattern, prio: int = 0) -> None:
        self.played.append((pattern, prio))

    def busy(self) -> bool:
        return False

    def off(self) -> None:
        pass


class FakePeripheral:
    def __init__(self) -> None:
        self.connection = None
        self.on = False
        self.batteries: list[int] = []

    def radio_off(self) -> None:
        self.on = False

    async def serve(self, adv_timeout_ms=None) -> bool:
        self.on = True
        await mp_shim.sleep_ms(10_000)
        return False

    def update_battery(self, pct: int) -> None:
        self.batteries.append(pct)
