"""Config files: every problem reported at once, with file, dotted key and a hint."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import msgspec
import pytest

from smartsession.config import Config, load_config, read_secret, write_secret
from smartsession.errors import ConfigError, SecretError

FIXTURES = Path(__file__).parent / "fixtures" / "config"
ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "typo_keys.toml",
            [
                "class.idd: unknown key; did you mean 'class.id'?",
                "agnt: unknown key; did you mean 'agent'?",
            ],
        ),
        (
            "wrong_types.toml",
            [
                "hub.port: expected an integer, got a string",
                "hub.max_agents: expected an integer >= 1",
                "tui.bell: expected a boolean, got a string",
                "tui.label_mode: expected one of 'states', 'cues', got 'emotions'",
            ],
        ),
        (
            "nested_typo.toml",
            [
                "engagement.timing.no_face: expected a float > 0.0",
                "engagement.timing.looking_awy: unknown key; did you mean 'engagement.timing.looking_away'?",
            ],
        ),
        ("not_a_table.toml", ["hub: expected a table, got an integer"]),
        ("bad_hysteresis.toml", ["confused_leave (0.5) must be below confused_enter (0.4)"]),
        ("not_toml.toml", ["not valid TOML: Expected ']' at the end of a table declaration (at line 1"]),
    ],
)
def test_broken_fixture_reports_every_problem(fixture: str, expected: list[str]) -> None:
    path = FIXTURES / fixture
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert len(info.value.problems) == len(expected)
    for line, fragment in zip(text.splitlines(), expected, strict=True):
        assert line.startswith(f"{path}: ")
        assert fragment in line
    assert info.value.exit_code == 2


def test_a_key_of_another_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "teacher.toml"
    path.write_text('[storage]\ntls_dir = "certs"\n[tui]\nlate_after_minutes = 3\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert [str(p) for p in info.value.problems] == [
        "storage.tls_dir: unknown key; did you mean 'hub.tls_dir'?",
        "tui.late_after_minutes: unknown key; did you mean 'report.late_after_minutes'?",
    ]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_valid_file_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "valid_agent.toml", env={})
    assert config.class_.id == "room-101"
    assert config.student_id == "pc-07"
    assert config.display_name == "Lab PC 7"
    assert config.secret_path == FIXTURES.resolve() / "class.secret"


def test_example_file_documents_exactly_the_defaults() -> None:
    example = load_config(ROOT / "config.example.toml", env={})
    defaults = load_config(None, env={})
    as_dict = msgspec.structs.asdict
    for table in ("class_", "network", "hub", "storage", "agent", "engagement", "tui", "school"):
        assert as_dict(getattr(example, table)) == as_dict(getattr(defaults, table)), table


def test_example_file_mentions_every_key() -> None:
    text = (ROOT / "config.example.toml").read_text()

    def keys(cls: type[msgspec.Struct]) -> list[str]:
        names = []
        for field in msgspec.structs.fields(cls):
            if field.encode_name.startswith("__"):
                continue
            if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
                names += keys(field.type)
            else:
                names.append(field.encode_name)
        return names

    missing = [key for key in keys(Config) if f"\n{key} = " not in text]
    assert missing == []


def test_environment_overrides_file() -> None:
    env = {"SMARTSESSION__AGENT__HUB_URL": "ws://10.1.2.3:9000/", "SMARTSESSION__HUB__PORT": "9001"}
    config = load_config(FIXTURES / "valid_agent.toml", env=env)
    assert config.agent.hub_url == "ws://10.1.2.3:9000/"
    assert config.hub.port == 9001


def test_environment_typos_are_reported() -> None:
    expected = "agent.hub_ulr: unknown key; did you mean 'agent.hub_url'"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(None, env={"SMARTSESSION__AGENT__HUB_ULR": "x"})


def test_keygen_secret_is_owner_only_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "class.secret"
    write_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_secret(path)) == 32
    with pytest.raises(SecretError, match="pass --force"):
        write_secret(path)
    before = path.read_text()
    write_secret(path, overwrite=True)
    assert path.read_text() != before


def test_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "class.secret"
    write_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match=f"chmod 600 {path}"):
        read_secret(path)


def test_secret_missing_or_short(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="smartsession keygen"):
        read_secret(tmp_path / "absent")
    short = tmp_path / "short"
    short.write_text("abcd\n")
    os.chmod(short, 0o600)
    with pytest.raises(SecretError, match="at least 32 hex digits"):
        read_secret(short)


@pytest.mark.parametrize("key", ["class.id", "agent.student_id", "hub.hub_id"])
def test_ids_with_a_trailing_newline_are_refused(tmp_path: Path, key: str) -> None:
    table, name = key.split(".")
    path = tmp_path / "ids.toml"
    path.write_text(f'[{table}]\n{name} = "pc-01\\n"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert [problem.key for problem in info.value.problems] == [key]
    path.write_text(f'[{table}]\n{name} = "pc-01"\n')
    load_config(path, env={})
