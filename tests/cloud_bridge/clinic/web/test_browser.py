"""The dashboard in a real headless Chromium: log in through the form, read the numbers
the pages show from the DOM, save screenshots (test-artifacts/browser/).

The server is the real one (server.py) on a free loopback port, in a thread of the test
process so that its clock can be set to clinic_data.NOW. Chromium missing fails the tests
(with the apt-get line), never skips them: CI installs it (scripts/test.sh).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.web.app import DashboardApp, WebConfig
from cloud_bridge.clinic.web.server import make_server, serve_in_thread
from tests.browser import Chromium, Tab
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import (
    DEV_1,
    NOW,
    PASSWORD,
    STATES,
    TZ,
    USER,
    Clinic,
    add_p4,
    make_clinic,
)
from tests.cloud_bridge.clinic.web.conftest import Clock
from tests.services import ServiceError

pytestmark = pytest.mark.browser

TABLET = (1024, 768)  # landscape


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium(tmp_path_factory.mktemp("chromium"))
    try:
        browser.start()
    except ServiceError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield browser
    finally:
        browser.stop()


def serve(clinic: Clinic) -> Iterator[str]:
    """The dashboard over `clinic`, served on a free port; the store answers
    clinic_data.STATES for the wearables' states."""
    store = StatesStore(clinic.store, zone=TZ, states=STATES)
    app = DashboardApp(WebConfig(store, clinic.registry, clinic.clinic_db, TZ, clinic.fees,
                                 failed_login_delay_s=0.2, clock=Clock(NOW)))
    server = make_server("127.0.0.1", 0, app)
    thread = serve_in_thread(server)
    try:
        yield server.url.rstrip("/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """clinic_data's clinic, as it is."""
    yield from serve(make_clinic(tmp_path_factory.mktemp("clinic")))


@pytest.fixture(scope="module")
def more_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """clinic_data's clinic with P-4 (add_p4) and P-3 prescribed lunges from Feb 15."""
    clinic = make_clinic(tmp_path_factory.mktemp("clinic"))
    add_p4(clinic)
    conn = open_clinic_db(clinic.clinic_db)
    try:
        Prescriptions(conn).add("P-3", date(2026, 2, 15), [Item("lunge", 2, 8, 3)], 0)
    finally:
        conn.close()
    yield from serve(clinic)


@pytest.fixture
def tab(chromium: Chromium) -> Iterator[Tab]:
    t = chromium.new_tab()
    try:
        t.clear_cookies()
        t.viewport(*TABLET)
        yield t
    finally:
        t.close()


def path_of(tab: Tab) -> str:
    return str(tab.evaluate("location.pathname"))


def log_in(tab: Tab, password: str = PASSWORD) -> None:
    assert path_of(tab) == "/login"
    tab.fill("#name", USER)
    tab.fill("#password", password)
    tab.click("form[action='/login'] button[type=submit]")


def no_sideways_scroll(tab: Tab) -> bool:
    return bool(tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def day_cell(tab: Tab, exercise: str, day: str, column: str) -> str:
    return tab.text(f"section[data-exercise='{exercise}'] tr[data-day='{day}'] td.{column}")


def reasons(tab: Tab, scope: str) -> list[str]:
    return tab.texts(f"{scope} ul.reasons li .text")


def adherence_row(tab: Tab, exercise: str) -> list[str]:
    """(prescribed, exercise days, % of prescribed reps) of the adherence table's row."""
    return [tab.text(f"table.adherence tr[data-exercise='{exercise}'] td.{c}")
            for c in ("item", "exercise-days", "reps-pct")]


def exercise_sections(tab: Tab) -> list[str]:
    return [str(x) for x in tab.evaluate(
        "Array.from(document.querySelectorAll('section.exercise'), e => e.dataset.exercise)")]


def fits_across(tab: Tab, selector: str) -> bool:
    """The element is drawn, and inside the window across."""
    return bool(tab.evaluate(
        f"(r => r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth)"
        f"(document.querySelector({json.dumps(selector)}).getBoundingClientRect())"))


def target_mark(tab: Tab, exercise: str, day: str) -> object:
    return tab.evaluate(f"(e => e && e.getAttribute('data-target'))(document.querySelector("
                        f"\"section[data-exercise='{exercise}'] svg.bars "
                        f"line.target[data-day='{day}']\"))")


def test_log_in_and_read_worklist_patient_and_billing(
        tab: Tab, base_url: str, artifacts: Callable[[str], Path]) -> None:
    tab.goto(f"{base_url}/worklist")
    assert path_of(tab) == "/login"  # and back to the worklist after the login
    tab.screenshot(artifacts("01-login.png"))
    log_in(tab)
    assert path_of(tab) == "/worklist"
    [cookie] = [c for c in tab.cookies() if c["name"] == "rtm_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]

    # Worklist: most urgent first, each with its reasons in words.
    assert tab.texts("table.worklist tbody th") == ["P-2", "P-3", "P-1"]
    assert reasons(tab, "tr[data-patient='P-2']") == [
        "no data for 17 days (last: Tue 2026-02-03)",
        "not synced for 17 days (last: Tue 2026-02-03)", "no prescription yet"]
    # As shown: the stylesheet sets the labels in capitals.
    assert tab.texts("tr[data-patient='P-2'] ul.reasons .sev") == ["URGENT", "WARN", "NOTE"]
    assert reasons(tab, "tr[data-patient='P-3']") == [
        "no data since monitoring started on Sun 2026-02-15 (6 days)", "no prescription yet"]
    assert reasons(tab, "tr[data-patient='P-1']") == ["battery 15% at the last sync"]
    assert tab.text("tr[data-patient='P-3'] td.last") == "never"
    assert tab.text("tr[data-patient='P-2'] td.last") == "2026-02-03"
    assert tab.text("tr[data-patient='P-2'] td.since") == "17"
    assert tab.text("tr[data-patient='P-1'] td.days") == "9"
    assert no_sideways_scroll(tab)
    tab.screenshot(artifacts("02-worklist.png"))

    # Patient page, reached by tapping the row's link.
    tab.click("tr[data-patient='P-1'] a")
    assert path_of(tab) == "/patients/P-1"
    assert tab.text("#last-day") == "2026-02-20"
    assert tab.text("#episode-days") == "25"  # 16 in January, 9 in the running period
    current = "figure.calendar[data-period='1']"
    assert tab.text(f"{current} .count") == "9"
    assert tab.count(f"{current} td.cal-data") == 9
    assert tab.count(f"{current} td.cal-none") == 3  # Feb 14, 15, 18
    assert tab.text(f"{current} .reason") == "9 of 16 days with data, 7 more needed by " \
                                             "2026-03-10"
    assert tab.count("figure.calendar[data-period='0'] td.cal-data") == 16
    # Why it is on the worklist, and its wearable's state.
    assert reasons(tab, "#attention") == ["battery 15% at the last sync"]
    assert tab.text(f"ul.wearables li[data-device='{DEV_1}'] .state") == (
        "last sync Fri 2026-02-20 03:10 via home-1, battery 15%, storage 12% full, "
        "firmware 1.2.0")
    # The 14 days, per exercise: reps, partial reps, sets, ROM weighted by full reps.
    assert tab.text("section[data-exercise='squat'] .total") == "126 reps"
    assert [day_cell(tab, "squat", "2026-02-12", c) for c in ("reps", "partial", "sets",
                                                               "rom", "target")] == \
        ["20", "2", "2", "49.0°", "20"]
    # Targets: sets x reps of the version in force, v1 (2 x 10) then v2 from Feb 16 (2 x 12,
    # and heel raise 1 x 10, not prescribed before).
    assert day_cell(tab, "squat", "2026-02-16", "target") == "24"
    assert day_cell(tab, "heel_raise", "2026-02-11", "target") == "-"
    assert day_cell(tab, "heel_raise", "2026-02-16", "target") == "10"
    assert day_cell(tab, "squat", "2026-02-09", "rom") == "42.0°"
    assert day_cell(tab, "squat", "2026-02-16", "rom") == "52.5°"
    assert day_cell(tab, "squat", "2026-02-14", "reps") == "0"
    # 23:30 in New York on Feb 11 is Feb 12 in UTC: the clinic's day counts.
    assert day_cell(tab, "heel_raise", "2026-02-11", "reps") == "5"
    assert day_cell(tab, "heel_raise", "2026-02-12", "reps") == "0"
    bars = "section[data-exercise='squat'] svg.bars rect.bar"
    assert tab.count(bars) == 14
    assert tab.evaluate(f"document.querySelector(\"{bars}[data-day='2026-02-13']\")"
                        ".getAttribute('data-value')") == "15"
    assert tab.count("section[data-exercise='squat'] svg.bars line.target") == 14
    assert tab.count("section[data-exercise='heel_raise'] svg.bars line.target") == 5
    assert [target_mark(tab, "squat", d) for d in ("2026-02-07", "2026-02-15",
                                                   "2026-02-16", "2026-02-20")] == \
        ["20", "20", "24", "24"]
    assert target_mark(tab, "heel_raise", "2026-02-15") is None
    assert target_mark(tab, "heel_raise", "2026-02-16") == "10"
    assert tab.text("section[data-exercise='squat'] .charts figcaption") == \
        "Full reps per day vs target"
    assert tab.count("section[data-exercise='squat'] svg.trend circle.point") == 8
    # Adherence per exercise over the 13 days before today, as rtm-clinic patient prints
    # it, in the prescription's order (v2: squat, heel raise), and over all exercises.
    assert tab.text("#per-exercise-h") == "Adherence per exercise, 2026-02-07 to 2026-02-19"
    assert tab.texts("table.adherence tbody th") == ["squat", "heel_raise"]
    assert adherence_row(tab, "squat") == ["2 x 12, 5 days/week", "3 of 9.3", "56%"]
    assert adherence_row(tab, "heel_raise") == ["1 x 10, 3 days/week", "1 of 1.7", "82%"]
    assert tab.text("#overall") == "69%"
    assert tab.count("#not-judged") == 0  # monitoring since Jan 10
    assert tab.text("section[data-exercise='squat'] .ex-adherence") == (
        "3 of 9.3 exercise days, 56% of prescribed reps (2026-02-07 to 2026-02-19)")
    assert exercise_sections(tab) == ["squat", "heel_raise"]
    # The ROM target band behind the line: v1's 40-60° to Feb 15, v2's 45-65° from Feb 16;
    # none for the heel raise (no range prescribed).
    band = "section[data-exercise='squat'] svg.trend rect.band"
    assert tab.count(band) == 2
    assert tab.evaluate(f"Array.from(document.querySelectorAll(\"{band}\"), "
                        "e => [e.dataset.low, e.dataset.high, e.dataset.first])") == \
        [["40", "60", "2026-02-07"], ["45", "65", "2026-02-16"]]
    assert tab.evaluate(f"getComputedStyle(document.querySelector(\"{band}\")).fill") == \
        "rgb(214, 228, 255)"
    assert tab.text("section[data-exercise='squat'] .band-legend") == (
        "target range 40-60° from 2026-02-07 to 2026-02-15, 45-65° from 2026-02-16 to "
        "2026-02-20")
    assert tab.count("section[data-exercise='heel_raise'] svg.trend rect.band") == 0
    assert tab.count("section[data-exercise='heel_raise'] .band-legend") == 0
    assert tab.evaluate("document.querySelector(\"section[data-exercise='squat'] svg.trend "
                        "desc\").textContent").startswith("Shaded: the prescribed target range")
    assert no_sideways_scroll(tab)
    tab.screenshot(artifacts("03-patient-P-1.png"))

    # The most urgent patient's page: the same reasons as its worklist row.
    tab.goto(f"{base_url}/patients/P-2")
    assert reasons(tab, "#attention")[0] == "no data for 17 days (last: Tue 2026-02-03)"
    assert tab.text("ul.wearables li .state").startswith(
        "last sync Tue 2026-02-03 22:00 via home-2, 4 failed attempts since")
    assert no_sideways_scroll(tab)
    tab.screenshot(artifacts("03b-patient-P-2.png"))

    # Billing: February is running; only the first period's 98977 is final.
    tab.click("nav a[href='/billing']")
    assert path_of(tab) == "/billing"
    assert tab.text("h1") == "Billing readiness for 2026-02"
    assert tab.text("#final-total") == "22.00 USD"
    p1 = "section[data-patient='P-1']"
    supply = f"{p1} tr[data-code='98977']"
    assert [tab.text(f"{supply} td.{c}") for c in ("dates", "status", "amount", "reason")] == \
        ["2026-01-10 to 2026-02-08", "final", "22.00 USD",
         "16 days with data (16 or more: 98977)"]
    assert tab.text(f"{p1} tr[data-code='98980'] td.status") == "in progress"
    assert tab.text(f"{p1} tr[data-code='98980'] td.reason").startswith(
        "25 minutes, 1 communication: 98980")
    tab.screenshot(artifacts("04-billing-2026-02.png"))

    tab.click("nav.months a[href='/billing?month=2026-01']")
    assert tab.text("#final-total") == "66.00 USD"  # 98975 11.00 + 98980 55.00
    assert tab.text(f"{p1} tr[data-code='98975'] td.dates") == "2026-01-11"
    tab.screenshot(artifacts("05-billing-2026-01.png"))

    # Logging out ends the session in this browser.
    tab.click("form.logout button")
    assert path_of(tab) == "/login"
    tab.goto(f"{base_url}/patients/P-1")
    assert path_of(tab) == "/login"


@pytest.mark.parametrize("path", ["/", "/worklist", "/patients/P-1", "/billing",
                                  "/billing?month=2026-01", "/no-such-page"])
def test_without_login_every_page_goes_to_the_login(tab: Tab, base_url: str,
                                                    path: str) -> None:
    tab.goto(base_url + path)
    assert path_of(tab) == "/login"
    assert tab.count("form[action='/login'] input#password") == 1
    assert "P-1" not in tab.text("body")


def test_a_wrong_password_fails(tab: Tab, base_url: str,
                                artifacts: Callable[[str], Path]) -> None:
    tab.goto(f"{base_url}/login")
    log_in(tab, password="not the password")
    assert path_of(tab) == "/login"
    assert tab.text("#login-error") == "Wrong name or password."
    assert tab.evaluate("document.querySelector('#name').value") == USER
    tab.screenshot(artifacts("06-login-failed.png"))
    tab.goto(f"{base_url}/worklist")
    assert path_of(tab) == "/login"
    log_in(tab)  # the right one still works after a failure
    assert path_of(tab) == "/worklist"


def test_tablet_in_portrait(tab: Tab, base_url: str,
                            artifacts: Callable[[str], Path]) -> None:
    tab.viewport(768, 1024, mobile=True)
    tab.goto(f"{base_url}/patients/P-1")
    log_in(tab)
    assert path_of(tab) == "/patients/P-1"
    assert no_sideways_scroll(tab)
    # Touch targets: the navigation, the logout button, the calendar's days.
    heights = tab.evaluate(
        "Array.from(document.querySelectorAll('.top nav a, .top button, "
        "td.cal-data, td.cal-none'), e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44
    # The glance fits the narrow screen: the adherence table and the charts with the band.
    assert fits_across(tab, "table.adherence")
    assert adherence_row(tab, "squat") == ["2 x 12, 5 days/week", "3 of 9.3", "56%"]
    assert fits_across(tab, "section[data-exercise='squat'] svg.trend rect.band")
    assert fits_across(tab, "section[data-exercise='squat'] .band-legend")
    tab.screenshot(artifacts("07-patient-P-1-portrait.png"))


def test_prescribed_today_not_prescribed_and_the_first_week(
        tab: Tab, more_url: str, artifacts: Callable[[str], Path]) -> None:
    tab.goto(f"{more_url}/patients/P-4")
    log_in(tab)
    # v2 from today: squat first (nothing to judge yet), then glute bridge and lunge; then
    # the exercises done but never prescribed, by name.
    order = ["squat", "glute_bridge", "lunge", "generic", "step_up"]
    assert tab.texts("table.adherence tbody th") == order
    assert exercise_sections(tab) == order
    assert adherence_row(tab, "squat") == ["3 x 10, 5 days/week", "-", "from today"]
    assert adherence_row(tab, "glute_bridge") == ["1 x 10, 7 days/week", "5 of 13", "38%"]
    assert adherence_row(tab, "lunge") == ["2 x 8, 3 days/week", "2 of 5.6", "36%"]
    assert adherence_row(tab, "step_up") == ["not prescribed", "-", "-"]
    # The mean of the exercises prescribed before today: 50 of 130 and 32 of 624/7 reps.
    assert tab.text("#overall") == "37%"
    assert tab.text("section[data-exercise='lunge'] .band-legend") == "target range 30-50°"
    assert tab.count("section[data-exercise='glute_bridge'] svg.trend rect.band") == 0
    assert no_sideways_scroll(tab)
    tab.screenshot(artifacts("08-patient-P-4.png"))

    # P-3, in its first week: the figures, and that adherence is judged from Feb 22.
    tab.viewport(768, 1024, mobile=True)
    tab.goto(f"{more_url}/patients/P-3")
    assert adherence_row(tab, "lunge") == ["2 x 8, 3 days/week", "0 of 2.1", "0%"]
    assert tab.text("#not-judged") == ("First week of monitoring: adherence is judged from "
                                       "Sun 2026-02-22.")
    assert fits_across(tab, "#not-judged") and no_sideways_scroll(tab)
    tab.screenshot(artifacts("09-patient-P-3-first-week-portrait.png"))
