"""``smartsession doctor [-c FILE] [--role agent|hub] [--json]``: check this machine, per role.

Both roles: the merged config (files, environment, ``--set``) and the keys (class key or
machine key: present, owner-only, for this class). A lab machine (``agent``; the default
where a machine key is found): the shipped models' sha256, the camera opens and delivers a
frame, the vision process can be cut off the network, zeroconf's addresses, the hub is found
and proves the class key (nothing is sent; skipped while this machine's agent is connected),
the clock against the hub's. The teacher's machine (``hub``; the default where only the
class key is found): the port is free or held by this hub, its announcement is visible on
its interfaces, no other hub announces the class, the database is writable with room, the
report email settings (nothing is sent), replication to the school server.

Plain sentences, one line per check; ``--json`` prints them as one JSON document for fleet
scripts. Exit 0 when no check failed, 1 otherwise (a warning, such as running without
isolation where the config allows it, does not fail).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from smartsession import doctor_net
from smartsession.config import Config, read_secret
from smartsession.config_layers import Locations, load_layers
from smartsession.doctor_types import FAIL, OK, WARN, Check
from smartsession.errors import SmartSessionError

__all__ = ["FAIL", "OK", "WARN", "Check", "main", "run_checks"]


def check_config(
    path: Path | None, *, locations: Locations | None = None, flags: Mapping[str, Any] | None = None
) -> tuple[Check, Config | None]:
    """The merged config (``path`` over the system and user files, the environment, ``flags``)."""
    try:
        loaded = load_layers(path, locations=locations, flags=flags)
    except SmartSessionError as exc:
        return Check("config", FAIL, str(exc).replace("\n", "; ")), None
    if not loaded.files:
        return Check(
            "config", WARN, "no config file (-c FILE or /etc/smartsession/config.toml); checking the defaults"
        ), loaded.config
    return Check("config", OK, f"{', '.join(map(str, loaded.files))}: valid"), loaded.config


def check_keys(config: Config) -> Check:
    """The class key (teacher's machine) or the machine key (lab machine): present, owner-only, right."""
    from smartsession.keys import agent_identity

    has_class_key, has_machine_key = config.secret_path.exists(), config.key_path.exists()
    if not (has_class_key or has_machine_key):
        return Check(
            "keys",
            FAIL,
            f"neither a class key ({config.secret_path}) nor a machine key ({config.key_path}): the teacher's "
            "machine needs the class key ('smartsession keygen FILE'), a lab machine its own machine key "
            "('smartsession keygen --student ID -c teacher.toml' on the teacher's machine)",
        )
    try:
        if has_machine_key:
            _, key = agent_identity(config)
        if has_class_key:
            read_secret(config.secret_path)
    except SmartSessionError as exc:
        return Check("keys", FAIL, str(exc).replace("\n", "; "))
    if has_class_key and has_machine_key:
        return Check(
            "keys",
            WARN,
            f"this machine holds the class key {config.secret_path} and a machine key: a lab machine must "
            "hold only its machine key (whoever reads the class key can speak for every student)",
        )
    if has_machine_key:
        return Check(
            "keys",
            OK,
            f"{config.key_path} is owner-only and proves student {key.student_id!r} of {key.class_id!r}",
        )
    return Check("keys", OK, f"class key {config.secret_path} is owner-only and well formed")


def check_models() -> Check:
    from smartsession.vision.models import SHA256, model_bytes

    try:
        for model in SHA256:
            model_bytes(model)
    except SmartSessionError as exc:
        return Check("models", FAIL, str(exc))
    return Check("models", OK, f"{len(SHA256)} model files match their sha256")


def check_camera(config: Config) -> Check:
    """Open the camera in a child process (like the agent does) and read one frame."""
    code = (
        "import sys\n"
        "from smartsession.vision.capture import CaptureError, VideoSource\n"
        "source = VideoSource(sys.argv[1], width=int(sys.argv[2]) or None, height=int(sys.argv[3]) or None)\n"
        "try:\n"
        "    source.open()\n"
        "except CaptureError as exc:\n"
        "    print(exc.reason); sys.exit(1)\n"
        "ok, frame = source.read(); source.close()\n"
        "if not ok or frame is None:\n"
        "    print(f'{source.name} opens but delivers no frame'); sys.exit(1)\n"
        "print(f'{source.name} delivers {frame.shape[1]}x{frame.shape[0]} frames')\n"
    )
    camera = config.camera
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, camera.device, str(camera.width), str(camera.height)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Check("camera", FAIL, f"camera {camera.device} did not answer within 30 s")
    lines = result.stdout.strip().splitlines()
    detail = lines[-1] if lines else (result.stderr.strip().splitlines() or ["no answer"])[-1]
    return Check("camera", OK if result.returncode == 0 else FAIL, detail)


def check_isolation(config: Config) -> Check:
    from smartsession.agent.isolation import probe_isolation

    hello = probe_isolation()
    if hello.isolated:
        return Check("network isolation", OK, f"the vision process runs with no network ({hello.method})")
    if config.camera.allow_unisolated:
        return Check(
            "network isolation",
            WARN,
            f"not available ({hello.detail}); the agent will run the camera WITH network "
            "because camera.allow_unisolated = true",
        )
    return Check(
        "network isolation",
        FAIL,
        f"not available ({hello.detail}); the agent will refuse to start unless camera.allow_unisolated = true",
    )


def check_interfaces(config: Config) -> Check:
    """The IPv4 addresses zeroconf will use; configured ones must exist on this machine."""
    import ifaddr

    present = {str(ip.ip) for adapter in ifaddr.get_adapters() for ip in adapter.ips if ip.is_IPv4}
    if not config.network.discovery:
        return Check("zeroconf interfaces", OK, "discovery is off (agent.hub_url is used)")
    wanted = list(config.network.interfaces)
    missing = [address for address in wanted if address not in present]
    if missing:
        return Check(
            "zeroconf interfaces",
            FAIL,
            f"network.interfaces lists {', '.join(missing)}, not an address of this machine "
            f"(it has {', '.join(sorted(present))})",
        )
    used = wanted or sorted(present - {"127.0.0.1"}) or sorted(present)
    if not used:
        return Check("zeroconf interfaces", FAIL, "no IPv4 address to announce or browse on")
    return Check("zeroconf interfaces", OK, "zeroconf uses " + ", ".join(used))


def check_email(config: Config) -> Check:
    """The end-of-session mail settings, without sending anything: recipients, login, CA file."""
    from smartsession.hub.mailer import read_password, starttls_context

    email = config.email
    if not email.enabled:
        return Check("report email", OK, "off (email.enabled = false)")
    if not (email.host and email.to):
        return Check("report email", FAIL, "email.enabled is true but email.host or email.to is empty")
    if email.user:
        if not email.password_file:
            return Check("report email", FAIL, "email.user is set but email.password_file is empty")
        try:
            read_password(config)
        except OSError as exc:
            return Check("report email", FAIL, f"cannot read email.password_file: {exc}")
    where = f"to {', '.join(email.to)} via {email.host}:{email.port}"
    if not email.starttls:
        return Check("report email", WARN, f"{where} unencrypted (email.starttls = false)")
    trust = "the system's trust store"
    if email.ca_file:
        ca_file = config.path(email.ca_file)
        try:
            starttls_context(ca_file)
        except SmartSessionError as exc:
            return Check("report email", FAIL, str(exc))
        trust = str(ca_file)
    return Check("report email", OK, f"{where}, STARTTLS checked against {trust}")


def check_school(config: Config) -> Check:
    """Replication to the school server (``[school]``): can this hub's role use it, and what waits."""
    from smartsession.hub.service import default_hub_id
    from smartsession.school.health import check

    status, detail = check(config, config.hub.hub_id or default_hub_id())
    return Check("school server", status, detail)


def role_of(config: Config) -> str:
    """``agent`` where a machine key is found, ``hub`` where only the class key is, else ``agent``."""
    if not config.key_path.exists() and config.secret_path.exists():
        return "hub"
    return "agent"


def agent_checks(config: Config) -> list[Callable[[], Check | list[Check]]]:
    """A lab machine's checks, in checklist order."""
    offset: list[float | None] = [None]

    def hub() -> Check:
        check, offset[0] = doctor_net.check_hub(config)
        return check

    return [
        lambda: check_keys(config),
        check_models,
        lambda: check_camera(config),
        lambda: check_isolation(config),
        lambda: check_interfaces(config),
        hub,
        lambda: doctor_net.check_clock(config, offset[0]),
    ]


def hub_checks(config: Config) -> list[Callable[[], Check | list[Check]]]:
    """The teacher's machine's checks, in checklist order."""
    from smartsession.hub.service import default_hub_id

    hub_id = config.hub.hub_id or default_hub_id()
    running = [False]

    def port() -> Check:
        check, running[0] = doctor_net.check_port(config, hub_id)
        return check

    return [
        lambda: check_keys(config),
        lambda: check_interfaces(config),
        port,
        lambda: doctor_net.check_announcements(config, hub_id, running[0]),
        lambda: doctor_net.check_database(config),
        lambda: check_email(config),
        lambda: check_school(config),
    ]


def run_checks(
    path: Path | None,
    *,
    role: str = "",
    locations: Locations | None = None,
    flags: Mapping[str, Any] | None = None,
) -> tuple[str, list[Check]]:
    """The role checked (``role``, or `role_of` the config) and every check, in checklist order."""
    first, config = check_config(path, locations=locations, flags=flags)
    checks = [first]
    if config is None:
        return role or "agent", [*checks, check_models()]
    role = role or role_of(config)
    for step in agent_checks(config) if role == "agent" else hub_checks(config):
        try:
            result = step()
        except Exception as exc:
            result = Check(getattr(step, "__name__", "check"), FAIL, f"the check itself failed: {exc}")
        checks.extend(result if isinstance(result, list) else [result])
    return role, checks


def main(argv: list[str]) -> int:
    """Print the checklist; 0 when nothing failed, else 1."""
    parser = argparse.ArgumentParser(prog="smartsession doctor", description="Check this machine.")
    parser.add_argument("-c", "--config", type=Path, help="the config file this machine uses")
    parser.add_argument(
        "--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help="override one key"
    )
    parser.add_argument(
        "--role", choices=["agent", "hub"], help="what this machine is (default: from its keys)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document: role, ok, checks")
    args = parser.parse_args(argv)
    flags = dict(item.partition("=")[::2] for item in args.set)
    role, checks = run_checks(args.config, role=args.role or "", locations=Locations.standard(), flags=flags)
    failed = sum(c.status == FAIL for c in checks)
    if args.json:
        document = {
            "role": role,
            "ok": not failed,
            "checks": [{"name": c.name, "status": c.status.lower(), "detail": c.detail} for c in checks],
        }
        print(json.dumps(document, indent=2))
        return 1 if failed else 0
    marks = {OK: "[ok]  ", WARN: "[warn]", FAIL: "[FAIL]"}
    print(
        f"checking this machine as {'a lab machine (agent)' if role == 'agent' else 'the teacher' + chr(39) + 's machine (hub)'}"
    )
    for check in checks:
        print(f"{marks[check.status]} {check.name}: {check.detail}")
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
