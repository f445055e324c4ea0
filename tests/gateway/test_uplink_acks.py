"""What the uplink does with each PUBACK reason code (gateway/uplink.py's docstring): the
broker's end faked by a client that records publishes and is answered by hand, the clock a
counter. Against the real mosquitto: tests/gateway/test_uplink.py and
tests/integration/test_scale_out.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttConfig
from gateway.outbox import Outbox
from gateway.uplink import (
    NO_SUBSCRIBER_RETRY_MAX_S,
    REFUSED_RETRY_MAX_S,
    Outcome,
    Uplink,
    ack_outcome,
)

DEVICE = "a1b2c3d4e5f6"
TOPIC = f"rtm/v1/home-1/{DEVICE}/records"
SUCCESS, NO_SUBSCRIBERS, NOT_AUTHORIZED, QUOTA_EXCEEDED = 0x00, 0x10, 0x87, 0x97


@dataclass
class Info:
    rc: int
    mid: int


class FakeBroker:
    """Stands in for paho's client: takes every publish, answers none by itself."""

    def __init__(self) -> None:
        self.published: list[tuple[int, bytes, bool]] = []  # (mid, payload, retain)
        self._mid = 0

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Info:
        self._mid += 1
        self.published.append((self._mid, payload, retain))
        return Info(mqtt.MQTT_ERR_SUCCESS, self._mid)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    uplink: Uplink
    broker: FakeBroker
    clock: Clock
    outbox: Outbox

    def ack(self, mid: int, code: int) -> None:
        self.uplink._on_publish(self.broker, None, mid,  # type: ignore[arg-type]
                                ReasonCode(PacketTypes.PUBACK, identifier=code), None)

    def sent(self) -> list[bytes]:
        return [payload for _mid, payload, _retain in self.broker.published]

    def mid_of(self, payload: bytes) -> int:
        """The message id of the latest publish of `payload`."""
        return [m for m, p, _r in self.broker.published if p == payload][-1]

    def answer(self, code_of: dict[bytes, int], default: int = SUCCESS) -> None:
        """Answer every publish not answered yet, then pump."""
        for mid, payload, _retain in self.broker.published[self._answered:]:
            self.ack(mid, code_of.get(payload, default))
        self._answered = len(self.broker.published)
        self.uplink.pump()

    _answered: int = 0


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    outbox = Outbox(tmp_path / "o.db")
    clock = Clock()
    uplink = Uplink(MqttConfig(client_id="rtm-gw-home-1"), outbox, gateway_id=None,
                    max_in_flight=3, monotonic=clock)
    broker = FakeBroker()
    uplink.client = broker  # type: ignore[assignment]
    uplink._on_connect(broker, None, mqtt.ConnectFlags(session_present=False),  # type: ignore[arg-type]
                       ReasonCode(PacketTypes.CONNACK, identifier=0), None)
    return Rig(uplink, broker, clock, outbox)


def fill(outbox: Outbox, n: int, retain: bool = False) -> list[bytes]:
    payloads = [f"m{i}".encode() for i in range(n)]
    for body in payloads:
        outbox.enqueue(TOPIC, body, 1, DEVICE, retain=retain)
    return payloads


@pytest.mark.parametrize("code, retained, outcome", [
    (0x00, False, Outcome.TAKEN), (0x00, True, Outcome.TAKEN),
    (0x10, False, Outcome.NO_SUBSCRIBER), (0x10, True, Outcome.TAKEN),
    (0x80, False, Outcome.REFUSED), (0x87, True, Outcome.REFUSED),
    (0x95, False, Outcome.REFUSED), (0x97, False, Outcome.REFUSED)])
def test_what_each_reason_code_means(code: int, retained: bool, outcome: Outcome) -> None:
    assert ack_outcome(code, retained) is outcome


def test_no_subscriber_holds_back_then_resends_from_the_earliest_kept_row(rig: Rig) -> None:
    m = fill(rig.outbox, 6)
    rig.uplink.pump()
    assert rig.sent() == m[:3]
    rig.ack(rig.mid_of(m[0]), NO_SUBSCRIBERS)  # the first answer: nothing new goes out
    rig.ack(rig.mid_of(m[1]), SUCCESS)
    rig.uplink.pump()
    assert rig.sent() == m[:3]
    rig.ack(rig.mid_of(m[2]), NO_SUBSCRIBERS)
    rig.uplink.pump()  # every answer is in: the hold (1 s) starts
    assert rig.sent() == m[:3] and rig.outbox.depth() == 5
    state = rig.uplink.state
    assert (state.no_subscriber, state.held, state.published) == (2, 2, 1)
    rig.clock.now += 0.99
    rig.uplink.pump()
    assert rig.sent() == m[:3]
    rig.clock.now += 0.01
    rig.uplink.pump()  # rewound: the kept rows first, in outbox order, then the rest
    assert rig.sent()[3:] == [m[0], m[2], m[3]]
    rig._answered = 3
    rig.answer({})
    rig.answer({})
    assert rig.outbox.depth() == 0 and rig.uplink.state.held == 0
    assert rig.uplink.state.published == 6


def test_the_hold_doubles_to_its_maximum_and_resets_when_a_kept_row_gets_through(
        rig: Rig) -> None:
    m = fill(rig.outbox, 1)
    holds = []
    for _round in range(9):
        rig.uplink.pump()
        rig.answer({}, default=NO_SUBSCRIBERS)  # the hold is decided here
        before = rig.clock.now
        while len(rig.sent()) == _round + 1:
            rig.clock.now += 0.5
            rig.uplink.pump()
        holds.append(rig.clock.now - before)
    assert holds == [1, 2, 4, 8, 16, 32, NO_SUBSCRIBER_RETRY_MAX_S,
                     NO_SUBSCRIBER_RETRY_MAX_S, NO_SUBSCRIBER_RETRY_MAX_S]
    rig.answer({m[0]: SUCCESS})
    assert rig.outbox.depth() == 0
    m2 = fill(rig.outbox, 1)
    rig.uplink.pump()
    rig.answer({}, default=NO_SUBSCRIBERS)
    rig.clock.now += 1.0
    rig.uplink.pump()
    assert rig.sent()[-1] == m2[0]  # 1 s again


def test_retained_messages_without_subscribers_are_taken(rig: Rig) -> None:
    fill(rig.outbox, 2, retain=True)
    rig.uplink.pump()
    rig.answer({}, default=NO_SUBSCRIBERS)
    assert rig.outbox.depth() == 0 and rig.uplink.state.no_subscriber == 0


def test_a_refused_row_is_set_aside_and_the_rest_goes_on(rig: Rig, caplog) -> None:
    m = fill(rig.outbox, 6)
    rig.uplink.pump()
    rig.answer({m[1]: NOT_AUTHORIZED})  # refused: m[3..5] go on at once
    assert rig.sent() == [*m[:3], *m[3:6]]
    state = rig.uplink.state
    assert (state.refused, state.held, state.published) == (1, 1, 2)
    assert state.last_refusal == f"{TOPIC}: Not authorized (0x87)"
    assert "refused" in caplog.text and "Not authorized" in caplog.text
    rig.answer({})
    assert rig.outbox.depth() == 1  # the refused one only
    delays = []
    for _ in range(12):
        before, count = rig.clock.now, len(rig.sent())
        while len(rig.sent()) == count:
            rig.clock.now += 0.5
            rig.uplink.pump()
        delays.append(rig.clock.now - before)
        assert rig.sent()[-1] == m[1]
        rig.answer({}, default=QUOTA_EXCEEDED)
    assert delays[:4] == [1, 2, 4, 8] and delays[-1] == REFUSED_RETRY_MAX_S
    rig.clock.now += REFUSED_RETRY_MAX_S
    rig.uplink.pump()
    rig.answer({})  # the broker takes it at last
    assert rig.outbox.depth() == 0 and rig.uplink.state.held == 0


def test_new_rows_go_on_while_a_refused_one_waits(rig: Rig) -> None:
    m = fill(rig.outbox, 1)
    rig.uplink.pump()
    rig.answer({}, default=NOT_AUTHORIZED)
    later = fill(rig.outbox, 2)  # enqueued after: they do not wait for it
    rig.uplink.pump()
    assert rig.sent() == [m[0], *later]
    rig.answer({})
    assert [msg.payload for msg in rig.outbox.pending()] == [m[0]]


def test_a_refused_row_superseded_meanwhile_is_forgotten(rig: Rig) -> None:
    state_topic = f"rtm/v1/home-1/{DEVICE}/state"
    rig.outbox.enqueue_latest(state_topic, b"old", 1, DEVICE)
    rig.uplink.pump()
    rig.answer({}, default=NOT_AUTHORIZED)
    rig.outbox.enqueue_latest(state_topic, b"new", 2, DEVICE)  # deletes the kept "old"
    rig.uplink.pump()
    assert rig.sent() == [b"old", b"new"]
    rig.clock.now += 1.0
    rig.uplink.pump()
    rig.answer({})
    assert rig.sent() == [b"old", b"new"] and rig.uplink.state.held == 0
    assert rig.outbox.depth() == 0


def test_a_refused_row_that_then_has_no_subscriber_waits_with_the_others(rig: Rig) -> None:
    m = fill(rig.outbox, 2)
    rig.uplink.pump()
    rig.answer({m[0]: NOT_AUTHORIZED, m[1]: NO_SUBSCRIBERS})
    rig.clock.now += 1.0
    rig.uplink.pump()  # both due: the refused one by itself, the other by the rewind
    assert rig.sent()[2:] == [m[0], m[1]]
    rig.answer({}, default=NO_SUBSCRIBERS)
    rig.clock.now += 2.0
    rig.uplink.pump()
    assert rig.sent()[4:] == [m[0], m[1]]  # in outbox order again, one rewind
    rig.answer({})
    assert rig.outbox.depth() == 0 and rig.uplink.state.held == 0
