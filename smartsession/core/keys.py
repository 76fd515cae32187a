"""Keys derived from the class key: one per lab machine, one for the hub (pure HKDF-SHA256).

The teacher's machine holds the class key (``class.secret``). A lab machine holds only
`machine_key` for its own student id: enough to prove that id, never another one, and the
hub derives any student's key on demand, so it stores none. The hub proves itself with a
signature whose private key comes from `hub_signing_seed`, which only the class key gives;
lab machines hold the public half, so no lab machine can pose as the hub to anyone.

HKDF is RFC 5869 with SHA-256. Ids never contain ``|`` (see the protocol's id pattern), so
the ``info`` strings below cannot collide.
"""

from __future__ import annotations

import hashlib
import hmac

#: Length of every derived key, in bytes.
KEY_BYTES = 32
#: HKDF salt: a fixed, versioned label (the class key is already uniformly random).
SALT = b"smartsession key derivation v2"


def hkdf_sha256(ikm: bytes, info: bytes, length: int = KEY_BYTES, salt: bytes = SALT) -> bytes:
    """RFC 5869 HKDF-SHA256 (extract, then expand) of ``length`` bytes."""
    if not 0 < length <= 255 * hashlib.sha256().digest_size:
        raise ValueError(f"cannot derive {length} bytes with HKDF-SHA256")
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes((counter,)), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def machine_key(class_key: bytes, class_id: str, student_id: str) -> bytes:
    """The key of the lab machine that speaks for ``student_id`` in ``class_id``."""
    return hkdf_sha256(class_key, b"agent|" + class_id.encode() + b"|" + student_id.encode())


def hub_signing_seed(class_key: bytes, class_id: str) -> bytes:
    """The 32-byte Ed25519 private key (seed) with which the class's hub signs its `Welcome`."""
    return hkdf_sha256(class_key, b"hub-signing|" + class_id.encode())


def key_tag(key: bytes) -> str:
    """A short one-way tag of a key (12 hex digits), for file names and logs; reveals nothing."""
    return hashlib.sha256(b"smartsession key tag|" + key).hexdigest()[:12]
