"""The class events of a session (schema version 5): confusion spikes and the hub's own outages.

A spike is written when the roster raises it and again when it clears; a hub that starts
again after a crash (a resumed session, `repair_resumed`) closes what the crash left open:
each connection at the last item the hub stored from its student, a spike at the last
activity, and records the gap it was down as a ``hub_offline`` event. `read_resumed` gives
the roster back what the store holds of the session (`smartsession.core.roster.Roster.restore`).

Plain SQL over a `sqlite3.Connection` (the store's writer thread, or a report's own connection).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec

from smartsession.core.classwide import Spike
from smartsession.core.protocol import SeatStatus
from smartsession.core.roster import RestoredStudent
from smartsession.core.snapshots import AlertRecord, HubGap
from smartsession.core.states import AlertReason, State

#: Columns of ``class_events`` in the order `spike_row` gives them.
COLUMNS = (
    "session_id",
    "kind",
    "number",
    "started_at",
    "ended_at",
    "onset",
    "present",
    "peak",
    "segment",
    "students",
)
_REASONS = frozenset(reason.value for reason in AlertReason)
#: Upsert of one class event (a spike is written when raised, then when cleared).
UPSERT = (
    f"INSERT INTO class_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (session_id, kind, number) DO UPDATE SET ended_at = excluded.ended_at,"
    " peak = excluded.peak"
)


def spike_row(session_id: str, spike: Spike) -> tuple[Any, ...]:
    """A spike as a ``class_events`` row (`COLUMNS` order)."""
    return (
        session_id,
        "spike",
        spike.index,
        spike.raised_at,
        spike.ended_at,
        spike.onset,
        spike.present,
        spike.peak,
        spike.segment,
        " ".join(spike.students),
    )


def last_activity(conn: sqlite3.Connection, session_id: str) -> float:
    """The latest moment anything of the session was stored (hub clock), or its start."""
    row = conn.execute(
        "SELECT MAX(a) FROM ("
        "SELECT started_at AS a FROM sessions WHERE id = ?1"
        " UNION ALL SELECT MAX(last_seen) FROM students WHERE session_id = ?1"
        " UNION ALL SELECT MAX(MAX(connected_at, COALESCE(disconnected_at, 0))) FROM connections"
        " WHERE session_id = ?1"
        " UNION ALL SELECT MAX(started_at) FROM segments WHERE session_id = ?1"
        " UNION ALL SELECT MAX(COALESCE(ended_at, started_at)) FROM class_events WHERE session_id = ?1)",
        (session_id,),
    ).fetchone()
    return float(row[0] or 0.0)


def repair_resumed(conn: sqlite3.Connection, session_id: str, now: float) -> HubGap:
    """Close what a crash left open in a resumed session and record the gap; returns it.

    Connections still open end at their student's last stored item (``students.last_seen``,
    the hub's clock; never before they began), an open spike ends at the last activity, and
    a ``hub_offline`` event spans from the last activity to ``now``.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = min(now, last_activity(conn, session_id))
        stranded = [
            str(sid)
            for (sid,) in conn.execute(
                "SELECT DISTINCT student_id FROM connections WHERE session_id = ? AND disconnected_at IS NULL"
                " ORDER BY student_id",
                (session_id,),
            )
        ]
        conn.execute(
            "UPDATE connections SET disconnected_at = MAX(connected_at, MIN(?2, COALESCE((SELECT last_seen"
            " FROM students s WHERE s.session_id = connections.session_id"
            " AND s.student_id = connections.student_id), connected_at)))"
            " WHERE session_id = ?1 AND disconnected_at IS NULL",
            (session_id, last),
        )
        conn.execute(
            "UPDATE class_events SET ended_at = MAX(started_at, ?2)"
            " WHERE session_id = ?1 AND kind = 'spike' AND ended_at IS NULL",
            (session_id, last),
        )
        (number,) = conn.execute(
            "SELECT COUNT(*) + 1 FROM class_events WHERE session_id = ? AND kind = 'hub_offline'",
            (session_id,),
        ).fetchone()
        gap = HubGap(last, max(last, now), tuple(stranded))
        conn.execute(
            UPSERT,
            (
                session_id,
                "hub_offline",
                number,
                gap.start,
                gap.end,
                gap.start,
                len(stranded),
                0,
                None,
                " ".join(stranded),
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return gap


@dataclass(frozen=True)
class Resumed:
    """What a resumed session's roster takes back from the store."""

    students: tuple[RestoredStudent, ...]
    alerts: tuple[AlertRecord, ...]
    spikes: tuple[Spike, ...]
    gaps: tuple[HubGap, ...]


#: The stored seat checks of a sample (`Sample.seat` as the hub writes it, JSON).
_SEAT = msgspec.json.Decoder(SeatStatus)


def read_resumed(conn: sqlite3.Connection, session_id: str) -> Resumed:
    """Students (with their connections and the changes of their states), alerts, spikes and gaps."""
    connections: dict[str, list[tuple[float, float | None]]] = {}
    for sid, start, end in conn.execute(
        "SELECT student_id, connected_at, disconnected_at FROM connections WHERE session_id = ?"
        " ORDER BY connected_at",
        (session_id,),
    ):
        connections.setdefault(str(sid), []).append((float(start), None if end is None else float(end)))
    states: dict[str, list[tuple[float, State]]] = {}
    for sid, ts, state in conn.execute(
        "SELECT student_id, ts, state FROM (SELECT student_id, seq, ts, state,"
        " LAG(state) OVER (PARTITION BY student_id ORDER BY seq) AS previous"
        " FROM samples WHERE session_id = ?) WHERE previous IS NULL OR previous <> state ORDER BY student_id, seq",
        (session_id,),
    ):
        states.setdefault(str(sid), []).append((float(ts), State(state)))
    seats: dict[str, list[tuple[float, SeatStatus]]] = {}
    for sid, ts, seat in conn.execute(
        "SELECT student_id, ts, seat FROM samples WHERE session_id = ? AND seat IS NOT NULL ORDER BY student_id, seq",
        (session_id,),
    ):
        seats.setdefault(str(sid), []).append((float(ts), _SEAT.decode(seat)))
    names: dict[str, str] = {}
    students = []
    for sid, name, host, first_seen in conn.execute(
        "SELECT student_id, name, host, first_seen FROM students WHERE session_id = ? ORDER BY first_seen",
        (session_id,),
    ):
        names[str(sid)] = str(name)
        students.append(
            RestoredStudent(
                str(sid),
                str(name),
                str(host),
                float(first_seen),
                tuple(connections.get(str(sid), ())),
                tuple(states.get(str(sid), ())),
                tuple(seats.get(str(sid), ())),
            )
        )
    alerts = tuple(
        AlertRecord(str(sid), names.get(str(sid), str(sid)), float(ts), AlertReason(reason), str(detail))
        for sid, ts, reason, detail in conn.execute(
            "SELECT student_id, ts, reason, detail FROM events WHERE session_id = ? AND kind = 'alert'"
            " AND reason IS NOT NULL ORDER BY ts",
            (session_id,),
        )
        if reason in _REASONS
    )
    spikes: list[Spike] = []
    gaps: list[HubGap] = []
    for kind, number, started, ended, onset, present, peak, segment, ids in conn.execute(
        "SELECT kind, number, started_at, ended_at, onset, present, peak, segment, students FROM class_events"
        " WHERE session_id = ? ORDER BY kind, number",
        (session_id,),
    ):
        who = tuple(str(ids).split())
        if kind == "spike":
            spikes.append(
                Spike(
                    index=int(number),
                    onset=float(onset),
                    raised_at=float(started),
                    students=who,
                    present=int(present),
                    peak=int(peak),
                    segment=None if segment is None else int(segment),
                    ended_at=None if ended is None else float(ended),
                )
            )
        else:
            gaps.append(HubGap(float(started), float(ended if ended is not None else started), who))
    return Resumed(tuple(students), alerts, tuple(spikes), tuple(gaps))
