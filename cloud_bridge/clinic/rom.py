"""Range of motion per exercise and local day, from the set records.

The daily totals carry no ROM, so it comes from the set summaries: each holds the mean ROM
of its full reps (`mean_rom_cdeg`; the wearable averages over full reps only) and their
number, so a day's or a week's mean is the sets' means weighted by their full reps, which
equals the mean over the reps themselves up to the wearable's rounding. Reading the set
summaries (Store.set_summaries) instead of every rep costs about a tenth of the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from cloud_bridge.daily import local_day
from cloud_bridge.records import StoredRecord


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


def rom_per_day(records: Iterable[StoredRecord], zone: ZoneInfo) -> dict[tuple[str, date],
                                                                          RomSum]:
    """RomSum per (exercise, local day) from the dated set records among `records` (reps
    and undated records are skipped; a set without full reps carries no ROM)."""
    out: dict[tuple[str, date], RomSum] = {}
    for r in records:
        reps = r.values.get("reps", 0)
        if r.kind != "set" or not r.time_valid or reps <= 0:
            continue
        key = (r.exercise, local_day(r.t_ms, zone))
        out[key] = out.get(key, NONE) + RomSum(reps, r.values["mean_rom_cdeg"] * reps)
    return out


def over(rom: RomPerDay, exercise: str, days: Iterable[date]) -> RomSum:
    """The ROM of `exercise` over `days` together."""
    total = NONE
    for day in days:
        total = total + rom.get((exercise, day), NONE)
    return total
