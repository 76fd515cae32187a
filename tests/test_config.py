"""Config files: every problem reported at once, with file, dotted key and a hint."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import msgspec
import pytest

from smartsession.config import Config, load_config, read_secret, write_secret
from smartsession.config_layers import Locations, load_layers
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
        # FILE:LINE: for a key's problem, FILE: for the file's own.
        assert re.match(rf"{re.escape(str(path))}:(\d+:)? ", line), line
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
    for table in ("class_", "network", "hub", "storage", "agent", "engagement", "tui", "school", "logging"):
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


def test_layers_override_key_by_key_and_each_value_names_its_source(tmp_path: Path) -> None:
    """defaults < system file < user file < -c file < environment < command line."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "home").mkdir()
    system = tmp_path / "etc" / "config.toml"
    system.write_text(
        '[class]\nid = "from-system"\nsecret_file = "class.secret"\n'
        "[hub]\nport = 1001\nmax_agents = 11\nping_interval = 1.5\n"
    )
    user = tmp_path / "home" / "config.toml"
    user.write_text("[hub]\nport = 1002\nmax_agents = 12\n")
    main = tmp_path / "teacher.toml"
    main.write_text('[hub]\nport = 1003\n[agent]\nkey_file = "keys/pc.key"\n')
    env = {"SMARTSESSION__HUB__PORT": "1004", "SMARTSESSION__AGENT__OUTBOX_PATH": "out.sqlite"}
    loaded = load_layers(
        main,
        env,
        locations=Locations(system=system, user=user),
        flags={"hub.host": "10.9.8.7", "network.tls": False},
    )
    config = loaded.config
    assert loaded.files == (system, user, main)
    rows = {
        "class.id": ("from-system", f"{system}:2"),
        "hub.ping_interval": (1.5, f"{system}:7"),
        "hub.max_agents": (12, f"{user}:3"),
        "hub.port": (1004, "environment SMARTSESSION__HUB__PORT"),
        "hub.host": ("10.9.8.7", "command line --set hub.host=10.9.8.7"),
        "network.tls": (False, "command line --insecure"),
        "hub.join_timeout": (10.0, "default"),
        "engagement.timing.no_face": (5.0, "policy lecture"),
    }
    for dotted, (value, source) in rows.items():
        table, _, key = dotted.rpartition(".")
        holder: object = config
        for part in table.split("."):
            holder = getattr(holder, "class_" if part == "class" else part)
        assert (getattr(holder, key), str(loaded.source(dotted))) == (value, source), dotted
    # Relative paths: against the folder of the file that set them; the environment's against
    # the working folder; defaults against the main file's folder.
    assert config.secret_path == tmp_path / "etc" / "class.secret"
    assert config.key_path == tmp_path / "keys" / "pc.key"
    assert config.path(config.agent.outbox_path) == Path.cwd() / "out.sqlite"
    assert config.database_path.parent != tmp_path / "etc"


def test_without_locations_no_system_or_user_file_is_read(tmp_path: Path) -> None:
    assert load_layers(None, {}).files == ()
    standard = Locations.standard({"SMARTSESSION_SYSTEM_CONFIG": "", "SMARTSESSION_USER_CONFIG": "u.toml"})
    assert standard == Locations(system=None, user=Path("u.toml"))
    assert Locations.standard({}).system == Path("/etc/smartsession/config.toml")


def test_a_bad_value_names_the_layer_it_came_from(tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    system.write_text("[hub]\n\nport = 70000\n")
    main = tmp_path / "teacher.toml"
    main.write_text("[tui]\nbell = 3\n")
    with pytest.raises(ConfigError) as info:
        load_layers(
            main,
            {"SMARTSESSION__HUB__PING_TIMEOUT": "soon"},
            locations=Locations(system=system),
            flags={"agent.frame_rate": "fast"},
        )
    assert str(info.value).splitlines() == [
        f"{system}:3: hub.port: expected an integer <= 65535",
        f"{main}:2: tui.bell: expected a boolean, got an integer",
        "environment SMARTSESSION__HUB__PING_TIMEOUT: hub.ping_timeout: expected a float, got a string",
        "command line --set agent.frame_rate=fast: agent.frame_rate: expected a float, got a string",
    ]


def test_the_checked_in_reference_is_what_the_command_makes() -> None:
    """docs/config.md is `smartsession config reference`; regenerate it after a schema change."""
    from smartsession.config_reference import descriptions, example_text, reference

    assert (ROOT / "docs" / "config.md").read_text() == reference()
    said = descriptions(example_text())
    for dotted in ("hub.port", "agent.hub_id", "logging.format", "engagement.timing.no_face"):
        assert said[dotted], dotted  # every key has words, its own or the ones above it
