"""open_store's URL formats and the record check every store applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_bridge.stores.base import TOKEN_ENV, open_store
from cloud_bridge.stores.influx_v1 import InfluxV1Store
from cloud_bridge.stores.influx_v2 import InfluxV2Store
from cloud_bridge.stores.sqlite_store import SQLiteStore


def test_sqlite_relative_absolute_and_bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db") as store:
        assert isinstance(store, SQLiteStore) and store.path == "rel.db"
    with open_store(f"sqlite:///{tmp_path}/abs.db") as store:
        assert isinstance(store, SQLiteStore) and store.path == f"{tmp_path}/abs.db"
    with open_store("bare.db") as store:
        assert isinstance(store, SQLiteStore) and store.path == "bare.db"
    assert {p.name for p in tmp_path.iterdir()} >= {"rel.db", "abs.db", "bare.db"}


def test_influxdb1_url() -> None:
    store = open_store("influxdb1://bridge:p%40ss@db.example:8087/rtm?timeout_s=3")
    assert isinstance(store, InfluxV1Store)
    assert store.database == "rtm"
    assert store._http.base_url == "http://db.example:8087"
    assert store._http._auth_header == "Basic YnJpZGdlOnBAc3M="  # bridge:p@ss
    store = open_store("influxdb1s://db.example/rtm")
    assert isinstance(store, InfluxV1Store)
    assert store._http.base_url == "https://db.example:8086"


def test_influxdb2_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store("influxdb2://localhost:8086?org=clinic&bucket=rtm&token=abc") as store:
        assert isinstance(store, InfluxV2Store)
        assert (store.org, store.bucket) == ("clinic", "rtm")
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    with open_store("influxdb2s://cloud.example?org=clinic&bucket=rtm") as store:
        assert isinstance(store, InfluxV2Store)
        assert store._http._auth_header == "Token from-env"
        assert store._http.base_url == "https://cloud.example:8086"


@pytest.mark.parametrize(("url", "problem"), [
    ("postgres://x/y", "unknown scheme"),
    ("sqlite://host/x.db", "sqlite:///relative"),
    ("sqlite:///", "no database file path"),
    ("sqlite:///x.db?mode=ro", "no ?parameters"),
    ("influxdb1://localhost:8086", "name the database"),
    ("influxdb1://localhost:8086/a/b", "name the database"),
    ("influxdb1://localhost:99999/rtm", "bad port"),
    ("influxdb1:///rtm", "no host"),
    ("influxdb1://localhost/rtm?db=x", "unknown parameter 'db'"),
    ("influxdb1://localhost/rtm?timeout_s=-1", "timeout_s"),
    ("influxdb1://user@localhost/rtm", "both user and password"),
    ("influxdb2://localhost?bucket=rtm&token=t", "missing ?org="),
    ("influxdb2://localhost?org=o&token=t", "missing ?bucket="),
    ("influxdb2://localhost/rtm?org=o&bucket=b&token=t", "takes no path"),
    ("influxdb2://u:p@localhost?org=o&bucket=b", "token="),
])
def test_bad_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("?", r"\?")):
        open_store(url)


def test_missing_token_and_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match=f"no token.*{TOKEN_ENV}"):
        open_store("influxdb2://localhost?org=o&bucket=b")
    with pytest.raises(ValueError) as caught:
        open_store("influxdb2://localhost?org=o&bucket=b&token=s3cret&x=1")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        open_store("influxdb1://u:s3cret@localhost/rtm?x=1")
    assert "s3cret" not in str(caught.value)


def test_only_records_checked_by_construction_skip_the_check(tmp_path: Path) -> None:
    from dataclasses import replace

    from cloud_bridge.payload import parse_message
    from cloud_bridge.records import StoredRecord
    from cloud_bridge.stores.base import CheckedRecords, StoreRejected, check_records
    from firmware.core import codec
    from gateway import payload as gw_payload

    device = "a1b2c3d4e5f6"
    raw = bytes(codec.encode_rep(1, codec.FLAG_TIME_VALID, 1, 1, 1_790_000_000_000, 1, 1, 900,
                                 4500, 80))
    parsed = parse_message(f"rtm/v1/gw/{device}/records",
                           gw_payload.build("gw", device, [raw], 1, 0, 1_790_000_000_000))
    assert type(parsed.records) is CheckedRecords and len(parsed.records) == 1
    bad: StoredRecord = replace(parsed.records[0], exercise="bad\\")
    with pytest.raises(StoreRejected, match="exercise"):
        check_records([bad])
    with pytest.raises(StoreRejected, match="exercise"):  # one unchecked list: all checked
        check_records(CheckedRecords.join([parsed.records, [bad]]))
    assert type(CheckedRecords.join([parsed.records, parsed.records])) is CheckedRecords
    with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(StoreRejected, match="exercise"):
            store.write([bad])
        store.write(parsed.records)
        assert store.query(None, 0, 2**62) == list(parsed.records)
