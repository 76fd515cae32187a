"""``smartsession install-service agent|hub [--user] [--dry-run]``: the systemd units shipped in the package.

The units live in ``smartsession/services/``; this fills in the command that runs this
installation (``python -m smartsession`` of this interpreter) and the config file, and
writes them where systemd looks:

=====================  ==============================================================
``agent``              ``/etc/systemd/system/smartsession-agent.service`` (the agent under
                       its own user ``smartsession``, in ``video``, started at boot) and
                       ``/etc/systemd/user/smartsession-notice.service`` (each graphical
                       login's notice; holds no key)
``agent --user``       ``~/.config/systemd/user/smartsession-agent.service`` (single-user
                       machine: weaker, that user can read the machine key)
``hub``                ``/etc/systemd/system/smartsession-hub.service``
``hub --user``         ``~/.config/systemd/user/smartsession-hub.service``
=====================  ==============================================================

``--root DIR`` writes below ``DIR`` instead of ``/`` (packaging, tests). It never runs
``systemctl`` or ``useradd`` itself: it prints the commands that finish the install.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from smartsession.errors import UsageError

#: The config file each role's unit runs with (system install).
SYSTEM_CONFIG = {"agent": "/etc/smartsession/agent.toml", "hub": "/etc/smartsession/teacher.toml"}
#: The agent units' ``CPUWeight=`` (systemd's default is 100: a fifth of the share of any
#: other unit or login when the CPU is contended) and ``CPUQuota=`` (percent of one core, for
#: the agent and its vision process together). ``smartsession bench agent`` checks the
#: agent's busiest second beside a CPU hog against this same quota.
AGENT_CPU_WEIGHT = 20
AGENT_CPU_QUOTA_PERCENT = 25


@dataclass(frozen=True)
class Unit:
    """One unit file to write: where, and its text."""

    path: Path
    text: str


def command() -> str:
    """The command line that runs this installation of SmartSession."""
    return f"{shlex.quote(sys.executable)} -m smartsession"


def template(name: str) -> str:
    """A unit template shipped in the package (``smartsession/services/NAME``)."""
    return resources.files("smartsession").joinpath("services", name).read_text(encoding="utf-8")


def units(role: str, *, user: bool, config: Path | None, root: Path, home: Path) -> list[Unit]:
    """The unit files for ``role`` ("agent" or "hub"), filled in, with their target paths."""
    if role not in SYSTEM_CONFIG:
        raise UsageError(f"install-service takes 'agent' or 'hub', not {role!r}")
    if user:
        default = home / ".config" / "smartsession" / ("agent.toml" if role == "agent" else "teacher.toml")
        names = [
            (
                f"smartsession-{role}-user.service",
                home / ".config/systemd/user" / f"smartsession-{role}.service",
            )
        ]
    else:
        default = Path(SYSTEM_CONFIG[role])
        names = [(f"smartsession-{role}.service", Path(f"/etc/systemd/system/smartsession-{role}.service"))]
        if role == "agent":
            names.append(
                ("smartsession-notice.service", Path("/etc/systemd/user/smartsession-notice.service"))
            )
    config_path = str((config or default).absolute())
    found = []
    for name, target in names:
        text = (
            template(name)
            .replace("@SMARTSESSION@", command())
            .replace("@CONFIG@", shlex.quote(config_path))
            .replace("@CPU_WEIGHT@", str(AGENT_CPU_WEIGHT))
            .replace("@CPU_QUOTA@", f"{AGENT_CPU_QUOTA_PERCENT}%")
        )
        found.append(Unit(root / target.relative_to("/"), text))
    return found


def next_steps(role: str, *, user: bool) -> list[str]:
    """What the sysadmin runs after the files are written."""
    if user:
        return [
            "systemctl --user daemon-reload",
            f"systemctl --user enable --now smartsession-{role}.service",
        ]
    steps = [
        "useradd --system --home-dir /var/lib/smartsession --shell /usr/sbin/nologin "
        + ("--groups video smartsession" if role == "agent" else "smartsession"),
        "systemctl daemon-reload",
        f"systemctl enable --now smartsession-{role}.service",
    ]
    if role == "agent":
        steps.append("systemctl --global enable smartsession-notice.service")
    return steps


def main(argv: list[str]) -> int:
    """Write (or with ``--dry-run`` print) the units; print the next steps."""
    parser = argparse.ArgumentParser(
        prog="smartsession install-service", description="Write SmartSession's systemd units."
    )
    parser.add_argument("role", choices=["agent", "hub"])
    parser.add_argument("--user", action="store_true", help="a user unit for this user (single-user machine)")
    parser.add_argument("--dry-run", action="store_true", help="print the units and where they would go")
    parser.add_argument("-c", "--config", type=Path, help="the config file the unit runs with")
    parser.add_argument("--root", type=Path, default=Path("/"), help="write below this folder instead of /")
    args = parser.parse_args(argv)
    found = units(args.role, user=args.user, config=args.config, root=args.root, home=Path.home())
    for unit in found:
        if args.dry_run:
            print(f"# {unit.path}\n{unit.text}")
            continue
        unit.path.parent.mkdir(parents=True, exist_ok=True)
        unit.path.write_text(unit.text, encoding="utf-8")
        unit.path.chmod(0o644)
        print(f"wrote {unit.path}")
    print("then run:" if not args.dry_run else "# then run:")
    for step in next_steps(args.role, user=args.user):
        print(f"  {step}")
    return 0
