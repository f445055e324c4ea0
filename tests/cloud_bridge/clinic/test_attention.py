"""Every reason of the worklist at its threshold and just short of it, the cases without
history (no prescription, no data, a new patient, a replaced wearable) and the ranking.

Today is Friday 2026-03-20: the recent window is Mar 13..19, the previous Mar 6..12."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic import attention
from cloud_bridge.clinic.attention import Assessment, PatientData, Reason, Severity
from cloud_bridge.clinic.prescriptions import Item, Prescription
from cloud_bridge.clinic.rom import RomSum
from cloud_bridge.daily import DailyTotal
from cloud_bridge.device_state import DeviceState

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 3, 20)
DEV, DEV2 = "a1b2c3d4e5f6", "0a0b0c0d0e0f"
SQUAT = Item("squat", 2, 10, 7, 60, 90)  # 20 reps every day: 140 a week
RECENT = [TODAY - timedelta(days=k) for k in range(7, 0, -1)]  # Mar 13..19
PREVIOUS = [d - timedelta(days=7) for d in RECENT]  # Mar 6..12


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def rx(version: int, start: date, *items: Item) -> Prescription:
    return Prescription("P-1", version, start, items, 0)


def done(days: list[date], reps: int | list[int], partial: int = 0, exercise: str = "squat",
         device: str = DEV) -> list[DailyTotal]:
    per_day = reps if isinstance(reps, list) else [reps] * len(days)
    return [DailyTotal(device, d, exercise, r, partial, 2)
            for d, r in zip(days, per_day, strict=True) if r or partial]


def spread(total: int, days: int = 7) -> list[int]:
    """`total` reps over `days` days, as even as can be."""
    return [total // days + (1 if i < total % days else 0) for i in range(days)]


def state(**kw: object) -> DeviceState:
    values: dict[str, object] = {
        "device_id": DEV, "gateway_id": "home-1", "reported_ms": ms(TODAY, 3),
        "last_sync_ms": ms(TODAY, 3), "last_attempt_ms": ms(TODAY, 3), "battery_pct": 80,
        "log_used_pct": 10, "refused": 0, "consecutive_failures": 0, "firmware": "1.0"}
    values.update(kw)
    return DeviceState(**values)  # type: ignore[arg-type]


def ms(day: date, hour: int, minute: int = 0, zone: ZoneInfo = UTC_ZONE) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
               .timestamp() * 1000)


def patient(**kw: object) -> PatientData:
    """A patient monitored for 30 days, doing exactly the prescription every day."""
    values: dict[str, object] = {
        "patient_id": "P-1", "monitoring_start": ago(30), "devices": [DEV],
        "history": [rx(1, ago(30), SQUAT)], "totals": done(PREVIOUS + RECENT + [TODAY], 20)}
    values.update(kw)
    return PatientData(**values)  # type: ignore[arg-type]


def reasons(p: PatientData, zone: ZoneInfo = UTC_ZONE) -> list[Reason]:
    return list(attention.assess(p, TODAY, zone).reasons)


def kinds(p: PatientData, zone: ZoneInfo = UTC_ZONE) -> list[str]:
    return [r.kind for r in reasons(p, zone)]


def test_a_patient_doing_the_prescription_is_fine() -> None:
    a = attention.assess(patient(), TODAY, UTC_ZONE)
    assert a.reasons == () and attention.summary(a) == "fine"
    assert (a.last_day_with_data, a.days_since_data, a.days_without_data) == (TODAY, 0, 0)


# -- no data -------------------------------------------------------------------------------

def test_no_data_from_five_days_on() -> None:
    (r,) = reasons(patient(totals=done([ago(5)], 20)))
    assert (r.kind, r.severity, r.score) == ("no_data", Severity.URGENT, 1.0)
    assert r.text == "no data for 5 days (last: Sun 2026-03-15)"
    assert "no_data" not in kinds(patient(totals=done([ago(4)], 20)))
    (r,) = [r for r in reasons(patient(totals=done([ago(10)], 20))) if r.kind == "no_data"]
    assert r.score == 2.0


def test_a_last_day_older_than_the_totals_given() -> None:
    p = patient(totals=[], last_day_with_data=date(2026, 1, 5), data_since=ago(60))
    (r,) = [r for r in reasons(p) if r.kind == "no_data"]
    assert r.text == "no data for 74 days (last: Mon 2026-01-05)"
    p = patient(monitoring_start=ago(200), totals=[], data_since=ago(89))
    (r,) = [r for r in reasons(p) if r.kind == "no_data"]
    assert r.text == "no data for at least 90 days (none since Sun 2025-12-21)"


def test_never_any_data_counts_from_the_day_before_monitoring_started() -> None:
    p = patient(monitoring_start=ago(4), history=[rx(1, ago(4), SQUAT)], totals=[])
    (r,) = reasons(p)
    assert r.text == "no data since monitoring started on Mon 2026-03-16 (5 days)"
    a = attention.assess(replace(p, monitoring_start=ago(3)), TODAY, UTC_ZONE)
    assert a.reasons == () and a.days_without_data == 4 and a.days_since_data is None


def test_before_monitoring_starts_nothing_is_said() -> None:
    p = patient(monitoring_start=TODAY + timedelta(days=1), history=[], totals=[],
                states={DEV: state(battery_pct=1, last_sync_ms=None)})
    a = attention.assess(p, TODAY, UTC_ZONE)
    assert a.reasons == () and a.days_without_data is None


def test_data_after_today_is_not_counted() -> None:
    p = patient(totals=done([ago(6), TODAY + timedelta(days=1)], 20))
    (r,) = [r for r in reasons(p) if r.kind == "no_data"]
    assert r.text == "no data for 6 days (last: Sat 2026-03-14)"


# -- prescription and adherence ----------------------------------------------------------

def test_no_prescription_yet_and_an_ended_one() -> None:
    (r,) = reasons(patient(history=[]))
    assert (r.kind, r.severity, r.text) == ("no_prescription", Severity.NOTE,
                                            "no prescription yet")
    ended = patient(history=[rx(1, ago(30), SQUAT), rx(2, ago(3))])
    assert [r.text for r in reasons(ended)] == [
        "prescription ended on Tue 2026-03-17 (no exercises since)"]
    # Nothing to compare: no adherence reason, however little is done.
    assert kinds(patient(history=[], totals=done(RECENT, 1))) == ["no_prescription"]


def test_adherence_falling_from_25_points() -> None:
    p = patient(totals=done(PREVIOUS, 20) + done(RECENT, spread(105)))  # 100% -> 75%
    (r,) = reasons(p)
    assert (r.kind, r.severity, r.score) == ("adherence_falling", Severity.WARN, 1.0)
    assert r.text == "adherence fell from 100% to 75% (last 7 days vs the 7 before)"
    assert reasons(replace(p, totals=done(PREVIOUS, 20) + done(RECENT, spread(106)))) == []


def test_today_is_left_out_of_the_trends() -> None:
    # Nothing yet today (it arrives with tonight's sync): not a fall.
    assert reasons(patient(totals=done(PREVIOUS + RECENT, 20))) == []
    p = patient(totals=done(PREVIOUS, 20) + done(RECENT, spread(105)) + done([TODAY], 200))
    assert kinds(p) == ["adherence_falling"]


def test_adherence_low_under_half_when_steady() -> None:
    p = patient(totals=done(PREVIOUS + RECENT, spread(69) * 2))  # 49.3% both weeks
    (r,) = reasons(p)
    assert (r.kind, r.severity) == ("adherence_low", Severity.NOTE)
    assert r.text == "adherence 49% over the last 7 days (under 50%)"
    assert reasons(replace(p, totals=done(PREVIOUS + RECENT, spread(70) * 2))) == []


def test_adherence_low_is_not_repeated_under_no_data_or_a_fall() -> None:
    # Mar 13 only: 20 of 140 reps, and nothing for 7 days.
    p = patient(totals=done(PREVIOUS, spread(20)) + done(RECENT[:1], 20))
    assert kinds(p) == ["no_data"]
    p = patient(totals=done(PREVIOUS, 20) + done(RECENT, spread(30)))
    assert kinds(p) == ["adherence_falling"]


def test_a_new_patient_has_no_trends() -> None:
    # Monitoring from Mar 7: the previous window (from Mar 6) is not inside it.
    falling = done(PREVIOUS[1:], 20) + done(RECENT, spread(30))
    partial = done(PREVIOUS[1:], 18, 2) + done(RECENT, 12, 8)
    rom = {("squat", d): RomSum(20, 20 * 6000) for d in PREVIOUS[1:]}
    rom |= {("squat", d): RomSum(20, 20 * 4000) for d in RECENT}
    p = patient(monitoring_start=ago(13), history=[rx(1, ago(13), SQUAT)], totals=falling,
                rom=rom)
    assert kinds(p) == ["adherence_low"]  # the last 7 days are monitored: only the level
    assert kinds(replace(p, totals=partial)) == []
    # From Mar 6 on, the same data has its trends.
    p = replace(p, monitoring_start=ago(14), history=[rx(1, ago(14), SQUAT)])
    assert kinds(p) == ["adherence_falling", "rom_worse"]
    # Most past its threshold first: partial reps 10% -> 40% (3.0), ROM -20 degrees (2.0).
    assert kinds(replace(p, totals=partial)) == ["partial_rising", "rom_worse"]


def test_adherence_is_judged_from_a_full_week_of_monitoring() -> None:
    # Nothing done at all: the reason comes on the day adherence_judged_from says.
    for days_ago, expected in ((6, []), (7, ["adherence_low"])):
        start = ago(days_ago)
        p = patient(monitoring_start=start, history=[rx(1, start, SQUAT)], totals=[])
        p = replace(p, last_day_with_data=ago(1))  # data of other kinds: not "no data"
        assert kinds(p) == expected
        assert (attention.adherence_judged_from(start) <= TODAY) == bool(expected)


def test_monitored_for_two_days_nothing_but_the_prescription() -> None:
    p = patient(monitoring_start=ago(2), history=[], totals=done([ago(1)], 3))
    assert kinds(p) == ["no_prescription"]


# -- ROM ------------------------------------------------------------------------------------

def rom_days(before_cdeg: int, now_cdeg: int, reps: int = 20) -> dict[tuple[str, date],
                                                                       RomSum]:
    per_day = {("squat", PREVIOUS[0]): RomSum(reps, reps * before_cdeg),
               ("squat", RECENT[-1]): RomSum(reps, reps * now_cdeg)}
    # Days of another exercise and the generic sets never mix in.
    per_day[("heel_raise", RECENT[0])] = RomSum(50, 50 * 100)
    per_day[("generic", PREVIOUS[1])] = RomSum(50, 50 * 9000)
    return per_day


def test_rom_down_10_degrees() -> None:
    (r,) = reasons(patient(rom=rom_days(6000, 5000)))
    assert (r.kind, r.severity, r.score, r.exercise) == ("rom_worse", Severity.WARN, 1.0,
                                                         "squat")
    assert r.text == ("mean ROM of squat down 10° (50° vs 60°, last 7 vs previous 7 days; "
                      "target 60-90°)")
    assert reasons(patient(rom=rom_days(6000, 5001))) == []
    assert reasons(patient(rom=rom_days(5000, 6000))) == []  # better, not worse


def test_rom_needs_20_full_reps_in_each_window() -> None:
    assert reasons(patient(rom=rom_days(6000, 4000, reps=19))) == []
    # Weighted by reps across days: (20 x 60 + 20 x 40) / 40 = 50 before.
    per_day = rom_days(6000, 3900)
    per_day[("squat", PREVIOUS[3])] = RomSum(20, 20 * 4000)
    (r,) = reasons(patient(rom=per_day))
    assert r.text.startswith("mean ROM of squat down 11° (39° vs 50°")


def test_rom_of_an_exercise_without_a_target_range() -> None:
    p = patient(rom=rom_days(6000, 4000), history=[rx(1, ago(30), replace(SQUAT, rom_min_deg=None,
                                                                         rom_max_deg=None))])
    (r,) = reasons(p)
    assert r.text == "mean ROM of squat down 20° (40° vs 60°, last 7 vs previous 7 days)"
    assert r.score == 2.0


# -- partial reps --------------------------------------------------------------------------

def test_partial_reps_rising_to_20_percent_by_10_points() -> None:
    # Before 3 partial of 30 (10%), now 6 of 30 (20%), each over the week.
    base = done(PREVIOUS + RECENT, 20)
    p = patient(totals=base + done(PREVIOUS[:1], 0, 3, exercise="lunge")
                + done(PREVIOUS[1:2], 27, exercise="lunge")
                + done(RECENT[:1], 24, 6, exercise="lunge"))
    (r,) = reasons(p)
    assert (r.kind, r.severity, r.score, r.exercise) == ("partial_rising", Severity.WARN,
                                                         1.0, "lunge")
    assert r.text == ("partial reps of lunge rising: 20% of reps vs 10% (last 7 vs previous "
                      "7 days)")


@pytest.mark.parametrize(("before", "now"), [
    ((27, 3), (25, 6)),  # 6 of 31 = 19.4%: under 20%
    ((32, 4), (24, 6)),  # 4 of 36 = 11.1% before: up 8.9 points only
    ((27, 3), (23, 6)),  # 29 reps now: too few
    ((26, 3), (24, 6)),  # 29 reps before: too few
])
def test_partial_reps_short_of_a_threshold(before: tuple[int, int],
                                           now: tuple[int, int]) -> None:
    p = patient(totals=done(PREVIOUS + RECENT, 20)
                + done(PREVIOUS[:1], before[0], before[1], exercise="lunge")
                + done(RECENT[:1], now[0], now[1], exercise="lunge"))
    assert reasons(p) == []


def test_partial_reps_of_the_generic_sets_are_named_so() -> None:
    p = patient(totals=done(PREVIOUS + RECENT, 20)
                + done(PREVIOUS[:1], 30, 0, exercise="generic")
                + done(RECENT[:1], 10, 30, exercise="generic"))
    (r,) = reasons(p)
    assert r.text == "partial reps rising: 75% of reps vs 0% (last 7 vs previous 7 days)"
    assert r.score == 7.5


# -- device problems ------------------------------------------------------------------------

def device_reasons(p: PatientData, zone: ZoneInfo = UTC_ZONE) -> list[tuple[str, str]]:
    return [(r.kind, r.text) for r in reasons(p, zone) if r.device_id is not None]


def test_battery_at_or_under_20_percent() -> None:
    assert device_reasons(patient(states={DEV: state(battery_pct=20)})) == [
        ("battery", "battery 20% at the last sync")]
    assert device_reasons(patient(states={DEV: state(battery_pct=21)})) == []
    assert device_reasons(patient(states={DEV: state(battery_pct=None)})) == []
    (r,) = reasons(patient(states={DEV: state(battery_pct=0)}))
    assert r.score == 2.0


def test_not_synced_for_3_days_in_the_clinics_days() -> None:
    three = state(last_sync_ms=ms(ago(3), 23))
    assert device_reasons(patient(states={DEV: three})) == [
        ("not_synced", "not synced for 3 days (last: Tue 2026-03-17)")]
    assert device_reasons(patient(states={DEV: state(last_sync_ms=ms(ago(2), 0))})) == []
    # 23:30 in New York on Mar 17 is Mar 18 in UTC: the clinic's day counts.
    late = state(last_sync_ms=ms(ago(3), 23, 30, NEW_YORK))
    assert device_reasons(patient(states={DEV: late}), NEW_YORK) == [
        ("not_synced", "not synced for 3 days (last: Tue 2026-03-17)")]
    assert device_reasons(patient(states={DEV: late}), UTC_ZONE) == []


def test_never_synced_once_monitoring_has_run_3_days() -> None:
    never = state(last_sync_ms=None, battery_pct=None, log_used_pct=None)
    p = patient(monitoring_start=ago(3), history=[rx(1, ago(3), SQUAT)], totals=[],
                states={DEV: never})
    assert device_reasons(p) == [("not_synced", "never synced")]
    assert device_reasons(replace(p, monitoring_start=ago(2))) == []


def test_record_storage_nearly_full_and_full() -> None:
    assert device_reasons(patient(states={DEV: state(log_used_pct=74)})) == []
    (r,) = reasons(patient(states={DEV: state(log_used_pct=75)}))
    assert (r.kind, r.severity, r.text) == ("storage", Severity.WARN,
                                            "record storage 75% full")
    (r,) = reasons(patient(states={DEV: state(log_used_pct=89)}))
    assert r.severity == Severity.WARN
    (r,) = reasons(patient(states={DEV: state(log_used_pct=90, refused=12)}))
    assert (r.severity, r.text) == (Severity.URGENT,
                                    "record storage 90% full (12 records refused so far)")


def test_sync_failures_from_5_in_a_row() -> None:
    assert device_reasons(patient(states={DEV: state(consecutive_failures=5)})) == [
        ("sync_failures", "5 sync failures in a row")]
    assert device_reasons(patient(states={DEV: state(consecutive_failures=4)})) == []


def test_several_wearables_are_named_and_a_replaced_one_is_quiet() -> None:
    low = state(device_id=DEV2, battery_pct=12)
    both = patient(devices=[DEV, DEV2], totals=done(PREVIOUS + RECENT, 10)
                   + done(PREVIOUS + RECENT, 10, device=DEV2),
                   states={DEV: state(log_used_pct=80), DEV2: low})
    # Battery 12% scores 1.4, storage 80% 1.07: the battery first.
    assert device_reasons(both) == [
        ("battery", f"wearable {DEV2}: battery 12% at the last sync"),
        ("storage", f"wearable {DEV}: record storage 80% full")]
    # DEV2 sent nothing for 14 days while DEV did: replaced, its old state says nothing.
    replaced = replace(both, totals=done(PREVIOUS + RECENT, 20)
                       + done([ago(15)], 20, device=DEV2),
                       states={DEV: state(), DEV2: replace(low, last_sync_ms=ms(ago(15), 3))})
    assert device_reasons(replaced) == []
    # Neither sent anything: both are looked at.
    silent = replace(replaced, totals=[], states={DEV: state(last_sync_ms=ms(ago(6), 3)),
                                                  DEV2: low})
    assert device_reasons(silent) == [
        ("not_synced", f"wearable {DEV}: not synced for 6 days (last: Sat 2026-03-14)"),
        ("battery", f"wearable {DEV2}: battery 12% at the last sync")]


def test_a_device_state_is_added_to_the_other_reasons() -> None:
    p = patient(totals=done([ago(6)], 20),
                states={DEV: state(last_sync_ms=ms(ago(6), 3), battery_pct=5)})
    a = attention.assess(p, TODAY, UTC_ZONE)
    assert [r.kind for r in a.reasons] == ["no_data", "not_synced", "battery"]
    assert a.severity == Severity.URGENT and a.score == pytest.approx(1.2 + 1.75 + 2.0)
    assert attention.summary(a) == ("no data for 6 days (last: Sat 2026-03-14); not synced "
                                    "for 6 days (last: Sat 2026-03-14); battery 5% at the "
                                    "last sync")


# -- ranking -------------------------------------------------------------------------------

def assessment(pid: str, days: int | None, *reasons: tuple[Severity, float],
               last: date | None = None) -> Assessment:
    return Assessment(pid, ago(30), last, days,
                      tuple(Reason("x", s, score, "x") for s, score in reasons))


def test_ranking() -> None:
    ranked = attention.rank([
        assessment("fine-2", 2), assessment("not-started", None),
        assessment("fine-9", 9), assessment("note", 1, (Severity.NOTE, 5.0)),
        assessment("warn-small", 1, (Severity.WARN, 1.0)),
        assessment("warn-two", 1, (Severity.WARN, 1.0), (Severity.WARN, 1.0)),
        assessment("urgent", 5, (Severity.URGENT, 1.0)),
        assessment("warn-big", 0, (Severity.WARN, 1.9)),
        assessment("warn-small-older", 4, (Severity.WARN, 1.0)),
        assessment("a-warn-small", 1, (Severity.WARN, 1.0)),
    ])
    assert [a.patient_id for a in ranked] == [
        "urgent", "warn-two", "warn-big", "warn-small-older", "a-warn-small", "warn-small",
        "note", "fine-9", "fine-2", "not-started"]


def test_ranking_real_assessments() -> None:
    fine = patient(patient_id="P-fine")
    silent = patient(patient_id="P-silent", totals=done([ago(8)], 20))
    falling = patient(patient_id="P-falling",
                      totals=done(PREVIOUS, 20) + done(RECENT, spread(70)))
    unplanned = patient(patient_id="P-unplanned", history=[])
    later = patient(patient_id="P-later", monitoring_start=TODAY + timedelta(days=3))
    ranked = attention.rank(attention.assess(p, TODAY, UTC_ZONE)
                            for p in (later, fine, unplanned, falling, silent))
    assert [a.patient_id for a in ranked] == ["P-silent", "P-falling", "P-unplanned",
                                              "P-fine", "P-later"]

