"""The course view: the sections of one course side by side (pure: built from session reports).

A course is the sessions whose ``[class] course`` is its name, or whose class id starts
with it (`smartsession.school.readers.course_sessions`). Each session's report
(`smartsession.report.model.build_report`) gives one row of the sessions table; each
lecture segment label (compared case-insensitively, spaces collapsed) gives one row of the
labels table with a cell per section: the share of that section's samples within segments
of that label that were Confused, or not attending, pooled over its sessions ("recursion":
22% confused in 10A, 41% in 10B), and the class alerts (confusion spikes) raised in them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smartsession.core.wording import words_for
from smartsession.report.items import SessionReport

#: Course report format version, in the JSON document.
SCHEMA = "smartsession.course/1"


@dataclass(frozen=True)
class SectionSession:
    """One session of the course: which section, when, and the class over the whole session."""

    class_id: str
    hub_id: str
    session_id: str
    started_at: float
    duration_minutes: float
    present: int
    late: int
    absent: int
    alerts: int
    class_alerts: int
    samples: int
    mean_attention: float | None
    confused_share: float | None
    not_attending_share: float | None


@dataclass(frozen=True)
class LabelCell:
    """One segment label in one section, pooled over the section's sessions."""

    sessions: int
    samples: int
    confused_share: float | None
    not_attending_share: float | None
    class_alerts: int = 0


@dataclass(frozen=True)
class LabelRow:
    """One segment label across the sections (a section that never used it has no cell)."""

    label: str
    cells: dict[str, LabelCell]


@dataclass(frozen=True)
class CourseReport:
    """Everything the course view shows."""

    course: str
    sections: tuple[str, ...]
    sessions: tuple[SectionSession, ...]
    labels: tuple[LabelRow, ...]
    meaning: str = ""
    #: The label mode the view is worded in ("states" or "cues", `smartsession.core.wording`).
    label_mode: str = "states"
    schema: str = SCHEMA


def label_key(label: str) -> str:
    """How labels are matched across sections: case-insensitive, spaces collapsed."""
    return " ".join(label.split()).casefold()


class _Pool:
    """Sums of a share weighted by its sample count."""

    def __init__(self) -> None:
        self.samples = 0
        self.class_alerts = 0
        self.sessions: set[str] = set()
        self._sums: dict[str, float] = {}
        self._weights: dict[str, int] = {}

    def add(self, samples: int, **shares: float | None) -> None:
        self.samples += samples
        for name, share in shares.items():
            if share is not None and samples:
                self._sums[name] = self._sums.get(name, 0.0) + share * samples
                self._weights[name] = self._weights.get(name, 0) + samples

    def share(self, name: str) -> float | None:
        weight = self._weights.get(name, 0)
        return self._sums[name] / weight if weight else None


def _exact(count: int, samples: int) -> float | None:
    """A share from its counts (the report's shares are rounded; pooling them would add the errors)."""
    return count / samples if samples else None


def _session_row(report: SessionReport) -> SectionSession:
    whole = _Pool()
    for segment in report.segments:
        whole.add(
            segment.samples,
            attention=segment.mean_attention,
            confused=_exact(segment.confused, segment.samples),
            not_attending=_exact(segment.not_attending, segment.samples),
        )
    counts = report.counts
    return SectionSession(
        class_id=report.class_id,
        hub_id=report.hub_id,
        session_id=report.session_id,
        started_at=report.started_at,
        duration_minutes=report.duration_minutes,
        present=counts.get("students_present", 0),
        late=counts.get("students_late", 0),
        absent=counts.get("students_absent", 0),
        alerts=counts.get("alerts", 0),
        class_alerts=counts.get("class_alerts", 0),
        samples=counts.get("samples", 0),
        mean_attention=whole.share("attention"),
        confused_share=whole.share("confused"),
        not_attending_share=whole.share("not_attending"),
    )


def build_course_report(
    course: str, reports: Iterable[SessionReport], label_mode: str = "states"
) -> CourseReport:
    """The course view of ``reports`` (the sessions of ``course``), sessions oldest first."""
    ordered: Sequence[SessionReport] = sorted(reports, key=lambda r: (r.started_at, r.class_id, r.session_id))
    sections = tuple(sorted({r.class_id for r in ordered}))
    labels: dict[str, str] = {}
    first_seen: dict[str, float] = {}
    pools: dict[tuple[str, str], _Pool] = {}
    for report in ordered:
        for segment in report.segments:
            key = label_key(segment.label)
            labels.setdefault(key, " ".join(segment.label.split()))
            first_seen[key] = min(first_seen.get(key, segment.start), segment.start)
            pool = pools.setdefault((key, report.class_id), _Pool())
            pool.sessions.add(f"{report.hub_id}/{report.session_id}")
            pool.class_alerts += segment.class_alerts
            pool.add(
                segment.samples,
                confused=_exact(segment.confused, segment.samples),
                not_attending=_exact(segment.not_attending, segment.samples),
            )
    rows = []
    for key in sorted(labels, key=lambda k: (first_seen[k], k)):
        cells = {
            section: LabelCell(
                sessions=len(found.sessions),
                samples=found.samples,
                confused_share=found.share("confused"),
                not_attending_share=found.share("not_attending"),
                class_alerts=found.class_alerts,
            )
            for section in sections
            if (found := pools.get((key, section))) is not None
        }
        rows.append(LabelRow(labels[key], cells))
    return CourseReport(
        course=course,
        sections=sections,
        sessions=tuple(_session_row(r) for r in ordered),
        labels=tuple(rows),
        meaning=words_for(label_mode).meaning,
        label_mode=words_for(label_mode).mode,
    )
