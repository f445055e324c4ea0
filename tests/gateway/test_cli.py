"""rtm-gateway's commands as an installer or a support person meets them (no radio needed)."""

import json
import logging
import subprocess
import sys

import pytest

from gateway.cli import main

CONFIG = 'gateway_id = "home-7"\noutbox = "state/gw.db"\nenrolled = ["a1b2c3d4e5f6"]\n'


@pytest.fixture(autouse=True)
def root_logging_restored():
    # main() points the root logger at the stderr of the moment (pytest's capture, closed
    # after the test): later tests' log lines must not go there.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return path


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("run", "sync", "status", "enroll", "unenroll"):
        assert command in out


def test_an_invalid_config_exits_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG + '[sync]\nwindow = "1-5"\n')
    assert main(["status", "--config", str(bad)]) == 2
    assert "sync.window must be" in capsys.readouterr().err


def test_status_of_a_new_gateway(config, capsys):
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "gateway home-7" in out and "service: not running" in out
    assert "outbox: 0 messages" in out and "a1b2c3d4e5f6: last sync never" in out
    assert main(["status", "--config", str(config), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["outbox"]["max_bytes"] == 512 * 2**20 and st["wearables"][0]["last_sync_ms"] is None


def test_enroll_refuses_to_send_a_secret_without_tls(config, capsys):
    assert main(["enroll", "--config", str(config), "0a0b0c0d0e0f"]) == 1
    assert "configure mqtt.ca_file (TLS)" in capsys.readouterr().err


def test_sync_of_a_wearable_not_enrolled_here(config, capsys):
    assert main(["sync", "--config", str(config), "--device", "0a0b0c0d0e0f"]) == 1
    assert "not enrolled here: 0a0b0c0d0e0f" in capsys.readouterr().err


def test_progress_bar_redraws_on_a_terminal_and_prints_once_to_a_log():
    import io

    from gateway.cli import _ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, log = Tty(), io.StringIO()
    for stream in (tty, log):
        bar = _ProgressBar(stream)
        for done in (256, 512, 600):
            bar("a1b2c3d4e5f6", done, 600)
    assert tty.getvalue().count("\r") == 3 and tty.getvalue().endswith("600/600 records\n")
    assert log.getvalue() == f"\ra1b2c3d4e5f6 [{'#' * 30}] 600/600 records\n"


def test_sync_while_the_service_runs_asks_it_instead_of_taking_the_radio(config, capsys,
                                                                        monkeypatch):
    import os
    import signal
    import time

    from gateway import config as config_mod
    from gateway.service import heartbeat_path

    cfg = config_mod.load(config)
    heartbeat_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    beat = {"pid": 4242, "running": True, "written_ms": int(time.time() * 1000),
            "broker": {}, "requested_pass": None}
    heartbeat_path(cfg).write_text(json.dumps(beat))
    signals = []

    def fake_kill(pid, sig):
        signals.append((pid, sig))
        beat["requested_pass"] = {"done_ms": int(time.time() * 1000) + 1,
                                  "synced": {"a1b2c3d4e5f6": 12}, "failed": {}, "missing": []}
        heartbeat_path(cfg).write_text(json.dumps(beat))

    monkeypatch.setattr(os, "kill", fake_kill)
    assert main(["sync", "--config", str(config)]) == 0
    assert signals == [(4242, signal.SIGUSR1)]
    assert "a1b2c3d4e5f6: 12 new records" in capsys.readouterr().out
    assert main(["sync", "--config", str(config), "--device", "a1b2c3d4e5f6"]) == 1
