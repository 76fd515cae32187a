"""The hub advertisement's TXT record: what an agent accepts from it, and how zeroconf's cached
TXT data is decoded (pure)."""

from __future__ import annotations

import pytest

from smartsession.core.discovery import parse_advert, txt_properties, txt_record

FINGERPRINT = "ab" * 32


def properties(**overrides: str) -> dict[bytes, bytes | None]:
    record = txt_record("cs101", "hub-1", tls=True, fingerprint=FINGERPRINT) | overrides
    return {key.encode(): value.encode() for key, value in record.items()}


def test_a_valid_record_is_parsed() -> None:
    advert = parse_advert(properties(), ["fe80::1", "127.0.0.1"], 8765)
    assert advert is not None
    assert (advert.class_id, advert.hub_id, advert.fingerprint) == ("cs101", "hub-1", FINGERPRINT)
    assert advert.url == "wss://127.0.0.1:8765/"


@pytest.mark.parametrize(
    "overrides",
    [
        {"class": "cs101\n"},
        {"hub": "hub-1\n"},
        {"hub": "hub-1\x1b[2J"},
        {"fp": FINGERPRINT + "\n"},
        {"class": ""},
    ],
    ids=repr,
)
def test_ids_and_fingerprints_must_match_as_a_whole(overrides: dict[str, str]) -> None:
    assert parse_advert(properties(**overrides), ["127.0.0.1"], 8765) is None


def encode(*entries: bytes) -> bytes:
    return b"".join(bytes([len(entry)]) + entry for entry in entries)


def test_txt_properties_decodes_what_a_hub_announces() -> None:
    record = txt_record("physics", "hub1", tls=True, fingerprint="ab" * 32)
    raw = encode(*(f"{key}={value}".encode() for key, value in record.items()))
    advert = parse_advert(txt_properties(raw), ["10.0.0.5"], 8765)
    assert advert is not None
    assert (advert.class_id, advert.hub_id, advert.fingerprint, advert.url) == (
        "physics",
        "hub1",
        "ab" * 32,
        "wss://10.0.0.5:8765/",
    )


def test_txt_properties_edge_cases() -> None:
    assert txt_properties(encode(b"a=1", b"flag", b"a=2", b"=x", b"e=")) == {
        b"a": b"1",
        b"flag": None,
        b"e": b"",
    }
    assert txt_properties(b"\x05ab") == {}  # truncated
    assert txt_properties(b"") == {}


@pytest.mark.parametrize(
    ("text", "started"),
    [("1733050000.125", 1733050000.125), ("1733050000", 1733050000.0), ("", 0.0), ("-5", 0.0),
     ("1e9", 0.0), ("nan", 0.0), ("inf", 0.0), ("0", 0.0), ("1733050000.1\n", 0.0)],
)  # fmt: skip
def test_started_is_a_plain_positive_number_or_unknown(text: str, started: float) -> None:
    record = {k.encode(): v.encode() for k, v in txt_record("c", "h", tls=True).items()}
    record[b"started"] = text.encode()
    advert = parse_advert(record, ["10.0.0.1"], 8765)
    assert advert is not None and advert.started == started


def test_a_hub_announces_when_its_session_started() -> None:
    assert txt_record("c", "h", tls=False, started=1733050000.1234)["started"] == "1733050000.123"
    assert "started" not in txt_record("c", "h", tls=False)
