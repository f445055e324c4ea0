"""Property tests of the advertisement data (firmware/core/advert.py): what the wearable
encodes the gateway decodes, and any manufacturer data decodes or reads as absent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import advert

pytestmark = pytest.mark.chaos


@settings(max_examples=200)
@given(st.booleans(), st.integers(-(2**40), 2**40), st.binary(max_size=8))
def test_advert_round_trips_with_saturation_and_ignores_appended_bytes(
        charging: bool, unsynced: int, later_fields: bytes) -> None:
    company, data = advert.manufacturer(charging, unsynced)
    state = advert.decode({company: data + later_fields})
    assert state == advert.AdvertState(charging, min(max(unsynced, 0), 0xFFFF))


@settings(max_examples=300)
@given(st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=12), max_size=3))
def test_any_manufacturer_data_decodes_or_reads_as_absent(data: dict[int, bytes]) -> None:
    state = advert.decode(data)
    ours = data.get(advert.COMPANY_ID)
    if ours is None or len(ours) < advert.PAYLOAD_SIZE or ours[0] != advert.ADVERT_VERSION:
        assert state is None
    else:
        assert state is not None and 0 <= state.unsynced <= 0xFFFF
