"""TXT record data as zeroconf caches it, decoded (pure)."""

from __future__ import annotations

from smartsession.core.discovery import parse_advert, txt_properties, txt_record


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
