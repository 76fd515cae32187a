"""The command line as a sysadmin uses it: exit codes and messages."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "config"


#: No system or user config file: a developer's own never changes what these tests see.
HERMETIC = {"SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": ""}


def smartsession(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSESSION")}
    return subprocess.run(
        [sys.executable, "-m", "smartsession", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**clean, **HERMETIC, **(env or {})},
    )


def test_config_check_reports_all_problems_with_exit_2() -> None:
    result = smartsession("config", "check", str(FIXTURES / "wrong_types.toml"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(re.findall(r"wrong_types.toml:\d+: ", result.stderr)) == 4
    assert "hub.port: expected an integer, got a string" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_ok_is_one_line() -> None:
    result = smartsession("config", "check", str(FIXTURES / "valid_agent.toml"))
    assert result.returncode == 0
    assert result.stdout.strip().splitlines() == [f"{FIXTURES / 'valid_agent.toml'}: OK"]


def test_config_check_sees_the_environment_like_the_hub_does(tmp_path: Path) -> None:
    """A bad environment value fails ``config check`` naming the variable, as ``hub`` then would."""
    config = tmp_path / "teacher.toml"
    config.write_text('[class]\nid = "c"\n')
    bad = {"SMARTSESSION__HUB__PORT": "abc"}
    expected = (
        "smartsession: environment SMARTSESSION__HUB__PORT: hub.port: expected an integer, got a string"
    )
    for command in (["config", "check", str(config)], ["hub", "-c", str(config)]):
        result = smartsession(*command, env=bad)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip() == expected, command
    good = smartsession("config", "check", str(config), env={"SMARTSESSION__HUB__PORT": "9000"})
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"{config}: OK (with environment SMARTSESSION__HUB__PORT)"


def test_config_show_prints_each_value_with_its_source_and_masks_passwords(tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text('[school]\ndatabase_url = "postgresql://ss:hunter2@db.example/school"\n')
    config = tmp_path / "teacher.toml"
    config.write_text('[class]\nid = "room-12"\n[hub]\nport = 9001\n')
    result = smartsession(
        "config", "show", "-c", str(config), "--set", "hub.host=10.1.1.1",
        env={"SMARTSESSION_SYSTEM_CONFIG": str(system), "SMARTSESSION__HUB__PING_TIMEOUT": "4"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {
        line.split(" = ")[0]: (line.split(" = ", 1)[1].split("  # ")[0].strip(), line.split("  # ")[1])
        for line in result.stdout.splitlines()
        if not line.startswith("#")
    }
    assert rows["class.id"] == ('"room-12"', f"{config}:2")
    assert rows["hub.port"] == ("9001", f"{config}:4")
    assert rows["hub.host"] == ('"10.1.1.1"', "command line --set hub.host=10.1.1.1")
    assert rows["hub.ping_timeout"] == ("4.0", "environment SMARTSESSION__HUB__PING_TIMEOUT")
    assert rows["hub.max_agents"] == ("500", "default")
    assert rows["school.database_url"] == ('"postgresql://ss:***@db.example/school"', f"{system}:2")
    assert rows["class.secret_file"] == ('"class.secret"', f"default -> {tmp_path / 'class.secret'}")
    assert "hunter2" not in result.stdout
    assert result.stdout.splitlines()[0] == f"# files read, lowest first: {system}, {config}"


def test_keygen_writes_owner_only_secret(tmp_path: Path) -> None:
    result = smartsession("keygen", "room.secret", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "room.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(bytes.fromhex(secret.read_text().strip())) == 32
    again = smartsession("keygen", "room.secret", cwd=tmp_path)
    assert again.returncode == 2
    assert "--force" in again.stderr


def test_hub_with_unsafe_secret_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "class.secret").write_text("ab" * 32)
    (tmp_path / "class.secret").chmod(0o644)
    (tmp_path / "t.toml").write_text('[class]\nid = "c"\n')
    result = smartsession("hub", "-c", str(tmp_path / "t.toml"))
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


def test_agent_with_unknown_profile_says_which_exist(tmp_path: Path) -> None:
    smartsession("keygen", cwd=tmp_path)
    (tmp_path / "a.toml").write_text('[class]\nid = "c"\n')
    made = smartsession("keygen", "--student", "pc-1", "-c", "a.toml", "machine.key", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = smartsession("agent", "-c", str(tmp_path / "a.toml"), "--simulate", "sleepy")
    assert result.returncode == 4
    assert "attentive" in result.stderr


def test_the_class_views_log_file_is_owner_only_and_one_line_per_record(tmp_path: Path) -> None:
    """``teacher`` logs to smartsession.log in the user's log folder (made owner-only)."""
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    result = subprocess.run(
        [sys.executable, "-m", "smartsession", "-v", "teacher", "-c", "no\r\nsuch\x1b[2J.toml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    log = state / "smartsession" / "log" / "smartsession.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == stat.S_IMODE(log.parent.parent.stat().st_mode) == 0o700
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    # One line per record, key=value: the traceback is escaped into the record's exc value.
    records = text.splitlines()
    assert len(records) == 1, records
    assert re.match(r"ts=\S+Z level=error logger=smartsession msg=failed exc=\"Traceback ", records[0])
    assert "smartsession.errors.ConfigError: no\\r\\nsuch\\x1b[2J.toml: file not found" in records[0]
