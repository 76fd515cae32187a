"""``smartsession install-service``: the shipped systemd units, written and checked by systemd itself."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from smartsession.bench.agent import CPU_WEIGHT, QUOTA_PERCENT


def install(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsession", "install-service", *args],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "HOME": str(home)},
    )  # fmt: skip


def verify(*units: Path, user: bool = False, runtime: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify``: its exit code is 0 even for bad directives, so stderr must be empty."""
    return subprocess.run(
        ["systemd-analyze", "verify", *(["--user"] if user else []), *map(str, units)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "warning"},
    )  # fmt: skip


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    return folder


def cpu_limits(unit: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    return unit["CPUWeight"], unit["CPUQuota"]


#: What ``bench agent`` checks the agent's busiest second against, as the unit must say it.
BENCHED = ([str(CPU_WEIGHT)], [f"{QUOTA_PERCENT:g}%"])


def directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_system_units_verify_and_sandbox_the_agent(tmp_path: Path, runtime: Path) -> None:
    root = tmp_path / "root"
    for role in ("agent", "hub"):
        result = install(role, "--root", str(root), home=tmp_path)
        assert result.returncode == 0, result.stderr
    system = root / "etc/systemd/system"
    agent, hub = system / "smartsession-agent.service", system / "smartsession-hub.service"
    notice = root / "etc/systemd/user/smartsession-notice.service"
    checked = verify(agent, hub, runtime=runtime)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    checked = verify(notice, user=True, runtime=runtime)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr

    unit = directives(agent)
    for key, value in {
        "User": "smartsession", "SupplementaryGroups": "video", "Restart": "on-failure",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
        "StateDirectory": "smartsession", "RuntimeDirectory": "smartsession", "RuntimeDirectoryMode": "0755",
        "DevicePolicy": "closed", "DeviceAllow": "char-video4linux rw",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK", "WantedBy": "multi-user.target",
    }.items():  # fmt: skip
        assert unit[key] == [value], key
    # The CPU share and quota are the ones the benchmark holds the agent to; the hub has none.
    assert cpu_limits(unit) == BENCHED == (["20"], ["25%"])
    assert "CPUQuota" not in directives(hub) and "CPUWeight" not in directives(hub)
    assert not any("@" in line for line in agent.read_text().splitlines() if not line.startswith("#"))
    # The unit runs this installation, with the lab machine's config.
    command = shlex.split(unit["ExecStart"][0])
    assert command[:3] == [sys.executable, "-m", "smartsession"]
    assert command[3:] == ["agent", "-c", "/etc/smartsession/agent.toml"]
    version = subprocess.run([*command[:3], "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("smartsession ")
    login = directives(notice)
    assert login["WantedBy"] == ["graphical-session.target"] and "User" not in login
    assert shlex.split(login["ExecStart"][0])[3:] == ["notice", "-c", "/etc/smartsession/agent.toml"]
    assert directives(hub)["ExecStart"][0].endswith("hub -c /etc/smartsession/teacher.toml")
    assert (
        "systemctl --global enable smartsession-notice.service"
        in install("agent", "--root", str(root), home=tmp_path).stdout
    )


def test_user_units_and_a_dry_run(tmp_path: Path, runtime: Path) -> None:
    config = tmp_path / "my agent.toml"
    result = install("agent", "--user", "-c", str(config), "--root", str(tmp_path / "r"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "r" / str(tmp_path).lstrip("/") / ".config/systemd/user/smartsession-agent.service"
    assert shlex.split(directives(unit)["ExecStart"][0])[3:] == ["agent", "-c", str(config)]
    assert cpu_limits(directives(unit)) == BENCHED
    assert "systemctl --user enable --now smartsession-agent.service" in result.stdout
    checked = verify(unit, user=True, runtime=runtime)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    dry = install("hub", "--dry-run", "--root", str(tmp_path / "dry"), home=tmp_path)
    assert dry.returncode == 0 and "[Service]" in dry.stdout and "ProtectSystem=strict" in dry.stdout
    assert not (tmp_path / "dry").exists()
