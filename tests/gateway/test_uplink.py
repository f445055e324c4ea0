"""The uplink against a real mosquitto with TLS, passwords and the deployment's ACL: it
connects only to the right broker with the right credentials, announces itself, and
delivers the outbox in order whatever the broker does."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import MqttConfig
from gateway.downlink import ack_topic
from gateway.enrollment import enrollment_topic
from gateway.outbox import Outbox, OutboxFull
from gateway.payload import records_topic
from gateway.state_report import state_topic
from gateway.uplink import Uplink
from tests.conftest import running
from tests.deployment import CLIENT_ID_PREFIX, REPO, deployment_acl, deployment_broker
from tests.services import Mosquitto, TestPki

pytestmark = [
    pytest.mark.integration,
    # An exception in paho's thread (a callback of ours) must fail the test, not warn.
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

GATEWAY = "home-1"
DEVICE = "a1b2c3d4e5f6"
RECORDS = f"rtm/v1/{GATEWAY}/{DEVICE}/records"
PROGRAM = f"rtm/v1/{GATEWAY}/{DEVICE}/program"
STATUS = f"rtm/v1/{GATEWAY}/status"
# Two watching users: the broker names sessions after users, so two connections of one
# user at a time would take the session from each other.
PASSWORDS = {GATEWAY: "gw-secret", "home-2": "other-secret", "watcher": "watcher-secret",
             "watcher-2": "watcher-2-secret"}


# The deployment's ACL; the tests' watchers read everything and write programs.
ACL = deployment_acl() + "".join(f"""
user {user}
topic read rtm/v1/#
topic write rtm/v1/+/+/program
""" for user in ("watcher", "watcher-2"))


@pytest.fixture
def broker(tmp_path: Path, pki: TestPki) -> Iterator[Mosquitto]:
    """The deployment's TLS-only mosquitto with passwords and the ACL, for this test alone."""
    yield from running(deployment_broker(tmp_path / "mosquitto", pki, PASSWORDS, ACL))


def gateway_config(broker: Mosquitto, pki: TestPki, tmp_path: Path,
                   user: str | None = GATEWAY, password: str = PASSWORDS[GATEWAY],
                   **changes: object) -> MqttConfig:
    password_file = tmp_path / f"password-{uuid.uuid4().hex[:6]}"
    password_file.write_text(password + "\n")  # the newline is stripped
    config = MqttConfig(broker.host, broker.port, f"rtm-gw-{GATEWAY}", keepalive_s=5,
                        ca_file=pki.ca_cert, cert_file=pki.client_cert,
                        key_file=pki.client_key, username=user,
                        password_file=password_file if user else None,
                        reconnect_min_s=0.05, reconnect_max_s=0.5)
    return replace(config, **changes)  # type: ignore[arg-type]


def wait_until(predicate: Callable[[], object], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def persistent_id() -> str:
    """A client id for a watcher whose session persists (the deployment's prefix)."""
    return f"{CLIENT_ID_PREFIX}clinic-{uuid.uuid4().hex[:6]}"


class Watcher:
    """The clinic's view: a TLS subscriber recording (topic, payload, retained)."""

    def __init__(self, broker: Mosquitto, pki: TestPki, topic_filter: str,
                 client_id: str | None = None, user: str = "watcher") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._subscribed = threading.Event()
        name = client_id or f"{CLIENT_ID_PREFIX}watch-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name,
                                  clean_session=client_id is None)
        self.client.tls_set(ca_certs=str(pki.ca_cert))
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.reconnect_delay_set(0.05, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._record
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def _record(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _r in list(self.messages) if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(broker: Mosquitto, pki: TestPki) -> dict[str, object]:
    watcher = Watcher(broker, pki, STATUS, user="watcher-2")  # while "watcher" watches
    try:
        assert wait_until(lambda: watcher.messages, 5), "no retained status"
        _topic, payload, retained = watcher.messages[0]
        assert retained
        return json.loads(payload)
    finally:
        watcher.close()


def fill(outbox: Outbox, n: int) -> list[bytes]:
    """n record batches; each payload names its place in the outbox."""
    payloads = [f"batch {i:04d}".encode() for i in range(n)]
    for i, body in enumerate(payloads):
        outbox.commit_batch(DEVICE, 1, i + 1, i + 1, RECORDS, body, 1_000 + i)
    return payloads


def first_arrivals(payloads: list[bytes]) -> list[bytes]:
    seen: set[bytes] = set()
    return [p for p in payloads if not (p in seen or seen.add(p))]


@pytest.fixture
def uplinks() -> Iterator[list[Uplink]]:
    """Uplinks to stop after the test, whatever happened."""
    made: list[Uplink] = []
    yield made
    for uplink in made:
        uplink.stop()


def started(uplinks: list[Uplink], config: MqttConfig, outbox: Outbox,
            max_in_flight: int = 20) -> Uplink:
    uplink = Uplink(config, outbox, GATEWAY, max_in_flight)
    uplinks.append(uplink)
    uplink.start()
    return uplink


@pytest.mark.security
def test_tls_and_credentials_connect_and_deliver(broker, pki, tmp_path, uplinks):
    watcher = Watcher(broker, pki, f"rtm/v1/{GATEWAY}/#")
    outbox = Outbox(tmp_path / "o.db")
    sent = fill(outbox, 30)
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
    assert uplink.wait_connected(10)
    assert uplink.drain(15) and outbox.depth() == 0
    assert wait_until(lambda: len(watcher.payloads(RECORDS)) >= 30)
    assert first_arrivals(watcher.payloads(RECORDS)) == sent
    state = uplink.state
    assert state.connected and state.published == 30 and state.last_error is None
    assert state.since_ms is not None and state.reconnects == 0
    watcher.close()


@pytest.mark.security
def test_every_topic_the_gateway_publishes_passes_the_deployment_acl(broker, pki, tmp_path,
                                                                    uplinks):
    # A denied publish would stay in the outbox for ever: the ACL must allow all.
    watcher = Watcher(broker, pki, f"rtm/v1/{GATEWAY}/#")
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 1)
    assert records_topic(GATEWAY, DEVICE) == RECORDS
    topics = [RECORDS, ack_topic(GATEWAY, DEVICE), enrollment_topic(GATEWAY, DEVICE)]
    for topic in topics[1:]:
        outbox.enqueue(topic, b"{}", 1, DEVICE)
    state = state_topic(GATEWAY, DEVICE)  # retained, as gateway/state_report.py sends it
    outbox.enqueue_latest(state, b"{}", 1, DEVICE)
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
    assert uplink.wait_connected(10) and uplink.drain(15)
    assert wait_until(lambda: all(watcher.payloads(t) for t in [*topics, state, STATUS]))
    watcher.close()
    # Retained: a subscriber that comes later gets the wearable's state at once.
    late = Watcher(broker, pki, state, user="watcher-2")
    try:
        assert wait_until(lambda: late.messages, 5)
        assert late.messages[0] == (state, b"{}", True)
    finally:
        late.close()


@pytest.mark.security
def test_a_broker_with_a_certificate_from_another_ca_is_refused(broker, pki, tmp_path,
                                                                uplinks, caplog):
    config = gateway_config(broker, pki, tmp_path, ca_file=pki.other_ca_cert)
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 3)
    with caplog.at_level(logging.ERROR, logger="gateway.uplink"):
        uplink = started(uplinks, config, outbox)
        assert wait_until(lambda: uplink.state.connect_failures >= 2)
    state = uplink.state
    assert not state.connected and "CERTIFICATE_VERIFY_FAILED" in (state.last_error or "")
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    uplink.pump()
    assert outbox.depth() == 3  # nothing was published, nothing lost
    assert any(t.name.startswith("paho-mqtt-client") for t in threading.enumerate())


@pytest.mark.security
@pytest.mark.parametrize("user, password", [(None, ""), (GATEWAY, "wrong")])
def test_anonymous_or_wrong_password_is_refused(broker, pki, tmp_path, uplinks, user,
                                                password):
    config = gateway_config(broker, pki, tmp_path, user=user, password=password)
    uplink = started(uplinks, config, Outbox(tmp_path / "o.db"))
    assert wait_until(lambda: uplink.state.connect_failures >= 2)
    assert not uplink.wait_connected(0.1)
    assert "refused" in (uplink.state.last_error or "")


@pytest.mark.security
def test_a_gateway_id_that_is_not_the_username_never_gets_a_connection_to_keep(
        broker, pki, tmp_path, uplinks):
    """The ACL ties topics to the username: home-2's credentials with home-1's id. mosquitto
    2.0 drops a connection whose retained publish it denies, here the birth, which goes
    before any record: nothing is delivered and nothing leaves the outbox."""
    watcher = Watcher(broker, pki, "rtm/v1/#")
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 2)
    config = gateway_config(broker, pki, tmp_path, user="home-2",
                            password=PASSWORDS["home-2"], client_id="rtm-gw-home-2")
    uplink = started(uplinks, config, outbox)
    assert not uplink.drain(1.0)
    assert outbox.depth() == 2 and watcher.payloads(RECORDS) == []
    watcher.close()


@pytest.mark.security
def test_an_acl_denied_message_stays_in_the_outbox_and_the_rest_goes_on(
        broker, pki, tmp_path, uplinks, caplog):
    """MQTT v5: the broker refuses a publish its ACL denies (PUBACK 0x87, then mosquitto
    2.0.11 closes the connection). The row stays in the outbox and is sent again with
    back-off; the rows after it are delivered meanwhile."""
    watcher = Watcher(broker, pki, "rtm/v1/#")
    outbox = Outbox(tmp_path / "o.db")
    denied = f"rtm/v1/{GATEWAY}/{DEVICE}/not-in-the-acl"
    outbox.enqueue(denied, b"kept", 1, DEVICE)
    sent = fill(outbox, 5)
    with caplog.at_level(logging.ERROR, logger="gateway.uplink"):
        uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
        assert wait_until(lambda: uplink.pump() == 0 and outbox.depth() == 1
                          and uplink.state.refused >= 2)  # refused, and again after 1 s
    assert [m.topic for m in outbox.pending()] == [denied]
    assert wait_until(lambda: first_arrivals(watcher.payloads(RECORDS)) == sent)
    assert watcher.payloads(denied) == []
    state = uplink.state
    assert state.held == 1 and state.published == 5
    assert state.last_refusal == f"{denied}: Not authorized (0x87)"
    assert "refused the message on " + denied in caplog.text
    watcher.close()


@pytest.mark.security
def test_with_mqtt_3_1_1_an_acl_denied_record_is_acknowledged_and_dropped(
        broker, pki, tmp_path, uplinks):
    """Why the gateway speaks v5: MQTT 3.1.1 has no negative PUBACK, so the broker
    acknowledges a denied message and the outbox lets it go."""
    watcher = Watcher(broker, pki, "rtm/v1/#")
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 2)
    config = gateway_config(broker, pki, tmp_path, user="home-2",
                            password=PASSWORDS["home-2"], client_id="rtm-gw-home-2",
                            protocol="3.1.1")
    uplink = Uplink(config, outbox, gateway_id=None)  # no retained birth to be denied
    uplinks.append(uplink)
    uplink.start()
    assert uplink.drain(10)
    time.sleep(0.3)
    assert watcher.payloads(RECORDS) == []
    watcher.close()


class V5Publisher:
    """A bare MQTT v5 client that keeps each PUBACK's reason code."""

    def __init__(self, broker: Mosquitto, pki: TestPki, user: str) -> None:
        self.codes: dict[int, int] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"{CLIENT_ID_PREFIX}pub-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(pki.ca_cert))
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.on_publish = lambda c, u, mid, rc, p: self.codes.__setitem__(mid, rc.value)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def reason(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        wait_until(lambda: mid in self.codes, 5)
        return self.codes.get(mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.security
def test_what_mosquitto_answers_a_v5_publish(broker, pki):
    """The reason codes gateway/uplink.py relies on, from the real broker (2.0.11) with the
    deployment's ACL: 0x10 when nobody subscribes (and a retained message is kept all the
    same), 0x00 when somebody does, 0x87 when the ACL denies it."""
    gateway = V5Publisher(broker, pki, GATEWAY)
    state = state_topic(GATEWAY, DEVICE)
    try:
        assert gateway.reason(RECORDS, b"nobody listens") == 0x10
        assert gateway.reason(state, b"kept", retain=True) == 0x10
        watcher = Watcher(broker, pki, f"rtm/v1/{GATEWAY}/#")
        assert wait_until(lambda: watcher.payloads(state) == [b"kept"])  # retained: kept
        assert gateway.reason(RECORDS, b"heard") == 0x00
        assert wait_until(lambda: watcher.payloads(RECORDS) == [b"heard"])
        watcher.close()
        assert gateway.reason(f"rtm/v1/home-2/{DEVICE}/records", b"denied") == 0x87
    finally:
        gateway.close()


@pytest.mark.fault
def test_the_v5_session_outlives_a_disconnect_and_a_broker_restart(broker, pki, tmp_path,
                                                                  uplinks):
    """clean_start False with the session expiry at "never": what the broker queued for the
    gateway while it was away (not retained) reaches it when it comes back."""
    got: list[bytes] = []
    config = gateway_config(broker, pki, tmp_path)
    first = Uplink(config, Outbox(tmp_path / "o.db"), GATEWAY)
    first.subscribe(PROGRAM, lambda t, p, r: got.append(p))
    first.start()
    assert first.wait_connected(10)
    time.sleep(0.3)  # its SUBSCRIBE follows the connection
    first.stop()
    clinic = Watcher(broker, pki, "rtm/v1/none")
    clinic.client.publish(PROGRAM, b"queued", qos=1).wait_for_publish(5)
    clinic.close()
    broker.restart()
    again = Uplink(config, Outbox(tmp_path / "o.db"), GATEWAY)
    again.subscribe(PROGRAM, lambda t, p, r: got.append(p))
    uplinks.append(again)
    again.start()
    assert wait_until(lambda: got == [b"queued"]), got


def test_clean_stop_leaves_a_retained_offline_status(broker, pki, tmp_path, uplinks):
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), Outbox(tmp_path / "o.db"))
    assert uplink.wait_connected(10)
    online = retained_status(broker, pki)
    assert online["schema"] == "rtm.status.v1" and online["gateway"] == GATEWAY
    assert online["state"] == "online" and online["since_ms"] == uplink.state.since_ms
    uplink.stop()
    offline = retained_status(broker, pki)
    assert offline["state"] == "offline"
    assert int(offline["since_ms"]) >= int(online["since_ms"])  # type: ignore[call-overload]


@pytest.mark.fault
def test_birth_is_published_again_at_every_reconnect(broker, pki, tmp_path, uplinks):
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), Outbox(tmp_path / "o.db"))
    assert uplink.wait_connected(10)
    first = retained_status(broker, pki)
    time.sleep(0.01)
    broker.restart()  # keeps the retained "online" of the first connection on disk
    assert wait_until(lambda: uplink.state.reconnects == 1 and uplink.state.connected)
    assert wait_until(lambda: retained_status(broker, pki)["since_ms"] != first["since_ms"])
    again = retained_status(broker, pki)
    assert again["state"] == "online" and again["since_ms"] == uplink.state.since_ms


_GATEWAY_PROCESS = """
import sys, time
from pathlib import Path
from gateway.config import MqttConfig
from gateway.outbox import Outbox
from gateway.uplink import Uplink
host, port, ca, pw, db = sys.argv[1:6]
config = MqttConfig(host, int(port), "rtm-gw-home-1", keepalive_s=5, ca_file=Path(ca),
                    username="home-1", password_file=Path(pw))
uplink = Uplink(config, Outbox(db), "home-1")
uplink.start()
assert uplink.wait_connected(10)
print("connected", flush=True)
time.sleep(60)
"""


@pytest.mark.fault
def test_the_last_will_says_offline_when_the_gateway_dies(broker, pki, tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORDS[GATEWAY])
    gateway = subprocess.Popen(
        [sys.executable, "-c", _GATEWAY_PROCESS, broker.host, str(broker.port),
         str(pki.ca_cert), str(password_file), str(tmp_path / "o.db")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert gateway.stdout is not None and gateway.stdout.readline() == "connected\n"
        watcher = Watcher(broker, pki, STATUS)
        assert wait_until(lambda: watcher.payloads(STATUS))
        assert json.loads(watcher.payloads(STATUS)[0])["state"] == "online"
        gateway.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sees a dead socket
        assert wait_until(lambda: len(watcher.payloads(STATUS)) == 2)
        assert json.loads(watcher.payloads(STATUS)[1])["state"] == "offline"
        watcher.close()
        assert retained_status(broker, pki)["state"] == "offline"
    finally:
        gateway.kill()
        gateway.wait()
        if gateway.stdout is not None:
            gateway.stdout.close()


@pytest.mark.fault
def test_what_was_queued_while_the_broker_was_down_arrives_in_order(broker, pki, tmp_path,
                                                                    uplinks):
    # The clinic's persistent session exists before the outage, so the broker queues for it.
    watcher = Watcher(broker, pki, RECORDS, client_id=persistent_id())
    broker.stop()
    outbox = Outbox(tmp_path / "o.db")
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
    sent = fill(outbox, 250)
    uplink.pump()
    assert outbox.depth() == 250 and not uplink.state.connected
    sent += fill_more(outbox, 250)
    broker.start()
    assert uplink.drain(30), f"{outbox.depth()} left"
    assert wait_until(lambda: len(set(watcher.payloads(RECORDS))) == 500)
    assert first_arrivals(watcher.payloads(RECORDS)) == sent
    assert uplink.state.published == 500 and uplink.state.connect_failures >= 1
    watcher.close()


def fill_more(outbox: Outbox, n: int) -> list[bytes]:
    start = outbox.committed_seq(DEVICE)
    payloads = [f"batch {start + i:04d}".encode() for i in range(n)]
    for i, body in enumerate(payloads):
        outbox.commit_batch(DEVICE, 1, start + i + 1, start + i + 1, RECORDS, body, 1)
    return payloads


@pytest.mark.fault
def test_broker_restarts_mid_delivery_keep_the_order(broker, pki, tmp_path, uplinks):
    """Restarts while a full window is in flight: paho resends those, and nothing newer
    may overtake them. (Graceful restarts: with kill -9, mosquitto 2.0.11 can lose a
    message it had acknowledged but not yet saved, which is the broker's loss, not this.)"""
    watcher = Watcher(broker, pki, RECORDS, client_id=persistent_id())
    outbox = Outbox(tmp_path / "o.db")
    sent = fill(outbox, 500)
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox, max_in_flight=50)
    assert uplink.wait_connected(10)
    # The gateway pumps all along, so publishes race the broker going away and coming back
    # (paho answers NO_CONN, or takes a message while reconnecting).
    stop_pumping = threading.Event()
    pumper = threading.Thread(target=lambda: [uplink.pump() for _ in iter(
        lambda: stop_pumping.wait(0.001), True)])
    pumper.start()
    try:
        for restart_at in (60, 130, 200, 270, 340, 410):
            assert wait_until(lambda: uplink.state.published >= restart_at)  # noqa: B023
            broker.restart()
    finally:
        stop_pumping.set()
        pumper.join()
    assert uplink.drain(30), f"{outbox.depth()} left"
    ok = wait_until(lambda: len(set(watcher.payloads(RECORDS))) == 500, 5)
    missing = sorted(set(sent) - set(watcher.payloads(RECORDS)))
    assert ok, (len(missing), missing[:3], missing[-3:])
    assert first_arrivals(watcher.payloads(RECORDS)) == sent
    assert uplink.state.reconnects == 6
    watcher.close()


def test_a_full_outbox_refuses_then_has_room_after_delivery(broker, pki, tmp_path, uplinks):
    outbox = Outbox(tmp_path / "o.db", max_bytes=20_000)
    topic_bytes = len(RECORDS)
    body = b"r" * (2_000 - topic_bytes)  # 2,000 bytes a batch: 9 fit under 19,000
    for seq in range(1, 10):
        outbox.commit_batch(DEVICE, 1, seq, seq, RECORDS, body, seq)
    with pytest.raises(OutboxFull):
        outbox.commit_batch(DEVICE, 1, 10, 10, RECORDS, body, 10)
    assert outbox.committed_seq(DEVICE) == 9 and outbox.stats().refused_batches == 1
    outbox.enqueue(f"{PROGRAM}/ack", b'{"ack":1}', 11, DEVICE)  # the reserve still takes it
    watcher = Watcher(broker, pki, "rtm/v1/#")  # no subscriber: the broker would not take it
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
    assert uplink.drain(15)
    watcher.close()
    outbox.commit_batch(DEVICE, 1, 10, 10, RECORDS, body, 12)
    assert outbox.stats().bytes == 2_000 and outbox.stats().refused_batches == 1


@pytest.mark.fault
def test_subscriptions_survive_reconnects_and_failing_handlers(broker, pki, tmp_path,
                                                               uplinks):
    got: list[tuple[str, bytes, bool]] = []

    def handler(topic: str, payload: bytes, retained: bool) -> None:
        got.append((topic, payload, retained))
        if payload == b"bad":
            raise ValueError("cannot parse the program")

    clinic = Watcher(broker, pki, "rtm/v1/none")
    clinic.client.publish(PROGRAM, b"program 1", qos=1, retain=True).wait_for_publish(5)
    uplink = Uplink(gateway_config(broker, pki, tmp_path), Outbox(tmp_path / "o.db"), GATEWAY)
    uplink.subscribe(PROGRAM, handler)
    uplinks.append(uplink)
    uplink.start()
    assert wait_until(lambda: got == [(PROGRAM, b"program 1", True)])
    clinic.client.publish(PROGRAM, b"bad", qos=1).wait_for_publish(5)
    clinic.client.publish(PROGRAM, b"program 2", qos=1).wait_for_publish(5)
    assert wait_until(lambda: len(got) == 3)
    assert got[1:] == [(PROGRAM, b"bad", False), (PROGRAM, b"program 2", False)]
    assert uplink.state.handler_errors == 1
    clinic.close()
    broker.restart()
    # The retained program comes again only if the subscription was made again.
    # (QoS 1 may bring "bad" or "program 2" again too, if the restart beat their PUBACK.)
    assert wait_until(lambda: (PROGRAM, b"program 1", True) in got[3:]), got
    assert uplink.state.reconnects == 1


@pytest.mark.security
def test_a_gateway_cannot_read_another_gateways_programs(broker, pki, tmp_path, uplinks):
    got: list[bytes] = []
    clinic = Watcher(broker, pki, "rtm/v1/none")
    other_program = f"rtm/v1/home-2/{DEVICE}/program"
    clinic.client.publish(other_program, b"not yours", qos=1, retain=True).wait_for_publish(5)
    uplink = Uplink(gateway_config(broker, pki, tmp_path), Outbox(tmp_path / "o.db"), GATEWAY)
    uplink.subscribe(other_program, lambda t, p, r: got.append(p))
    uplinks.append(uplink)
    uplink.start()
    assert uplink.wait_connected(10)
    time.sleep(0.3)
    assert got == []
    clinic.close()


@pytest.mark.fault
def test_messages_paho_took_with_no_connection_are_delivered_in_order(broker, pki, tmp_path,
                                                                       uplinks):
    """The race of a pump() that saw "connected" just before the socket died, made
    deterministic: paho takes those messages with NO_CONN, keeps them and sends them first
    after reconnecting; their PUBACKs must retire them like any other."""
    watcher = Watcher(broker, pki, RECORDS, client_id=persistent_id())
    outbox = Outbox(tmp_path / "o.db")
    sent = fill(outbox, 60)
    uplink = started(uplinks, gateway_config(broker, pki, tmp_path), outbox)
    assert uplink.wait_connected(10)
    broker.stop()
    assert wait_until(lambda: not uplink.state.connected)
    uplink._connected.set()  # the stale view of the racing pump()
    uplink.pump()
    uplink._connected.clear()
    uplink.pump()
    assert outbox.depth() == 60
    broker.start()
    assert uplink.drain(30), f"{outbox.depth()} left"
    assert wait_until(lambda: len(set(watcher.payloads(RECORDS))) == 60)
    assert first_arrivals(watcher.payloads(RECORDS)) == sent
    assert uplink.state.published == 60
    watcher.close()
