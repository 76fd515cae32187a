"""The command line as a sysadmin uses it: exit codes and messages."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "config"


def smartsession(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsession", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_config_check_reports_all_problems_with_exit_2() -> None:
    result = smartsession("config", "check", str(FIXTURES / "wrong_types.toml"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("wrong_types.toml: ") == 4
    assert "hub.port: expected an integer, got a string" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_ok_is_one_line() -> None:
    result = smartsession("config", "check", str(FIXTURES / "valid_agent.toml"))
    assert result.returncode == 0
    assert result.stdout.strip().splitlines() == [f"{FIXTURES / 'valid_agent.toml'}: OK"]


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
