"""Protocol v1: round trips, strict decoding, and the mutual HMAC proofs."""

from __future__ import annotations

import json
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartsession.core.protocol import (
    MAX_BATCH_ITEMS,
    MAX_FRAME_BYTES,
    Ack,
    Batch,
    CloseCode,
    Cues,
    Error,
    Event,
    EventKind,
    Hello,
    Join,
    ProtocolError,
    Sample,
    Welcome,
    agent_proof,
    decode_agent_message,
    decode_hub_message,
    encode,
    hub_proof,
    proofs_match,
)
from smartsession.core.states import AlertReason, State

NONCE = "ab" * 16
PROOF = "cd" * 32


def sample(seq: int = 1, **overrides: object) -> Sample:
    fields: dict[str, object] = dict(
        seq=seq,
        ts=1_700_000_000.0,
        state=State.ALERT,
        attention=0.2,
        confusion=0.3,
        faces=0,
        alert=AlertReason.NO_FACE,
        reasons=("no face 6 s",),
        cues=Cues(yaw=-12.5, face_share=0.4),
    )
    fields.update(overrides)
    return Sample(**fields)  # type: ignore[arg-type]


HUB_MESSAGES = [
    Hello(v=1, hub_id="hub-1", class_id="room-101", nonce=NONCE),
    Welcome(session_id="s-20261123", proof=PROOF, last_seq=41),
    Ack(seq=42),
    Error(code=4401, message="bad proof"),
]
AGENT_MESSAGES = [
    Join(
        v=1, student_id="pc-07", name="Ada L.", host="lab-07", agent_version="0.1.0", nonce=NONCE, proof=PROOF
    ),
    sample(),
    Event(seq=2, ts=1.0, kind=EventKind.ALERT, state=State.ALERT, reason=AlertReason.NO_FACE, detail="6 s"),
    Batch(items=(sample(3), Event(seq=4, ts=2.0, kind=EventKind.STATE, state=State.FOCUSED))),
]


@pytest.mark.parametrize("message", HUB_MESSAGES, ids=lambda m: type(m).__name__)
def test_hub_messages_round_trip(message: object) -> None:
    frame = encode(message)  # type: ignore[arg-type]
    assert json.loads(frame)["type"] == type(message).__name__.lower()
    assert decode_hub_message(frame) == message


@pytest.mark.parametrize("message", AGENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_agent_messages_round_trip(message: object) -> None:
    assert decode_agent_message(encode(message)) == message  # type: ignore[arg-type]


def test_a_side_only_accepts_the_other_sides_messages() -> None:
    with pytest.raises(ProtocolError):
        decode_agent_message(encode(HUB_MESSAGES[0]))
    with pytest.raises(ProtocolError):
        decode_hub_message(encode(AGENT_MESSAGES[1]))


def _sample_dict(**overrides: object) -> dict[str, object]:
    data = json.loads(encode(sample()))
    data.update(overrides)
    return data


HOSTILE = {
    "not json": "{nope",
    "truncated": encode(sample())[:-7],
    "unknown type": json.dumps({"type": "shell", "cmd": "rm -rf /"}),
    "no type": json.dumps({"seq": 1}),
    "unknown field": json.dumps(_sample_dict(image="aGVsbG8=")),
    "wrong field type": json.dumps(_sample_dict(seq="1")),
    "negative seq": json.dumps(_sample_dict(seq=-5)),
    "huge number": encode(sample()).replace('"attention":0.2', '"attention":1e999'),
    "NaN": encode(sample()).replace('"attention":0.2', '"attention":NaN'),
    "Infinity": encode(sample()).replace('"confusion":0.3', '"confusion":Infinity'),
    "out of range": json.dumps(_sample_dict(confusion=1.5)),
    "unknown state": json.dumps(_sample_dict(state="sleepy")),
    "long reason": json.dumps(_sample_dict(reasons=["x" * 161])),
    "too many reasons": json.dumps(_sample_dict(reasons=["r"] * 9)),
    "deep nesting": '{"type":"sample","seq":' + "[" * 5000 + "]" * 5000 + "}",
    "bad student id": encode(AGENT_MESSAGES[0]).replace('"pc-07"', '"../../etc"'),
    "empty batch": json.dumps({"type": "batch", "items": []}),
    "nested batch": json.dumps({"type": "batch", "items": [{"type": "batch", "items": []}]}),
    "top-level array": "[1,2,3]",
    "lone surrogate": encode(sample()).replace("no face 6 s", "\\ud800"),
}


@pytest.mark.parametrize("frame", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_frames_are_rejected_with_malformed(frame: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_agent_message(frame)
    assert info.value.code == CloseCode.MALFORMED


def test_oversized_and_binary_frames() -> None:
    big = json.dumps(_sample_dict(reasons=["x"] * 8)) + " " * MAX_FRAME_BYTES
    with pytest.raises(ProtocolError) as info:
        decode_agent_message(big)
    assert info.value.code == CloseCode.TOO_BIG
    with pytest.raises(ProtocolError) as info:
        decode_agent_message(encode(sample()).encode())
    assert info.value.code == CloseCode.MALFORMED


def test_batch_size_is_bounded() -> None:
    items = [json.loads(encode(sample(i + 1))) for i in range(MAX_BATCH_ITEMS + 1)]
    with pytest.raises(ProtocolError):
        decode_agent_message(json.dumps({"type": "batch", "items": items}))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    frame = data.decode("utf-8", errors="replace")
    try:
        decode_agent_message(frame)
    except ProtocolError as exc:
        assert exc.code in (CloseCode.MALFORMED, CloseCode.TOO_BIG)


def test_proofs_are_mutual_and_bound_to_every_input() -> None:
    secret = secrets.token_bytes(32)
    server, client = secrets.token_hex(16), secrets.token_hex(16)
    agent = agent_proof(secret, server, client, "pc-07")
    hub = hub_proof(secret, server, client, "pc-07")
    assert agent != hub, "a hub must not be able to echo the agent's proof back"
    assert proofs_match(agent, agent_proof(secret, server, client, "pc-07"))
    variants = [
        agent_proof(secrets.token_bytes(32), server, client, "pc-07"),
        agent_proof(secret, secrets.token_hex(16), client, "pc-07"),
        agent_proof(secret, server, secrets.token_hex(16), "pc-07"),
        agent_proof(secret, server, client, "pc-08"),
        agent_proof(secret, server, client, "pc-07", fingerprint="ef" * 32),
    ]
    assert not any(proofs_match(agent, v) for v in variants)
