"""What each InfluxDB HTTP answer means for the caller: retry (StoreUnavailable) or
dead-letter (StoreRejected). The 1.x store meets real refusals in test_store_contract."""

from __future__ import annotations

import email.utils

import pytest

from cloud_bridge.stores.base import StoreRejected, StoreUnavailable
from cloud_bridge.stores.influx_http import error_for, error_message, retry_after_s


@pytest.mark.parametrize("status", [400, 413, 422])
def test_bad_data_is_rejected_with_the_servers_words(status: int) -> None:
    err = error_for(status, 'unable to parse "x": bad timestamp', {}, "write to X")
    assert isinstance(err, StoreRejected)
    assert err.status == status
    assert f"HTTP {status}" in str(err) and "bad timestamp" in str(err)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_unavailable_with_retry_after(status: int) -> None:
    err = error_for(status, "busy", {"retry-after": "17"}, "write to X")
    assert isinstance(err, StoreUnavailable)
    assert err.retry_after_s == 17.0


@pytest.mark.parametrize(("status", "hint"), [
    (401, "credentials"), (403, "credentials"), (404, "bucket"), (405, "failed"),
])
def test_configuration_errors_keep_the_data_for_later(status: int, hint: str) -> None:
    err = error_for(status, "nope", {}, "write to X")
    assert isinstance(err, StoreUnavailable)
    assert err.retry_after_s is None
    assert hint in str(err)


def test_retry_after_forms() -> None:
    assert retry_after_s(None) is None
    assert retry_after_s("") is None
    assert retry_after_s(" 30 ") == 30.0
    assert retry_after_s("soon") is None
    assert retry_after_s("²") is None  # a digit to str.isdigit, not to float()
    now = 1_764_200_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_s(date, now_s=now) == pytest.approx(90.0)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert retry_after_s(past, now_s=now) == 0.0


def test_error_message_sources() -> None:
    assert error_message('{"error":"field type conflict"}', {}, "Bad Request") == (
        "field type conflict"
    )
    assert error_message('{"code":"invalid","message":"no bucket"}', {}, "x") == "no bucket"
    assert error_message("", {"X-Influxdb-Error": "from header"}, "x") == "from header"
    assert error_message("plain text\n", {}, "x") == "plain text"
    assert error_message("", {}, "Service Unavailable") == "Service Unavailable"
