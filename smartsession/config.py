"""TOML config files -> typed config, with every problem reported at once.

One schema serves both roles (agent and teacher/hub): each role reads the tables it needs.
Unknown keys are rejected with "did you mean ...?"; relative paths are resolved against
the config file's folder. Precedence: command line > environment > file > defaults (for
``[engagement.timing]``: > the preset of ``engagement.policy`` > defaults).
Environment overrides are ``SMARTSESSION__<TABLE>__<KEY>=value`` (value in TOML syntax,
or a bare string).
"""

from __future__ import annotations

import difflib
import enum
import os
import secrets
import socket
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
import platformdirs

from smartsession.core.pacing import Pacing
from smartsession.core.settings import EngagementSettings, with_policy
from smartsession.errors import ConfigError, ConfigProblem, SecretError

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0.0, le=86400.0)]
#: An id or nothing; ``\Z``, not ``$``, which also matches before a trailing newline.
Ident = Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})?\Z")]

ENV_PREFIX = "SMARTSESSION__"
SECRET_BYTES = 32


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table."""


class ClassConfig(_Table, frozen=True):
    """The class both sides belong to."""

    id: Ident = "class"
    secret_file: str = "class.secret"
    course: Ident = ""


class NetworkConfig(_Table, frozen=True):
    """Where zeroconf announces and browses."""

    interfaces: tuple[str, ...] = ()
    discovery: bool = True
    tls: bool = True


class HubConfig(_Table, frozen=True):
    """The teacher's hub: where it listens and what it allows."""

    host: str = "0.0.0.0"
    port: Port = 8765
    hub_id: Ident = ""
    max_agents: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 500
    ping_interval: Seconds = 5.0
    ping_timeout: Seconds = 10.0
    join_timeout: Seconds = 10.0
    tls_dir: str = ""
    max_items_per_second: Annotated[float, msgspec.Meta(gt=0.0, le=1e7)] = 20.0
    item_burst: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)] = 2000
    session_quota: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 100_000
    max_clock_skew: Seconds = 120.0
    seq_window: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 10_000
    max_unauthenticated: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    max_unauthenticated_per_address: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 8
    max_pending_handshakes: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    max_pending_per_address: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 16
    handshake_timeout: Annotated[float, msgspec.Meta(gt=0.0, le=600.0)] = 5.0
    handshake_rate_per_address: Annotated[float, msgspec.Meta(gt=0.0, le=1e6)] = 10.0


class StorageConfig(_Table, frozen=True):
    """The hub's SQLite store."""

    database: str = ""
    batch_interval: Annotated[float, msgspec.Meta(gt=0.0, le=5.0)] = 0.005
    synchronous: Literal["normal", "full"] = "normal"
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 30


class AgentConfig(_Table, frozen=True):
    """A student machine's agent."""

    student_id: Ident = ""
    display_name: str = ""
    key_file: str = "machine.key"
    hub_url: str = ""
    frame_rate: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 5.0
    steady_rate: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 2.0
    burst_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 1.0
    outbox_seconds: Seconds = 600.0
    outbox_path: str = ""
    reconnect_initial: Seconds = 0.5
    reconnect_max: Seconds = 15.0
    connect_timeout: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 3.0


class CameraConfig(_Table, frozen=True):
    """A student machine's camera and its vision process."""

    device: str = "0"
    width: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 640
    height: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 480
    allow_unisolated: bool = False
    nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = 10


class TuiConfig(_Table, frozen=True):
    """The teacher's screen."""

    label_mode: Literal["states", "cues"] = "states"
    bell: bool = False
    sparkline: Literal["attention", "confusion"] = "attention"


class ReportConfig(_Table, frozen=True):
    """Reports after class (``smartsession report``, the TUI's export, the end-of-session email)."""

    folder: str = ""
    late_after_minutes: Annotated[float, msgspec.Meta(ge=0.0, le=600.0)] = 5.0


class RosterConfig(_Table, frozen=True):
    """The students expected in class: id -> name (reports list who never joined as absent)."""

    students: dict[Ident, str] = msgspec.field(default_factory=dict)


class EmailConfig(_Table, frozen=True):
    """Mail the session summary and HTML report to the teacher when a session ends."""

    enabled: bool = False
    host: str = ""
    port: Port = 587
    starttls: bool = True
    ca_file: str = ""
    user: str = ""
    password_file: str = ""
    sender: str = msgspec.field(default="", name="from")
    to: tuple[str, ...] = ()
    attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    timeout: Seconds = 20.0


class SchoolConfig(_Table, frozen=True):
    """The school's PostgreSQL server the hub replicates to (off while ``database_url`` is empty)."""

    database_url: str = ""
    password_file: str = ""
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60.0)] = 1.0
    batch_rows: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 5000
    connect_timeout: Annotated[int, msgspec.Meta(ge=2, le=300)] = 10
    retry_max: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 10.0


class Config(_Table, frozen=True):
    """A whole SmartSession config file."""

    class_: ClassConfig = msgspec.field(default_factory=ClassConfig, name="class")
    network: NetworkConfig = msgspec.field(default_factory=NetworkConfig)
    hub: HubConfig = msgspec.field(default_factory=HubConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    camera: CameraConfig = msgspec.field(default_factory=CameraConfig)
    engagement: EngagementSettings = msgspec.field(default_factory=EngagementSettings)
    tui: TuiConfig = msgspec.field(default_factory=TuiConfig)
    report: ReportConfig = msgspec.field(default_factory=ReportConfig)
    roster: RosterConfig = msgspec.field(default_factory=RosterConfig)
    email: EmailConfig = msgspec.field(default_factory=EmailConfig)
    school: SchoolConfig = msgspec.field(default_factory=SchoolConfig)
    #: The folder of the file this came from; relative paths are resolved against it.
    base_dir: str = msgspec.field(default="", name="__base_dir__")

    def path(self, value: str) -> Path:
        """Resolve a path from the config (``~`` expanded, relative to the file's folder)."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    @property
    def secret_path(self) -> Path:
        """Where the class secret lives."""
        return self.path(self.class_.secret_file)

    @property
    def key_path(self) -> Path:
        """Where a lab machine's own key lives (``agent.key_file``)."""
        return self.path(self.agent.key_file)

    @property
    def database_path(self) -> Path:
        """The hub's SQLite file (the user's data folder when not configured)."""
        if self.storage.database:
            return self.path(self.storage.database)
        return Path(platformdirs.user_data_dir("smartsession")) / "smartsession.db"

    @property
    def report_folder(self) -> Path:
        """Where reports go: ``report.folder``, or a ``reports`` folder beside the database."""
        if self.report.folder:
            return self.path(self.report.folder)
        return self.database_path.parent / "reports"

    @property
    def student_id(self) -> str:
        """The agent's student id, defaulting to this machine's host name."""
        return self.agent.student_id or _safe_ident(socket.gethostname())

    @property
    def pacing(self) -> Pacing:
        """The agent's frame rates (`agent.frame_rate`, `agent.steady_rate` at most that,
        `agent.burst_seconds`)."""
        agent = self.agent
        return Pacing(agent.frame_rate, min(agent.steady_rate, agent.frame_rate), agent.burst_seconds)

    @property
    def display_name(self) -> str:
        """The name the teacher sees, defaulting to the student id."""
        return self.agent.display_name or self.student_id


def _safe_ident(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in text).strip("-._")
    return (cleaned or "student")[:64]


# Loading --------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file (``None``: defaults only), then apply environment overrides.

    Raises `ConfigError` listing every problem found.
    """
    data: dict[str, Any] = {}
    where = "<defaults>"
    base_dir = str(Path.cwd())
    if path is not None:
        where = str(path)
        file = Path(path)
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
        base_dir = str(file.resolve().parent)
    problems: list[ConfigProblem] = []
    _apply_env(data, os.environ if env is None else env, problems)
    _check_table(Config, data, "", problems)
    if problems:
        raise ConfigError(where, problems)
    data["engagement"] = with_policy(data.get("engagement", {}))  # the policy's preset under the file's keys
    data["__base_dir__"] = base_dir
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(where, [_problem_from(exc, "")]) from None


def _apply_env(data: dict[str, Any], env: Mapping[str, str], problems: list[ConfigProblem]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            problems.append(ConfigProblem(name, "expected SMARTSESSION__<TABLE>__<KEY>"))
            continue
        table, key = parts
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        section = data.setdefault(table, {})
        if isinstance(section, dict):
            section[key] = value


def _check_table(
    cls: type[msgspec.Struct], data: Mapping[str, Any], prefix: str, problems: list[ConfigProblem]
) -> None:
    """Collect every problem in ``data`` against the struct ``cls`` (recursing into tables)."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls) if not f.encode_name.startswith("__")}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            hint = difflib.get_close_matches(key, list(fields), n=1)
            suggestion = f"; did you mean '{prefix}{hint[0]}'?" if hint else ""
            problems.append(ConfigProblem(dotted, f"unknown key{suggestion}"))
            continue
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            if not isinstance(value, dict):
                problems.append(ConfigProblem(dotted, f"expected a table, got {_toml_type(value)}"))
            else:
                _check_table(field.type, value, f"{dotted}.", problems)
            continue
        try:
            msgspec.convert(value, field.type)
        except msgspec.ValidationError as exc:
            problem = _problem_from(exc, dotted)
            options = _choices(field.type)
            if options:
                choices = ", ".join(repr(c) for c in options)
                problem = ConfigProblem(dotted, f"expected one of {choices}, got {value!r}")
            problems.append(problem)


def _choices(kind: object) -> tuple[object, ...]:
    """The allowed values of a Literal or an enum (such as ``engagement.policy``), else ()."""
    if get_origin(kind) is Literal:
        return get_args(kind)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return tuple(member.value for member in kind)
    return ()


def _problem_from(exc: msgspec.ValidationError, dotted: str) -> ConfigProblem:
    message = str(exc)
    message, _, where = message.partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    key = ".".join(part for part in (dotted, where) if part)
    for msgspec_name, toml_name in _TOML_NAMES.items():
        message = message.replace(f"`{msgspec_name}`", toml_name)
    return ConfigProblem(key, message[:1].lower() + message[1:])


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
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
    }
    return names.get(type(value), type(value).__name__)


# Class secret ---------------------------------------------------------------------------


def read_secret(path: Path) -> bytes:
    """Read the class secret, refusing a file that others can read.

    Raises `SecretError` with a sentence saying how to fix the problem.
    """
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretError(
            where,
            [ConfigProblem("", "secret file not found; create one with 'smartsession keygen'")],
        ) from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            where,
            [ConfigProblem("", f"secret file is readable by others; run: chmod 600 {path}")],
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise SecretError(
            where,
            [ConfigProblem("", "secret must be at least 32 hex digits; make one with 'smartsession keygen'")],
        )
    return secret


def write_secret(path: Path, *, overwrite: bool = False) -> None:
    """Write a new random class secret, readable by its owner only."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SecretError(str(path), [ConfigProblem("", "file exists; pass --force to replace it")]) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(SECRET_BYTES) + "\n")
    os.chmod(path, 0o600)
