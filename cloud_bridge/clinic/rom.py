"""Range of motion per exercise and local day, from the daily totals.

Each set summary holds the mean ROM of its full reps (`mean_rom_cdeg`; the wearable averages
over full reps only) and their number, so a day's or a week's mean is the sets' means
weighted by their full reps, which equals the mean over the reps themselves up to the
wearable's rounding. The daily totals keep exactly those sums per device, exercise and day
(DailyTotal.rom_reps and rom_sum_cdeg, daily.set_rom), so the clinic reads ROM as days, not
as set records: a year of a patient is a few hundred rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from cloud_bridge.daily import DailyTotal


@dataclass(frozen=True)
class RomSum:
    """Full reps and the sum of their ROM: what adds up across sets, days and devices."""

    reps: int
    total_cdeg: int

    def __add__(self, other: RomSum) -> RomSum:
        return RomSum(self.reps + other.reps, self.total_cdeg + other.total_cdeg)

    @property
    def mean_deg(self) -> float | None:
        return self.total_cdeg / self.reps / 100 if self.reps else None


NONE = RomSum(0, 0)

# (exercise, local day) -> ROM of that day's full reps, all the patient's devices together
RomPerDay = Mapping[tuple[str, date], RomSum]


def rom_per_day(totals: Iterable[DailyTotal]) -> dict[tuple[str, date], RomSum]:
    """RomSum per (exercise, local day) of the daily totals of a patient's devices, summed
    over the devices; only days with full reps in sets have one."""
    sums: dict[tuple[str, date], list[int]] = {}
    for t in totals:
        if t.rom_reps:
            acc = sums.setdefault((t.exercise, t.day), [0, 0])
            acc[0] += t.rom_reps
            acc[1] += t.rom_sum_cdeg
    return {key: RomSum(reps, total) for key, (reps, total) in sums.items()}


def over(rom: RomPerDay, exercise: str, days: Iterable[date]) -> RomSum:
    """The ROM of `exercise` over `days` together."""
    reps = total = 0  # summed as ints, one RomSum made: the worklist asks this 6,000 times
    for day in days:
        s = rom.get((exercise, day))
        if s is not None:
            reps += s.reps
            total += s.total_cdeg
    return RomSum(reps, total)
