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

    @classmethod
    def fast(cls, device_id: str, seq: int, kind: str, exercise: str, set_no: int, t_ms: int,
             time_valid: bool, partial: bool, values: dict[str, int]) -> StoredRecord:
        """The same record as the constructor makes, several times faster: a frozen
        dataclass sets each field through object.__setattr__, and the bridge makes one of
        these for every record it receives."""
        rec = object.__new__(cls)
        object.__setattr__(rec, "__dict__", {
            "device_id": device_id, "seq": seq, "kind": kind, "exercise": exercise,
            "set_no": set_no, "t_ms": t_ms, "time_valid": time_valid, "partial": partial,
            "values": values})
        return rec
