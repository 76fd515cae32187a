"""The detail screen's gaze line names where the student looks, and its title the agent's
analysis rate, from what the samples carry."""

from __future__ import annotations

from smartsession.core.protocol import Cues
from smartsession.core.snapshots import StudentSnapshot
from smartsession.core.states import State
from smartsession.tui.screens.detail_screen import gaze_label, source_text


def student(
    cues: Cues, fps: float | None = None, *, faces: int = 1, reasons: tuple[str, ...] = ("focused",)
) -> StudentSnapshot:
    return StudentSnapshot(
        student_id="pc-07",
        name="Ada",
        host="pc-07",
        state=State.FOCUSED,
        alert=None,
        reasons=reasons,
        attention=0.9 if faces else 0.0,
        confusion=0.1,
        faces=faces,
        connected=True,
        joined_at=0.0,
        last_seen=0.0,
        samples=1,
        attention_history=(0.9,),
        confusion_history=(0.1,),
        alerts=0,
        cues=cues,
        vision="isolated",
        fps=fps,
    )


def test_the_gaze_word_stands_beside_gaze_away() -> None:
    assert gaze_label(student(Cues(yaw=1.0, pitch=4.0, gaze_away=0.1, face_share=1.0))) == "gaze away center"
    assert gaze_label(student(Cues(yaw=24.0, pitch=4.0, gaze_away=0.4, face_share=1.0))) == "gaze away left"
    assert gaze_label(student(Cues(yaw=-2.0, pitch=24.0, gaze_away=0.6, face_share=1.0))) == "gaze away down"
    assert len(gaze_label(student(Cues(yaw=-24.0, face_share=1.0)))) <= 16  # fits the label column


def test_no_word_without_a_face() -> None:
    assert gaze_label(student(Cues(face_share=0.0))) == "gaze away"


def test_the_title_says_the_agents_effective_rate_when_it_reports_one() -> None:
    assert source_text(student(Cues(), fps=2.0)) == "camera process without network, 2.0 frames/s analysed"
    assert source_text(student(Cues())) == "camera process without network"
