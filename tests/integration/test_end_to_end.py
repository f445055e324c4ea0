"""The whole path on real parts: virtual wearables running the firmware core -> the gateway
(bleak with the simulator backend, SQLite outbox, paho) -> mosquitto -> the bridge ->
InfluxDB. The store must equal the simulator's ground truth exactly: every record the
wearables made, once, with every field and its true time to the millisecond."""

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from cloud_bridge.clinic.summary import reps_per_day, summarize
from cloud_bridge.daily import count_daily
from cloud_bridge.stores.influx_v1 import InfluxV1Store
from cloud_bridge.subscriber import Bridge
from simulators.scenario import Scenario

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Europe/Berlin")


def test_patients_over_days_land_in_influxdb_exactly(tmp_path, mosquitto_broker, influxdb_server,
                                                     influx_store):
    first_day = date(2026, 10, 24)  # the week of the DST change in Berlin (Oct 25)
    # The fixture's database, opened for the clinic's zone: the daily totals' days are there.
    influx_store = InfluxV1Store(influxdb_server.url, influx_store.database, zone=TZ)
    bridge = Bridge(influx_store, mosquitto_broker.host, mosquitto_broker.port,
                    client_id=f"bridge-e2e-{uuid.uuid4().hex[:8]}")
    bridge.start()
    assert bridge.wait_connected(10)
    scenario = Scenario(tmp_path, mosquitto_broker.host, mosquitto_broker.port, n_patients=5,
                        first_day=first_day, tz=TZ, seed=7)
    scenario.start()
    try:
        for _ in range(4):
            scenario.run_day()
        stored = scenario.wait_stored(influx_store, timeout_s=60)
    finally:
        scenario.stop()
        bridge.stop()

    diff = scenario.compare(stored)
    assert diff.expected > 500, "the scenario should produce a realistic amount of data"
    assert diff.exact, f"{diff}; first differences: {diff.mismatched[:3]}"
    assert bridge.stats.snapshot()["rejected"] == {}

    # The clinician's numbers come from the daily totals of the same records: reps per
    # patient and day equal the full-rep records the wearables made on that local day.
    influx_store.refresh_daily()
    last_day = first_day + timedelta(days=3)
    summaries = summarize(influx_store, scenario.registry, first_day, last_day,
                          last_day, TZ)
    expected = scenario.expected_store()
    for s in summaries:
        devices = set(scenario.registry.devices_of(s.patient_id))
        want = sum(1 for r in expected.values() if r.device_id in devices and r.kind == "rep"
                   and not r.partial)
        got = sum(c.reps for day in s.days.values() for c in day.values())
        assert got == want, s.patient_id
        # Day by day and exercise by exercise, across the DST change.
        truth = [t for t in count_daily(expected.values(), TZ)
                 if t.device_id in devices and first_day <= t.day <= last_day]
        assert s.days == reps_per_day(truth), s.patient_id
    influx_store.close()
