"""Protocol v1 between agent and hub: message types, encoding, decoding and auth proofs.

Sans-I/O: this module turns bytes into typed messages and back, and computes proofs.
The wire format is one JSON text frame per message, tagged by ``type``; see
``docs/protocol.md`` for the conversation. Decoding is strict: unknown types, unknown
fields, wrong types, oversized strings or lists and non-finite numbers are all rejected
with a `ProtocolError` that carries the close code to use.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Annotated, TypeVar

import msgspec

from smartsession.core.identity import SeatResult
from smartsession.core.states import AlertReason, State
from smartsession.core.text import unsafe_char

#: Integer protocol version; a breaking change bumps it (2: per-machine keys, signed welcome).
PROTOCOL_VERSION = 2
#: Largest frame either side accepts, in bytes.
MAX_FRAME_BYTES = 64 * 1024
#: Most items in one `Batch`.
MAX_BATCH_ITEMS = 256
#: Most reasons carried by one sample.
MAX_REASONS = 8


class CloseCode(enum.IntEnum):
    """WebSocket close codes the hub and the agent use, with the reason in words."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MALFORMED = 4400
    BAD_PROOF = 4401
    BAD_VERSION = 4402
    JOIN_TIMEOUT = 4408
    DUPLICATE_STUDENT = 4409
    TOO_BIG = 4413
    OUT_OF_RANGE = 4422
    RATE_LIMITED = 4429
    HUB_FULL = 4503
    QUOTA_EXCEEDED = 4507


class ProtocolError(Exception):
    """A message broke the protocol; ``code`` says how to close the connection."""

    def __init__(self, code: CloseCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Constrained field types: every float is finite and bounded, every string bounded.
Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Angle = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
SeqOrZero = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
# Patterns end in \Z, not $: msgspec matches with re.search, and $ also matches before a
# trailing newline ("pc-01\n" would pass as a second "pc-01").
Nonce = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32,64}\Z")]
Proof = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
Signature = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{128}\Z")]
Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
ShortText = Annotated[str, msgspec.Meta(max_length=160)]
Version = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Fingerprint = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?\Z")]


class _Message(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type", gc=False
):
    """Base of every wire message.

    ``gc=False``: messages are immutable values that cannot form reference cycles, so the
    garbage collector need not track them (the hub decodes thousands per second).
    """


# hub -> agent ---------------------------------------------------------------------------


class Hello(_Message, tag="hello", frozen=True):
    """First frame from the hub: who it is, a fresh nonce for this connection, and its clock."""

    v: Version
    hub_id: Ident
    class_id: Ident
    nonce: Nonce
    #: The hub's clock (epoch seconds) when it sent this; agents compare their own with it.
    time: Timestamp


class Welcome(_Message, tag="welcome", frozen=True):
    """The hub accepted the join, and proves it holds the class key by a signature.

    ``last_seq`` is the highest seq the hub holds for this student in this session (0 in a
    new session); ``session_started`` is when the session began (hub clock): items older
    than that, less the allowed clock skew, are refused.
    """

    session_id: Ident
    session_started: Timestamp
    last_seq: SeqOrZero
    proof: Signature


class Ack(_Message, tag="ack", frozen=True):
    """Every item up to and including ``seq`` is durable on the hub."""

    seq: SeqOrZero


class Error(_Message, tag="error", frozen=True):
    """Why the hub (or agent) is about to close the connection."""

    code: Annotated[int, msgspec.Meta(ge=1000, le=4999)]
    message: ShortText


# agent -> hub ---------------------------------------------------------------------------


class VisionMode(enum.StrEnum):
    """Where an agent's signals come from, and whether its camera process is cut off the network."""

    ISOLATED = "isolated"
    UNISOLATED = "unisolated"
    SIMULATED = "simulated"
    UNKNOWN = "unknown"


class Join(_Message, tag="join", frozen=True):
    """The agent's answer to `Hello`: identity plus proof of the class secret.

    ``vision`` tells the teacher whether the camera is analysed in a process without
    network access (``isolated``), without that protection (``unisolated``, allowed only by
    the agent's config), or whether the signals are simulated.
    """

    v: Version
    student_id: Ident
    name: Name
    host: Name
    agent_version: Annotated[str, msgspec.Meta(max_length=32)]
    nonce: Nonce
    proof: Proof
    vision: VisionMode = VisionMode.UNKNOWN


class Cues(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Interval means of the observable cues behind a sample (numbers only, no images)."""

    yaw: Angle = 0.0
    pitch: Angle = 0.0
    roll: Angle = 0.0
    gaze_away: Unit = 0.0
    brow_down: Unit = 0.0
    brow_inner_up: Unit = 0.0
    eye_squint: Unit = 0.0
    lip_press: Unit = 0.0
    smile: Unit = 0.0
    eye_closed: Unit = 0.0
    jaw_open: Unit = 0.0
    negative_expression: Unit = 0.0
    face_share: Unit = 0.0


#: Frames per second an agent may say it analysed (`Sample.fps`).
FrameRate = Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)]


#: Largest descriptor distance a seat check may report (dlib's descriptors have norms of
#: about 1.3-1.5, so two of them are never 4 apart).
MAX_SEAT_DISTANCE = 4.0
#: Most seat checks one sample may count (one per analysed frame at most).
MAX_SEAT_CHECKS = 1000


class SeatStatus(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """The seat checks that ran in one sample's interval (`Sample.seat`; usually one).

    ``result`` and ``distance`` are the latest check's (``distance`` None when nobody is
    enrolled on the machine); ``checks`` counts the interval's checks, ``mismatches`` those
    of them that did not match. No descriptor, template or image: a word and numbers. The
    hub checks the values (`seat_problem`; 4422 when impossible).
    """

    result: SeatResult
    distance: float | None = None
    checks: int = 1
    mismatches: int = 0


def seat_problem(seat: SeatStatus) -> str | None:
    """Why ``seat`` cannot be what an agent saw (out of range or self-contradicting), or None."""
    if not 1 <= seat.checks <= MAX_SEAT_CHECKS:
        return f"{seat.checks} seat checks in one sample (1..{MAX_SEAT_CHECKS})"
    if not 0 <= seat.mismatches <= seat.checks:
        return f"{seat.mismatches} seat-check mismatches of {seat.checks} checks"
    if seat.result is SeatResult.NOT_ENROLLED:
        if seat.distance is not None or seat.mismatches:
            return "a seat check without enrolment has no distance and no mismatch"
        return None
    if seat.distance is None or not 0.0 <= seat.distance <= MAX_SEAT_DISTANCE:
        return f"seat-check distance {seat.distance} (0..{MAX_SEAT_DISTANCE:g})"
    if seat.result is SeatResult.MISMATCH and seat.mismatches < 1:
        return "the latest seat check is a mismatch but none is counted"
    if seat.result is SeatResult.MATCH and seat.mismatches >= seat.checks:
        return "the latest seat check matches but every check is counted as a mismatch"
    return None


class Sample(_Message, tag="sample", frozen=True):
    """One interval of a student's engagement: scores, state and the reasons for it.

    ``fps`` is the agent's effective analysis rate over the interval (frames per second);
    ``seat`` the seat checks of the interval, on the samples of intervals that had one.
    Both came after protocol 2's release: they are optional and left out of the JSON while
    unset (`msgspec.UNSET`). Hubs before one refuse it (4400, `refused_addition` names it),
    so an agent sends it only to a hub that has not refused it (see docs/protocol.md,
    "Telemetry"); use `without` for such a hub.
    """

    seq: Seq
    ts: Timestamp
    state: State
    attention: Unit
    confusion: Unit
    faces: Annotated[int, msgspec.Meta(ge=0, le=64)]
    alert: AlertReason | None = None
    reasons: Annotated[tuple[ShortText, ...], msgspec.Meta(max_length=MAX_REASONS)] = ()
    cues: Cues = Cues()
    fps: FrameRate | msgspec.UnsetType = msgspec.UNSET
    seat: SeatStatus | msgspec.UnsetType = msgspec.UNSET


class Addition(enum.StrEnum):
    """A part of protocol 2 added after its release, optional both ways: a hub from before
    it refuses a message that holds it (4400 with msgspec's words, `refusal`), and the agent
    then leaves it out of what it sends that hub (`without`), so nothing is bumped and old
    hubs keep working."""

    #: `Sample.fps`, the analysis rate.
    FPS = "fps"
    #: `Sample.seat`, the seat check.
    SEAT = "seat"
    #: `AlertReason.DIFFERENT_PERSON` in `Sample.alert` and `Event.reason`.
    DIFFERENT_PERSON = "different_person"

    @property
    def refusal(self) -> str:
        """The words in a refusing hub's error message."""
        if self is Addition.DIFFERENT_PERSON:
            return f"Invalid enum value '{self.value}'"
        return f"unknown field `{self.value}`"

    @property
    def description(self) -> str:
        """What it is, for the agent's log."""
        return _ADDITION_WORDS[self]


_ADDITION_WORDS = {
    Addition.FPS: "the analysis rate in samples (sample.fps)",
    Addition.SEAT: "the seat check in samples (sample.seat)",
    Addition.DIFFERENT_PERSON: "the 'different person' alert reason (sent to it without a reason)",
}


def refused_addition(error: Error) -> Addition | None:
    """The `Addition` a hub from before it refused with ``error``, or None for any other error."""
    if error.code != CloseCode.MALFORMED:
        return None
    return next((addition for addition in Addition if addition.refusal in error.message), None)


def without(item: Item, additions: frozenset[Addition]) -> Item:
    """``item`` as a hub that refused ``additions`` accepts it: the fields left out, a
    "different person" alert sent without its reason (the state, reasons and detail still
    say it)."""
    changes: dict[str, object] = {}
    if isinstance(item, Sample):
        if Addition.FPS in additions and item.fps is not msgspec.UNSET:
            changes["fps"] = msgspec.UNSET
        if Addition.SEAT in additions and item.seat is not msgspec.UNSET:
            changes["seat"] = msgspec.UNSET
        if Addition.DIFFERENT_PERSON in additions and item.alert is AlertReason.DIFFERENT_PERSON:
            changes["alert"] = None
    elif Addition.DIFFERENT_PERSON in additions and item.reason is AlertReason.DIFFERENT_PERSON:
        changes["reason"] = None
    return msgspec.structs.replace(item, **changes) if changes else item


class EventKind(enum.StrEnum):
    """What an `Event` reports."""

    STATE = "state"
    ALERT = "alert"
    ALERT_CLEARED = "alert_cleared"


class Event(_Message, tag="event", frozen=True):
    """A discrete change: the state changed, or an alert started or ended."""

    seq: Seq
    ts: Timestamp
    kind: EventKind
    state: State
    reason: AlertReason | None = None
    detail: ShortText = ""


class Batch(_Message, tag="batch", frozen=True):
    """Several samples and events in one frame, in seq order (used for replay)."""

    items: Annotated[tuple[Sample | Event, ...], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


HubMessage = Hello | Welcome | Ack | Error
AgentMessage = Join | Sample | Event | Batch
Item = Sample | Event

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_agent_decoder = msgspec.json.Decoder(AgentMessage)
_hub_decoder = msgspec.json.Decoder(HubMessage)


def encode(message: HubMessage | AgentMessage) -> str:
    """Encode a message as one JSON text frame."""
    return _encoder.encode(message).decode()


def _decode(decoder: msgspec.json.Decoder[T], frame: str | bytes) -> T:
    if isinstance(frame, bytes):
        raise ProtocolError(CloseCode.MALFORMED, "binary frames are not part of the protocol")
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(CloseCode.TOO_BIG, f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        return decoder.decode(frame)
    except msgspec.ValidationError as exc:
        raise ProtocolError(CloseCode.MALFORMED, f"invalid message: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(CloseCode.MALFORMED, f"not valid JSON: {exc}") from None


def decode_agent_message(frame: str | bytes) -> AgentMessage:
    """Decode a frame sent by an agent, or raise `ProtocolError`.

    Besides the types, every string the agent wrote (name, host, agent version, reasons,
    details) must be free of control characters (`smartsession.core.text`): 4400 otherwise.
    """
    message: AgentMessage = _decode(_agent_decoder, frame)
    # The hub's hot path, so no msgspec ``pattern`` (a regex per string doubled the decode
    # time of a typical sample). A frame of ASCII without a backslash or DEL cannot decode to
    # a string holding an unsafe character: JSON refuses raw C0 controls, C1, U+2028/9 and the
    # bidi controls are not ASCII, and an escape needs a backslash. Only other frames need a
    # look at each string.
    plain = isinstance(frame, str) and frame.isascii() and "\\" not in frame and "\x7f" not in frame
    if not plain:
        _check_text(message)
    return message


def _check_text(message: AgentMessage) -> None:
    """Refuse (4400) a message whose strings hold an unsafe character, naming the field."""
    items = message.items if isinstance(message, Batch) else (message,)
    for item in items:
        if isinstance(item, Sample):
            if not "".join(item.reasons).isprintable():  # then none is unsafe
                _refuse_unsafe("sample.reasons", item.reasons)
        elif isinstance(item, Event):
            _refuse_unsafe("event.detail", (item.detail,))
        else:
            _refuse_unsafe("join.name", (item.name,))
            _refuse_unsafe("join.host", (item.host,))
            _refuse_unsafe("join.agent_version", (item.agent_version,))


def _refuse_unsafe(where: str, texts: tuple[str, ...]) -> None:
    for text in texts:
        char = unsafe_char(text)
        if char is not None:
            raise ProtocolError(
                CloseCode.MALFORMED, f"invalid message: control character U+{ord(char):04X} in {where}"
            )


def decode_hub_message(frame: str | bytes) -> HubMessage:
    """Decode a frame sent by a hub, or raise `ProtocolError`."""
    message: HubMessage = _decode(_hub_decoder, frame)
    return message


# Proofs ---------------------------------------------------------------------------------


def _material(role: bytes, *parts: str) -> bytes:
    return b"|".join((b"smartsession", str(PROTOCOL_VERSION).encode(), role, *(p.encode() for p in parts)))


def agent_proof(
    machine_key: bytes, server_nonce: str, client_nonce: str, student_id: str, fingerprint: str = ""
) -> str:
    """The proof an agent puts in `Join`: HMAC-SHA256 with its machine key, hex.

    ``machine_key`` is `smartsession.core.keys.machine_key` for ``student_id``; the hub
    derives the same key from the class key. ``fingerprint`` is the SHA-256 of the hub's TLS
    certificate as the agent saw it ("" on an insecure link), which binds the proof to it.
    """
    material = _material(b"agent", server_nonce, client_nonce, student_id, fingerprint)
    return hmac.new(machine_key, material, hashlib.sha256).hexdigest()


def hub_proof_material(
    server_nonce: str,
    client_nonce: str,
    student_id: str,
    fingerprint: str,
    welcome: Welcome,
) -> bytes:
    """What the hub signs for `Welcome.proof`: both nonces, the student, the certificate and
    the welcome's own fields (its ``proof`` aside)."""
    return _material(
        b"hub",
        server_nonce,
        client_nonce,
        student_id,
        fingerprint,
        welcome.session_id,
        repr(float(welcome.session_started)),
        str(welcome.last_seq),
    )


def proofs_match(expected: str, given: str) -> bool:
    """Compare two proofs in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())
