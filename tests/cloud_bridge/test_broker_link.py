"""The bridge's broker security settings: what goes together, the password file, the TLS
files, and the command line (tests/integration/test_bridge_security.py runs them against a
real mosquitto)."""

from __future__ import annotations

import logging
import re
import shlex
import ssl
from contextlib import AbstractContextManager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge import cli
from cloud_bridge.broker_link import BrokerSecurity, BrokerSecurityError, apply, read_password
from tests.deployment import CLIENT_ID_PREFIX, MOSQUITTO_CONF, REPO, acl_block, settings
from tests.services import TestPki

pytestmark = pytest.mark.security


def client() -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rtm-bridge")


@pytest.mark.parametrize("kwargs, message", [
    ({"cert_file": Path("c.crt"), "ca_file": Path("ca.crt")}, "--cert-file and --key-file"),
    ({"key_file": Path("c.key"), "ca_file": Path("ca.crt")}, "--cert-file and --key-file"),
    ({"cert_file": Path("c.crt"), "key_file": Path("c.key")}, "--cert-file needs --ca-file"),
    ({"username": "bridge"}, "--username and --password-file go together"),
    ({"password_file": Path("pw")}, "--username and --password-file go together"),
    ({"username": "", "password_file": Path("pw")}, "--username must not be empty"),
])
def test_options_that_do_not_go_together_are_refused(kwargs, message):
    with pytest.raises(BrokerSecurityError, match=message):
        BrokerSecurity(**kwargs)


@pytest.mark.parametrize("text, password", [
    ("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\n", "s3cret"),
    (" s3cret \n", " s3cret "),  # only the newline goes: spaces may be part of it
    ("s3cret\n\n", "s3cret\n"),  # one newline, not all
])
def test_the_password_is_the_file_without_one_trailing_newline(tmp_path, text, password):
    path = tmp_path / "pw"
    path.write_text(text, newline="")
    assert read_password(path) == password


def refused(message: str) -> AbstractContextManager[object]:
    return pytest.raises(BrokerSecurityError, match=re.escape(message))


def test_a_missing_empty_or_unreadable_password_file_is_named(tmp_path):
    with refused(f"cannot read password file {tmp_path}/no: No such file"):
        read_password(tmp_path / "no")
    (tmp_path / "empty").write_text("\n")
    with refused(f"password file {tmp_path}/empty is empty"):
        read_password(tmp_path / "empty")
    with refused(f"cannot read password file {tmp_path}: Is a directory"):
        read_password(tmp_path)
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    with refused(f"cannot read password file {tmp_path}/binary"):
        read_password(tmp_path / "binary")


def test_apply_sets_verified_tls_and_the_login(tmp_path, pki: TestPki, caplog):
    (tmp_path / "pw").write_text("the password\n")
    c = client()
    with caplog.at_level(logging.DEBUG):
        apply(c, BrokerSecurity(ca_file=pki.ca_cert, cert_file=pki.client_cert,
                                key_file=pki.client_key, username="bridge",
                                password_file=tmp_path / "pw"))
    context = c._ssl_context
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert c._username == b"bridge" and c._password == b"the password"
    assert "the password" not in caplog.text


def test_a_password_without_tls_is_warned_about(tmp_path, caplog):
    (tmp_path / "pw").write_text("pw")
    with caplog.at_level(logging.WARNING, logger="cloud_bridge"):
        apply(client(), BrokerSecurity(username="bridge", password_file=tmp_path / "pw"))
    assert "without TLS" in caplog.text


def test_missing_or_bad_tls_files_are_named(tmp_path, pki: TestPki):
    with refused(f"cannot read CA file (--ca-file) {tmp_path}/no.crt"):
        apply(client(), BrokerSecurity(ca_file=tmp_path / "no.crt"))
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    with pytest.raises(BrokerSecurityError, match=r"cannot load TLS files .*junk\.crt"):
        apply(client(), BrokerSecurity(ca_file=tmp_path / "junk.crt"))
    with pytest.raises(BrokerSecurityError, match=r"cannot read client key .*no\.key"):
        apply(client(), BrokerSecurity(ca_file=pki.ca_cert, cert_file=pki.client_cert,
                                       key_file=tmp_path / "no.key"))


def test_the_command_line_options_become_broker_security(tmp_path):
    args = cli.build_parser().parse_args(
        ["run", "--ca-file", "ca.crt", "--username", "bridge", "--password-file", "pw"])
    assert cli.broker_security(args) == BrokerSecurity(
        ca_file=Path("ca.crt"), username="bridge", password_file=Path("pw"))
    assert cli.broker_security(cli.build_parser().parse_args(["run"])) is None


@pytest.mark.parametrize("argv, message", [
    (["--username", "bridge"], "--username and --password-file go together"),
    (["--password-file", "pw"], "--username and --password-file go together"),
    (["--ca-file", "ca", "--cert-file", "c.crt"], "--cert-file and --key-file"),
])
def test_options_that_do_not_go_together_are_an_argparse_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_password_file_stops_the_bridge_with_its_name(tmp_path, capsys):
    code = cli.main(["run", "--store", f"sqlite:///{tmp_path}/s.db", "--username", "bridge",
                     "--password-file", str(tmp_path / "missing")])
    assert code == 2
    assert f"cannot read password file {tmp_path}/missing" in capsys.readouterr().err


def test_the_deployment_unit_runs_the_bridge_as_the_deployed_broker_wants():
    """docs/deploy/rtm-bridge.service's command line parses, and logs in as the user the
    docs' ACL lets read records, over TLS, with a client id the broker accepts."""
    unit = (REPO / "docs" / "deploy" / "rtm-bridge.service").read_text()
    exec_start = unit.split("ExecStart=", 1)[1].split("\n#", 1)[0]
    argv = shlex.split(exec_start.replace("\\\n", " "))
    assert argv[0].endswith("/rtm-bridge")
    args = cli.build_parser().parse_args(argv[1:])
    security = cli.broker_security(args)
    assert security is not None and security.tls and security.username is not None
    assert "topic read rtm/v1/+/+/records" in acl_block(security.username)
    assert args.client_id.startswith(CLIENT_ID_PREFIX) and CLIENT_ID_PREFIX
    assert args.broker[1] == int(deployment_listener_port())


def deployment_listener_port() -> str:
    return settings(MOSQUITTO_CONF.read_text())["listener"].split()[0]


@pytest.mark.parametrize("text", ["h:²", "h:٨٠", "h:0", "h:65536", ":1883", "h", "h:"])
def test_a_broker_address_that_is_not_host_and_ascii_port_is_named(text):
    from cloud_bridge.broker_link import host_port

    with pytest.raises(ValueError, match="HOST:PORT"):
        host_port(text)
    assert host_port("broker.example:8883") == ("broker.example", 8883)
