"""What strings the protocol accepts: whole-string id patterns and no control characters."""

from __future__ import annotations

import json

import pytest

from smartsession.core.protocol import (
    Batch,
    CloseCode,
    Event,
    EventKind,
    Hello,
    Join,
    ProtocolError,
    Sample,
    Welcome,
    decode_agent_message,
    decode_hub_message,
    encode,
)
from smartsession.core.states import State

NONCE = "ab" * 16
PROOF = "cd" * 32
SIGNATURE = "ef" * 64


def join(**overrides: str) -> Join:
    fields = dict(student_id="pc-01", name="Ada", host="lab-01", agent_version="0.1.0")
    fields.update(overrides)
    return Join(v=2, nonce=NONCE, proof=PROOF, **fields)


def sample(*reasons: str) -> Sample:
    return Sample(seq=1, ts=1.0, state=State.CONFUSED, attention=0.5, confusion=0.7, faces=1, reasons=reasons)


def event(detail: str) -> Event:
    return Event(seq=2, ts=2.0, kind=EventKind.STATE, state=State.FOCUSED, detail=detail)


def refused(frame: str) -> str:
    with pytest.raises(ProtocolError) as info:
        decode_agent_message(frame)
    assert info.value.code == CloseCode.MALFORMED
    return info.value.message


@pytest.mark.parametrize("ident", ["pc-01\n", "pc-01\r", "pc-01 ", "\npc-01", "pc\n01"])
def test_ids_must_match_as_a_whole(ident: str) -> None:
    """msgspec matches patterns with re.search, where $ would accept "pc-01\\n"."""
    refused(encode(join(student_id=ident)))
    with pytest.raises(ProtocolError):
        decode_hub_message(encode(Hello(v=2, hub_id=ident, class_id="c", nonce=NONCE, time=1.0)))
    with pytest.raises(ProtocolError):
        decode_hub_message(
            encode(Welcome(session_id=ident, session_started=1.0, last_seq=0, proof=SIGNATURE))
        )


def test_nonces_proofs_and_signatures_must_match_as_a_whole() -> None:
    refused(encode(join()).replace(NONCE, NONCE + "\\n"))
    refused(encode(join()).replace(PROOF, PROOF + "\\n"))
    assert decode_agent_message(encode(join())) == join()
    welcome = encode(Welcome(session_id="s1", session_started=1.0, last_seq=0, proof=SIGNATURE))
    with pytest.raises(ProtocolError):
        decode_hub_message(welcome.replace(SIGNATURE, SIGNATURE + "\\n"))
    assert decode_hub_message(welcome).proof == SIGNATURE  # type: ignore[union-attr]


HOSTILE = {
    "ESC": "\x1b[2J",
    "NUL": "a\x00b",
    "CR LF": "Eve\r\nINFO forged line",
    "tab": "a\tb",
    "DEL": "a\x7f",
    "C1 (raw in the frame)": "a\x9bb",
    "line separator (raw)": "a\u2028b",
    "bidi override (raw)": "txt.\u202eexe",
    "bidi isolate (raw)": "\u2067a",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("field", ["name", "host", "agent_version"])
def test_join_strings_with_control_characters_are_refused(field: str, text: str) -> None:
    message = refused(encode(join(**{field: text})))
    char = next(c for c in text if not c.isprintable())
    assert message == f"invalid message: control character U+{ord(char):04X} in join.{field}"


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_telemetry_strings_with_control_characters_are_refused(text: str) -> None:
    assert refused(encode(sample("fine", text))).endswith("in sample.reasons")
    assert refused(encode(event(text))).endswith("in event.detail")
    batch = Batch(items=(sample("ok"), event("ok"), sample("fine", text)))
    assert refused(encode(batch)).endswith("in sample.reasons")


def test_escaped_and_raw_forms_are_both_refused() -> None:
    """JSON can carry a control character as an escape (\\u001b) or, for C1 and above, raw."""
    frame = json.dumps({**json.loads(encode(join())), "name": "\x1b\x85\u202e"}, ensure_ascii=True)
    assert "\\u001b" in frame
    refused(frame)
    refused(json.dumps({**json.loads(encode(join())), "name": "a\x85\u202e"}, ensure_ascii=False))


@pytest.mark.parametrize(
    "text", ["Zoë Çelik", "head tilt 12°", "Ada\u00a0Lovelace", '=HYPERLINK("http://x","click")', "[red]x[/]"]
)
def test_printable_strings_in_any_script_pass(text: str) -> None:
    for message in (join(name=text, host=text), sample(text, "brow lowered"), event(text)):
        assert decode_agent_message(encode(message)) == message
    ascii_frame = json.dumps(json.loads(encode(join(name=text))), ensure_ascii=True)
    assert decode_agent_message(ascii_frame) == join(name=text)
