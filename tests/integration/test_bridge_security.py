"""The bridge's side of broker security, against a real mosquitto running the deployment's
settings (docs/deploy/mosquitto.conf: TLS only, passwords, its ACL, sessions named after
users; tests/deployment.py): the bridge gets the records only with its own credentials and
over a verified TLS connection; a bridge that cannot log in says why and costs nothing; a
gateway's credentials cannot read, forge or take over what is the bridge's. Every test that
injects a fault ends with the store compared to what the gateway published, exactly."""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.broker_link import BrokerSecurity
from cloud_bridge.payload import parse_message
from cloud_bridge.records import StoredRecord
from cloud_bridge.stores.sqlite_store import SQLiteStore
from cloud_bridge.subscriber import Bridge
from gateway import payload
from gateway.config import MqttConfig
from gateway.enrollment import build_registration, enrollment_topic
from gateway.outbox import Outbox
from gateway.uplink import Uplink
from tests.conftest import running
from tests.deployment import CLIENT_ID_PREFIX, bridge_acl, deployment_acl, deployment_broker
from tests.integration.test_mqtt_pipeline import T0, rep, wait_until
from tests.integration.test_scale_out import crash
from tests.services import Mosquitto, TestPki

pytestmark = [
    pytest.mark.integration,
    pytest.mark.security,
    # An exception in paho's thread (a callback of ours) must fail the test, not warn.
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

GATEWAY, OTHER = "home-1", "home-2"
BRIDGE = "bridge"  # the bridge's user, and so its session's name
BRIDGE_ID = "rtm-bridge"  # the client id it sends (rtm-bridge's default)
SCALED = ("bridge-1", "bridge-2")  # scale-out: one user per instance
CLINIC = "clinic"
USERS = {GATEWAY: "gw-1-secret", OTHER: "gw-2-secret", BRIDGE: "bridge-secret",
         CLINIC: "clinic-secret", **{user: f"{user}-secret" for user in SCALED}}
ACL = deployment_acl() + bridge_acl(*SCALED)
DEVICE, OTHER_DEVICE = "a1b2c3d4e5f6", "0a0b0c0d0e0f"
SECRET = bytes(range(7, 39))
EVERYTHING = (0, 2**62)


@pytest.fixture
def broker(tmp_path: Path, pki: TestPki) -> Iterator[Mosquitto]:
    yield from running(deployment_broker(tmp_path / "mosquitto", pki, USERS, ACL))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.db")
    yield s
    s.close()


class Bridges:
    """Bridges started by a test; whatever is still running is stopped after it."""

    def __init__(self, broker: Mosquitto, pki: TestPki, tmp_path: Path) -> None:
        self.broker, self.pki, self.tmp_path = broker, pki, tmp_path
        self.running: list[Bridge] = []

    def security(self, user: str | None = BRIDGE, password: str | None = None,
                 ca_file: Path | None = None) -> BrokerSecurity:
        """TLS with the test CA (or `ca_file`); a login as `user` with its password (or
        `password`); no login for user None."""
        password_file = None
        if user is not None:
            password_file = self.tmp_path / f"{user}-{uuid.uuid4().hex[:6]}.password"
            password_file.write_text((password or USERS[user]) + "\n")
        return BrokerSecurity(ca_file=ca_file or self.pki.ca_cert, username=user,
                              password_file=password_file)

    def start(self, store: SQLiteStore, security: BrokerSecurity, *, wait: bool = True,
              share_group: str | None = None) -> Bridge:
        name = f"{CLIENT_ID_PREFIX}{security.username or BRIDGE}"
        bridge = Bridge(store, self.broker.host, self.broker.port, client_id=name,
                        share_group=share_group, broker_security=security)
        self.running.append(bridge)
        bridge.start()
        if wait:
            assert bridge.wait_connected(10)
        return bridge

    def stop(self, bridge: Bridge) -> None:
        self.running.remove(bridge)
        bridge.stop()


@pytest.fixture
def bridges(broker: Mosquitto, pki: TestPki, tmp_path: Path) -> Iterator[Bridges]:
    made = Bridges(broker, pki, tmp_path)
    yield made
    for bridge in list(made.running):
        made.stop(bridge)


def gateway_outbox_and_uplink(broker: Mosquitto, pki: TestPki, tmp_path: Path,
                              seqs: range, device: str = DEVICE, per_batch: int = 5,
                              extra: tuple[str, bytes] | None = None,
                              ) -> tuple[Outbox, Uplink, list[StoredRecord]]:
    """The gateway's outbox with records `seqs` of `device` in batches, after `extra`
    (topic, payload) if given, and its uplink (its credentials) started; the records as the
    bridge should store them."""
    outbox = Outbox(tmp_path / f"outbox-{uuid.uuid4().hex[:6]}.db")
    if extra is not None:
        outbox.enqueue(extra[0], extra[1], T0)
    published: list[StoredRecord] = []
    topic = payload.records_topic(GATEWAY, device)
    for start in range(seqs.start, seqs.stop, per_batch):
        batch = range(start, min(start + per_batch, seqs.stop))
        body = payload.build(GATEWAY, device, [rep(s) for s in batch], 1, 1000, T0)
        outbox.commit_batch(device, 0, batch[0], batch[-1], topic, body, T0)
        published += parse_message(topic, body).records
    password_file = tmp_path / f"gateway-{uuid.uuid4().hex[:6]}.password"
    password_file.write_text(USERS[GATEWAY])
    config = MqttConfig(broker.host, broker.port, f"rtm-gw-{GATEWAY}", keepalive_s=5,
                        ca_file=pki.ca_cert, username=GATEWAY, password_file=password_file,
                        reconnect_min_s=0.05, reconnect_max_s=0.5)
    uplink = Uplink(config, outbox, GATEWAY)
    uplink.start()
    return outbox, uplink, published


def gateway_publishes(broker: Mosquitto, pki: TestPki, tmp_path: Path, device: str,
                      seqs: range, per_batch: int = 5,
                      extra: tuple[str, bytes] | None = None) -> list[StoredRecord]:
    """The gateway (its uplink, its credentials) publishes records `seqs` of `device` in
    batches, after `extra` (topic, payload) if given; returns the records as the bridge
    should store them. Returns once the broker took every message."""
    outbox, uplink, published = gateway_outbox_and_uplink(broker, pki, tmp_path, seqs,
                                                          device, per_batch, extra)
    try:
        assert uplink.drain(15), f"{outbox.depth()} messages not taken by the broker"
    finally:
        uplink.stop()
        outbox.close()
    return published


def stored(store: SQLiteStore, *devices: str) -> list[StoredRecord]:
    return store.query(list(devices or (DEVICE,)), *EVERYTHING)


def exactly(records: list[StoredRecord]) -> list[StoredRecord]:
    """What the store must hold: each record once, in the store's order."""
    return sorted({r.key: r for r in records}.values(), key=lambda r: r.key)


def keys(records: list[StoredRecord]) -> set[tuple[str, int]]:
    return {r.key for r in records}


def assert_stored_exactly(store: SQLiteStore, published: list[StoredRecord],
                          *devices: str) -> None:
    """The store ends up holding what was published: every record, once, as published."""
    want = exactly(published)
    assert wait_until(lambda: len(stored(store, *devices)) >= len(want), 15), (
        f"{len(stored(store, *devices))} of {len(want)} records stored")
    assert stored(store, *devices) == want


class Client:
    """A bare MQTT client: what someone holding `user`'s credentials can do on the broker
    (`user` None: anonymous). Keeps what it receives."""

    def __init__(self, broker: Mosquitto, pki: TestPki, user: str | None,
                 client_id: str | None = None, clean_session: bool = True,
                 tls: bool = True) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.result: mqtt.ReasonCode | None = None
        self.session_present: bool | None = None
        self._answered = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or
                                  f"{CLIENT_ID_PREFIX}client-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean_session, protocol=mqtt.MQTTv311)
        if tls:
            self.client.tls_set(ca_certs=str(pki.ca_cert))
        if user is not None:
            self.client.username_pw_set(user, USERS[user])
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._answered.set()
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        self._answered.wait(10)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
                    reason_code: mqtt.ReasonCode, properties: object) -> None:
        self.result, self.session_present = reason_code, flags.session_present
        self._answered.set()

    @property
    def connected(self) -> bool:
        return self.result is not None and not self.result.is_failure

    def subscribe(self, *topic_filters: str) -> None:
        self._subscribed.clear()
        self.client.subscribe([(f, 1) for f in topic_filters])
        assert self._subscribed.wait(10)

    def publish(self, topic: str, body: bytes) -> None:
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def program_topic(gateway: str) -> str:
    return f"rtm/v1/{gateway}/{OTHER_DEVICE}/program"


def last_word(broker: Mosquitto, pki: TestPki, spy: Client) -> None:
    """The clinic publishes a program for the spy's gateway, which the spy may read; once
    it has it, every message routed to it before has arrived too."""
    clinic = Client(broker, pki, CLINIC)
    clinic.publish(program_topic(OTHER), b"the last word")
    clinic.close()
    assert wait_until(lambda: (program_topic(OTHER), b"the last word") in spy.messages, 10)


# -- (a) the bridge with its credentials ------------------------------------------------

def test_a_bridge_with_its_credentials_over_tls_stores_exactly_what_was_published(
        broker, pki, tmp_path, store, bridges):
    bridge = bridges.start(store, bridges.security())
    enrollment = (enrollment_topic(GATEWAY, OTHER_DEVICE),
                  build_registration(GATEWAY, OTHER_DEVICE, "enrolled", SECRET, "0.1.0", T0))
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 31),
                                  extra=enrollment)
    assert_stored_exactly(store, published)
    assert wait_until(lambda: bridge.device_keys.secret_of(OTHER_DEVICE) == SECRET)
    snapshot = bridge.stats.snapshot()
    assert snapshot["rejected"] == {} and snapshot["enrollments"] == {"enrolled": 1}


# -- (b) a bridge that cannot log in ----------------------------------------------------

@pytest.mark.fault
@pytest.mark.parametrize("fault", ["no login", "wrong password", "another CA"])
def test_a_bridge_that_cannot_log_in_gets_nothing_says_why_and_costs_nothing(
        broker, pki, tmp_path, store, bridges, caplog, fault):
    # The real bridge's session exists: the broker queues for it from now on.
    bridges.stop(bridges.start(store, bridges.security()))
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 16))
    security, why = {
        "no login": (bridges.security(user=None),
                     "check --username/--password-file"),
        "wrong password": (bridges.security(password="not-the-password-1234"),
                           "check --username/--password-file"),
        "another CA": (bridges.security(ca_file=pki.other_ca_cert),
                       "CERTIFICATE_VERIFY_FAILED"),
    }[fault]
    elsewhere = SQLiteStore(tmp_path / "elsewhere.db")
    with caplog.at_level(logging.ERROR, logger="cloud_bridge"):
        impostor = bridges.start(elsewhere, security, wait=False)
        assert wait_until(lambda: why in caplog.text, 10), caplog.text
        published += gateway_publishes(broker, pki, tmp_path, DEVICE, range(16, 31))
        assert not impostor.wait_connected(0)
        bridges.stop(impostor)
    assert stored(elsewhere) == [] and impostor.stats.snapshot()["messages"] == 0
    assert "not-the-password" not in caplog.text
    if fault == "another CA":
        assert "--ca-file" in caplog.text
    else:
        assert "broker refused the bridge" in caplog.text
    elsewhere.close()
    # Nothing was lost: the real bridge gets all of it.
    bridges.start(store, bridges.security())
    assert_stored_exactly(store, published)


# -- (c) what a gateway's credentials cannot do ----------------------------------------

@pytest.mark.scale
def test_a_gateway_can_read_neither_records_nor_the_bridges_shared_subscription(
        broker, pki, tmp_path, store, bridges):
    group = f"rtm-{secrets.token_hex(8)}"  # the bridges' secret (docs/deploy/scale-out.md)
    scaled = [bridges.start(store, bridges.security(user), share_group=group)
              for user in SCALED]
    spy = Client(broker, pki, OTHER)
    # mosquitto grants every subscription (its ACL is checked at delivery only).
    spy.subscribe("rtm/v1/#", "rtm/v1/+/+/records", f"rtm/v1/{GATEWAY}/#",
                  "$share/rtm-bridges/rtm/v1/+/+/records", "$share/rtm/rtm/v1/+/+/records")
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 41))
    last_word(broker, pki, spy)
    assert spy.messages == [(program_topic(OTHER), b"the last word")]
    spy.close()
    assert_stored_exactly(store, published)
    shares = [b.stats.snapshot()["messages"] for b in scaled]
    assert sum(shares) == 8 and all(shares), shares  # both instances took part


@pytest.mark.scale
def test_known_gap_a_gateway_that_knows_the_share_group_takes_a_share_and_drops_it(
        broker, pki, tmp_path, store, bridges):
    """Why the share group name is a secret (docs/deploy/mosquitto.conf): mosquitto 2.0.11
    does not check subscriptions against the ACL, so a gateway joins the bridges' group,
    is dealt its turn of the records, may not read them, and the broker drops them."""
    bridge = bridges.start(store, bridges.security(SCALED[0]), share_group="rtm-bridges")
    thief = Client(broker, pki, OTHER)
    thief.subscribe("$share/rtm-bridges/rtm/v1/+/+/records", "rtm/v1/#")
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 41))
    last_word(broker, pki, thief)
    thief.close()
    assert wait_until(lambda: bridge.stats.snapshot()["messages"] >= 4 and bridge.idle())
    got = stored(store)
    assert thief.messages == [(program_topic(OTHER), b"the last word")]
    assert 0 < len(got) < len(published)  # about half: the broker deals in turn
    assert keys(got) < keys(published)
    assert got == [r for r in exactly(published) if r.key in keys(got)]


@pytest.mark.scale
@pytest.mark.fault
def test_the_deployments_scaled_out_bridges_lose_nothing_over_a_broker_restart(
        broker, pki, tmp_path, store, bridges):
    """The deployment's broker (TLS, users, ACL, one user per instance) and the real gateway
    with its credentials: both instances crash, the broker restarts, the gateway publishes.
    Nothing matches until an instance subscribes again; the gateway keeps every record in
    its outbox and delivers it once the instances are back: the store holds exactly what
    was sent."""
    group = f"rtm-{uuid.uuid4().hex[:8]}"
    instances = [bridges.start(store, bridges.security(user), share_group=group)
                 for user in SCALED]
    for instance in instances:
        crash(instance)  # sessions stay, with their places in the group
        bridges.running.remove(instance)
    broker.restart(graceful=True)
    outbox, uplink, published = gateway_outbox_and_uplink(broker, pki, tmp_path,
                                                          range(1, 61))
    try:
        assert wait_until(lambda: uplink.pump() == 0 and uplink.state.no_subscriber >= 12)
        assert outbox.depth() == 12  # nothing lost, nothing delivered
        for user in SCALED:
            bridges.start(store, bridges.security(user), share_group=group)
        assert uplink.drain(90), f"{outbox.depth()} left"
        assert_stored_exactly(store, published)
        assert uplink.state.refused == 0
    finally:
        uplink.stop()
        outbox.close()


@pytest.mark.fault
def test_a_gateway_cannot_publish_records_or_an_enrollment_for_another_gateway(
        broker, pki, tmp_path, store, bridges):
    bridge = bridges.start(store, bridges.security())

    def forger_publishes(topic: str, body: bytes) -> None:
        # A connection each: mosquitto 2.0.11 acknowledges a denied QoS 1 publish, then
        # closes the connection.
        forger = Client(broker, pki, OTHER)
        forger.publish(topic, body)
        forger.close()

    # Under home-1's prefix: a valid batch and the enrollment of home-1's wearable (with
    # a key of the forger's choosing, which would have the real records rejected).
    forger_publishes(payload.records_topic(GATEWAY, DEVICE),
                     payload.build(GATEWAY, DEVICE, [rep(s) for s in (1, 2, 3)], 1, 1000, T0))
    forger_publishes(enrollment_topic(GATEWAY, DEVICE),
                     build_registration(GATEWAY, DEVICE, "enrolled", SECRET, "0.1.0", T0))
    # Under its own prefix, after them (the broker has routed them): it may.
    own_topic = payload.records_topic(OTHER, OTHER_DEVICE)
    own_body = payload.build(OTHER, OTHER_DEVICE, [rep(s) for s in (1, 2, 3)], 1, 1000, T0)
    forger_publishes(own_topic, own_body)
    published = parse_message(own_topic, own_body).records
    assert_stored_exactly(store, published, DEVICE, OTHER_DEVICE)
    assert wait_until(bridge.idle)
    snapshot = bridge.stats.snapshot()
    assert snapshot["messages"] == 1 and snapshot["enrollments"] == {}
    assert bridge.device_keys.get(DEVICE) is None
    # The real gateway's records of that wearable are accepted as ever.
    published += gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 21))
    assert_stored_exactly(store, published, DEVICE, OTHER_DEVICE)
    assert bridge.stats.snapshot()["rejected"] == {}


# -- (d) the bridge cannot be impersonated ---------------------------------------------

def intruder_meets_the_bridge(broker: Mosquitto, pki: TestPki, store: SQLiteStore,
                              bridges: Bridges, client_id: str, clean_session: bool) -> Bridge:
    """A gateway's credentials with `client_id` while the bridge is connected; returns the
    bridge."""
    bridge = bridges.start(store, bridges.security())
    Client(broker, pki, OTHER, client_id=client_id, clean_session=clean_session).close()
    return bridge


def intruder_while_the_bridge_is_away(broker: Mosquitto, pki: TestPki, tmp_path: Path,
                                      client_id: str, clean_session: bool
                                      ) -> list[StoredRecord]:
    """The gateway publishes while the bridge is away; in between, a gateway's
    credentials with `client_id` try to subscribe to everything; returns what was
    published."""
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 21))
    intruder = Client(broker, pki, OTHER, client_id=client_id, clean_session=clean_session)
    if intruder.connected:
        intruder.subscribe("rtm/v1/#")
    published += gateway_publishes(broker, pki, tmp_path, DEVICE, range(21, 41))
    if intruder.connected:
        last_word(broker, pki, intruder)
        assert intruder.messages == [(program_topic(OTHER), b"the last word")]
    intruder.close()
    return published


@pytest.mark.fault
@pytest.mark.parametrize("client_id, clean_session", [
    (BRIDGE_ID, False),  # the id the bridge sends: the broker names the session "home-2"
    (BRIDGE_ID, True),
    (BRIDGE, False),  # the bridge's session name: refused (no rtm- prefix)
])
def test_a_gateway_using_the_bridges_client_id_neither_kicks_it_nor_touches_its_queue(
        broker, pki, tmp_path, store, bridges, client_id, clean_session):
    bridge = intruder_meets_the_bridge(broker, pki, store, bridges, client_id, clean_session)
    log = broker.log_path.read_text()
    assert "already connected, closing old connection" not in log
    if client_id == BRIDGE_ID:
        assert f"as {OTHER} (" in log  # the broker named the intruder's session after it
    assert bridge.wait_connected(0)
    bridges.stop(bridge)
    published = intruder_while_the_bridge_is_away(broker, pki, tmp_path, client_id,
                                                  clean_session)
    bridges.start(store, bridges.security())
    assert_stored_exactly(store, published)


def records_after_an_intrusion(broker: Mosquitto, pki: TestPki, tmp_path: Path,
                               store: SQLiteStore, intrude: Callable[[], Client]
                               ) -> tuple[set[tuple[str, int]], set[tuple[str, int]], Client]:
    """The bridge's session exists and the gateway publishes 40 records while the bridge is
    away; in the middle `intrude` connects a client, which stays until the gateway is
    done. Then the bridge comes back and the gateway publishes 5 more. Returns the keys of
    the 40 and of the 5 that the bridge stored, and the intruding client."""
    bridges = Bridges(broker, pki, tmp_path)
    try:
        bridges.stop(bridges.start(store, bridges.security()))
        away = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 21))
        intruder = intrude()
        away += gateway_publishes(broker, pki, tmp_path, DEVICE, range(21, 41))
        intruder.close()
        bridge = bridges.start(store, bridges.security())
        # Another bridge user's subscription tells when the broker has routed the last ones;
        # queued records reach the bridge before them.
        observer = Client(broker, pki, SCALED[1])
        observer.subscribe(payload.records_topic(GATEWAY, DEVICE))
        later = gateway_publishes(broker, pki, tmp_path, DEVICE, range(41, 46))
        assert wait_until(lambda: len(observer.messages) == 1, 10)
        observer.close()
        wait_until(lambda: keys(later) <= keys(stored(store)), 1.0)
        assert wait_until(bridge.idle)
        got = keys(stored(store))
        return got & keys(away), got & keys(later), intruder
    finally:
        for running_bridge in list(bridges.running):
            bridges.stop(running_bridge)


@pytest.mark.fault
def test_without_use_username_as_clientid_a_gateway_destroys_the_bridges_records(
        tmp_path, pki, store):
    """Why docs/deploy/mosquitto.conf has `use_username_as_clientid true`: without it
    mosquitto 2.0.11 hands the bridge's session to a gateway that sends the bridge's
    client id (kicking the bridge off if it is there); the records queued for the bridge,
    and those published while the intruder holds the session, are dropped: the intruder
    may not read them."""
    weak = Mosquitto(tmp_path / "weak", pki=pki, users=USERS, acl=ACL,
                     client_id_prefix=CLIENT_ID_PREFIX)
    with contextmanager(running)(weak) as broker:
        away, later, intruder = records_after_an_intrusion(
            broker, pki, tmp_path, store,
            lambda: Client(broker, pki, OTHER, client_id=BRIDGE_ID, clean_session=False))
    assert intruder.session_present is True  # it was given the bridge's session
    assert intruder.messages == []
    assert away == set() and len(later) == 5  # the 40 records are lost


@pytest.mark.fault
def test_without_clientid_prefixes_a_client_without_credentials_cuts_the_bridge_off(
        tmp_path, pki, store):
    """Why docs/deploy/mosquitto.conf has `clientid_prefixes`: with use_username_as_clientid
    alone, mosquitto 2.0.11 refuses a client that sends no username but, on the way out,
    unlists the session its client id names. The bridge's queue is lost, and its
    subscription stays with the unlisted session: the bridge comes back, subscribes, and
    receives nothing more (until the broker restarts). No credentials needed."""
    weak = Mosquitto(tmp_path / "weak", pki=pki, users=USERS, acl=ACL,
                     username_as_client_id=True)
    with contextmanager(running)(weak) as broker:
        away, later, intruder = records_after_an_intrusion(
            broker, pki, tmp_path, store, lambda: Client(broker, pki, None, client_id=BRIDGE))
    assert str(intruder.result) == "Not authorized"
    assert away == set() and later == set()


# -- (e) anonymous clients ------------------------------------------------------------

@pytest.mark.fault
def test_anonymous_clients_are_refused_and_change_nothing(broker, pki, tmp_path, store,
                                                          bridges):
    bridges.stop(bridges.start(store, bridges.security()))  # the broker queues from now on
    published = gateway_publishes(broker, pki, tmp_path, DEVICE, range(1, 21))
    for client_id in (BRIDGE_ID, BRIDGE, f"{CLIENT_ID_PREFIX}anonymous"):
        anonymous = Client(broker, pki, None, client_id=client_id)
        assert str(anonymous.result) == "Not authorized", client_id
        anonymous.close()
    published += gateway_publishes(broker, pki, tmp_path, DEVICE, range(21, 41))
    bridges.start(store, bridges.security())
    assert_stored_exactly(store, published)


def test_a_client_without_tls_is_not_served(broker, pki):
    plain = Client(broker, pki, GATEWAY, tls=False)
    assert not plain.connected
    plain.close()
