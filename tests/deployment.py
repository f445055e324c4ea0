"""The deployment example, docs/deploy/mosquitto.conf, as the tests' brokers run it.

The ACL is read from the docs file itself (it is shown there as a comment), never copied;
`deployment_broker` starts a tests/services.py mosquitto with the file's security settings,
and tests/test_services.py checks that every setting of the docs file is one the tests'
broker has too. So a change to the deployment example changes what the tests run.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.services import Mosquitto, TestPki

REPO = Path(__file__).resolve().parents[1]
MOSQUITTO_CONF = REPO / "docs" / "deploy" / "mosquitto.conf"

# Settings whose values are this machine's (paths, the port) and the tests' own.
LOCAL_SETTINGS = frozenset({"listener", "cafile", "certfile", "keyfile", "password_file",
                            "acl_file", "persistence_location", "log_dest", "log_type",
                            "connection_messages", "user"})


def deployment_acl() -> str:
    """The ACL file the docs show: their comment lines indented by three spaces."""
    lines = [line.removeprefix("#   ") for line in MOSQUITTO_CONF.read_text().splitlines()
             if line.startswith("#   ")]
    return "\n".join(lines) + "\n"


def deployment_acl_patterns() -> str:
    """The gateways' part of the ACL: its `pattern` lines (they apply to every user)."""
    lines = [line for line in deployment_acl().splitlines() if line.startswith("pattern ")]
    assert len(lines) == 6, lines
    return "\n".join(lines) + "\n"


def acl_block(user: str) -> str:
    """The docs' ACL lines of `user`: its `user` line and the `topic` lines after it."""
    match = re.search(rf"^user {re.escape(user)}\n((?:topic .*\n)+)", deployment_acl(),
                      re.MULTILINE)
    assert match is not None, f"no ACL block for user {user} in {MOSQUITTO_CONF}"
    return match.group(0)


def bridge_acl(*users: str) -> str:
    """The docs' block of the bridge's user for each of `users`: what scale-out.md says a
    deployment with one user per bridge instance adds."""
    block = acl_block("bridge")
    return "".join("\n" + block.replace("user bridge\n", f"user {user}\n")
                   for user in users)


def settings(config_text: str) -> dict[str, str]:
    """The active `key value` lines of a mosquitto config (the last one of a key wins)."""
    found: dict[str, str] = {}
    for line in config_text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            found[key] = value.strip()
    return found


def deployment_settings() -> dict[str, str]:
    """The docs file's settings but the machine-specific ones."""
    return {k: v for k, v in settings(MOSQUITTO_CONF.read_text()).items()
            if k not in LOCAL_SETTINGS}


def deployment_broker(workdir: Path, pki: TestPki, users: dict[str, str],
                      acl: str) -> Mosquitto:
    """A (not yet started) mosquitto with the deployment's TLS, password, session and
    queueing settings, `users` and the ACL text `acl` (deployment_acl() and what a test
    adds to it). Its clients' ids must start with CLIENT_ID_PREFIX; no user's name may."""
    deployed = deployment_settings()
    prefix = deployed.get("clientid_prefixes")
    assert prefix is None or not any(user.startswith(prefix) for user in users), users
    return Mosquitto(workdir, pki=pki, users=users, acl=acl, client_id_prefix=prefix,
                     username_as_client_id=deployed.get("use_username_as_clientid") == "true")


# What every client id must start with on the deployment's broker (its clientid_prefixes).
CLIENT_ID_PREFIX = deployment_settings().get("clientid_prefixes", "")
