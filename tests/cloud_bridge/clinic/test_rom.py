from datetime import date
from zoneinfo import ZoneInfo

from cloud_bridge.clinic import rom
from cloud_bridge.clinic.rom import RomSum
from cloud_bridge.daily import count_daily
from cloud_bridge.records import StoredRecord

TZ = ZoneInfo("America/New_York")
FEB_20_NOON = 1_771_606_800_000  # 12:00 in New York


def set_rec(seq: int, reps: int, rom_cdeg: int, *, t_ms: int = FEB_20_NOON,
            valid: bool = True, exercise: str = "squat",
            device: str = "a00000000001") -> StoredRecord:
    return StoredRecord(device, seq, "set", exercise, seq, t_ms + seq, valid, False,
                        {"reps": reps, "partial_reps": 1, "mean_rom_cdeg": rom_cdeg,
                         "duration_s": 1, "tempo_cv_pct": 0, "rests": 0})


def test_sets_weighted_by_full_reps_per_exercise_and_local_day() -> None:
    rep = StoredRecord("a00000000001", 9, "rep", "squat", 1, FEB_20_NOON, True, False,
                       {"rep": 1, "duration_ms": 1, "rom_cdeg": 1, "peak_dps": 1})
    late = FEB_20_NOON + 12 * 3_600_000  # 00:00 on Feb 21 in New York
    records = [set_rec(1, 3, 4000), set_rec(2, 1, 8000), set_rec(3, 0, 9900),
               set_rec(4, 5, 100, valid=False), rep, set_rec(5, 2, 3000, t_ms=late),
               set_rec(6, 4, 7000, exercise="lunge")]
    per_day = rom.rom_per_day(count_daily(records, TZ))
    assert per_day == {("squat", date(2026, 2, 20)): RomSum(4, 20000),
                       ("squat", date(2026, 2, 21)): RomSum(2, 6000),
                       ("lunge", date(2026, 2, 20)): RomSum(4, 28000)}
    assert per_day[("squat", date(2026, 2, 20))].mean_deg == 50.0
    both = rom.over(per_day, "squat", [date(2026, 2, 19), date(2026, 2, 20), date(2026, 2, 21)])
    assert both == RomSum(6, 26000) and round(both.mean_deg or 0, 2) == 43.33
    assert rom.over(per_day, "squat", []).mean_deg is None


def test_the_devices_of_a_patient_add_up() -> None:
    records = [set_rec(1, 3, 4000), set_rec(1, 1, 8000, device="a00000000002"),
               set_rec(2, 0, 5000, exercise="lunge", device="a00000000002")]
    assert rom.rom_per_day(count_daily(records, TZ)) == {
        ("squat", date(2026, 2, 20)): RomSum(4, 20000)}  # the lunge set has no full reps
