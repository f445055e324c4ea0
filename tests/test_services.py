"""The test servers themselves: they start, keep state across a restart, and stop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.deployment import (
    LOCAL_SETTINGS,
    MOSQUITTO_CONF,
    deployment_acl,
    deployment_broker,
    deployment_settings,
    settings,
)
from tests.services import (
    InfluxDB1,
    Mosquitto,
    ServiceError,
    TestPki,
    find_binary,
    free_port,
    make_test_pki,
    port_accepts,
    write_password_file,
)

pytestmark = pytest.mark.integration


def _publish_retained(broker: Mosquitto, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="svc-test-pub")
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()


def _read_retained(broker: Mosquitto, topic: str) -> bytes | None:
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="svc-test-sub")

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        done.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    done.wait(timeout=5)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


def test_mosquitto_keeps_retained_messages_across_a_restart(mosquitto_broker: Mosquitto) -> None:
    _publish_retained(mosquitto_broker, "svc-test/retained", b"still here")
    mosquitto_broker.restart()
    assert _read_retained(mosquitto_broker, "svc-test/retained") == b"still here"
    assert mosquitto_broker.log_path.exists()


def test_stopped_services_free_their_ports(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    assert port_accepts(broker.host, broker.port)
    broker.stop()
    assert not broker.running and not port_accepts(broker.host, broker.port)
    influx = InfluxDB1(tmp_path / "influx")
    influx.start()
    assert influx.is_ready()
    influx.stop()
    assert not influx.running and not influx.is_ready()


def test_a_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(ServiceError, match="apt-get install no-such-package"):
        find_binary("no-such-server-binary", "no-such-package")


def _connect(broker: Mosquitto, ca: Path, user: str | None, password: str | None) -> str:
    """The outcome of one connection attempt: "ok", the refusal, or the TLS error."""
    outcome: list[str] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rtm-svc-tls-{user}")
    client.tls_set(ca_certs=str(ca))
    if user is not None:
        client.username_pw_set(user, password)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(str(reason) if getattr(reason, "is_failure", False) else "ok")
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port)
    except OSError as e:
        return type(e).__name__
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return outcome[0] if outcome else "no answer"


def test_a_tls_broker_with_passwords_checks_both(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki")
    broker = Mosquitto(tmp_path / "mq", pki=pki, users={"gw": "pw"}, acl="user gw\n")
    broker.start()
    try:
        assert _connect(broker, pki.ca_cert, "gw", "pw") == "ok"
        assert _connect(broker, pki.ca_cert, "gw", "wrong") == "Not authorized"
        assert _connect(broker, pki.ca_cert, None, None) == "Not authorized"
        assert _connect(broker, pki.other_ca_cert, "gw", "pw") == "SSLCertVerificationError"
    finally:
        broker.stop()
    assert "password_file" in broker.config_path.read_text()


@pytest.mark.security
def test_the_deployment_config_is_one_mosquitto_accepts(tmp_path: Path) -> None:
    """docs/deploy/mosquitto.conf with its paths pointed at a throwaway PKI and files."""
    pki = make_test_pki(tmp_path / "pki")
    text = MOSQUITTO_CONF.read_text()
    (tmp_path / "acl").write_text(deployment_acl())
    write_password_file(tmp_path / "passwd", {"home-001": "pw"})
    port = free_port()
    for deployed, here in (("listener 8883", f"listener {port} 127.0.0.1"),
                           ("/etc/mosquitto/certs/rtm-ca.crt", str(pki.ca_cert)),
                           ("/etc/mosquitto/certs/broker.crt", str(pki.server_cert)),
                           ("/etc/mosquitto/certs/broker.key", str(pki.server_key)),
                           ("/etc/mosquitto/passwd", str(tmp_path / "passwd")),
                           ("/etc/mosquitto/acl", str(tmp_path / "acl")),
                           ("/var/lib/mosquitto/", f"{tmp_path}/")):
        assert deployed in text
        text = text.replace(deployed, here)
    broker = Mosquitto(tmp_path / "mq", port=port)
    broker.config_path.write_text(text + ("user root\n" if os.geteuid() == 0 else ""))
    broker.start()
    try:
        assert _connect(broker, pki.ca_cert, "home-001", "pw") == "ok"
    finally:
        broker.stop()


@pytest.mark.security
def test_the_tests_deployment_broker_has_every_setting_of_the_deployment_example(
        tmp_path: Path, pki: TestPki) -> None:
    """What tests/deployment.py starts equals docs/deploy/mosquitto.conf but for paths and
    logging: a setting added to either without the other fails here."""
    broker = deployment_broker(tmp_path / "mq", pki, {"home-001": "pw"}, deployment_acl())
    ours = {k: v for k, v in settings(broker.config_path.read_text()).items()
            if k not in LOCAL_SETTINGS}
    assert ours == deployment_settings()
    assert deployment_settings()["use_username_as_clientid"] == "true"
