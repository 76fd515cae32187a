"""Following faces over frames: candidates need a run of confirmations, marks need the counter or a run."""

from __future__ import annotations

import numpy as np

from smartsession.vision.confirm import PERSIST_RUNS, Marks, Persistence, same_face
from smartsession.vision.images import Box, crop_around

FACE = Box(100, 100, 160, 170)
NEAR = Box(104, 98, 166, 172)  # the same face a frame later
ELSEWHERE = Box(400, 100, 460, 170)


def test_same_face_is_centre_in_box() -> None:
    assert same_face(FACE, NEAR) and same_face(NEAR, FACE)
    assert not same_face(FACE, ELSEWHERE)
    assert same_face(Box(0, 0, 300, 300), FACE)  # a large box around a small one


def test_a_candidate_counts_after_a_run_of_confirmations() -> None:
    persistence = Persistence()
    for run in range(1, PERSIST_RUNS):
        persistence.update([FACE if run % 2 else NEAR])
        assert persistence.counted == () and persistence.unsettled
    persistence.update([NEAR])
    assert persistence.counted == (NEAR,) and not persistence.unsettled
    assert persistence.established(FACE) and not persistence.established(ELSEWHERE)


def test_a_break_restarts_a_candidate() -> None:
    persistence = Persistence()
    persistence.update([FACE])
    persistence.update([FACE])
    persistence.update([])  # one run without it
    persistence.update([FACE])
    persistence.update([FACE])
    assert persistence.counted == ()
    persistence.update([FACE])
    assert persistence.counted == (FACE,)


def test_a_counted_face_survives_one_miss_and_a_mark_is_a_sighting() -> None:
    persistence = Persistence()
    for _ in range(PERSIST_RUNS):
        persistence.update([FACE])
    persistence.update([])
    assert persistence.counted == (FACE,) and persistence.unsettled
    persistence.update([], marked=(NEAR,))  # the landmarker sees it this time
    assert persistence.counted == (FACE,) and not persistence.unsettled
    persistence.update([])
    persistence.update([])
    assert persistence.counted == ()
    persistence.update([ELSEWHERE])
    persistence.clear()
    assert not persistence.unsettled


def test_a_mark_counts_at_once_with_the_counter_or_after_a_run_of_checks() -> None:
    marks = Marks()
    assert marks.pending((FACE,), people=(NEAR,)) == []
    assert marks.update((FACE,), people=(NEAR,), checked=[]) == (True,)
    assert marks.pending((NEAR,), people=()) == []  # counting already
    assert marks.update((NEAR,), people=(), checked=[]) == (True,)  # still marked: still counts
    other = Marks()
    seen = []
    for _ in range(PERSIST_RUNS):
        assert other.pending((ELSEWHERE,), people=(FACE,)) == [ELSEWHERE]
        seen.append(other.update((ELSEWHERE,), people=(FACE,), checked=[ELSEWHERE]))
    assert seen == [(False,)] * (PERSIST_RUNS - 1) + [(True,)]
    assert other.update((), people=(), checked=[]) == ()
    assert other.update((ELSEWHERE,), people=(), checked=[ELSEWHERE]) == (False,)  # gone a frame: again
    unconfirmed = Marks()
    assert [unconfirmed.update((FACE,), people=(), checked=[]) for _ in range(5)] == [(False,)] * 5
    unconfirmed.clear()
    assert unconfirmed.pending((FACE,), people=()) == [FACE]


def test_crop_around_centres_the_box_and_pads_with_black() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:170, 100:160] = 255
    crop = crop_around(frame, FACE, grow=2.0, size=140)
    assert crop.shape == (140, 140, 3) and crop.flags.c_contiguous
    assert crop[70, 70].tolist() == [255, 255, 255]  # the box's centre
    assert crop[5, 70].tolist() == [0, 0, 0]  # above it
    corner = crop_around(frame, Box(0, 0, 40, 40), grow=2.0, size=80)
    assert corner[0, 0].tolist() == [0, 0, 0] and corner[60, 60].tolist() == [0, 0, 0]


def test_a_face_both_detectors_see_counts_at_once_and_keeps_counting_when_the_landmarker_loses_it() -> None:
    persistence = Persistence()
    persistence.update([], marked=(FACE,), vouched=[FACE])
    assert persistence.counted == (FACE,) and not persistence.unsettled
    assert persistence.established(NEAR)  # the next frame, the landmarker lost it: no check needed
    persistence.update([NEAR])
    assert persistence.counted == (NEAR,)
    persistence.update([])
    assert persistence.counted == () and not persistence.unsettled  # gone from both: gone at once
