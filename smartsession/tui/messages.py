"""Messages the app posts to itself from the feed listener.

The listener runs on the event loop for every roster event, so it only posts one of these;
the handlers store the latest data and the app redraws on its own schedule.
"""

from __future__ import annotations

from textual.message import Message

from smartsession.core.classwide import Spike
from smartsession.core.snapshots import AlertRecord, SegmentStats, StudentSnapshot


class StudentUpdated(Message):
    """A student's latest snapshot.

    High rate (one per sample per student), so a newer update for the same student
    replaces one still waiting in the queue.
    """

    def __init__(self, student: StudentSnapshot) -> None:
        super().__init__()
        self.student = student

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot of the same student supersedes a queued one."""
        return isinstance(message, StudentUpdated) and message.student.student_id == self.student.student_id


class AlertArrived(Message):
    """A new alert the teacher should notice."""

    def __init__(self, alert: AlertRecord) -> None:
        super().__init__()
        self.alert = alert


class SegmentUpdated(Message):
    """A segment began or ended, or its Confused share moved; a newer one replaces a queued one."""

    def __init__(self, segment: SegmentStats) -> None:
        super().__init__()
        self.segment = segment

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SegmentUpdated) and message.segment.index == self.segment.index


class ClassAlertUpdated(Message):
    """A class alert (a confusion spike) was raised or cleared."""

    def __init__(self, spike: Spike) -> None:
        super().__init__()
        self.spike = spike


class ClassReloaded(Message):
    """The hub restored the class from its store (a resumed session): read it all again."""
