"""The RTM billing rules (issue point 4), boundary by boundary, on local dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cloud_bridge.clinic import billing
from cloud_bridge.clinic.billing import Month, Status

pytestmark = pytest.mark.rtm

START = date(2026, 1, 10)


def days(first: date, n: int) -> set[date]:
    return {first + timedelta(days=i) for i in range(n)}


# --- device supply: 98977 / 98985 per 30-day period ---------------------------------------


@pytest.mark.parametrize(("n", "code"), [
    (0, None), (1, None), (2, billing.SUPPLY_2_DAYS), (15, billing.SUPPLY_2_DAYS),
    (16, billing.SUPPLY_16_DAYS), (30, billing.SUPPLY_16_DAYS),
])
def test_device_supply_code_by_days_with_data_in_an_ended_period(n: int, code: str | None
                                                                  ) -> None:
    # Spread over the period, not packed at its start: only the count matters.
    data = {START + timedelta(days=29 - i) for i in range(n)}
    p = billing.supply_period(START, 0, data, today=START + timedelta(days=30))
    assert (p.days_with_data, p.code, p.status) == (n, code, Status.FINAL)


def test_98977_and_98985_never_both_for_one_period() -> None:
    for n in range(31):
        data = days(START, n)
        periods = billing.month_periods(START, Month(2026, 2), data, date(2026, 3, 1))
        [p] = [p for p in periods if p.index == 0]
        assert p.code == billing.supply_code(n)
        assert p.code in (None, billing.SUPPLY_2_DAYS, billing.SUPPLY_16_DAYS)


def test_period_edges_day_29_is_the_last_day_day_30_starts_the_next() -> None:
    assert billing.period_bounds(START, 0) == (START, START + timedelta(days=29))
    assert billing.period_bounds(START, 1)[0] == START + timedelta(days=30)
    assert billing.period_index(START, START + timedelta(days=29)) == 0
    assert billing.period_index(START, START + timedelta(days=30)) == 1
    assert billing.period_index(START, START - timedelta(days=1)) is None
    fifteen = days(START, 15)
    later = START + timedelta(days=60)
    on_29 = billing.supply_period(START, 0, fifteen | {START + timedelta(days=29)}, later)
    assert (on_29.days_with_data, on_29.code) == (16, billing.SUPPLY_16_DAYS)
    with_30 = fifteen | {START + timedelta(days=30)}
    assert billing.supply_period(START, 0, with_30, later).code == billing.SUPPLY_2_DAYS
    assert billing.supply_period(START, 1, with_30, later).days_with_data == 1


def test_no_code_is_final_until_the_period_has_ended() -> None:
    last = START + timedelta(days=29)
    on_last_day = billing.supply_period(START, 0, days(START, 10), today=last)
    assert on_last_day.status is Status.IN_PROGRESS and on_last_day.code == billing.SUPPLY_2_DAYS
    day_after = billing.supply_period(START, 0, days(START, 10), today=last + timedelta(1))
    assert day_after.status is Status.FINAL and day_after.code == billing.SUPPLY_2_DAYS


def test_a_running_period_with_16_days_is_reached_not_final() -> None:
    today = START + timedelta(days=20)
    p = billing.supply_period(START, 0, days(START, 16), today)
    assert (p.code, p.status) == (billing.SUPPLY_16_DAYS, Status.REACHED)
    assert f"final after the period ends on {START + timedelta(days=29)}" in p.reason
    p15 = billing.supply_period(START, 0, days(START, 15), today)
    assert p15.status is Status.IN_PROGRESS


def test_a_running_period_says_how_many_days_are_still_needed_and_by_when() -> None:
    # 12 days so far, today without data yet: today and the 9 days after it are open.
    today = START + timedelta(days=20)
    p = billing.supply_period(START, 0, days(START, 12), today)
    assert p.reason == "12 of 16 days with data, 4 more needed by 2026-02-08"
    # With only 3 days open 16 cannot be reached any more: 98985 at most.
    late = START + timedelta(days=27)
    q = billing.supply_period(START, 0, days(START, 12), late)
    assert "16 no longer reachable" in q.reason and "98985 at most" in q.reason
    # Today's data counts, and today is then not open any more.
    r = billing.supply_period(START, 0, days(START, 12) | {late}, late)
    assert r.days_with_data == 13 and "(2 days left)" in r.reason
    s = billing.supply_period(START, 0, set(), late)
    assert s.reason.startswith("0 of 2 days with data for 98985, 2 more needed by 2026-02-08")


def test_days_before_the_start_or_after_today_do_not_count() -> None:
    data = days(START - timedelta(days=5), 5) | {START, START + timedelta(days=3)}
    today = START + timedelta(days=2)
    p = billing.supply_period(START, 0, data, today)
    assert p.days_with_data == 1


def test_a_month_lists_the_periods_ending_in_it_and_the_one_running_today() -> None:
    # Periods: Jan 10..Feb 8, Feb 9..Mar 10, Mar 11..Apr 9.
    data = days(START, 90)
    ends = [(p.first, p.last) for p in billing.month_periods(START, Month(2026, 2), data,
                                                             date(2026, 4, 1))]
    assert ends == [(START, date(2026, 2, 8))]
    # Today in February: the period running today too, in progress.
    feb = billing.month_periods(START, Month(2026, 2), data, date(2026, 2, 20))
    assert [(p.index, p.status) for p in feb] == [(0, Status.FINAL), (1, Status.IN_PROGRESS)]
    assert [p.index for p in billing.month_periods(START, Month(2026, 3), data,
                                                   date(2026, 4, 1))] == [1]
    assert billing.month_periods(START, Month(2025, 12), data, date(2026, 4, 1)) == []
    # Before its first period ends, the start month lists the running one only.
    assert [p.index for p in billing.month_periods(START, Month(2026, 1), data,
                                                   date(2026, 1, 31))] == [0]
    assert billing.month_periods(START, Month(2026, 1), data, date(2026, 2, 20)) == []


def test_every_period_is_final_in_exactly_one_month() -> None:
    data = days(START, 400)
    today = date(2027, 3, 1)
    final: list[int] = []
    month = Month(2026, 1)
    while month.first <= today:
        final += [p.index for p in billing.month_periods(START, month, data, today)
                  if p.status is Status.FINAL]
        month = Month.of(month.last + timedelta(days=1))
    assert final == list(range(len(final))) and len(final) == (today - START).days // 30


# --- 98975: once per episode ----------------------------------------------------------------


def test_98975_needs_two_days_with_data_and_dates_from_the_second() -> None:
    one = billing.setup(START, {START + timedelta(days=3)}, START + timedelta(days=40))
    assert one.code is None and one.reason == "1 of 2 days with data in the episode"
    two = billing.setup(START, {START + timedelta(days=3), START + timedelta(days=45)},
                        START + timedelta(days=50))
    assert (two.code, two.billable_on) == (billing.SETUP, START + timedelta(days=45))
    # The day before the start does not count.
    pre = billing.setup(START, {START - timedelta(days=1), START}, START + timedelta(days=5))
    assert pre.code is None
    assert billing.setup(START, set(), START - timedelta(days=1)).status is Status.NOT_STARTED


def test_98975_is_billable_in_one_month_of_the_episode_only() -> None:
    data = days(START, 200)
    today = date(2026, 9, 1)
    billed = []
    month = Month(2025, 12)
    while month.first <= today:
        s = billing.month_setup(START, month, data, today)
        billed += [(str(month), s.billable_on) for _ in [s.code] if s.code]
        month = Month.of(month.last + timedelta(days=1))
    assert billed == [("2026-01", START + timedelta(days=1))]
    later = billing.month_setup(START, Month(2026, 3), data, today)
    assert later.code is None and "became billable on 2026-01-11, in 2026-01" in later.reason


def test_98975_in_a_past_month_is_judged_at_the_end_of_that_month() -> None:
    data = {date(2026, 1, 31), date(2026, 2, 1)}
    jan = billing.month_setup(START, Month(2026, 1), data, date(2026, 3, 1))
    feb = billing.month_setup(START, Month(2026, 2), data, date(2026, 3, 1))
    assert jan.code is None and jan.days_with_data == 1
    assert (feb.code, feb.billable_on) == (billing.SETUP, date(2026, 2, 1))


# --- treatment management per calendar month ------------------------------------------------


@pytest.mark.parametrize(("minutes", "codes"), [
    (0, ()), (9, ()), (10, ("98979",)), (19, ("98979",)), (20, ("98980",)), (39, ("98980",)),
    (40, ("98980", "98981")), (59, ("98980", "98981")), (60, ("98980", "98981", "98981")),
])
def test_treatment_codes_by_minutes_with_a_communication(minutes: int, codes: tuple[str, ...]
                                                         ) -> None:
    assert billing.treatment_codes(minutes, communications=1) == codes


@pytest.mark.parametrize("minutes", [9, 10, 19, 20, 39, 40, 60])
def test_no_treatment_code_without_a_communication(minutes: int) -> None:
    assert billing.treatment_codes(minutes, communications=0) == ()


def test_98979_and_98980_never_both() -> None:
    for m in range(200):
        codes = billing.treatment_codes(m, 1)
        assert not ("98979" in codes and "98980" in codes)


JAN = Month(2026, 1)


def test_a_month_counts_its_own_days_only() -> None:
    entries = [(date(2025, 12, 31), 30), (date(2026, 1, 1), 5), (date(2026, 1, 31), 5),
               (date(2026, 2, 1), 30)]
    m = billing.treatment_month(JAN, entries, [date(2026, 1, 31)], today=date(2026, 3, 1))
    assert (m.minutes, m.communications, m.codes) == (10, 1, ("98979",))
    assert m.status is Status.FINAL


def test_a_communication_must_be_in_the_same_month() -> None:
    entries = [(date(2026, 1, 15), 25)]
    m = billing.treatment_month(JAN, entries, [date(2025, 12, 31), date(2026, 2, 1)],
                                today=date(2026, 3, 1))
    assert m.codes == () and m.communications == 0
    assert "no interactive communication" in m.reason


def test_a_running_month_is_in_progress_and_says_what_is_missing() -> None:
    today = date(2026, 1, 20)
    m = billing.treatment_month(JAN, [(date(2026, 1, 5), 8)], [date(2026, 1, 5)], today)
    assert m.status is Status.IN_PROGRESS
    assert m.reason == "8 minutes, 1 communication: 2 more needed for 98979"
    m = billing.treatment_month(JAN, [(date(2026, 1, 5), 45)], [], today)
    assert "none billable until an interactive communication is logged" in m.reason
    m = billing.treatment_month(JAN, [(date(2026, 1, 5), 45)], [date(2026, 1, 5)] * 2, today)
    assert m.reason == ("45 minutes, 2 communications: 98980 + 1 x 98981; "
                        "15 more for another 98981")
    # Entries dated after today are not counted yet.
    m = billing.treatment_month(JAN, [(date(2026, 1, 25), 45)], [date(2026, 1, 5)], today)
    assert m.minutes == 0
    # The last day of the month is still running; the day after it is not.
    assert billing.treatment_month(JAN, [], [], JAN.last).status is Status.IN_PROGRESS
    assert billing.treatment_month(JAN, [], [], JAN.last + timedelta(1)).status is Status.FINAL
    with pytest.raises(ValueError, match="has not started"):
        billing.treatment_month(JAN, [], [], date(2025, 12, 31))


def test_month_parsing_and_bounds() -> None:
    assert Month.parse("2026-02").last == date(2026, 2, 28)
    assert Month.parse("2028-02").last == date(2028, 2, 29)
    assert Month.parse("2026-12").last == date(2026, 12, 31)
    assert str(Month.of(date(2026, 3, 9))) == "2026-03"
    for bad in ("2026-13", "2026-00", "2026-1", "26-01", "2026-01-01", ""):
        with pytest.raises(ValueError, match="not a month"):
            Month.parse(bad)
