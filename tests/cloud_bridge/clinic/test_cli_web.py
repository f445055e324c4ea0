"""`rtm-clinic add-user` and `rtm-clinic serve`: the commands, and the server as a process."""

from __future__ import annotations

import http.client
import io
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest

from cloud_bridge.clinic import cli as clinic_cli
from cloud_bridge.clinic.web import users
from tests.cloud_bridge.clinic.web.clinic_data import PASSWORD, USER, Clinic, make_clinic

ROOT = Path(__file__).resolve().parents[3]


def add_user(db: Path, *args: str, stdin: str = "",
             monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return clinic_cli.main(["add-user", *args, "--clinic-db", str(db)])


def test_add_user_reads_the_password_from_stdin_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "clinic.db"
    assert add_user(db, "jd", stdin="correct horse battery\n", monkeypatch=monkeypatch) == 0
    assert f"added jd in {db}" in capsys.readouterr().out
    assert db.stat().st_mode & 0o077 == 0  # names patients: owner only
    assert add_user(db, "jd", stdin="another password\n", monkeypatch=monkeypatch) == 2
    assert "--replace" in capsys.readouterr().err
    secret = tmp_path / "pw"
    secret.write_text("another password\nignored\n")
    assert add_user(db, "jd", "--replace", "--password-file", str(secret)) == 0
    conn = users.open_users(db)
    try:
        assert users.attempt_login(conn, "jd", "another password", 10**13).user is not None
    finally:
        conn.close()


def test_add_user_refuses_short_passwords_and_argv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert add_user(tmp_path / "c.db", "jd", stdin="short\n", monkeypatch=monkeypatch) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # there is no way to give it on the command line
        clinic_cli.main(["add-user", "jd", "--password", "correct horse battery"])


def serve_args(c: Clinic, *extra: str) -> list[str]:
    return ["serve", "--store", c.store_url, "--registry", str(c.registry),
            "--clinic-db", str(c.clinic_db), "--fees", str(c.fees),
            "--tz", "America/New_York", *extra]


def test_serve_refuses_to_start_without_what_it_needs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = make_clinic(tmp_path)
    missing = Clinic(tmp_path, c.store, c.registry, tmp_path / "none.db", c.fees)
    assert clinic_cli.main(serve_args(missing)) == 2
    assert "add-user" in capsys.readouterr().err
    conn = users.open_users(tmp_path / "empty.db")
    conn.close()
    empty = Clinic(tmp_path, c.store, c.registry, tmp_path / "empty.db", c.fees)
    assert clinic_cli.main(serve_args(empty)) == 2
    assert "no dashboard users" in capsys.readouterr().err
    no_store = Clinic(tmp_path, tmp_path / "none-rtm.db", c.registry, c.clinic_db, c.fees)
    assert clinic_cli.main(serve_args(no_store)) == 2
    assert "does not exist" in capsys.readouterr().err


def test_serve_help_says_where_tls_belongs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        clinic_cli.main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "TLS belongs to a reverse proxy" in out and "default 127.0.0.1" in out


def _first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "rtm-clinic serve printed nothing"
    return proc.stdout.readline().decode()


def test_serve_as_a_process(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    log = tmp_path / "serve.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cloud_bridge.clinic.cli",
                                 *serve_args(c, "--port", "0")], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=err)
    try:
        line = _first_line(proc, 20)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        host, port = "127.0.0.1", int(m.group(1))

        def request(method: str, path: str, body: str = "",
                    cookie: str = "") -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            if cookie:
                headers["Cookie"] = cookie
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp

        assert request("GET", "/worklist").status == 303
        login = http.client.HTTPConnection(host, port, timeout=10)
        login.request("GET", "/login")
        page = login.getresponse()
        html = page.read().decode()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        resp = request("POST", "/login", urlencode({"csrf": csrf, "name": USER,
                                                    "password": PASSWORD}), cookie)
        assert resp.status == 303
        session = resp.getheader("Set-Cookie").split(";")[0]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/worklist", headers={"Cookie": session})
        worklist = conn.getresponse()
        assert worklist.status == 200 and "P-1" in worklist.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()
    assert "login: jd" in log.read_text()


def test_serve_listens_on_loopback_by_default() -> None:
    args = clinic_cli.build_parser().parse_args(["serve", "--registry", "r.csv"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
