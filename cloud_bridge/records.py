"""The record as the clinic side stores it: decoded, with the wearable's id, in UTC ms."""

from __future__ import annotations

from dataclasses import dataclass, field

REP_FIELDS = ("rep", "duration_ms", "rom_cdeg", "peak_dps")
SET_FIELDS = ("reps", "partial_reps", "mean_rom_cdeg", "duration_s", "tempo_cv_pct", "rests")


@dataclass(frozen=True)
class StoredRecord:
    """One rep or set summary, identified by (device_id, seq).

    `t_ms` is Unix time in ms (UTC). `values` holds the kind's integer fields: REP_FIELDS
    for kind "rep", SET_FIELDS for kind "set". No patient identity: the clinic maps
    device_id to a patient in its enrollment registry.
    """

    device_id: str  # 12 lowercase hex digits
    seq: int
    kind: str  # "rep" | "set"
    exercise: str  # name from firmware.core.exercises
    set_no: int
    t_ms: int
    time_valid: bool
    partial: bool
    values: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return (self.device_id, self.seq)
