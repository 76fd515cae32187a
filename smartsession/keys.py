"""Machine key files and the hub's signature: who may speak for whom.

The trust model (``docs/protocol.md``, "Who holds which key"): the teacher's machine keeps
the class key; ``smartsession keygen --student ID`` writes a lab machine's own key file,
which holds `smartsession.core.keys.machine_key` for that one student id plus the hub's
public key. With it the machine proves its own id (HMAC) and checks the hub's Ed25519
signature; it can neither prove another id nor sign as the hub.

A key file, like the class key, must be readable by its owner only (the agent's service
user): `read_machine_key` refuses anything else with a sentence that says how to fix it.
"""

from __future__ import annotations

import os
import pwd
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smartsession.config import Config
from smartsession.core.keys import KEY_BYTES, hub_signing_seed, machine_key
from smartsession.core.protocol import Ident
from smartsession.errors import ConfigProblem, SecretError

#: The ``format`` line of a machine key file.
KEY_FORMAT = "smartsession-machine-key-1"


@dataclass(frozen=True)
class MachineKey:
    """What a lab machine holds: its class and student id, its key, and the hub's public key."""

    class_id: str
    student_id: str
    key: bytes
    hub_public_key: bytes

    @classmethod
    def derive(cls, class_key: bytes, class_id: str, student_id: str) -> MachineKey:
        """The machine key of ``student_id``, made from the class key (teacher side, tests)."""
        return cls(
            class_id=class_id,
            student_id=student_id,
            key=machine_key(class_key, class_id, student_id),
            hub_public_key=HubSigner(class_key, class_id).public_key,
        )

    def __repr__(self) -> str:  # never print the key itself
        return f"MachineKey(class_id={self.class_id!r}, student_id={self.student_id!r})"


class HubSigner:
    """The hub's Ed25519 key, derived from the class key; signs each `Welcome`."""

    def __init__(self, class_key: bytes, class_id: str) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(hub_signing_seed(class_key, class_id))
        #: The raw 32-byte public key that every machine key file carries.
        self.public_key = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, material: bytes) -> str:
        """The signature of ``material``, hex (128 digits)."""
        return self._private.sign(material).hex()


def hub_signature_valid(public_key: bytes, material: bytes, signature: str) -> bool:
    """True when ``signature`` (hex) is the hub's signature of ``material``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(bytes.fromhex(signature), material)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_machine_key(path: Path, key: MachineKey, *, overwrite: bool = False, owner: str = "") -> None:
    """Write ``key`` to ``path``, mode 0600 (created so; never readable by others, even briefly).

    ``owner``: a user name to give the file to (the agent's service user; needs root).
    Raises `SecretError` when the file exists (without ``overwrite``) or the user is unknown.
    """
    owner_ids: tuple[int, int] | None = None
    if owner:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            raise SecretError(str(path), [ConfigProblem("", f"no such user {owner!r}")]) from None
        owner_ids = (entry.pw_uid, entry.pw_gid)
    text = (
        "# SmartSession machine key. It lets this machine speak as student "
        f"{key.student_id!r} of class {key.class_id!r}\n"
        "# and check the class's hub; nothing more. Keep it readable only by the agent's service user.\n"
        f'format = "{KEY_FORMAT}"\n'
        f'class = "{key.class_id}"\n'
        f'student = "{key.student_id}"\n'
        f'key = "{key.key.hex()}"\n'
        f'hub_key = "{key.hub_public_key.hex()}"\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SecretError(str(path), [ConfigProblem("", "file exists; pass --force to replace it")]) from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)
        if owner_ids is not None:
            os.fchown(out.fileno(), *owner_ids)
        out.write(text)


def read_machine_key(path: Path) -> MachineKey:
    """Read a machine key file, refusing one that others can read or that is malformed.

    Raises `SecretError` with a sentence saying how to fix the problem.
    """

    def problem(message: str) -> SecretError:
        return SecretError(str(path), [ConfigProblem("", message)])

    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problem(
            "machine key file not found; make one on the teacher's machine with "
            "'smartsession keygen --student ID -c teacher.toml' and copy it here"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise problem(f"cannot read the machine key: {exc}") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise problem(f"machine key file is readable by others; run: chmod 600 {path}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = {}
    if data.get("format") != KEY_FORMAT:
        raise problem(
            "not a SmartSession machine key (a class secret belongs on the teacher's machine only); "
            "make one with 'smartsession keygen --student ID -c teacher.toml'"
        )
    try:
        key = bytes.fromhex(str(data["key"]))
        hub_key = bytes.fromhex(str(data["hub_key"]))
        class_id, student_id = str(data["class"]), str(data["student"])
    except (KeyError, ValueError):
        raise problem(
            "machine key file is damaged; make a new one with 'smartsession keygen --student ID'"
        ) from None
    try:
        msgspec.convert([class_id, student_id], list[Ident])
    except msgspec.ValidationError:
        class_id = ""
    if len(key) != KEY_BYTES or len(hub_key) != 32 or not class_id:
        raise problem("machine key file is damaged; make a new one with 'smartsession keygen --student ID'")
    return MachineKey(class_id=class_id, student_id=student_id, key=key, hub_public_key=hub_key)


def agent_identity(config: Config) -> tuple[Config, MachineKey]:
    """Read the agent's machine key (``agent.key_file``) and check it fits the config.

    Returns the config with ``agent.student_id`` set to the key's student id. Raises
    `SecretError` when the key is unusable or made for another class or student.
    """
    key = read_machine_key(config.key_path)
    where = str(config.key_path)
    if key.class_id != config.class_.id:
        raise SecretError(
            where,
            [ConfigProblem("", f"key is for class {key.class_id!r}, but class.id is {config.class_.id!r}")],
        )
    if config.agent.student_id and config.agent.student_id != key.student_id:
        raise SecretError(
            where,
            [
                ConfigProblem(
                    "",
                    f"key is for student {key.student_id!r}, but agent.student_id is "
                    f"{config.agent.student_id!r}; a machine can only speak for the student its key names",
                )
            ],
        )
    agent = msgspec.structs.replace(config.agent, student_id=key.student_id)
    return msgspec.structs.replace(config, agent=agent), key
