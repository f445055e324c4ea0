import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.config import SyncConfig
from gateway.policy import Advert, SyncPolicy, window_opening

TZ = ZoneInfo("America/New_York")
DEV = "a1b2c3d4e5f6"


def at(day: int, hh: int, mm: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


def policy(**kw) -> SyncPolicy:
    return SyncPolicy(SyncConfig(**{"stagger_s": 0.0, **kw}), random.Random(1))


@pytest.mark.parametrize("start, end, now, opened", [
    (time(1), time(5), at(3, 0, 59), None),
    (time(1), time(5), at(3, 1), at(3, 1)),
    (time(1), time(5), at(3, 4, 59), at(3, 1)),
    (time(1), time(5), at(3, 5), None),
    (time(23), time(4), at(3, 23, 30), at(3, 23)),
    (time(23), time(4), at(4, 2), at(3, 23)),
    (time(23), time(4), at(4, 4), None),
    (time(23), time(4), at(4, 12), None),
])
def test_window_opening_including_windows_that_wrap_midnight(start, end, now, opened):
    assert window_opening(now, start, end) == opened


def test_once_per_window_then_again_the_next_night():
    p = policy()
    assert p.reason_to_sync(DEV, at(3, 0, 30), None) is None
    assert p.reason_to_sync(DEV, at(3, 1, 5), None) == "window"
    p.succeeded(DEV, at(3, 1, 6))
    assert p.reason_to_sync(DEV, at(3, 3), None) is None
    assert p.reason_to_sync(DEV, at(3, 3), Advert(False, 0)) is None
    # Records made during the window (a night owl): fetched again after interval_s.
    assert p.reason_to_sync(DEV, at(3, 1, 10), Advert(False, 3)) is None
    assert p.reason_to_sync(DEV, at(3, 1, 30), Advert(False, 3)) == "window"
    assert p.reason_to_sync(DEV, at(4, 1, 0), None) == "window"


def test_opportunistic_outside_the_window_at_most_once_per_interval():
    p = policy(opportunistic_records=100, interval_s=600)
    noon = at(3, 12)
    assert p.reason_to_sync(DEV, noon, None) is None
    assert p.reason_to_sync(DEV, noon, Advert(False, 99)) is None
    assert p.reason_to_sync(DEV, noon, Advert(False, 100)) == "unsynced 100"
    assert p.reason_to_sync(DEV, noon, Advert(True, 0)) == "charging"  # never synced
    p.succeeded(DEV, noon)
    assert p.reason_to_sync(DEV, noon + timedelta(minutes=9), Advert(True, 3)) is None
    assert p.reason_to_sync(DEV, noon + timedelta(minutes=10), Advert(True, 3)) == "charging"
    # On the charger with nothing new: left alone (a sync restarts its fast advertising) ...
    assert p.reason_to_sync(DEV, noon + timedelta(hours=5), Advert(True, 0)) is None
    # ... until a day has passed without a sync, or the clinic sent a program.
    assert p.reason_to_sync(DEV, noon + timedelta(hours=5), Advert(False, 0), True) == "program"
    assert p.reason_to_sync(DEV, noon + timedelta(hours=24), Advert(True, 0)) == "charging"


def test_stagger_delays_each_device_within_the_window_start():
    p = SyncPolicy(SyncConfig(stagger_s=600), random.Random(7))
    devices = [f"{i:012x}" for i in range(20)]
    first = {}
    for minute in range(0, 11):
        now = at(3, 1, minute)
        for d in devices:
            if d not in first and p.reason_to_sync(d, now, None) == "window":
                first[d] = minute
    assert set(first) == set(devices)
    assert len(set(first.values())) > 3  # spread out, not all in the first minute
    assert max(first.values()) <= 10


def test_backoff_doubles_up_to_the_maximum_and_success_resets_it():
    p = policy(backoff_max_s=240)
    now = at(3, 1)
    delays = [p.failed(DEV, now).total_seconds() for _ in range(6)]
    assert all(0.75 * 30 * 2 ** i <= d <= 30 * 2 ** i for i, d in enumerate(delays[:3]))
    assert all(180 <= d <= 240 for d in delays[3:])
    assert p.reason_to_sync(DEV, now + timedelta(seconds=delays[-1] - 1), None) is None
    assert p.reason_to_sync(DEV, now + timedelta(seconds=delays[-1]), None) == "window"
    p.succeeded(DEV, now + timedelta(seconds=delays[-1]))
    assert p.failures(DEV) == 0


def test_dst_night_keeps_wall_clock_window_and_elapsed_intervals():
    # 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST in New York.
    p = policy(interval_s=3600)
    first = datetime(2026, 11, 1, 1, 10, tzinfo=TZ)  # EDT
    assert p.reason_to_sync(DEV, first, None) == "window"
    p.succeeded(DEV, first)
    # 01:40 EST (fold=1) is 90 elapsed minutes later though its wall clock reads 30 later.
    later = datetime(2026, 11, 1, 1, 40, fold=1, tzinfo=TZ)
    assert later.timestamp() - first.timestamp() == 90 * 60
    assert p.reason_to_sync(DEV, later, Advert(False, 5)) == "window"
    assert p.reason_to_sync(DEV, datetime(2026, 11, 1, 1, 40, tzinfo=TZ), Advert(False, 5)) \
        is None
