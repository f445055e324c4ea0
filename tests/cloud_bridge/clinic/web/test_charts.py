from datetime import date, timedelta

import pytest

from cloud_bridge.clinic.web import charts

DAYS = [date(2026, 2, 25) + timedelta(days=n) for n in range(5)]  # Feb 25 .. Mar 1


def test_bars_one_per_day_with_their_values() -> None:
    svg = charts.bar_chart(DAYS, [3, 0, 12, 7, 1], [None] * 5, "squat <reps>")
    assert svg.count('<rect class="bar"') == 5
    assert 'data-day="2026-02-27" data-value="12"' in svg
    assert 'class="target"' not in svg and "<desc>" not in svg
    assert 'aria-label="squat &lt;reps&gt;"' in svg  # escaped
    assert ">Feb 25<" in svg and ">Mar 1<" in svg and ">26<" in svg


def test_targets_are_marked_where_given() -> None:
    svg = charts.bar_chart(DAYS, [3, 0, 12, 7, 1], [None, None, 10, 10, 30], "x")
    assert svg.count('class="target"') == 3
    assert "<desc>Dashed marks: the prescribed reps of the day.</desc>" in svg
    assert ">50<" in svg  # the scale reaches over the highest target: 30 -> 50


def test_nice_ceilings() -> None:
    assert [charts._nice_ceiling(v) for v in (0, 1, 3, 10, 11, 26, 99, 101)] == \
        [1, 1, 5, 10, 20, 50, 100, 200]


def test_line_joins_the_days_with_a_value() -> None:
    svg = charts.line_chart(DAYS, [40.0, None, 42.5, None, 45.0], "rom", unit="°")
    assert svg.count('<circle class="point"') == 3
    assert svg.count("<polyline") == 1
    assert 'data-value="42.5"' in svg and "2026-02-27: 42.5°" in svg
    assert ">30°<" in svg and ">50°<" in svg  # 40-45 padded to tens


def test_no_points_no_line() -> None:
    svg = charts.line_chart(DAYS, [None] * 5, "rom")
    assert "<circle" not in svg and "<polyline" not in svg


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        charts.bar_chart(DAYS, [1], [None], "x")
    with pytest.raises(ValueError):
        charts.line_chart([], [], "x")


def test_a_band_is_shaded_behind_the_line_and_named() -> None:
    bands = [charts.Band(DAYS[0], DAYS[1], 40, 60), charts.Band(DAYS[2], DAYS[4], 45, 65)]
    svg = charts.line_chart(DAYS, [42.0, None, 50.0, None, 55.0], "rom", "°", bands)
    assert svg.count('<rect class="band"') == 2
    assert 'data-first="2026-02-27" data-last="2026-03-01" data-low="45" data-high="65"' in svg
    # Behind: before the grid, the line and the points.
    assert svg.index('class="band"') < svg.index('class="grid"') < svg.index("<polyline")
    assert ">70°<" in svg  # the scale reaches over the band's top, 65 -> 70
    assert ("<desc>Shaded: the prescribed target range, 40-60° from 2026-02-25 to 2026-02-26, "
            "45-65° from 2026-02-27 to 2026-03-01.</desc>") in svg
    assert "<title>target range 45-65°, 2026-02-27 to 2026-03-01</title>" in svg


def test_no_band_no_shading_nor_description() -> None:
    svg = charts.line_chart(DAYS, [42.0, None, 50.0, None, 55.0], "rom", "°")
    assert 'class="band"' not in svg and "<desc>" not in svg


def test_a_band_must_lie_on_the_chart_s_days() -> None:
    with pytest.raises(ValueError):
        charts.line_chart(DAYS, [None] * 5, "x", bands=[charts.Band(date(2026, 1, 1),
                                                                     DAYS[0], 1, 2)])
    with pytest.raises(ValueError):
        charts.line_chart(DAYS, [None] * 5, "x", bands=[charts.Band(DAYS[0], DAYS[1], 5, 2)])


def test_band_text() -> None:
    assert charts.band_text([charts.Band(DAYS[0], DAYS[4], 45, 65)], "°") == "45-65°"
    assert charts.band_text([]) == ""
