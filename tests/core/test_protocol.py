"""Protocol v1: round trips, strict decoding, and the mutual HMAC proofs."""

from __future__ import annotations

import json
import secrets

import msgspec
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
    hub_proof_material,
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
    Hello(v=2, hub_id="hub-1", class_id="room-101", nonce=NONCE, time=1_700_000_000.5),
    Welcome(session_id="s-20261123", session_started=1_700_000_000.0, last_seq=41, proof="ef" * 64),
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


def test_agent_proof_is_bound_to_every_input() -> None:
    key = secrets.token_bytes(32)
    server, client = secrets.token_hex(16), secrets.token_hex(16)
    agent = agent_proof(key, server, client, "pc-07")
    assert proofs_match(agent, agent_proof(key, server, client, "pc-07"))
    variants = [
        agent_proof(secrets.token_bytes(32), server, client, "pc-07"),
        agent_proof(key, secrets.token_hex(16), client, "pc-07"),
        agent_proof(key, server, secrets.token_hex(16), "pc-07"),
        agent_proof(key, server, client, "pc-08"),
        agent_proof(key, server, client, "pc-07", fingerprint="ef" * 32),
    ]
    assert not any(proofs_match(agent, v) for v in variants)


def test_hub_proof_material_covers_the_welcome_and_differs_from_the_agents() -> None:
    server, client = secrets.token_hex(16), secrets.token_hex(16)
    welcome = Welcome(session_id="s1", session_started=1_700_000_000.25, last_seq=7, proof="0" * 128)
    material = hub_proof_material(server, client, "pc-07", "ab" * 32, welcome)
    assert b"|hub|" in material and b"|agent|" not in material
    changed = [
        hub_proof_material(client, server, "pc-07", "ab" * 32, welcome),
        hub_proof_material(server, client, "pc-08", "ab" * 32, welcome),
        hub_proof_material(server, client, "pc-07", "", welcome),
        hub_proof_material(server, client, "pc-07", "ab" * 32, msgspec.structs.replace(welcome, last_seq=8)),
        hub_proof_material(
            server, client, "pc-07", "ab" * 32, msgspec.structs.replace(welcome, session_id="s2")
        ),
        hub_proof_material(
            server,
            client,
            "pc-07",
            "ab" * 32,
            msgspec.structs.replace(welcome, session_started=1_700_000_000.5),
        ),
    ]
    assert material not in changed and len(set(changed)) == len(changed)
    # The signature itself is not part of what is signed.
    assert (
        hub_proof_material(
            server, client, "pc-07", "ab" * 32, msgspec.structs.replace(welcome, proof="1" * 128)
        )
        == material
    )
