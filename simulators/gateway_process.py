"""`rtm-gateway run` against simulated wearables in another process: the unattended service
(gateway.service.GatewayService) with its real outbox, device registry, uplink and sync
policy, whose radio is an AirServer (simulators/ble_backend/remote.py) and whose clock is the
simulation's world clock. A chaos test can `kill -9` it and start it again while the
wearables, with every record they have not had acknowledged, live on in the simulation.

    python -m simulators.gateway_process --config gateway.toml --air 127.0.0.1:PORT \
        --clock-file world.ms

It is gateway.cli's `run` with two things handed in: the bleak backends and the clock. The
world clock is read from `--clock-file` (Unix ms as text, replaced atomically by the
simulation; it only changes while the air is closed), and the sync policy sees the world's
local time in the zone of the TZ environment variable. SIGTERM stops it cleanly, SIGUSR1
asks for a sync pass now (what `rtm-gateway sync` does while the service runs).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from gateway import config as config_mod
from gateway import logs
from gateway.cli import _parts
from gateway.gateway import Gateway
from gateway.policy import SyncPolicy
from gateway.service import GatewayService, local_zone
from simulators.ble_backend.remote import remote_backends

log = logging.getLogger("rtm-gateway")


class WorldClock:
    """The simulation's wall clock, from the file it keeps up to date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zone = local_zone()

    def ms(self) -> int:
        return int(self.path.read_text())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ms() / 1000, self.zone)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulators.gateway_process",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--air", required=True, help="HOST:PORT of the AirServer")
    p.add_argument("--clock-file", required=True, type=Path)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    cfg = config_mod.load(args.config)
    logs.configure(cfg.log_format, args.verbose)
    host, _, port = args.air.rpartition(":")
    scanner, client = remote_backends(host, int(port))
    clock = WorldClock(args.clock_file)
    with _parts(cfg) as parts:
        gateway = Gateway(cfg, parts.outbox, scanner, client, clock_ms=clock.ms,
                          devices=parts.devices)
        service = GatewayService(cfg, gateway, parts.uplink, SyncPolicy(cfg.sync),
                                 now=clock.now)

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            loop.add_signal_handler(signal.SIGUSR1, service.request_pass)
            await service.run(stop)

        parts.uplink.start()
        log.info("simulated gateway %s running", cfg.gateway_id)
        try:
            asyncio.run(run())
        finally:
            parts.uplink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
