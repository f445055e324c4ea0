"""rtm-clinic: the clinician's view of the stored data."""

from __future__ import annotations

import argparse
import sys

from cloud_bridge.clinic.commands import (
    adherence,
    attention,
    billing,
    export_fhir,
    log_time,
    prescriptions,
    report,
    summary,
    web,
)

# Each adds its subcommand(s) with add_parser(sub); `rtm-clinic --help` lists them in this
# order.
COMMAND_MODULES = (summary, export_fhir, log_time, billing, report, prescriptions, adherence,
                   attention, web)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtm-clinic", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Every subcommand's parser sets `run`, the function that runs it.
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
