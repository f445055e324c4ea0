"""The rtm-clinic commands, one module per command or per pair that shares its work.

Each module's add_parser(sub) adds its subcommand(s) and sets `run` to the function that
runs one: run(args) -> exit status. cloud_bridge.clinic.cli puts them together.
"""
