"""Where config values come from: defaults, files, the environment and the command line.

Layers, lowest first (a later one overrides an earlier one key by key; a table such as
``[hub]`` is merged, any other value replaced whole):

1. defaults (the schema in `smartsession.config`; ``[engagement.timing]`` from the preset
   of ``engagement.policy``);
2. the system file, ``/etc/smartsession/config.toml`` (`Locations.standard`);
3. the user file, ``~/.config/smartsession/config.toml`` (the platform's user config folder);
4. the file given with ``-c FILE`` (the *main* file);
5. the environment: ``SMARTSESSION__<TABLE>__<KEY>=value`` (TOML syntax, or a bare string);
6. the command line: ``--set TABLE.KEY=VALUE`` and flags such as ``--insecure``.

Every layer is checked on its own against the schema, so each problem names its source
(``FILE:LINE``, ``environment NAME``, ``command line ...``). A relative path (a `FilePath`
key) is resolved against the folder of the file that set it, the environment's and the
command line's against the working folder; defaults against the main file's folder (the
``-c`` file, else the most specific file read), else the working folder.

`load_layers` returns the config with the `Source` of every key (``smartsession config show``).
Tests pass ``locations=None`` (the default) so a developer's real ``/etc`` and home files
are never read.
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec
import platformdirs

from smartsession.config import Config
from smartsession.core.settings import POLICY_TIMING, Policy, identity_with_policy, with_policy
from smartsession.errors import ConfigError, ConfigProblem

#: Prefix of the environment variables that override config keys.
ENV_PREFIX = "SMARTSESSION__"
#: The system file read by the commands.
SYSTEM_FILE = Path("/etc/smartsession/config.toml")
#: Environment variables that move the system and user files ("" = do not read one).
SYSTEM_FILE_ENV = "SMARTSESSION_SYSTEM_CONFIG"
USER_FILE_ENV = "SMARTSESSION_USER_CONFIG"

SourceKind = Literal["default", "policy", "file", "env", "flag"]


@dataclass(frozen=True)
class Source:
    """Where one value came from: ``kind`` and ``where`` (a file, a variable, a flag), ``line`` in a file."""

    kind: SourceKind
    where: str = ""
    line: int = 0

    def __str__(self) -> str:
        if self.kind == "file":
            return f"{self.where}:{self.line}" if self.line else self.where
        if self.kind == "env":
            return f"environment {self.where}"
        if self.kind == "flag":
            return f"command line {self.where}"
        if self.kind == "policy":
            return f"policy {self.where}"
        return "default"


@dataclass(frozen=True)
class Locations:
    """The system and user config files to read below the ``-c`` file (``None``: none)."""

    system: Path | None = None
    user: Path | None = None

    @classmethod
    def standard(cls, env: Mapping[str, str] | None = None) -> Locations:
        """``/etc/smartsession/config.toml`` and the user's file, unless moved by
        ``SMARTSESSION_SYSTEM_CONFIG`` / ``SMARTSESSION_USER_CONFIG`` (empty: not read)."""
        env = os.environ if env is None else env
        user = platformdirs.user_config_path("smartsession") / "config.toml"

        def pick(name: str, default: Path) -> Path | None:
            value = env.get(name)
            if value is None:
                return default
            return Path(value) if value else None

        return cls(system=pick(SYSTEM_FILE_ENV, SYSTEM_FILE), user=pick(USER_FILE_ENV, user))


@dataclass
class _Layer:
    """One source of values: its data (as TOML tables), and how to name where each came from."""

    kind: SourceKind
    data: dict[str, Any]
    #: The file (kind "file"), else "".
    file: str = ""
    #: Dotted key -> line number in the file.
    lines: dict[str, int] = field(default_factory=dict)
    #: Dotted key -> the variable or flag that set it (kinds "env" and "flag").
    names: dict[str, str] = field(default_factory=dict)
    #: The folder a relative path of this layer is resolved against (None: left relative).
    folder: Path | None = None

    def label(self, dotted: str) -> str:
        """How a problem with ``dotted`` in this layer names its source."""
        return str(self.source(dotted))

    def source(self, dotted: str) -> Source:
        """Where this layer's value of ``dotted`` is written."""
        if self.kind == "file":
            return Source("file", self.file, _line_of(self.lines, dotted))
        return Source(self.kind, self.names.get(dotted, ""))


@dataclass(frozen=True)
class Loaded:
    """A merged config, the source of each value set by a layer, and the files read (in order)."""

    config: Config
    sources: Mapping[str, Source]
    files: tuple[Path, ...]

    def source(self, dotted: str) -> Source:
        """Where the value of ``dotted`` came from (default, policy preset, file, env, flag)."""
        found = self.sources.get(dotted)
        if found is not None:
            return found
        table, _, key = dotted.rpartition(".")
        if table == "engagement.timing" and key in POLICY_TIMING[Policy.LECTURE]:
            return Source("policy", self.config.engagement.policy.value)
        return Source("default")


def load_layers(
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    *,
    locations: Locations | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Loaded:
    """Read every layer, check each, merge them and convert; see the module docstring.

    ``flags``: dotted key -> value from the command line; a value may be given as a string
    in TOML syntax. Raises `ConfigError` (every problem, each with its source).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd()
    files: list[Path] = []
    if locations is not None:
        files += [f for f in (locations.system, locations.user) if f is not None and f.exists()]
    if path is not None:
        files.append(Path(path))
    main = Path(path) if path is not None else (files[-1] if files else None)
    layers: list[_Layer] = []
    problems: list[ConfigProblem] = []
    for file in files:
        layer = _file_layer(file, main=file == main)
        layers.append(layer)
    layers.append(_env_layer(env, cwd, problems))
    layers.append(_flag_layer(flags or {}, cwd))
    for layer in layers:
        _check_table(Config, layer.data, "", problems, layer.label)
    where = str(main) if main is not None else "<defaults>"
    if problems:
        raise ConfigError(where, problems)
    merged: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for layer in layers:
        _merge(Config, merged, layer.data, "", layer, sources)
    merged["identity"] = identity_with_policy(merged.get("identity", {}), merged.get("engagement", {}))
    merged["engagement"] = with_policy(merged.get("engagement", {}))  # the preset under the set keys
    merged["__base_dir__"] = str(main.resolve().parent if main is not None else cwd)
    try:
        config = msgspec.convert(merged, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(where, [_problem_from(exc, "")]) from None
    return Loaded(config, sources, tuple(files))


def parse_value(raw: str) -> Any:
    """A value from the environment or the command line: TOML syntax, else the bare string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def leaf_keys(cls: type[msgspec.Struct] = Config, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every key of the schema that holds a value (not a table), dotted, with its type."""
    for f in msgspec.structs.fields(cls):
        if f.encode_name.startswith("__"):
            continue
        if isinstance(f.type, type) and issubclass(f.type, msgspec.Struct):
            yield from leaf_keys(f.type, f"{prefix}{f.encode_name}.")
        else:
            yield f"{prefix}{f.encode_name}", f.type


def is_path(kind: object) -> bool:
    """Whether a schema type is a `smartsession.config.FilePath` (resolved against its file's folder)."""
    return any(isinstance(m, msgspec.Meta) and (m.extra or {}).get("path") for m in get_args(kind)[1:])


# Layers ---------------------------------------------------------------------------------


def _file_layer(file: Path, *, main: bool) -> _Layer:
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, [ConfigProblem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, [ConfigProblem("", f"cannot read: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, [ConfigProblem("", f"not valid TOML: {exc}")]) from None
    folder = None if main else file.resolve().parent
    return _Layer("file", data, file=where, lines=_key_lines(text), folder=folder)


def _env_layer(env: Mapping[str, str], cwd: Path, problems: list[ConfigProblem]) -> _Layer:
    layer = _Layer("env", {}, folder=cwd)
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            problems.append(
                ConfigProblem(name, "expected SMARTSESSION__<TABLE>__<KEY>", source=f"environment {name}")
            )
            continue
        table, key = parts
        section = layer.data.setdefault(table, {})
        if isinstance(section, dict):
            section[key] = parse_value(raw)
            layer.names[f"{table}.{key}"] = name
    return layer


def _flag_layer(flags: Mapping[str, Any], cwd: Path) -> _Layer:
    layer = _Layer("flag", {}, folder=cwd)
    for dotted, value in flags.items():
        *tables, key = dotted.split(".")
        section = layer.data
        for table in tables:
            section = section.setdefault(table, {})
        section[key] = parse_value(value) if isinstance(value, str) else value
        layer.names[dotted] = _flag_text(dotted, value)
    return layer


def _flag_text(dotted: str, value: Any) -> str:
    if dotted == "network.tls" and value is False:
        return "--insecure"
    return f"--set {dotted}={value}"


def _merge(
    cls: type[msgspec.Struct],
    into: dict[str, Any],
    data: Mapping[str, Any],
    prefix: str,
    layer: _Layer,
    sources: dict[str, Source],
) -> None:
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    for key, value in data.items():
        f = fields[key]  # unknown keys were refused by the check
        dotted = f"{prefix}{key}"
        if isinstance(f.type, type) and issubclass(f.type, msgspec.Struct):
            _merge(f.type, into.setdefault(key, {}), value, f"{dotted}.", layer, sources)
            continue
        if is_path(f.type) and value and layer.folder is not None:
            value = str((layer.folder / Path(value).expanduser()).resolve())
        into[key] = value
        sources[dotted] = layer.source(dotted)


# Line numbers ---------------------------------------------------------------------------

_TABLE_LINE = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?")
_KEY_LINE = re.compile(r"^([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key (and table) -> the line that sets it first (plain ``key = value`` lines)."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if match := _TABLE_LINE.match(stripped):
            table = _dotted(match.group(1))
            lines.setdefault(table, number)
        elif match := _KEY_LINE.match(stripped):
            key = _dotted(match.group(1))
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _dotted(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


def _line_of(lines: Mapping[str, int], dotted: str) -> int:
    """The line of ``dotted`` or of the nearest table above it (0 when unknown)."""
    key = dotted
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return 0


# Checking -------------------------------------------------------------------------------


def _check_table(
    cls: type[msgspec.Struct],
    data: Mapping[str, Any],
    prefix: str,
    problems: list[ConfigProblem],
    where: Callable[[str], str],
) -> None:
    """Collect every problem in ``data`` against the struct ``cls`` (recursing into tables)."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls) if not f.encode_name.startswith("__")}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        f = fields.get(key)
        if f is None:
            hint = _elsewhere(key, prefix) or "".join(
                f"{prefix}{match}" for match in difflib.get_close_matches(key, list(fields), n=1)
            )
            suggestion = f"; did you mean '{hint}'?" if hint else ""
            problems.append(ConfigProblem(dotted, f"unknown key{suggestion}", where(dotted)))
            continue
        if isinstance(f.type, type) and issubclass(f.type, msgspec.Struct):
            if not isinstance(value, dict):
                problems.append(
                    ConfigProblem(dotted, f"expected a table, got {_toml_type(value)}", where(dotted))
                )
            else:
                _check_table(f.type, value, f"{dotted}.", problems, where)
            continue
        try:
            msgspec.convert(value, f.type)
        except msgspec.ValidationError as exc:
            problem = _problem_from(exc, dotted, where(dotted))
            options = _choices(f.type)
            if options:
                choices = ", ".join(repr(c) for c in options)
                problem = ConfigProblem(dotted, f"expected one of {choices}, got {value!r}", where(dotted))
            problems.append(problem)


def _elsewhere(key: str, prefix: str) -> str:
    """The dotted name of ``key`` in another table of `Config` ("hub.tls_dir"), or ""."""
    for table in msgspec.structs.fields(Config):
        kind = table.type
        if (
            not (isinstance(kind, type) and issubclass(kind, msgspec.Struct))
            or prefix == f"{table.encode_name}."
        ):
            continue
        if key in {f.encode_name for f in msgspec.structs.fields(kind)}:
            return f"{table.encode_name}.{key}"
    return ""


def _choices(kind: object) -> tuple[object, ...]:
    """The allowed values of a Literal or an enum (such as ``engagement.policy``), else ()."""
    if get_origin(kind) is Literal:
        return get_args(kind)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return tuple(member.value for member in kind)
    return ()


def _problem_from(exc: msgspec.ValidationError, dotted: str, source: str = "") -> ConfigProblem:
    message = str(exc)
    message, _, at = message.partition(" - at `$")
    at = at.rstrip("`").lstrip(".")
    key = ".".join(part for part in (dotted, at) if part)
    for msgspec_name, toml_name in _TOML_NAMES.items():
        message = message.replace(f"`{msgspec_name}`", toml_name)
    return ConfigProblem(key, message[:1].lower() + message[1:], source)


# msgspec's type names in TOML's words.
_TOML_NAMES = {
    "int": "an integer",
    "float": "a float",
    "str": "a string",
    "bool": "a boolean",
    "array": "an array",
    "object": "a table",
    "null": "nothing",
}


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}
    return names.get(type(value), type(value).__name__)
