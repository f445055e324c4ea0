"""The monthly report as a printable HTML page, read back with html.parser."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

import pytest

from cloud_bridge.clinic.monthly_report import MonthlyReport
from cloud_bridge.clinic.monthly_report_html import format_html, title
from tests.cloud_bridge.clinic.monthly_report_data import (
    DEV_B,
    SCRIPT_NOTE,
    make_clinic,
    reports,
)

pytestmark = pytest.mark.rtm


@dataclass
class Patient:
    keys: dict[str, list[str]] = field(default_factory=dict)  # data-key -> texts
    days: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """Tags, the style sheets' text, and per patient section the texts of its data-key
    elements, its days with data and all its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self.patients: dict[str, Patient] = {}
        self._patient: Patient | None = None
        self._key: str | None = None
        self._depth = 0
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        self._in_style = tag == "style"
        if tag == "section" and a.get("class") == "patient":
            self._patient = self.patients.setdefault(str(a["data-patient"]), Patient())
        if self._key is not None:
            self._depth += 1
        elif a.get("data-key") and self._patient is not None:
            self._key, self._depth = str(a["data-key"]), 1
            self._patient.keys.setdefault(self._key, []).append("")
        if a.get("data-day") and self._patient is not None:
            self._patient.days.append(str(a["data-day"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if self._key is not None:
            self._depth -= 1
            if self._depth == 0:
                self._key = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        if self._patient is None:
            return
        self._patient.text.append(data)
        if self._key is not None:
            self._patient.keys[self._key][-1] += data

    def key(self, patient: str, name: str) -> list[str]:
        return [" ".join(t.split()) for t in self.patients[patient].keys.get(name, [])]


@pytest.fixture(scope="module")
def march(tmp_path_factory: pytest.TempPathFactory) -> list[MonthlyReport]:
    tmp = tmp_path_factory.mktemp("clinic")
    make_clinic(tmp)
    return reports(tmp, ["P-1", "P-2"])


@pytest.fixture(scope="module")
def page(march: list[MonthlyReport]) -> Page:
    return Page(format_html(march))


def test_key_numbers(page: Page) -> None:
    assert page.key("P-1", "monitoring-start") == ["2026-02-10"]
    assert page.key("P-1", "as-of") == ["2026-04-15"]
    assert page.key("P-1", "days-with-data") == ["17"]
    assert page.key("P-1", "period-days") == ["16", "11"]
    assert page.key("P-1", "period-days-in-month") == ["7", "10"]
    assert page.key("P-1", "total-minutes") == ["45"]
    assert page.key("P-1", "communications") == ["2"]
    assert page.key("P-1", "final-total") == ["143.00 USD"]
    assert page.key("P-2", "days-with-data") == ["1"]
    assert page.key("P-2", "total-minutes") == ["0"]
    assert page.key("P-2", "final-total") == ["nothing"]


def test_days_devices_programs_and_codes_are_shown(page: Page) -> None:
    p1 = page.patients["P-1"]
    assert len(p1.days) == 17 and p1.days[0] == "2026-03-01" and p1.days[-1] == "2026-03-31"
    text = " ".join(" ".join(p1.text).split())
    assert "1.4.2" in text and DEV_B in text
    assert "Version 1 (from 2026-02-10): in force 2026-03-01 to 2026-03-15" in text
    assert "Version 2 (from 2026-03-16): in force 2026-03-16 to 2026-03-31" in text
    assert "3 \N{MULTIPLICATION SIGN} 12" in text and "70\N{EN DASH}100\N{DEGREE SIGN}" in text
    codes = [a.get("data-code") for t, a in page.tags if t == "tr" and "data-code" in a]
    assert codes == ["", "98977", "98980", "98981", "", ""]  # P-1's four, P-2's two


def test_a_note_with_a_script_is_text_not_a_tag(page: Page) -> None:
    assert not any(t == "script" for t, _ in page.tags)
    assert SCRIPT_NOTE in "".join(page.patients["P-1"].text)


def test_standalone_and_printable(page: Page) -> None:
    tags = {t for t, _ in page.tags}
    assert "link" not in tags and "img" not in tags and "script" not in tags
    assert "@media print" in page.style and "@page" in page.style
    assert "break-before: page" in page.style  # one patient per printed page group
    csp = [a["content"] for t, a in page.tags
           if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in str(csp[0])
    assert [a["data-patient"] for t, a in page.tags if t == "section"] == ["P-1", "P-2"]


def test_every_id_and_note_is_escaped(march: list[MonthlyReport]) -> None:
    r = replace(march[1], patient_id='P-"2"<b>')
    html = format_html([r])
    assert "<b>" not in html and 'P-"2"' not in html
    assert Page(html).patients['P-"2"<b>'].keys["days-with-data"] == ["1"]


def test_no_report_no_page() -> None:
    with pytest.raises(ValueError):
        format_html([])


def test_title_names_the_patient_or_the_count(march: list[MonthlyReport]) -> None:
    assert title(march[:1]) == "RTM monthly report 2026-03: P-1"
    assert title(march) == "RTM monthly report 2026-03: 2 patients"
