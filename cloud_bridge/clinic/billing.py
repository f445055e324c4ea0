"""RTM billing readiness: which CPT codes the data and the logged time support. Pure rules,
no I/O: callers pass local dates in the clinic's time zone (days with data from the store's
daily totals, time entries and communications from time_log), and a "today".

Rules, as the issue states them (2026 CPT remote therapeutic monitoring codes):

* Device supply, per 30-day period counted from the start of monitoring: period k covers
  start + 30k .. start + 30k + 29. A day with data is a local day with at least one dated
  record of any of the patient's devices (several devices on one day count once).
  98977 for 16-30 days with data; 98985 for 2-15 days; nothing for 0 or 1 day. One code per
  period at most, so never both 98977 and 98985 for one period.
* Initial setup and patient education, 98975: once per episode, billable from the day the
  episode's second day with data exists.
* Treatment management, per calendar month, from the minutes logged that month: nothing
  without at least one interactive communication logged that same month; nothing under 10
  minutes; 10-19 minutes: 98979; from 20 minutes: 98980, plus one 98981 for each further
  full 20 minutes (40 minutes: 98980 + 98981; 59: still one 98981; 60: two).

Where the issue's text left room, and what is done here:

* A period that is still running has no final code: more days with data can still come.
  It is reported "in progress" with the code its days so far would give, the days still
  needed to reach 16 and the last day they can come on. Once a running period has 16 days
  it is reported as "reached": 98977 cannot change any more (days with data only ever get
  added), but it is still not final, and not billable, until the period has ended; the
  claim is for the whole 30-day period. A period is over the day after its last day. Even
  then a wearable that syncs late can still add days: "final" means the period is over,
  not that no record of it can arrive any more.
* The episode is the patient's monitoring: it starts at the earliest monitoring_start in
  the enrollment registry (a replaced wearable does not start a new episode), and there is
  one per patient. Data from before that start is on no period and does not count for
  98975.
* 98975 needs "2 days of data" in the whole episode, not necessarily in one period: the
  issue does not tie it to a period. The date it became billable is that second day.
* Treatment management is not tied to device data or to the monitoring start: the issue
  counts only logged minutes and communications per calendar month. Every logged
  communication counts as interactive, whatever its kind (call, video, message,
  in-person): the issue does not tell kinds apart. Payers may not (CMS describes it as
  real-time two-way audio, possibly with video), so that may need a rule of its own. A time
  entry's or communication's month is that of its local day in the clinic's time zone. No
  cap on the number of 98981 units: the issue gives none.
* A month still running is "in progress": minutes and communications can still be logged.
* Which month a code is billed in, for a monthly report (month_periods, month_setup): a
  30-day period in the month of its last day, 98975 in the month of its second day with
  data, treatment management in its own month. So each code is final in one month's report
  only, even for a period that spans two months. A month's report also shows the period
  running today (in progress) when today is in that month: the readiness to act on.
* "As of today": days with data, minutes and communications dated after `today` are left
  out, so a report as of an earlier day counts what is dated up to that day.
* 98979 and 98980 are never both given for one month: 98980 replaces 98979 from 20 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

PERIOD_DAYS = 30
SUPPLY_FULL_DAYS = 16  # 98977 from here
SUPPLY_SHORT_DAYS = 2  # 98985 from here
SETUP_DAYS = 2  # 98975 from here
TREATMENT_FIRST_MINUTES = 10  # 98979
TREATMENT_FULL_MINUTES = 20  # 98980
TREATMENT_EXTRA_MINUTES = 20  # each further full block: one 98981

SETUP = "98975"
SUPPLY_16_DAYS = "98977"
SUPPLY_2_DAYS = "98985"
TREATMENT_10_MIN = "98979"
TREATMENT_20_MIN = "98980"
TREATMENT_EACH_20_MIN = "98981"
CODES = (SETUP, SUPPLY_16_DAYS, SUPPLY_2_DAYS, TREATMENT_10_MIN, TREATMENT_20_MIN,
         TREATMENT_EACH_20_MIN)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class Status(StrEnum):
    FINAL = "final"  # the period or month is over (for 98975: its second day exists)
    REACHED = "reached"  # running period that already has 16 days: 98977, final at its end
    IN_PROGRESS = "in progress"  # running: the code may still change
    NOT_STARTED = "not started"  # monitoring starts after today


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no such month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"not a month (YYYY-MM): {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        if self.month == 12:
            return date(self.year, 12, 31)
        return date(self.year, self.month + 1, 1) - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class SupplyPeriod:
    index: int  # 0 for the first 30 days of the episode
    first: date
    last: date
    days_with_data: int  # up to today
    code: str | None  # what the days so far give; final only when status is FINAL
    status: Status
    reason: str


@dataclass(frozen=True)
class Setup:
    code: str | None  # 98975 once billable
    billable_on: date | None  # the episode's second day with data
    days_with_data: int  # in the episode up to today
    status: Status
    reason: str


@dataclass(frozen=True)
class TreatmentMonth:
    month: Month
    minutes: int
    communications: int
    codes: tuple[str, ...]  # e.g. (98980, 98981, 98981); what the month so far gives
    status: Status
    reason: str


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _minutes(n: int) -> str:
    return f"{n} minute" if n == 1 else f"{n} minutes"


def period_bounds(start: date, index: int) -> tuple[date, date]:
    """First and last day of period `index` (0, 1, ...) of an episode starting on `start`."""
    if index < 0:
        raise ValueError("period index must be 0 or more")
    first = start + timedelta(days=PERIOD_DAYS * index)
    return first, first + timedelta(days=PERIOD_DAYS - 1)


def period_index(start: date, day: date) -> int | None:
    """The period holding `day`, None for a day before the start of monitoring."""
    return None if day < start else (day - start).days // PERIOD_DAYS


def supply_code(days_with_data: int) -> str | None:
    """The device supply code for a period with this many days with data."""
    if days_with_data >= SUPPLY_FULL_DAYS:
        return SUPPLY_16_DAYS
    if days_with_data >= SUPPLY_SHORT_DAYS:
        return SUPPLY_2_DAYS
    return None


def supply_period(start: date, index: int, days_with_data: Collection[date],
                  today: date) -> SupplyPeriod:
    """Readiness of period `index`; it must have started by `today`."""
    first, last = period_bounds(start, index)
    if today < first:
        raise ValueError(f"period {first}..{last} has not started on {today}")
    counted = {d for d in days_with_data if first <= d <= min(last, today)}
    n = len(counted)
    code = supply_code(n)
    if today > last:
        if code == SUPPLY_16_DAYS:
            reason = f"{_days(n)} with data (16 or more: {code})"
        elif code == SUPPLY_2_DAYS:
            reason = f"{_days(n)} with data (2 to 15: {code})"
        else:
            reason = f"{_days(n)} with data (fewer than 2: no device supply code)"
        return SupplyPeriod(index, first, last, n, code, Status.FINAL, reason)
    if code == SUPPLY_16_DAYS:
        return SupplyPeriod(index, first, last, n, code, Status.REACHED,
                            f"{n} of 16 days with data: 16 reached, {code} final after "
                            f"the period ends on {last}")
    # Days on which data can still come: today (unless it already has data) to the end.
    open_days = (last - today).days + 1 - (1 if today in counted else 0)
    needed = SUPPLY_FULL_DAYS - n
    if needed <= open_days:
        reason = f"{n} of 16 days with data, {needed} more needed by {last}"
    elif n >= SUPPLY_SHORT_DAYS:
        reason = (f"{n} of 16 days with data, 16 no longer reachable by {last} "
                  f"({_days(open_days)} left): {SUPPLY_2_DAYS} at most")
    else:
        reason = (f"{n} of 2 days with data for {SUPPLY_2_DAYS}, {SUPPLY_SHORT_DAYS - n} more "
                  f"needed by {last} (16 no longer reachable)")
    return SupplyPeriod(index, first, last, n, code, Status.IN_PROGRESS, reason)


def month_periods(start: date, month: Month, days_with_data: Collection[date],
                  today: date) -> list[SupplyPeriod]:
    """The periods a month's report lists: those that end in `month` (and have started by
    `today`), plus the one running on `today` if today is in `month`; in order."""
    indexes = set()
    lo = period_index(start, month.first)
    hi = period_index(start, min(month.last, today))
    if hi is not None:
        for k in range(lo or 0, hi + 1):
            if month.first <= period_bounds(start, k)[1] <= month.last:
                indexes.add(k)
    running = period_index(start, today)
    if running is not None and Month.of(today) == month:
        indexes.add(running)
    return [supply_period(start, k, days_with_data, today) for k in sorted(indexes)]


def setup(start: date, days_with_data: Collection[date], today: date) -> Setup:
    """98975: once per episode, from the episode's second day with data."""
    if today < start:
        return Setup(None, None, 0, Status.NOT_STARTED, f"monitoring starts on {start}")
    episode = sorted(d for d in days_with_data if start <= d <= today)
    if len(episode) >= SETUP_DAYS:
        on = episode[SETUP_DAYS - 1]
        return Setup(SETUP, on, len(episode), Status.FINAL,
                     f"billable since {on}, the episode's second day with data "
                     "(once per episode)")
    return Setup(None, None, len(episode), Status.IN_PROGRESS,
                 f"{len(episode)} of 2 days with data in the episode")


def month_setup(start: date, month: Month, days_with_data: Collection[date],
                today: date) -> Setup:
    """98975 as a month's report lists it: with its code only in the month it became
    billable, so that it is billed once; afterwards without a code, saying when it was."""
    s = setup(start, days_with_data, min(today, month.last))
    if s.billable_on is not None and s.billable_on < month.first:
        return Setup(None, s.billable_on, s.days_with_data, Status.FINAL,
                     f"{SETUP} became billable on {s.billable_on}, in "
                     f"{Month.of(s.billable_on)} (once per episode)")
    return s


def treatment_codes(minutes: int, communications: int) -> tuple[str, ...]:
    """Treatment management codes for one calendar month's minutes and communications."""
    if communications < 1 or minutes < TREATMENT_FIRST_MINUTES:
        return ()
    if minutes < TREATMENT_FULL_MINUTES:
        return (TREATMENT_10_MIN,)
    extra = (minutes - TREATMENT_FULL_MINUTES) // TREATMENT_EXTRA_MINUTES
    return (TREATMENT_20_MIN,) + (TREATMENT_EACH_20_MIN,) * extra


def treatment_month(month: Month, time_entries: Iterable[tuple[date, int]],
                    communication_days: Iterable[date], today: date) -> TreatmentMonth:
    """Readiness of `month`: time_entries are (local day, minutes), communication_days the
    local days of the interactive communications; days outside the month are ignored."""
    if today < month.first:
        raise ValueError(f"month {month} has not started on {today}")
    end = min(month.last, today)
    minutes = sum(m for d, m in time_entries if month.first <= d <= end)
    comms = sum(1 for d in communication_days if month.first <= d <= end)
    codes = treatment_codes(minutes, comms)
    running = today <= month.last
    status = Status.IN_PROGRESS if running else Status.FINAL
    what = f"{_minutes(minutes)}, {comms} communication{'' if comms == 1 else 's'}"
    if comms == 0:
        if running:
            reason = (f"{what}: none billable until an interactive communication is "
                      "logged this month")
        else:
            reason = f"{what}: no interactive communication, no treatment management code"
    elif minutes < TREATMENT_FIRST_MINUTES:
        more = TREATMENT_FIRST_MINUTES - minutes
        reason = (f"{what}: {more} more needed for {TREATMENT_10_MIN}" if running
                  else f"{what}: under 10 minutes, no treatment management code")
    elif minutes < TREATMENT_FULL_MINUTES:
        reason = f"{what}: {TREATMENT_10_MIN}"
        if running:
            reason += (f"; {TREATMENT_FULL_MINUTES - minutes} more for {TREATMENT_20_MIN} "
                       f"instead")
    else:
        extra = len(codes) - 1
        reason = f"{what}: {TREATMENT_20_MIN}"
        if extra:
            reason += f" + {extra} x {TREATMENT_EACH_20_MIN}"
        if running:
            over = (minutes - TREATMENT_FULL_MINUTES) % TREATMENT_EXTRA_MINUTES
            which = "another" if extra else "a"
            reason += (f"; {TREATMENT_EXTRA_MINUTES - over} more for {which} "
                       f"{TREATMENT_EACH_20_MIN}")
    return TreatmentMonth(month, minutes, comms, codes, status, reason)
