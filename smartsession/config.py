"""TOML config files -> typed config, with every problem reported at once.

One schema serves both roles (agent and teacher/hub): each role reads the tables it needs.
Unknown keys are rejected with "did you mean ...?". Where values come from, lowest first:
defaults (for ``[engagement.timing]``: the preset of ``engagement.policy``), the system file
(``/etc/smartsession/config.toml``), the user file, the file given with ``-c``, the
environment (``SMARTSESSION__<TABLE>__<KEY>=value``, the value in TOML syntax or a bare
string), the command line (``--set TABLE.KEY=VALUE``, ``--insecure``); see
`smartsession.config_layers`. A relative path is resolved against the folder of the file
that set it (the environment's and the command line's against the working folder; a
default's against the folder of the main file).
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import platformdirs

from smartsession.core.classwide import ClassSettings
from smartsession.core.pacing import Pacing
from smartsession.core.settings import EngagementSettings
from smartsession.errors import ConfigProblem, SecretError

if TYPE_CHECKING:
    from smartsession.config_layers import Locations

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0.0, le=86400.0)]
#: An id or nothing; ``\Z``, not ``$``, which also matches before a trailing newline.
Ident = Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})?\Z")]
#: A file or folder name; a relative one is resolved against the folder of the file that set it.
FilePath = Annotated[str, msgspec.Meta(extra={"path": True})]

SECRET_BYTES = 32


class _Table(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table."""


class ClassConfig(_Table, frozen=True):
    """The class both sides belong to."""

    id: Ident = "class"
    secret_file: FilePath = "class.secret"
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
    tls_dir: FilePath = ""
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

    database: FilePath = ""
    batch_interval: Annotated[float, msgspec.Meta(gt=0.0, le=5.0)] = 0.005
    synchronous: Literal["normal", "full"] = "normal"
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 30


class AgentConfig(_Table, frozen=True):
    """A student machine's agent."""

    student_id: Ident = ""
    display_name: str = ""
    key_file: FilePath = "machine.key"
    hub_url: str = ""
    hub_id: Ident = ""
    frame_rate: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 5.0
    steady_rate: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 2.0
    burst_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 1.0
    outbox_seconds: Seconds = 600.0
    outbox_path: FilePath = ""
    reconnect_initial: Seconds = 0.5
    reconnect_max: Seconds = 15.0
    connect_timeout: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 3.0
    status_file: FilePath = ""


class CameraConfig(_Table, frozen=True):
    """A student machine's camera and its vision process."""

    device: str = "0"
    width: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 640
    height: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 480
    allow_unisolated: bool = False
    nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = 10


class IdentityConfig(_Table, frozen=True):
    """The seat check (opt-in): is the person at this machine the student enrolled on it?"""

    #: Compare the face with the template enrolled on this machine (``smartsession enroll``).
    #: Off by default; ``engagement.policy = "exam"`` turns it on unless this is set.
    enabled: bool = False
    #: Seconds between checks while a face is on screen (and one at every return).
    interval: Annotated[float, msgspec.Meta(ge=5.0, le=3600.0)] = 30.0
    #: Descriptor distance below which the face counts as the enrolled student's
    #: (docs/identity.md says how it was chosen).
    threshold: Annotated[float, msgspec.Meta(gt=0.0, lt=2.0)] = 0.52
    #: Mismatches in a row before the "different person" alert.
    mismatch_checks: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    #: The sealed template on this machine (relative to the config file's folder).
    template_file: FilePath = "seat-template.bin"


class TuiConfig(_Table, frozen=True):
    """The teacher's screen (``label_mode`` also words the reports and the e-mail)."""

    label_mode: Literal["states", "cues"] = "states"
    bell: bool = False
    sparkline: Literal["attention", "confusion"] = "attention"
    spike_share: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.4
    spike_seconds: Annotated[float, msgspec.Meta(gt=0.0, le=3600.0)] = 10.0
    attention_smoothing: Annotated[float, msgspec.Meta(gt=0.0, le=3600.0)] = 10.0


class ReportConfig(_Table, frozen=True):
    """Reports after class (``smartsession report``, the TUI's export, the end-of-session email)."""

    folder: FilePath = ""
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
    ca_file: FilePath = ""
    user: str = ""
    password_file: FilePath = ""
    sender: str = msgspec.field(default="", name="from")
    to: tuple[str, ...] = ()
    attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    timeout: Seconds = 20.0


class SchoolConfig(_Table, frozen=True):
    """The school's PostgreSQL server the hub replicates to (off while ``database_url`` is empty)."""

    database_url: str = ""
    password_file: FilePath = ""
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60.0)] = 1.0
    batch_rows: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 5000
    connect_timeout: Annotated[int, msgspec.Meta(ge=2, le=300)] = 10
    retry_max: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 10.0


class LoggingConfig(_Table, frozen=True):
    """What the log says and how: one line per event, for journald and fleet tools."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json"] = "logfmt"


class Config(_Table, frozen=True):
    """A whole SmartSession config file."""

    class_: ClassConfig = msgspec.field(default_factory=ClassConfig, name="class")
    network: NetworkConfig = msgspec.field(default_factory=NetworkConfig)
    hub: HubConfig = msgspec.field(default_factory=HubConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    camera: CameraConfig = msgspec.field(default_factory=CameraConfig)
    engagement: EngagementSettings = msgspec.field(default_factory=EngagementSettings)
    identity: IdentityConfig = msgspec.field(default_factory=IdentityConfig)
    tui: TuiConfig = msgspec.field(default_factory=TuiConfig)
    report: ReportConfig = msgspec.field(default_factory=ReportConfig)
    roster: RosterConfig = msgspec.field(default_factory=RosterConfig)
    email: EmailConfig = msgspec.field(default_factory=EmailConfig)
    school: SchoolConfig = msgspec.field(default_factory=SchoolConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
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
    def template_path(self) -> Path:
        """Where this machine's seat-check template lives (``identity.template_file``)."""
        return self.path(self.identity.template_file)

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
    def class_settings(self) -> ClassSettings:
        """How the class-wide measures are made (`smartsession.core.classwide`), for the hub and reports."""
        return ClassSettings(
            spike_share=self.tui.spike_share,
            spike_seconds=self.tui.spike_seconds,
            attention_smoothing=self.tui.attention_smoothing,
            late_after_minutes=self.report.late_after_minutes,
        )

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


def load_config(
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    *,
    locations: Locations | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the config (``path``: the ``-c`` file, or ``None``).

    ``env``: the environment (``os.environ`` when ``None``); ``locations``: the system and
    user files to read under it (none when ``None``: pass `Locations.standard` to read
    ``/etc/smartsession/config.toml`` and the user's file, as the commands do);
    ``flags``: command-line values by dotted key. Raises `ConfigError` listing every
    problem found, each with its source. `smartsession.config_layers.load_layers` also
    says where each value came from.
    """
    from smartsession.config_layers import load_layers

    return load_layers(path, env, locations=locations, flags=flags).config


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
