"""Uptime across MicroPython's tick wrap-around (2**30 ms, about 12.4 days)."""

from __future__ import annotations

from firmware.device.uptime import Uptime
from tests.firmware.device.mp_shim import TICKS_PERIOD, FakeTicks

HOUR_MS = 3_600_000


def make(start_ms: int = 0) -> tuple[FakeTicks, Uptime]:
    ticks = FakeTicks(start_ms)
    return ticks, Uptime(ticks.ticks_ms, ticks.ticks_diff)


def test_starts_at_the_tick_since_boot() -> None:
    ticks, up = make(1234)
    assert up.ms() == 1234
    ticks.advance(500)
    assert up.ms() == 1734


def test_keeps_counting_through_several_wraps() -> None:
    ticks, up = make()
    for _ in range(40 * 24):  # 40 days, read every hour: more than three wraps
        ticks.advance(HOUR_MS)
        assert up.ms() == ticks.raw_ms
    assert ticks.raw_ms > 3 * TICKS_PERIOD
    assert ticks.ticks_ms() < TICKS_PERIOD


def test_survives_reads_up_to_six_days_apart() -> None:
    ticks, up = make(TICKS_PERIOD - 10)  # just before a wrap
    for _ in range(5):
        ticks.advance(TICKS_PERIOD // 2 - 1)
        assert up.ms() == ticks.raw_ms


def test_uptime_at_a_recent_tick_across_the_wrap() -> None:
    ticks, up = make(TICKS_PERIOD - 300)
    sample_tick = ticks.ticks_ms()  # taken 300 ms before the tick counter wraps
    ticks.advance(700)
    assert ticks.ticks_ms() == 400
    assert up.uptime_at(sample_tick) == TICKS_PERIOD - 300


def test_uptime_at_matches_the_recorders_use_with_masked_ticks() -> None:
    ticks, up = make(5 * TICKS_PERIOD + 1000)
    up.ms()
    now = ticks.ticks_ms()
    older = (now - 480) & (TICKS_PERIOD - 1)  # how firmware/main.py back-dates a sample
    assert up.uptime_at(older) == up.ms() - 480
    assert up.uptime_at(now) == up.ms()


def test_defaults_to_the_time_module_on_micropython(monkeypatch) -> None:
    import time

    ticks = FakeTicks(42)
    monkeypatch.setattr(time, "ticks_ms", ticks.ticks_ms, raising=False)
    monkeypatch.setattr(time, "ticks_diff", ticks.ticks_diff, raising=False)
    up = Uptime()
    ticks.advance(8)
    assert up.ms() == 50
