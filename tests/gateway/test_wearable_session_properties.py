"""Property tests of the gateway's frame reassembly (gateway/wearable_session.py): the
records of a FETCH come back exactly, in order, however the notifications are repeated,
reordered or interleaved with stale answers; any other stream gives a Batch of intact
records or a SessionError, never another exception."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import codec, protocol
from gateway.wearable_session import SessionError, WearableSession
from tests.firmware.core.test_protocol_properties import SECRET, make_wearable
from tests.fuzz_inputs import mutated_bytes

pytestmark = pytest.mark.chaos

FROM_SEQ = 3
MAX_RECORDS = 40


class ScriptedClient:
    """A bleak client whose wearable answers every write with the given frames."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self._notify: Callable[[object, bytearray], None] | None = None

    async def start_notify(self, _uuid: str, callback, **_kwargs: object) -> None:
        self._notify = callback

    async def write_gatt_char(self, _uuid: str, _data: bytes, response: bool) -> None:
        assert self._notify is not None
        for frame in self.frames:
            self._notify(None, bytearray(frame))


def fetch(frames: list[bytes]) -> list[bytes] | None:
    """The records a session takes from `frames` (None after a SessionError)."""
    async def run() -> list[bytes] | None:
        session = WearableSession(ScriptedClient(frames), response_timeout_s=0.05)  # type: ignore[arg-type]
        await session.open()
        try:
            batch = await session.fetch(FROM_SEQ, MAX_RECORDS)
        except SessionError as e:
            assert str(e)
            return None
        seqs = [codec.seq_of(raw) for raw in batch.records]
        assert seqs == sorted(set(seqs)) and all(seq >= FROM_SEQ for seq in seqs)
        for raw in batch.records:
            codec.check(raw)
        return batch.records
    return asyncio.run(run())


@st.composite
def fetch_streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """(the records a wearable sent for FETCH, its notifications as the link delivered
    them: record frames repeated and shuffled, stale answers in between)."""
    wearable = make_wearable(draw(st.integers(0, 30)), draw(st.integers(46, 200)),
                             draw(st.sampled_from((None, SECRET))))
    frames = wearable.handler.on_write(protocol.cmd_fetch(FROM_SEQ, MAX_RECORDS))
    *record_frames, end = frames
    sent = [raw for frame in record_frames for raw in protocol.split_records(frame)]
    delivered = draw(st.permutations(record_frames)) if record_frames else []
    if record_frames:
        repeats = draw(st.lists(st.sampled_from(record_frames), max_size=3))
        delivered = delivered + repeats
    stale = [bytes((protocol.CMD_ACK | protocol.RESPONSE_BIT, 0)) + bytes(4),
             bytes((protocol.CMD_INFO | protocol.RESPONSE_BIT, 1))]
    for frame in draw(st.lists(st.sampled_from(stale), max_size=2)):
        delivered.insert(draw(st.integers(0, len(delivered))), frame)
    return sent, [*delivered, end]


@settings(max_examples=150)
@given(fetch_streams())
def test_a_fetch_comes_back_exactly_whatever_the_link_repeats_or_reorders(
        stream: tuple[list[bytes], list[bytes]]) -> None:
    sent, delivered = stream
    assert fetch(delivered) == sent


@settings(max_examples=200)
@given(fetch_streams(), st.data())
def test_a_broken_stream_gives_intact_records_or_a_session_error(
        stream: tuple[list[bytes], list[bytes]], data: st.DataObject) -> None:
    _, delivered = stream
    broken = list(delivered)
    at = data.draw(st.integers(0, len(broken) - 1))
    action = data.draw(st.sampled_from(("mutate", "drop", "insert")))
    if action == "mutate":
        broken[at] = data.draw(mutated_bytes(broken[at]))
    elif action == "drop" and len(broken) > 1:
        del broken[at]
    else:
        broken.insert(at, data.draw(st.binary(max_size=80)))
    fetch(broken)


@settings(max_examples=150)
@given(st.lists(st.binary(max_size=120), max_size=5))
def test_random_notifications_give_a_session_error_or_intact_records(
        frames: list[bytes]) -> None:
    fetch(frames)
