"""`Sample.seat` on the wire: optional like ``fps``, its values bounded by the hub (4422), and
the protocol additions an older hub refuses recognised from its own words and left out."""

from __future__ import annotations

import msgspec
import pytest

from smartsession.core import protocol
from smartsession.core.identity import SeatResult
from smartsession.core.limits import Allowance, Bounds
from smartsession.core.protocol import (
    Addition,
    CloseCode,
    Cues,
    Error,
    Event,
    EventKind,
    ProtocolError,
    Sample,
    SeatStatus,
    refused_addition,
    without,
)
from smartsession.core.states import AlertReason, State

T0 = 1_700_000_000.0
MATCH = SeatStatus(result=SeatResult.MATCH, distance=0.21, checks=1, mismatches=0)


def _sample(seq: int = 1, **changes: object) -> Sample:
    base = Sample(seq=seq, ts=T0, state=State.FOCUSED, attention=0.9, confusion=0.1, faces=1)
    return msgspec.structs.replace(base, **changes)


def test_the_field_is_left_out_unless_set_and_round_trips() -> None:
    assert '"seat"' not in protocol.encode(_sample())
    text = protocol.encode(_sample(seat=MATCH))
    assert '"seat":{"result":"match","distance":0.21,"checks":1,"mismatches":0}' in text
    decoded = protocol.decode_agent_message(text)
    assert isinstance(decoded, Sample) and decoded.seat == MATCH
    not_enrolled = protocol.decode_agent_message(text.replace('"match","distance":0.21', '"not_enrolled"'))
    assert isinstance(not_enrolled, Sample) and not_enrolled.seat == SeatStatus(
        result=SeatResult.NOT_ENROLLED
    )
    # Nothing but the word and numbers: no other field fits in it.
    with pytest.raises(ProtocolError) as refused:
        protocol.decode_agent_message(text.replace('"mismatches":0', '"mismatches":0,"template":[0.1]'))
    assert refused.value.code == CloseCode.MALFORMED


def _allowance() -> Allowance:
    bounds = Bounds(
        session_started=T0 - 10,
        max_skew=120,
        seq_window=10_000,
        quota=100_000,
        items_per_second=20,
        item_burst=2000,
    )
    return Allowance(bounds, last_seq=0, stored=0, now=0.0)


@pytest.mark.parametrize(
    "seat",
    [
        SeatStatus(result=SeatResult.MATCH, distance=0.2, checks=0),
        SeatStatus(result=SeatResult.MATCH, distance=0.2, checks=protocol.MAX_SEAT_CHECKS + 1),
        SeatStatus(result=SeatResult.MATCH, distance=-0.1),
        SeatStatus(result=SeatResult.MISMATCH, distance=9.0, mismatches=1),
        SeatStatus(result=SeatResult.MATCH, distance=None),
        SeatStatus(result=SeatResult.MATCH, distance=0.2, checks=2, mismatches=3),
        SeatStatus(result=SeatResult.MATCH, distance=0.2, checks=1, mismatches=1),
        SeatStatus(result=SeatResult.MISMATCH, distance=0.7, mismatches=0),
        SeatStatus(result=SeatResult.NOT_ENROLLED, distance=0.5),
        SeatStatus(result=SeatResult.NOT_ENROLLED, mismatches=1),
    ],
)
def test_impossible_seat_checks_are_out_of_range(seat: SeatStatus) -> None:
    allowance = _allowance()
    with pytest.raises(ProtocolError) as refused:
        allowance.admit([_sample(seat=seat)], T0, 0.0)
    assert refused.value.code == CloseCode.OUT_OF_RANGE and "item 1: " in refused.value.message
    assert allowance.items == 0  # nothing counted


def test_possible_seat_checks_are_admitted() -> None:
    allowance = _allowance()
    seats = [
        MATCH,
        SeatStatus(result=SeatResult.MISMATCH, distance=0.71, checks=1, mismatches=1),
        SeatStatus(result=SeatResult.MATCH, distance=0.3, checks=3, mismatches=2),
        SeatStatus(result=SeatResult.NOT_ENROLLED),
    ]
    allowance.admit([_sample(i + 1, seat=seat) for i, seat in enumerate(seats)], T0, 0.0)
    assert allowance.items == 4


# Hubs from before an addition -------------------------------------------------------------


_OLD_REASONS = tuple(r.value for r in AlertReason if r is not AlertReason.DIFFERENT_PERSON)


def _old_decoder(*missing: str) -> msgspec.json.Decoder[object]:
    """A strict decoder of samples and events as a hub without ``missing`` had it."""
    import enum

    old_reason = enum.StrEnum("AlertReason", {v.upper(): v for v in _OLD_REASONS})  # type: ignore[misc]
    fields = [
        ("seq", int),
        ("ts", float),
        ("state", State),
        ("attention", float),
        ("confusion", float),
        ("faces", int),
        ("alert", old_reason | None, None),
        ("reasons", tuple[str, ...], ()),
        ("cues", Cues, Cues()),
    ]
    if "fps" not in missing:
        fields.append(("fps", float, 0.0))
    old_sample = msgspec.defstruct(
        "Sample", fields, kw_only=True, forbid_unknown_fields=True, tag_field="type", tag="sample"
    )
    old_event = msgspec.defstruct(
        "Event",
        [
            ("seq", int),
            ("ts", float),
            ("kind", EventKind),
            ("state", State),
            ("reason", old_reason | None, None),
            ("detail", str, ""),
        ],
        kw_only=True,
        forbid_unknown_fields=True,
        tag_field="type",
        tag="event",
    )
    return msgspec.json.Decoder(old_sample | old_event)  # type: ignore[arg-type]


def _refusal(decoder: msgspec.json.Decoder[object], item: Sample | Event) -> Error:
    try:
        decoder.decode(protocol.encode(item))
    except msgspec.ValidationError as exc:
        return Error(code=CloseCode.MALFORMED, message=f"invalid message: {exc}")
    raise AssertionError("the old hub accepted it")


def test_each_addition_is_recognised_in_an_older_hubs_own_refusal_and_left_out() -> None:
    different = _sample(
        state=State.ALERT, alert=AlertReason.DIFFERENT_PERSON, reasons=("seat check differs (0.71)",)
    )
    event = Event(seq=2, ts=T0, kind=EventKind.ALERT, state=State.ALERT, reason=AlertReason.DIFFERENT_PERSON)
    cases = [
        (_old_decoder("fps"), _sample(fps=2.0), Addition.FPS),
        (_old_decoder(), _sample(fps=2.0, seat=MATCH), Addition.SEAT),
        (_old_decoder(), different, Addition.DIFFERENT_PERSON),
        (_old_decoder(), event, Addition.DIFFERENT_PERSON),
    ]
    for decoder, item, addition in cases:
        error = _refusal(decoder, item)
        assert refused_addition(error) is addition, error.message
        decoder.decode(protocol.encode(without(item, frozenset({addition}))))  # now accepted
    # What is left out, and what stays.
    trimmed = without(msgspec.structs.replace(different, fps=2.0, seat=MATCH), frozenset(Addition))
    assert (trimmed.fps, trimmed.seat, trimmed.alert) == (msgspec.UNSET, msgspec.UNSET, None)
    assert trimmed.state is State.ALERT and trimmed.reasons == different.reasons
    assert isinstance(trimmed, Sample)
    assert without(event, frozenset({Addition.SEAT})) == event
    assert without(_sample(seat=MATCH), frozenset({Addition.FPS})).seat == MATCH
    # Other errors are no addition.
    assert (
        refused_addition(Error(code=CloseCode.MALFORMED, message="invalid message: unknown field `x`"))
        is None
    )
    assert refused_addition(Error(code=CloseCode.OUT_OF_RANGE, message="unknown field `seat`")) is None
