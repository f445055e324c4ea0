"""When to sync which wearable: the overnight window, opportunistic syncs, stagger, back-off.

A wearable is synced once per overnight window (default 01:00-05:00 local time, possibly
wrapping midnight): the patient sleeps, the wearable sits on its charger next to the
gateway, and a night's records arrive before the clinic opens. Outside the window a
wearable is synced only when it asks for it in its advertisement: it is charging (in reach
and not being worn) or it holds many unsynced records (its log should not fill up).

Starts are staggered: at each window's opening every wearable draws a random delay within
`stagger_s`, so the gateways of a region (and the wearables of a home) do not all connect
and publish in the same second. A failed sync backs off per wearable, doubling from
`_FIRST_BACKOFF_S` up to `backoff_max_s` with jitter; a success resets it.

All times are aware datetimes in the gateway's local time zone: the window is wall-clock
time, so it follows DST changes the way a household does, while intervals and back-off are
elapsed time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from gateway.config import SyncConfig

_FIRST_BACKOFF_S = 30.0
_DAY_S = 86400.0


@dataclass(frozen=True)
class Advert:
    """What a wearable's advertisement says about it (None when it says nothing)."""

    charging: bool
    unsynced: int


@dataclass
class _DeviceState:
    last_success: datetime | None = None
    failures: int = 0
    retry_at: datetime | None = None
    window_opened: datetime | None = None  # the window this stagger delay belongs to
    stagger: timedelta = timedelta(0)


def window_opening(now: datetime, start: time, end: time) -> datetime | None:
    """The opening of the window that contains `now`, or None outside the window."""
    today_start = _at(now, start)
    if start < end:
        return today_start if today_start <= now < _at(now, end) else None
    # Wraps midnight: either opened today (evening part) or yesterday (morning part).
    if now >= today_start:
        return today_start
    if now < _at(now, end):
        return _at(now - timedelta(days=1), start)
    return None


def _seconds(earlier: datetime, later: datetime) -> float:
    # Elapsed time, not wall-clock difference (which is off by an hour across DST).
    return later.timestamp() - earlier.timestamp()


def _at(day: datetime, t: time) -> datetime:
    """`day`'s date at local time `t`, in `day`'s time zone (DST-aware)."""
    naive = datetime.combine(day.date(), t)
    return naive.replace(tzinfo=day.tzinfo) if day.tzinfo is not None else naive


class SyncPolicy:
    def __init__(self, config: SyncConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self._devices: dict[str, _DeviceState] = {}

    def _state(self, device_id: str) -> _DeviceState:
        return self._devices.setdefault(device_id, _DeviceState())

    def reason_to_sync(self, device_id: str, now: datetime, advert: Advert | None,
                       program_waiting: bool = False) -> str | None:
        """Why `device_id` should be synced now ("window", "program", "unsynced N",
        "charging"), or None when it should not (already synced, backing off, staggered,
        nothing asked). A wearable on its charger is synced when it holds records or has
        not been synced for a day, not every interval all night: each sync restarts its
        fast advertising."""
        s = self._state(device_id)
        if s.retry_at is not None and now.timestamp() < s.retry_at.timestamp():
            return None
        recently = (s.last_success is not None
                    and _seconds(s.last_success, now) < self.config.interval_s)
        opened = window_opening(now, self.config.window_start, self.config.window_end)
        if opened is not None and not recently:
            if s.window_opened != opened:
                s.window_opened = opened
                s.stagger = timedelta(seconds=self.rng.uniform(0, self.config.stagger_s))
            synced_this_window = s.last_success is not None and s.last_success >= opened
            more_waiting = advert is not None and advert.unsynced > 0
            if (not synced_this_window or more_waiting) and now >= opened + s.stagger:
                return "window"
        if advert is None or recently:
            return None
        if program_waiting:
            return "program"  # the clinic changed the prescription: before the next set
        if advert.unsynced >= self.config.opportunistic_records:
            return f"unsynced {advert.unsynced}"
        stale = s.last_success is None or _seconds(s.last_success, now) >= _DAY_S
        if advert.charging and (advert.unsynced > 0 or stale):
            return "charging"
        return None

    def succeeded(self, device_id: str, now: datetime) -> None:
        s = self._state(device_id)
        s.last_success = now
        s.failures = 0
        s.retry_at = None

    def failed(self, device_id: str, now: datetime) -> timedelta:
        """Record a failed sync; returns how long the wearable is left alone."""
        s = self._state(device_id)
        s.failures += 1
        delay = min(self.config.backoff_max_s, _FIRST_BACKOFF_S * 2 ** (s.failures - 1))
        # Jitter: wearables that failed together (adapter reset, broker outage) spread out.
        delay *= self.rng.uniform(0.75, 1.0)
        s.retry_at = now + timedelta(seconds=delay)
        return timedelta(seconds=delay)

    def failures(self, device_id: str) -> int:
        return self._state(device_id).failures
