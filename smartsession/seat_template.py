"""The seat check's template on a lab machine: encrypted with a key only the machine key gives.

The template is the mean of a few face descriptors taken at enrolment (128 numbers; no
image). It is written to ``identity.template_file`` with mode 0600, owned by whoever runs
``smartsession enroll`` (the agent's service user on a lab machine), and sealed with
AES-256-GCM under ``HKDF-SHA256(machine key, info = label + class id + student id)``: a copy
of the file is unreadable without that machine's key, and a file made for another student
or class does not open. `write_template`, `read_template`, `delete_template`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartsession.core.keys import hkdf_sha256
from smartsession.errors import SmartSessionError
from smartsession.files import private_file
from smartsession.keys import MachineKey

#: The file's first bytes (and part of what the encryption authenticates).
MAGIC = b"smartsession-seat-template-1\n"
#: HKDF label of the template key (no other key uses it).
KEY_INFO = b"smartsession seat template v1"
NONCE_BYTES = 12


class TemplateError(SmartSessionError):
    """The template file cannot be used (damaged, another machine's, or unreadable)."""

    exit_code = 6

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"seat-check template {path}: {problem}")


class _Sealed(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    descriptor: list[float]
    frames: int
    enrolled_at: float


@dataclass(frozen=True)
class Template:
    """What enrolment stored: the descriptor, how many frames made it, and when (epoch s)."""

    descriptor: tuple[float, ...]
    frames: int
    enrolled_at: float


def template_key(key: MachineKey) -> bytes:
    """The AES key of this machine's template (derived, never stored)."""
    info = KEY_INFO + b"\0" + key.class_id.encode() + b"\0" + key.student_id.encode()
    return hkdf_sha256(key.key, info)


def _associated(key: MachineKey) -> bytes:
    return MAGIC + key.class_id.encode() + b"\0" + key.student_id.encode()


def seal(template: Template, key: MachineKey) -> bytes:
    """The file's bytes: magic, nonce, AES-GCM of the template."""
    plain = msgspec.msgpack.encode(_Sealed(list(template.descriptor), template.frames, template.enrolled_at))
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(template_key(key)).encrypt(nonce, plain, _associated(key))


def unseal(data: bytes, key: MachineKey, path: Path) -> Template:
    """The template in ``data``; `TemplateError` if it is not one this machine key sealed."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + NONCE_BYTES + 16:
        raise TemplateError(path, "not a SmartSession seat-check template")
    nonce = data[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        plain = AESGCM(template_key(key)).decrypt(nonce, data[len(MAGIC) + NONCE_BYTES :], _associated(key))
    except InvalidTag:
        raise TemplateError(
            path, "does not open with this machine's key (made on another machine or for another student)"
        ) from None
    sealed = msgspec.msgpack.decode(plain, type=_Sealed)
    return Template(tuple(sealed.descriptor), sealed.frames, sealed.enrolled_at)


def write_template(path: Path, template: Template, key: MachineKey) -> None:
    """Write the sealed template to ``path``, owner-only (mode 0600), replacing any old one."""
    data = seal(template, key)
    tmp = path.with_name(path.name + ".new")
    private_file(tmp)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_template(path: Path, key: MachineKey) -> Template | None:
    """The template at ``path``, or None when there is none (not enrolled)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TemplateError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return unseal(data, key, path)


def delete_template(path: Path) -> bool:
    """Erase the template (overwritten, then removed); True if there was one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with path.open("r+b") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
    path.unlink()
    return True
