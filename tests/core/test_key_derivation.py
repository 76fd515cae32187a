"""Per-machine keys: RFC 5869 HKDF, one key per student id, none shared with the hub's seed."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from smartsession.core.keys import SALT, hkdf_sha256, hub_signing_seed, key_tag, machine_key


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(0x0D))
    info = bytes(range(0xF0, 0xFA))
    expected = bytes.fromhex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert hkdf_sha256(ikm, info, 42, salt) == expected


def test_hkdf_matches_an_independent_implementation() -> None:
    for _ in range(20):
        ikm, info = secrets.token_bytes(32), secrets.token_bytes(secrets.randbelow(40))
        theirs = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info).derive(ikm)
        assert hkdf_sha256(ikm, info) == theirs


def test_each_student_and_class_gets_its_own_key() -> None:
    class_key = secrets.token_bytes(32)
    keys = {
        machine_key(class_key, "cs101", "pc-07"),
        machine_key(class_key, "cs101", "pc-08"),
        machine_key(class_key, "cs102", "pc-07"),
        machine_key(secrets.token_bytes(32), "cs101", "pc-07"),
        hub_signing_seed(class_key, "cs101"),
        class_key,
    }
    assert len(keys) == 6
    assert machine_key(class_key, "cs101", "pc-07") == machine_key(class_key, "cs101", "pc-07")
    assert all(len(k) == 32 for k in keys)


def test_key_tag_is_short_stable_and_one_way() -> None:
    key = secrets.token_bytes(32)
    assert key_tag(key) == key_tag(key) and len(key_tag(key)) == 12
    assert key_tag(key) not in key.hex()
    assert key_tag(key) != key_tag(secrets.token_bytes(32))
