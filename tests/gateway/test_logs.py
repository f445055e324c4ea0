import json
import logging

from gateway.logs import JsonFormatter


def test_one_json_object_per_line_with_extra_fields():
    record = logging.LogRecord("gateway.sync", logging.WARNING, __file__, 1,
                               "sync of %s failed", ("a1b2c3d4e5f6",), None)
    record.device = "a1b2c3d4e5f6"
    record.event = "sync_failed"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "gateway.sync"
    assert entry["message"] == "sync of a1b2c3d4e5f6 failed"
    assert entry["device"] == "a1b2c3d4e5f6" and entry["event"] == "sync_failed"
    assert entry["time"].endswith("+00:00")


def test_exceptions_stay_on_one_line():
    try:
        raise ValueError("bad frame\nsecond line")
    except ValueError:
        import sys
        record = logging.LogRecord("g", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line and "bad frame" in json.loads(line)["exception"]
