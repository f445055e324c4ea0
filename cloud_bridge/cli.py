"""rtm-bridge: subscribe to the gateways' records and store them.

  rtm-bridge run --broker HOST:PORT --store URL [--clinic-tz ZONE]
  rtm-bridge run --broker mqtt.example.org:8883 --ca-file ca.crt \
      --username bridge --password-file /etc/rtm-bridge/mqtt.password --store URL
  rtm-bridge rebuild-daily --store URL --clinic-tz ZONE [--since YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud_bridge.arg_types import parse_broker, parse_date, parse_zone
from cloud_bridge.broker_link import BrokerSecurity, BrokerSecurityError
from cloud_bridge.dead_letters import DeadLetters
from cloud_bridge.device_keys import DeviceKeys
from cloud_bridge.stores.base import Store, StoreError, open_store
from cloud_bridge.subscriber import Bridge


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-bridge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the bridge until interrupted")
    r.add_argument("--broker", type=parse_broker, default=("localhost", 1883))
    r.add_argument("--store", default="sqlite:///rtm.db",
                   help="sqlite:///PATH, influxdb1://[USER:PASS@]HOST:PORT/DB or influxdb2://..."
                        " (default %(default)s)")
    r.add_argument("--client-id", default="rtm-bridge",
                   help="fixed MQTT client id: the broker keeps its session while it is away "
                        "(a broker set up as docs/deploy/mosquitto.conf names the session "
                        "after --username instead, and wants ids that start with rtm-)")
    r.add_argument("--stats-every", type=float, default=60.0, help="seconds between stats lines")
    r.add_argument("--device-keys", metavar="PATH",
                   help="SQLite file of enrolled wearables' keys (default: next to a SQLite "
                        "store; required with InfluxDB, or enrollments are lost at a restart)")
    r.add_argument("--require-signed", action="store_true",
                   help="reject records of wearables without a known key too (default: "
                        "accept and count them as unsigned_unenrolled); set it once every "
                        "wearable is enrolled through the bridge")
    r.add_argument("--dead-letters", metavar="PATH",
                   help="SQLite file keeping what can never be stored, with the reason "
                        "(default: next to a SQLite store; in memory otherwise)")
    r.add_argument("--share-group", metavar="NAME",
                   help="scale out: instances with the same group (each with its own "
                        "--username and --client-id) share the records through an MQTT v5 "
                        "shared subscription; each message goes to one of them. Other "
                        "clients must not learn the name (docs/deploy/scale-out.md)")
    sec = r.add_argument_group("broker security (docs/deploy/mosquitto.conf)")
    sec.add_argument("--ca-file", type=Path, metavar="PATH",
                     help="TLS: verify the broker's certificate against this CA (and that "
                          "it names the --broker host)")
    sec.add_argument("--cert-file", type=Path, metavar="PATH",
                     help="client certificate (with --key-file), if the broker asks for one")
    sec.add_argument("--key-file", type=Path, metavar="PATH")
    sec.add_argument("--username", help="the bridge's broker user (with --password-file)")
    sec.add_argument("--password-file", type=Path, metavar="PATH",
                     help="file holding the password (one trailing newline is ignored); "
                          "never give a password on the command line")
    r.add_argument("--clinic-tz", type=parse_zone, default=ZoneInfo("UTC"), metavar="ZONE",
                   help="the clinic's time zone (IANA name): the days of the daily totals; "
                        "the same as rtm-clinic --tz (default UTC)")
    b = sub.add_parser(
        "rebuild-daily",
        help="recompute the daily totals from the records: after a change of --clinic-tz "
             "(all days), or to repair days (--since)")
    b.add_argument("--store", default="sqlite:///rtm.db", help="store URL (default %(default)s)")
    b.add_argument("--clinic-tz", type=parse_zone, default=ZoneInfo("UTC"), metavar="ZONE",
                   help="the zone to compute the days in (default UTC)")
    b.add_argument("--since", type=parse_date, metavar="YYYY-MM-DD",
                   help="only days from this one on (default: every day, which a change "
                        "of zone needs)")
    return p


def broker_security(args: argparse.Namespace) -> BrokerSecurity | None:
    """The security options as one value; None if none is given. BrokerSecurityError names
    the options that do not fit together."""
    given = (args.ca_file, args.cert_file, args.key_file, args.username, args.password_file)
    if all(v is None for v in given):
        return None
    return BrokerSecurity(*given)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    security = None
    if args.command == "run":
        try:
            security = broker_security(args)
        except BrokerSecurityError as e:
            parser.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        store = open_store(args.store, zone=args.clinic_tz)
    except (ValueError, StoreError) as e:
        print(f"rtm-bridge: {e}", file=sys.stderr)
        return 2
    if args.command == "rebuild-daily":
        return _rebuild_daily(store, args.since)
    host, port = args.broker
    keys = DeviceKeys(args.device_keys) if args.device_keys else None
    dead = DeadLetters(args.dead_letters) if args.dead_letters else None
    try:
        bridge = Bridge(store, host, port, client_id=args.client_id, device_keys=keys,
                        require_signed=args.require_signed, share_group=args.share_group,
                        dead_letters=dead, broker_security=security)
    except ValueError as e:
        print(f"rtm-bridge: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bridge.start()
    while not stop.wait(args.stats_every):
        logging.getLogger("rtm-bridge").info("stats %s", bridge.stats.snapshot())
    bridge.stop()
    store.close()
    for own in (keys, dead):
        if own is not None:
            own.close()
    return 0


def _rebuild_daily(store: Store, since: date | None) -> int:
    try:
        rows = store.rebuild_daily(since)
    except StoreError as e:
        print(f"rtm-bridge: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"rtm-bridge: {rows} daily rows written, days in {store.zone.key}"
          + (f" from {since}" if since else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
