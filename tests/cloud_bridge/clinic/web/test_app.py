"""The dashboard's access rules and pages over plain WSGI calls (no browser, no socket)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

import pytest

from cloud_bridge.clinic import attention, patient_report
from cloud_bridge.clinic import registry as registry_mod
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.prescriptions import Item, Prescriptions
from cloud_bridge.clinic.registry import Enrollment, Registry
from cloud_bridge.clinic.web import users
from cloud_bridge.clinic.web.app import STYLESHEET, DashboardApp
from tests.cloud_bridge.clinic.clinic_builder import StatesStore
from tests.cloud_bridge.clinic.web.clinic_data import (
    DEV_3,
    NOW,
    PASSWORD,
    STATES,
    TODAY,
    TZ,
    USER,
    Clinic,
    add_p4,
)
from tests.cloud_bridge.clinic.web.conftest import Clock
from tests.cloud_bridge.clinic.web.wsgi_client import Client

PAGES = ["/", "/worklist", "/patients/P-1", "/billing", "/billing?month=2026-01",
         "/no-such-page"]


@pytest.fixture
def client(make_app: Callable[..., DashboardApp]) -> Client:
    return Client(make_app())


@pytest.fixture
def logged_in(client: Client) -> Client:
    assert client.login(USER, PASSWORD).status == 303
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(client: Client, path: str) -> None:
    r = client.get(path)
    assert r.status == 303
    assert r.header("Location").startswith("/login?next=")
    assert "P-1" not in r.text


def test_the_login_comes_back_to_the_page_asked_for(client: Client) -> None:
    first = client.get("/patients/P-1?x=1")
    page = client.get(first.header("Location"))
    assert 'name="next" value="/patients/P-1?x=1"' in page.text
    r = client.post("/login", {"csrf": page.csrf, "name": USER, "password": PASSWORD,
                               "next": "/patients/P-1?x=1"})
    assert (r.status, r.header("Location")) == (303, "/patients/P-1?x=1")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/",
                                    "/\\evil.example", "worklist"])
def test_the_login_sends_nowhere_else(client: Client, target: str) -> None:
    assert client.login(USER, PASSWORD, next_path=target).header("Location") == "/worklist"


def test_the_session_cookie(client: Client) -> None:
    anonymous = client.get("/login")
    [cookie] = anonymous.cookies_set()
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    before = client.cookies["rtm_session"]
    r = client.post("/login", {"csrf": anonymous.csrf, "name": USER, "password": PASSWORD})
    [cookie] = r.cookies_set()
    assert "Max-Age=28800" in cookie and "HttpOnly" in cookie
    # A new session at the login: one planted before it is worth nothing.
    assert client.cookies["rtm_session"].split(".")[0] != before.split(".")[0]
    assert client.get("/worklist").status == 200


def test_a_wrong_password_fails_and_is_slowed(make_app: Callable[..., DashboardApp]) -> None:
    client = Client(make_app(failed_login_delay_s=0.3))
    started = time.monotonic()
    r = client.login(USER, "not the password")
    assert time.monotonic() - started >= 0.3
    assert r.status == 403 and "Wrong name or password." in r.text
    assert not r.cookies_set()
    assert client.get("/worklist").status == 303
    # An unknown name gets the same answer.
    r = client.login("nobody", PASSWORD)
    assert r.status == 403 and "Wrong name or password." in r.text


def test_failed_logins_are_counted_then_refused_for_a_while(client: Client,
                                                            clock: Clock) -> None:
    for _ in range(users.FREE_FAILURES):
        assert client.login(USER, "wrong password!").status == 403
    # From here each attempt must wait 1, 2, 4... s after the last failure, even with
    # the right password: it is refused unchecked.
    r = client.login(USER, PASSWORD)
    assert r.status == 429 and r.header("Retry-After") == "1"
    assert "Too many failed logins" in r.text
    clock.now += timedelta(seconds=1)
    assert client.login(USER, "wrong password!").status == 403
    r = client.login(USER, PASSWORD)
    assert r.status == 429 and r.header("Retry-After") == "2"
    clock.now += timedelta(seconds=2)
    assert client.login(USER, PASSWORD).status == 303  # and the count starts again
    client.cookies.clear()
    assert client.login(USER, "wrong password!").status == 403
    assert client.login(USER, PASSWORD).status == 303


def test_the_login_form_needs_its_csrf_token(client: Client) -> None:
    client.get("/login")
    r = client.post("/login", {"csrf": "forged", "name": USER, "password": PASSWORD})
    assert r.status == 400 and "expired" in r.text
    fresh = Client(client.app)  # no session at all
    r = fresh.post("/login", {"csrf": "", "name": USER, "password": PASSWORD})
    assert r.status == 400


def test_a_changed_or_expired_cookie_is_no_session(logged_in: Client, clock: Clock) -> None:
    value = logged_in.cookies["rtm_session"]
    payload, mac = value.split(".")
    logged_in.cookies["rtm_session"] = payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA"
                                                                   else "BB")
    assert logged_in.get("/worklist").status == 303
    logged_in.cookies["rtm_session"] = value
    assert logged_in.get("/worklist").status == 200
    clock.now += timedelta(hours=8, seconds=1)
    assert logged_in.get("/worklist").status == 303


def test_a_new_password_ends_the_sessions(logged_in: Client, clinic: Clinic) -> None:
    conn = users.open_users(clinic.clinic_db)
    try:
        users.add_user(conn, USER, "another good password", int(NOW.timestamp() * 1000),
                       replace=True)
    finally:
        conn.close()
    assert logged_in.get("/worklist").status == 303
    assert logged_in.login(USER, PASSWORD).status == 403
    assert logged_in.login(USER, "another good password").status == 303


def test_logout_needs_the_csrf_token_and_ends_the_session(logged_in: Client) -> None:
    page = logged_in.get("/worklist")
    assert logged_in.post("/logout", {"csrf": "forged"}).status == 403
    assert logged_in.get("/worklist").status == 200
    r = logged_in.post("/logout", {"csrf": page.csrf})
    assert (r.status, r.header("Location")) == (303, "/login")
    assert "Max-Age=0" in r.cookies_set()[0]
    assert logged_in.get("/worklist").status == 303


def test_headers_keep_pages_out_of_caches_and_frames(logged_in: Client) -> None:
    r = logged_in.get("/patients/P-1")
    assert r.header("Cache-Control") == "no-store"
    csp = r.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert r.header("X-Frame-Options") == "DENY"


def test_the_stylesheet_needs_no_session(client: Client) -> None:
    r = client.get("/static/style.css")
    assert r.status == 200 and r.header("Content-Type").startswith("text/css")


def test_plain_http_to_another_host_is_explained(client: Client) -> None:
    far = Client(client.app, host="clinic.example:8080")
    assert "plain HTTP" in far.get("/login").text
    assert "plain HTTP" not in client.get("/login").text
    behind_proxy = far.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "plain HTTP" not in behind_proxy.text


def test_pages_show_the_numbers(logged_in: Client) -> None:
    worklist = logged_in.get("/worklist").text
    assert worklist.index('data-patient="P-2"') < worklist.index('data-patient="P-3"') \
        < worklist.index('data-patient="P-1"')
    assert ('<span class="text">no data for 17 days (last: Tue 2026-02-03)</span>'
            in worklist)
    patient = logged_in.get("/patients/P-1").text
    assert '<dd id="last-day">2026-02-20</dd>' in patient
    assert 'class="rom">49.0°' in patient
    assert '<span class="text">battery 15% at the last sync</span>' in patient
    assert 'data-target="24"' in patient
    billing = logged_in.get("/billing").text
    assert '<strong id="final-total">22.00 USD</strong>' in billing


def test_unknown_patient_and_bad_month(logged_in: Client) -> None:
    assert logged_in.get("/patients/P-9").status == 404
    assert logged_in.get("/billing?month=2026-13").status == 400
    assert logged_in.get("/billing?month=2026-03").status == 400  # after today
    assert logged_in.post("/worklist", {"csrf": "x"}).status == 403  # CSRF first
    page = logged_in.get("/worklist")
    assert logged_in.post("/worklist", {"csrf": page.csrf}).status == 405


def test_patient_ids_are_escaped(make_app: Callable[..., DashboardApp],
                                 clinic: Clinic) -> None:
    odd = "<script>alert(1)</script>/x"
    Registry([Enrollment(odd, DEV_3, date(2026, 2, 1))]).save(clinic.registry)
    client = Client(make_app())
    client.login(USER, PASSWORD)
    worklist = client.get("/worklist").text
    assert "<script>" not in worklist and "&lt;script&gt;" in worklist
    href = "/patients/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Fx"
    assert f'href="{href}"' in worklist
    # PEP 3333: the server hands the path over unquoted.
    r = client.get("/patients/" + odd)
    assert r.status == 200 and "<script>" not in r.text


def test_a_target_hook_draws_the_target(make_app: Callable[..., DashboardApp]) -> None:
    def target(conn: object, patient: str, exercise: str, day: date) -> int | None:
        return 20 if exercise == "squat" and day >= date(2026, 2, 16) else None

    client = Client(make_app(target_per_day=target))
    client.login(USER, PASSWORD)
    page = client.get("/patients/P-1").text
    assert page.count('class="target" data-day=') == 5  # squat, Feb 16..20
    assert "vs target" in page


def test_days_stay_whole_on_a_line(logged_in: Client) -> None:
    # A browser may break a line at a hyphen, 2026-03- | 10: each day is a <time>, which
    # the stylesheet keeps on one line, as it keeps the patient ids.
    worklist = logged_in.get("/worklist").text
    assert ('<td class="period"><time datetime="2026-02-09">2026-02-09</time> to '
            '<time datetime="2026-03-10">2026-03-10</time></td>') in worklist
    billing = logged_in.get("/billing").text
    assert '<time datetime="2026-01-10">2026-01-10</time> to' in billing
    assert "time, a.row-link { white-space: nowrap; }" in logged_in.get(STYLESHEET).text


def page_of_p3_prescribed_from_feb_15(make_app: Callable[..., DashboardApp],
                                      clinic: Clinic) -> str:
    """P-3's page, logged in, once P-3 has a prescription from Feb 15 (monitoring began
    then: TODAY is Feb 20)."""
    conn = open_clinic_db(clinic.clinic_db)
    try:
        Prescriptions(conn).add("P-3", date(2026, 2, 15), [Item("lunge", 2, 8, 3)], 0)
    finally:
        conn.close()
    client = Client(make_app())
    client.login(USER, PASSWORD)
    return client.get("/patients/P-3").text


def test_a_patient_page_lists_the_days_from_the_start_of_monitoring(
        make_app: Callable[..., DashboardApp], clinic: Clinic) -> None:
    # P-3, monitoring since Feb 15: 6 days to show in the 14
    page = page_of_p3_prescribed_from_feb_15(make_app, clinic)
    days = re.findall(r'<tr data-day="([0-9-]+)">', page)
    assert days == [str(date(2026, 2, d)) for d in range(20, 14, -1)]


def test_the_patient_page_shows_the_prescription_in_force(logged_in: Client) -> None:
    page = logged_in.get("/patients/P-1").text
    assert 'Version 2, in force since <time datetime="2026-02-16">2026-02-16</time>:' in page
    assert ('<li data-exercise="squat">squat 2 x 12, 5 days/week, ROM 45-65 deg, rest 30 s'
            '</li>') in page
    assert '<li data-exercise="heel_raise">heel_raise 1 x 10, 3 days/week' in page
    assert '<p id="prescription">None in force.</p>' in logged_in.get("/patients/P-2").text


# --- adherence: the page's figures are rtm-clinic patient's -----------------------------

_PAGE_ROW = re.compile(
    r'<tr data-exercise="(?P<x>[^"]+)">.*?<td class="exercise-days">(?:<span class="done">'
    r'(?P<n>\d+)</span> of <span class="expected">(?P<e>[\d.]+)</span>|-)</td>\s*'
    r'<td class="reps-pct">(?P<p>[^<]*)</td>', re.S)
# The CLI's row: the exercise at the start of a line, its facts on the next one.
_CLI_ROW = re.compile(r"^(?P<x>\S+) .*\n +(?:[^\n]*?; )?(?:(?P<n>\d+) of (?P<e>[\d.]+) "
                      r"exercise days, (?P<p>\S+) of prescribed reps)?", re.M)


def page_adherence(page: str) -> dict[str, tuple[str, str, str] | None]:
    """exercise -> (exercise days, expected days, % of prescribed reps) as the page's
    adherence table shows them; None where it shows none."""
    table = page[page.index('<table class="adherence">'):]
    table = table[:table.index("</table>")]
    return {m["x"]: (m["n"], m["e"], m["p"]) if m["n"] else None
            for m in _PAGE_ROW.finditer(table)}


def cli_report(clinic: Clinic, patient: str) -> patient_report.PatientReport:
    store = StatesStore(clinic.store, zone=TZ, states=STATES)
    conn = open_clinic_db(clinic.clinic_db)
    try:
        return patient_report.build(store, registry_mod.load(clinic.registry), patient,
                                    Prescriptions(conn).history(patient), TODAY)
    finally:
        conn.close()
        store.close()


@pytest.mark.parametrize("patient", ["P-1", "P-3", "P-4"])
def test_the_page_s_adherence_is_the_command_line_s(make_app: Callable[..., DashboardApp],
                                                    clinic: Clinic, patient: str) -> None:
    add_p4(clinic)  # v2 from today, exercises done but not prescribed
    conn = open_clinic_db(clinic.clinic_db)
    try:  # P-3: in its first week
        Prescriptions(conn).add("P-3", date(2026, 2, 15), [Item("lunge", 2, 8, 3)], 0)
    finally:
        conn.close()
    client = Client(make_app())
    client.login(USER, PASSWORD)
    page = client.get(f"/patients/{patient}").text
    shown = page_adherence(page)

    report = cli_report(clinic, patient)
    text = patient_report.format_text(report)
    cli = {m["x"]: (m["n"], m["e"], m["p"]) if m["n"] else None
           for m in _CLI_ROW.finditer(text) if m["x"] in {r.exercise for r in report.rows}}
    # The same exercises in the same order, then the page's exercises done but not
    # prescribed (the command line's "Not prescribed:" line).
    assert list(shown)[:len(cli)] == [r.exercise for r in report.rows] == list(cli)
    assert {x: shown[x] for x in cli} == cli
    unprescribed = [line for line in text.splitlines() if line.startswith("Not prescribed:")]
    for x in list(shown)[len(cli):]:
        assert shown[x] is None and f" {x} " in unprescribed[0]
    # All exercises: the mean of the exercises' figures (adherence.py), over the same rows.
    ratios = [e.ratio for r in report.rows
              if (e := r.adherence) is not None and e.ratio is not None]
    if ratios:
        overall = re.search(r'<td class="reps-pct" id="overall">([^<]+)</td>', page)
        assert overall is not None
        assert overall[1] == patient_report.percent(sum(ratios, Fraction(0)) / len(ratios))
    # Before the first full week, both say when adherence is judged from.
    judged = attention.adherence_judged_from(
        registry_mod.load(clinic.registry).monitoring_start(patient))
    first_week = judged > TODAY
    assert ('id="not-judged"' in page) == first_week
    if first_week:
        assert f'{judged:%a} <time datetime="{judged}">{judged}</time>' in page


def test_the_first_week_s_adherence_says_it_is_not_judged_yet(
        make_app: Callable[..., DashboardApp], clinic: Clinic) -> None:
    page = page_of_p3_prescribed_from_feb_15(make_app, clinic)
    assert page_adherence(page) == {"lunge": ("0", "2.1", "0%")}
    assert ('<p class="warning" id="not-judged">First week of monitoring: adherence is '
            'judged from Sun <time datetime="2026-02-22">2026-02-22</time>.</p>') in page
    # The command line says it too, when nothing else is found.
    report = cli_report(clinic, "P-3")
    assert "(adherence judged from Sun 2026-02-22)" in patient_report.format_text(
        replace(report, assessment=replace(report.assessment, reasons=())))


def test_no_adherence_before_monitoring_starts(make_app: Callable[..., DashboardApp],
                                               clinic: Clinic) -> None:
    Registry([Enrollment("P-9", "e00000000009", date(2026, 3, 1))]).save(clinic.registry)
    client = Client(make_app())
    client.login(USER, PASSWORD)
    page = client.get("/patients/P-9").text
    assert 'id="adherence"' not in page and "Monitoring starts on 2026-03-01" in page


def test_the_rom_chart_shades_the_target_range(logged_in: Client) -> None:
    page = logged_in.get("/patients/P-1").text
    squat = page[page.index('<section class="exercise" data-exercise="squat"'):]
    squat = squat[:squat.index("</section>")]
    assert squat.count('<rect class="band"') == 2  # v1 40-60, v2 45-65 from Feb 16
    assert "<desc>Shaded: the prescribed target range, 40-60° from 2026-02-07" in squat
    assert '<p class="band-legend"><span class="key band"></span>target range 40-60°' in squat
    heel = page[page.index('<section class="exercise" data-exercise="heel_raise"'):]
    assert 'class="band' not in heel  # no target range prescribed
