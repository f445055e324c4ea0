"""The background thread of the daily refresh and the SQLite checkpoints: started lazily,
ends when its function says so unless started again meanwhile, stopped by its owner."""

import threading
import time

from cloud_bridge.ticker import Ticker


def alive(name: str) -> bool:
    return any(t.name == name for t in threading.enumerate())


def wait_for(condition, timeout_s=5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_ticks_until_stopped():
    ticks = []
    ticker = Ticker(lambda: ticks.append(1) or True, 0.01, "tick-until-stopped")
    assert not alive("tick-until-stopped")
    ticker.start()
    assert wait_for(lambda: len(ticks) >= 3)
    ticker.stop()
    assert not alive("tick-until-stopped")
    ticker.start()  # stopped for good
    assert not alive("tick-until-stopped")


def test_ends_when_no_longer_wanted_and_the_next_start_begins_again():
    wanted = threading.Event()
    ticker = Ticker(wanted.is_set, 0.01, "tick-while-wanted")
    ticker.start()
    assert wait_for(lambda: not alive("tick-while-wanted"))
    wanted.set()
    ticker.start()
    time.sleep(0.1)
    assert alive("tick-while-wanted")
    ticker.stop()


def test_a_start_during_the_last_tick_keeps_it_going():
    ticker: Ticker
    calls = []

    def tick() -> bool:
        calls.append(1)
        if len(calls) == 1:
            ticker.start()  # a write came while the tick decided to end
        return False

    ticker = Ticker(tick, 0.01, "tick-started-again")
    ticker.start()
    assert wait_for(lambda: len(calls) >= 2)
    assert wait_for(lambda: not alive("tick-started-again"))
