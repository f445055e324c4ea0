"""Button press classification (pure) and the feedback player (with the asyncio shim)."""

from __future__ import annotations

import asyncio

import pytest

from firmware.core import session
from firmware.device import ui
from firmware.device.ui import PRESS_LONG, PRESS_NONE, PRESS_SHORT, PressDetector
from tests.firmware.device import mp_shim

TICKS_MASK = (1 << 30) - 1


def run(det: PressDetector, levels: list[tuple[int, bool]],
        start: int = 0) -> list[tuple[int, int]]:
    """Feed (duration_ms, pressed) runs sampled every 10 ms; return (tick, event) events."""
    events = []
    t = start
    for duration, pressed in levels:
        for _ in range(duration // 10):
            event = det.update(t & TICKS_MASK, pressed)
            if event != PRESS_NONE:
                events.append((t - start, event))
            t += 10
    return events


def test_short_press_is_reported_on_release() -> None:
    events = run(PressDetector(), [(100, False), (200, True), (100, False)])
    assert events == [(330, PRESS_SHORT)]  # released at 300, stable 30 ms later


def test_contact_bounce_is_one_press() -> None:
    bouncy = [(50, False), (10, True), (10, False), (10, True), (10, False), (200, True),
              (10, False), (10, True), (100, False)]
    assert [e for _, e in run(PressDetector(), bouncy)] == [PRESS_SHORT]


def test_glitch_shorter_than_debounce_is_ignored() -> None:
    assert run(PressDetector(), [(50, False), (20, True), (100, False)]) == []


def test_long_press_is_reported_while_held_and_release_says_nothing() -> None:
    events = run(PressDetector(), [(100, False), (3000, True), (200, False)])
    assert events == [(1600, PRESS_LONG)]  # pressed at 100 (debounced then), + 1500 ms


def test_press_just_under_the_long_threshold_is_short() -> None:
    events = run(PressDetector(), [(100, False), (1450, True), (100, False)])
    assert [e for _, e in events] == [PRESS_SHORT]


def test_two_presses_in_a_row() -> None:
    events = run(PressDetector(), [(50, False), (100, True), (100, False), (2000, True),
                                   (100, False), (80, True), (100, False)])
    assert [e for _, e in events] == [PRESS_SHORT, PRESS_LONG, PRESS_SHORT]


def test_classification_across_the_tick_wrap() -> None:
    start = TICKS_MASK - 500  # the press straddles the wrap of ticks_ms
    events = run(PressDetector(), [(100, False), (2000, True), (100, False)], start=start)
    assert [e for _, e in events] == [PRESS_LONG]


def test_swallowed_press_reports_nothing_then_normal_presses_work() -> None:
    det = PressDetector()
    det.swallow(0)
    assert det.busy()
    events = run(det, [(3000, True), (100, False), (200, True), (100, False)])
    assert [e for _, e in events] == [PRESS_SHORT]


def test_busy_while_a_press_is_under_way() -> None:
    det = PressDetector()
    assert not det.busy()
    det.update(0, True)
    assert det.busy()
    run(det, [(100, True), (100, False)], start=10)
    assert not det.busy()


def test_pattern_durations() -> None:
    assert ui.pattern_ms(ui.REP) == 80
    assert ui.pattern_ms(ui.TARGET) == 900
    for name in ("REP", "SET_START", "SET_END", "TARGET", "ERROR", "LOW_BATTERY", "READY",
                 "GOODBYE", "PARTIAL", "SET_VOID", "PROGRAM_DONE", "SKIPPED", "REST_OVER"):
        pattern = getattr(ui, name)
        assert all(led in (0, 1) and motor in (0, 1) and ms > 0 for led, motor, ms in pattern)


def test_every_session_action_has_its_pattern() -> None:
    assert len(ui.PATTERNS) == len(ui.PRIOS) == session.ACTION_COUNT
    expected = {session.ACT_NONE: None, session.ACT_SET_START: ui.SET_START,
                session.ACT_REP: ui.REP, session.ACT_PARTIAL: ui.PARTIAL,
                session.ACT_TARGET: ui.TARGET, session.ACT_SET_DONE: ui.SET_END,
                session.ACT_SET_VOID: ui.SET_VOID, session.ACT_PROGRAM_DONE: ui.PROGRAM_DONE,
                session.ACT_SKIPPED: ui.SKIPPED, session.ACT_REST_OVER: ui.REST_OVER,
                session.ACT_LOW_BATTERY: ui.LOW_BATTERY, session.ACT_ERROR: ui.ERROR,
                session.ACT_SLEEP: ui.GOODBYE}
    assert {a: ui.PATTERNS[a] for a in expected} == expected
    high = {a for a in range(session.ACTION_COUNT) if ui.PRIOS[a] == ui.PRIO_HIGH}
    assert high == {session.ACT_TARGET, session.ACT_PROGRAM_DONE, session.ACT_ERROR}
    # Distinct: the patient tells them apart by feel and light alone.
    patterns = [p for p in ui.PATTERNS if p is not None]
    assert len(set(patterns)) == len(patterns)


class Played:
    def __init__(self) -> None:
        self.played: list = []

    def play(self, pattern, prio: int = ui.PRIO_NORMAL) -> None:
        self.played.append((pattern, prio))


def test_show_plays_the_action_and_blinks_the_item_at_set_start() -> None:
    fb = Played()
    ui.show(fb, session.ACT_NONE)
    ui.show(fb, session.ACT_TARGET)
    ui.show(fb, session.ACT_SET_START)  # a generic set
    ui.show(fb, session.ACT_SET_START, 2)  # the third item of the program
    assert fb.played == [(ui.TARGET, ui.PRIO_HIGH), (ui.SET_START, ui.PRIO_NORMAL),
                         (ui.SET_START_ITEM[2], ui.PRIO_NORMAL)]
    item3 = ui.SET_START_ITEM[2]
    assert item3[0] == ui.SET_START[0]
    assert sum(1 for led, motor, _ in item3 if led and not motor) == 3


class RecordingPin:
    def __init__(self, log: list, name: str) -> None:
        self.log = log
        self.name = name
        self.level = -1

    def value(self, level: int | None = None) -> int:
        if level is not None and level != self.level:
            self.level = level
            self.log.append((self.name, level))
        return self.level


@pytest.fixture
def shim(monkeypatch: pytest.MonkeyPatch) -> None:
    mp_shim.install(monkeypatch)


def test_feedback_plays_a_pattern_and_ends_off(shim) -> None:
    log: list = []
    fb = ui.Feedback(RecordingPin(log, "led"), RecordingPin(log, "motor"))

    async def scenario() -> None:
        task = asyncio.create_task(fb.run())
        fb.play(ui.SET_END)
        assert fb.busy()
        await asyncio.sleep(0.5)
        assert not fb.busy()
        task.cancel()

    asyncio.run(scenario())
    assert log == [("led", 0), ("motor", 0), ("led", 1), ("motor", 1), ("led", 0),
                   ("motor", 0), ("led", 1), ("motor", 1), ("led", 0), ("motor", 0)]


def test_queued_high_priority_pattern_is_not_replaced_by_a_rep_pulse(shim) -> None:
    fb = ui.Feedback(RecordingPin([], "led"), RecordingPin([], "motor"))
    fb.play(ui.ERROR, ui.PRIO_HIGH)
    fb.play(ui.REP)
    assert fb._next is ui.ERROR
    fb.play(ui.TARGET, ui.PRIO_HIGH)
    assert fb._next is ui.TARGET
