"""Machine key files, the hub's signature and ``smartsession keygen``: who may speak for whom."""

from __future__ import annotations

import os
import pwd
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from smartsession.config import load_config, read_secret
from smartsession.errors import SecretError
from smartsession.keys import (
    HubSigner,
    MachineKey,
    agent_identity,
    hub_signature_valid,
    read_machine_key,
    write_machine_key,
)

CLASS_KEY = bytes(range(32))


def test_machine_key_file_round_trips_owner_only(tmp_path: Path) -> None:
    key = MachineKey.derive(CLASS_KEY, "cs101", "pc-07")
    path = tmp_path / "keys" / "pc-07.key"
    write_machine_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_machine_key(path) == key
    assert CLASS_KEY.hex() not in path.read_text()
    assert "pc-07" in repr(key) and key.key.hex() not in repr(key)
    with pytest.raises(SecretError, match="--force"):
        write_machine_key(path, key)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ab" * 32 + "\n", "class secret belongs on the teacher's machine"),
        ('format = "smartsession-machine-key-1"\nclass = "cs101"\n', "damaged"),
        (
            'format = "smartsession-machine-key-1"\nclass = "cs101"\nstudent = "pc-07\\n"\nkey = "00"\nhub_key = "00"\n',
            "damaged",
        ),
        ("not toml [", "not a SmartSession machine key"),
    ],
)
def test_bad_key_files_are_refused_with_a_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "machine.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(SecretError, match=message):
        read_machine_key(path)


def test_key_readable_by_others_or_missing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "machine.key"
    write_machine_key(path, MachineKey.derive(CLASS_KEY, "cs101", "pc-07"))
    path.chmod(0o640)
    with pytest.raises(SecretError, match="chmod 600"):
        read_machine_key(path)
    with pytest.raises(SecretError, match="keygen --student"):
        read_machine_key(tmp_path / "absent.key")


def test_only_the_class_key_can_sign_as_the_hub() -> None:
    signer = HubSigner(CLASS_KEY, "cs101")
    material = b"smartsession|2|hub|nonces"
    signature = signer.sign(material)
    assert len(signature) == 128
    public = MachineKey.derive(CLASS_KEY, "cs101", "pc-07").hub_public_key
    assert public == signer.public_key
    assert hub_signature_valid(public, material, signature)
    assert not hub_signature_valid(public, material + b"x", signature)
    assert not hub_signature_valid(
        public, material, HubSigner(secrets.token_bytes(32), "cs101").sign(material)
    )
    assert not hub_signature_valid(public, material, HubSigner(CLASS_KEY, "cs102").sign(material))
    assert not hub_signature_valid(public, material, "zz" * 64)


def _write_config(folder: Path, agent: str = "") -> Path:
    (folder / "class.secret").write_text(CLASS_KEY.hex() + "\n")
    (folder / "class.secret").chmod(0o600)
    path = folder / "teacher.toml"
    path.write_text(
        '[class]\nid = "cs101"\n[roster.students]\n"pc-01" = "Ann One"\n"pc-02" = "Bo Two"\n' + agent
    )
    return path


def test_agent_identity_takes_the_student_from_the_key(tmp_path: Path) -> None:
    config_path = _write_config(tmp_path)
    write_machine_key(tmp_path / "machine.key", MachineKey.derive(CLASS_KEY, "cs101", "pc-02"))
    config, key = agent_identity(load_config(config_path, env={}))
    assert key.student_id == "pc-02" and config.student_id == "pc-02"


def test_agent_identity_refuses_another_students_or_classs_key(tmp_path: Path) -> None:
    config_path = _write_config(tmp_path, '[agent]\nstudent_id = "pc-01"\n')
    write_machine_key(tmp_path / "machine.key", MachineKey.derive(CLASS_KEY, "cs101", "pc-02"))
    with pytest.raises(SecretError, match="only speak for the student its key names"):
        agent_identity(load_config(config_path, env={}))
    write_machine_key(
        tmp_path / "machine.key", MachineKey.derive(CLASS_KEY, "cs102", "pc-01"), overwrite=True
    )
    with pytest.raises(SecretError, match="for class 'cs102'"):
        agent_identity(load_config(config_path, env={}))


def _smartsession(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartsession", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_keygen_writes_a_key_per_roster_student_from_the_class_key(tmp_path: Path) -> None:
    config_path = _write_config(tmp_path)
    result = _smartsession("keygen", "--roster", "-c", str(config_path), "--out-dir", "keys", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for student_id in ("pc-01", "pc-02"):
        path = tmp_path / "keys" / f"{student_id}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_machine_key(path) == MachineKey.derive(
            read_secret(tmp_path / "class.secret"), "cs101", student_id
        )
    one = _smartsession("keygen", "--student", "pc-09", "-c", str(config_path), "pc-09.key", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert read_machine_key(tmp_path / "pc-09.key").student_id == "pc-09"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--student", "pc-01"], "needs -c CONFIG"),
        (["--student", "pc-01\n", "-c", "teacher.toml"], "not a valid student id"),
        (["--student", "a", "--student", "b", "-c", "teacher.toml", "one.key"], "use --out-dir"),
        (["--student", "pc-01", "-c", "teacher.toml", "--owner", "no-such-user-here"], "no such user"),
    ],
)
def test_keygen_refuses_what_it_cannot_do(tmp_path: Path, args: list[str], message: str) -> None:
    _write_config(tmp_path)
    result = _smartsession("keygen", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not list(tmp_path.glob("*.key"))


def test_keygen_gives_the_key_to_the_service_user(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "giving files to another user needs root (CI runs as root)"
    config_path = _write_config(tmp_path)
    result = _smartsession(
        "keygen", "--student", "pc-01", "-c", str(config_path), "--owner", "nobody", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    info = (tmp_path / "pc-01.key").stat()
    assert info.st_uid == pwd.getpwnam("nobody").pw_uid and stat.S_IMODE(info.st_mode) == 0o600
