import pytest

from gateway.config import ConfigError, load, parse

GOOD = {"gateway_id": "home-1", "outbox": "outbox.db", "enrolled": ["a1b2c3d4e5f6"]}


def test_defaults_and_relative_outbox(tmp_path):
    cfg = parse(GOOD, tmp_path)
    assert cfg.outbox == tmp_path / "outbox.db"
    assert cfg.mqtt.client_id == "rtm-gw-home-1" and cfg.mqtt.port == 1883
    assert cfg.sync.batch_records == 256
    assert (str(cfg.sync.window_start), str(cfg.sync.window_end)) == ("01:00:00", "05:00:00")
    assert not cfg.mqtt.tls and cfg.log_format == "json"


def test_window_may_wrap_midnight_and_paths_resolve(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    cfg = parse({**GOOD, "sync": {"window": "23:30-04:00"}, "mqtt": {"ca_file": "ca.pem"}},
                tmp_path)
    assert str(cfg.sync.window_start) == "23:30:00" and cfg.mqtt.ca_file == tmp_path / "ca.pem"
    assert cfg.mqtt.tls


@pytest.mark.parametrize("change, message", [
    ({"gateway_id": "home 1"}, "gateway_id must be"),
    ({"enrolled": ["A1B2C3D4E5F6"]}, r"enrolled\[0\] must be a device id"),
    ({"enrolled": "a1b2c3d4e5f6"}, "enrolled must be list"),
    ({"mqtt": {"port": 70000}}, "mqtt.port must be 1..65535"),
    ({"mqtt": {"port": "1883"}}, "mqtt.port must be int"),
    ({"mqtt": {"hots": "x"}}, "unknown key mqtt.hots"),
    ({"sync": {"batch_records": 0}}, "sync.batch_records must be 1..512"),
    ({"sync": {"interval_s": -1}}, "sync.interval_s must be positive"),
    ({"colour": "blue"}, "unknown key colour"),
    ({"sync": {"window": "1:00-5:00"}}, r"sync.window must be \"HH:MM-HH:MM\""),
    ({"sync": {"window": "02:00-02:00"}}, "sync.window must not be empty"),
    ({"sync": {"adapter": "/dev/hci0"}}, "sync.adapter must name"),
    ({"sync": {"max_connections": 9}}, "sync.max_connections must be 1..7"),
    ({"sync": {"connect_deadline_s": 5}}, "connect_deadline_s must be longer"),
    ({"mqtt": {"ca_file": "nope.pem"}}, "mqtt.ca_file: file .*nope.pem does not exist"),
    ({"mqtt": {"username": "gw"}}, "mqtt.username and mqtt.password_file go together"),
    ({"mqtt": {"reconnect_min_s": 10, "reconnect_max_s": 5}}, "reconnect_max_s must be at"),
    ({"outbox_max_mb": 0.5}, "outbox_max_mb must be more than 1"),
    ({"log_format": "xml"}, "log_format must be"),
])
def test_bad_config_names_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        parse({**GOOD, **change})


def test_missing_key_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="outbox is missing"):
        parse({"gateway_id": "x", "enrolled": []})
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("gateway_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)
    ok = tmp_path / "ok.toml"
    ok.write_text('gateway_id = "gw"\noutbox = "o.db"\nenrolled = []\n[mqtt]\nport = 1884\n')
    assert load(ok).mqtt.port == 1884


def test_the_shipped_example_is_valid(tmp_path):
    import tomllib
    from pathlib import Path
    example = Path(__file__).parents[2] / "docs" / "deploy" / "gateway.toml"
    data = tomllib.loads(example.read_text())
    for key in ("ca_file", "password_file"):  # files of a real deployment
        data["mqtt"][key] = str(tmp_path / key)
        (tmp_path / key).write_text("x")
    cfg = parse(data, tmp_path)
    assert cfg.mqtt.tls and cfg.sync.max_connections == 2


def test_the_shipped_systemd_unit_runs_the_gateway_hardened():
    from pathlib import Path
    unit = (Path(__file__).parents[2] / "docs" / "deploy" / "rtm-gateway.service").read_text()
    assert "rtm-gateway run --config" in unit
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=always",
                 "RestartPreventExitStatus=2", "User=rtm-gateway"):
        assert line in unit
