"""`rtm-sim demo` leaves a clinic side to look at: clinic.db with each patient's
prescription, its program on the wearable (sent through the broker and the home gateway),
and "what next" commands that work on the run's files exactly as printed."""

from __future__ import annotations

import io
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cloud_bridge.clinic import cli as clinic_cli
from cloud_bridge.clinic import prescriptions, registry
from cloud_bridge.clinic.clinic_db import open_clinic_db
from cloud_bridge.clinic.program_publisher import Deliveries
from cloud_bridge.clinic.web.app import DashboardApp, WebConfig
from cloud_bridge.stores.base import open_store
from simulators.demo import run_demo
from simulators.household import DEFAULT_PROGRAM
from tests.cloud_bridge.clinic.web.wsgi_client import Client

PATIENTS, DAYS = 3, 2  # two homes, one of them with two patients
PASSWORD = "a demo password"


@dataclass(frozen=True)
class Demo:
    workdir: Path
    output: list[str]

    def commands(self) -> dict[str, list[str]]:
        """The printed rtm-clinic commands after "What next", by subcommand."""
        start = self.output.index("What next, on this run's files:")
        found = {}
        for line in self.output[start:]:
            argv = shlex.split(line) if line.startswith("    ") else []
            if argv and Path(argv[0]).name == "rtm-clinic":
                found[argv[1]] = argv[1:]
        return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    workdir = tmp_path_factory.mktemp("demo") / "rtm-demo"
    printed: list[str] = []
    assert run_demo(PATIENTS, DAYS, seed=1, workdir=workdir, tz_name="Europe/Berlin",
                    out=printed.append) == 0
    return Demo(workdir, "\n".join(printed).splitlines())


def test_each_patient_has_the_prescription_the_simulation_follows(demo: Demo) -> None:
    enrolled = registry.load(demo.workdir / "enrollments.csv")
    first_day = date.today() - timedelta(days=DAYS)
    conn = open_clinic_db(demo.workdir / "clinic.db")
    try:
        histories = prescriptions.Prescriptions(conn).histories()
        deliveries = Deliveries(conn)
        assert sorted(histories) == enrolled.patients()
        for patient, history in histories.items():
            [p] = history
            assert p.start == first_day == enrolled.monitoring_start(patient)
            # Morning and evening, the program's sets each time: twice its sets a day.
            assert [(i.exercise, i.sets, i.reps, i.days_per_week) for i in p.items] == [
                (x, 2 * sets, reps, 7) for x, sets, reps in DEFAULT_PROGRAM]
            assert p.item("squat").rom == (60, 90)
            for device in enrolled.devices_of(patient):
                ack = deliveries.last_ack(device)
                assert ack is not None and ack.status == "applied", device
                assert ack.version == deliveries.last_publication(device).version
    finally:
        conn.close()
    assert (f"  sent to the wearables through their home gateways: {PATIENTS} of {PATIENTS} "
            f"applied it at their first sync") in demo.output


def test_the_demo_still_ends_with_its_exact_check(demo: Demo) -> None:
    [check] = [line for line in demo.output if line.startswith("Pipeline check")]
    assert check.startswith("Pipeline check (exact):"), check


def test_the_worklist_as_printed_lists_every_patient(
        demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert clinic_cli.main(demo.commands()["worklist"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"0 of {PATIENTS} patients need attention")
    listed = [line.split()[0] for line in lines[2:]]
    assert listed == registry.load(demo.workdir / "enrollments.csv").patients()
    # Days into monitoring, "fine" says nothing about adherence yet, and says so.
    start = registry.load(demo.workdir / "enrollments.csv").monitoring_start(listed[0])
    judged = start + timedelta(days=7)
    assert all(line.endswith(f"; adherence judged from {judged:%a} {judged}")
               for line in lines[2:])


def test_the_patient_and_billing_commands_as_printed(
        demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    commands = demo.commands()
    capsys.readouterr()
    assert clinic_cli.main(commands["patient"]) == 0
    out = capsys.readouterr().out
    assert "Prescription v1 from" in out and "squat 4 x 10" in out
    assert "Needs attention: nothing found (adherence judged from" in out
    assert clinic_cli.main(commands["billing"]) == 0
    out = capsys.readouterr().out
    for patient in registry.load(demo.workdir / "enrollments.csv").patients():
        assert f"{patient} (monitoring since" in out


def test_the_dashboard_as_printed_shows_every_patient(
        demo: Demo, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    commands = demo.commands()
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert clinic_cli.main(commands["add-user"]) == 0
    name = commands["add-user"][1]
    serve = clinic_cli.build_parser().parse_args(commands["serve"])
    assert (serve.host, serve.port) == ("127.0.0.1", 8080)  # as the demo says to open
    store = open_store(serve.store, zone=serve.tz)
    try:
        client = Client(DashboardApp(WebConfig(store, Path(serve.registry),
                                               Path(serve.clinic_db), serve.tz,
                                               failed_login_delay_s=0)))
        assert client.login(name, PASSWORD).status == 303
        page = client.get("/worklist")
        assert page.status == 200
        patients = registry.load(serve.registry).patients()
        for patient in patients:
            assert f'<tr data-patient="{patient}">' in page.text
        assert page.text.count("(adherence judged from") == PATIENTS
        # The days since monitoring started, today's first, for each exercise.
        page = client.get(f"/patients/{patients[0]}")
        assert "Adherence is judged from" in page.text
        days = re.findall(r'<tr data-day="([0-9-]+)">', page.text)
        today = datetime.now(serve.tz).date()
        start = registry.load(serve.registry).monitoring_start(patients[0])
        shown = [str(today - timedelta(days=n)) for n in range((today - start).days + 1)]
        assert days == shown * len(DEFAULT_PROGRAM)
    finally:
        store.close()
