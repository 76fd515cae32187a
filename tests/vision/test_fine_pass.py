"""The people counter's finer look: tiles swept only when something changed there, and faces
the whole-frame pass cannot see found on them (real detector, real frames of the labelled set)."""

from __future__ import annotations

import numpy as np
import pytest
from blazeface_boxes import blazeface_boxes

from smartsession.vision import fine_pass
from smartsession.vision.benchdata import benchmark_frames
from smartsession.vision.faceset import FRAME_STEP, scene_named
from smartsession.vision.fine_pass import MTCNN_INTERVAL, TILE_SCORE, FinePass, tiles, zoom_region
from smartsession.vision.images import Box
from smartsession.vision.people import PeopleCounter
from smartsession.vision.pipeline import CANDIDATE_SCORE, FrameAnalyzer


def room(seed: int) -> np.ndarray:
    """A 640x480 wall with a gradient and fresh sensor noise from ``seed``."""
    frame = np.full((480, 640, 3), 120, np.float64)
    frame[:, :, 0] = np.linspace(80, 160, 640)[None, :]
    rng = np.random.default_rng(seed)
    return np.clip(frame + rng.normal(0.0, 3.0, frame.shape), 0, 255).astype(np.uint8)


def covers(found: Box, face: Box) -> bool:
    cx, cy = found.centre
    return face.x0 <= cx <= face.x1 and face.y0 <= cy <= face.y1


def test_tiles_are_overlapping_squares_that_cover_the_frame() -> None:
    for width, height in ((640, 480), (320, 240)):
        boxes = tiles(width, height)
        assert len(boxes) == 4
        side = round(0.5625 * width)
        assert all(b.width == side and b.height == side for b in boxes)
        covered = np.zeros((height, width), bool)
        for b in boxes:
            covered[int(b.y0) : int(b.y1), int(b.x0) : int(b.x1)] = True
        assert covered.all()


def test_a_zoom_is_moved_into_the_frame_not_cut() -> None:
    region = zoom_region(Box(600, 440, 640, 480), 640, 480)
    assert (region.width, region.height) == (120, 120)
    assert region.x1 == 640 and region.y1 == 480
    assert zoom_region(Box(100, 100, 140, 140), 640, 480) == Box(60, 60, 180, 180)


def test_tiles_are_swept_first_then_one_at_a_time_where_the_scene_changed(
    people_counter: PeopleCounter,
) -> None:
    fine = FinePass(people_counter)
    fine.sweep(room(0), 0.0)
    assert fine.tile_runs == 4
    fine.sweep(room(1), 5.0)  # sensor noise only
    assert fine.tile_runs == 4
    changed = room(2)
    changed[10:60, 10:60] = 30  # a dark bag on the top-left shelf: in the first tile only
    changed[10:30, 600:620] = 30  # a smaller one top right
    fine.sweep(changed, 5.2)
    assert fine.tile_runs == 5  # one tile: the one that changed most
    assert fine.sweep(changed, 6.0) == [] and fine.tile_runs == 5  # one sweep per 1.5 s
    fine.sweep(changed, 6.8)
    assert fine.tile_runs == 6  # now the top right one
    moved = changed.copy()
    moved[10:60, 10:60] = 200
    fine.sweep(moved, 8.4)
    assert fine.tile_runs == 7
    fine.sweep(moved, 10.0)  # nothing changed since
    assert fine.tile_runs == 7
    fine.reset()
    fine.sweep(moved, 10.2)
    assert fine.tile_runs == 11


def test_mtcnn_searches_the_whole_frame_first_then_a_swept_tile_at_most_every_interval(
    people_counter: PeopleCounter,
) -> None:
    fine = FinePass(people_counter)
    fine.sweep(room(0), 0.0)
    assert (fine.tile_runs, fine.mtcnn.runs) == (4, 1)  # one search of the whole frame
    changed = room(1)
    changed[10:60, 10:60] = 30
    fine.sweep(changed, 5.0)
    assert (fine.tile_runs, fine.mtcnn.runs) == (5, 1)  # BlazeFace only, so soon after
    again = room(2)
    again[10:60, 10:60] = 220
    fine.sweep(again, 5.0 + MTCNN_INTERVAL)
    assert (fine.tile_runs, fine.mtcnn.runs) == (6, 2)
    fine.reset()
    fine.sweep(room(3), 20.0)
    assert (fine.tile_runs, fine.mtcnn.runs) == (10, 3)


def test_the_student_moving_sweeps_nothing(people_counter: PeopleCounter) -> None:
    fine = FinePass(people_counter)
    fine.sweep(room(0), 0.0)
    frame = room(1)
    frame[200:480, 260:380] = 40  # her jumper, below her face
    face = Box(290, 120, 350, 190)
    fine.sweep(frame, 3.0, students=(face,))
    assert fine.tile_runs == 4
    fine.sweep(frame, 3.0)
    assert fine.tile_runs == 5


@pytest.mark.parametrize(
    "name", ["heldout/many/103", "heldout/one/031", "heldout/many/121", "heldout/many/018"]
)
def test_a_face_the_whole_frame_pass_cannot_see_is_found_on_a_tile(name: str) -> None:
    scene = scene_named(name)
    cameraman = scene.faces[scene.people.index("cameraman")]
    whole = PeopleCounter(min_score=CANDIDATE_SCORE).detect(scene.frames[0])
    assert not any(covers(d.box, cameraman) for d in whole)  # not even a candidate
    with FrameAnalyzer(tracking=True) as analyzer:
        counts = [analyzer.analyze(frame, i * FRAME_STEP).faces for i, frame in enumerate(scene.frames)]
        found = analyzer.found.marked + analyzer.found.counted
    assert counts[-1] == len(scene.faces)
    assert any(covers(box, cameraman) for box in found)
    assert counts[0] < len(scene.faces)  # it counts after its confirmations, as any candidate


def test_a_turned_face_scoring_under_the_candidate_floor_on_its_tile_counts_when_onet_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = scene_named("heldout/many/124")
    cameraman = scene.faces[scene.people.index("cameraman")]
    assert not any(
        covers(d.box, cameraman) for d in PeopleCounter(min_score=CANDIDATE_SCORE).detect(scene.frames[0])
    )

    def last_count() -> tuple[int, bool]:
        with FrameAnalyzer(tracking=True) as analyzer:
            counts = [analyzer.analyze(f, i * FRAME_STEP).faces for i, f in enumerate(scene.frames)]
            found = analyzer.found.marked + analyzer.found.counted
        return counts[-1], any(covers(box, cameraman) for box in found)

    assert TILE_SCORE < CANDIDATE_SCORE
    assert last_count() == (3, True)
    monkeypatch.setattr(fine_pass, "ONET_SCORE", 1.01)  # no MTCNN face passes
    assert last_count() == (3, True)
    monkeypatch.setattr(fine_pass, "TILE_SCORE", CANDIDATE_SCORE)  # tiles heard from the usual floor
    assert last_count() == (2, False)


@pytest.mark.parametrize(("name", "people"), [("heldout/many/029", 3), ("heldout/many/037", 2)])
def test_a_turned_face_blazeface_does_not_see_at_all_counts_when_mtcnn_finds_it(
    name: str, people: int, people_counter: PeopleCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = scene_named(name)
    frame = scene.frames[0]
    blaze = blazeface_boxes(people_counter, frame, TILE_SCORE)
    unseen = [face for face in scene.faces if not any(covers(b, face) for b in blaze)]
    assert unseen

    def run() -> tuple[list[int], bool]:
        with FrameAnalyzer(tracking=True) as analyzer:
            counts = [analyzer.analyze(f, i * FRAME_STEP).faces for i, f in enumerate(scene.frames)]
            found = analyzer.found.counted
        return counts, all(any(covers(box, face) for box in found) for face in unseen)

    counts, all_found = run()
    assert counts[-1] == people and all_found
    assert counts[0] < people  # counted after its runs in a row, as any candidate
    monkeypatch.setattr(fine_pass, "ONET_SCORE", 1.01)  # no MTCNN face passes
    counts, all_found = run()
    assert counts[-1] < people and not all_found


def test_a_face_blazeface_found_is_not_searched_for_with_mtcnn_once_it_has_left() -> None:
    one, _, _, both = benchmark_frames()  # Grace Hopper; and with a small second face beside her
    with FrameAnalyzer(tracking=True) as analyzer:
        counts = [analyzer.analyze(both, i * FRAME_STEP).faces for i in range(5)]
        assert counts[-1] == 2
        assert not any(d.by_mtcnn for d in analyzer.found.people)
        searches = analyzer.mtcnn_runs
        counts = [analyzer.analyze(one, (5 + i) * FRAME_STEP).faces for i in range(5)]
        assert counts[-1] == 1
        assert analyzer.mtcnn_runs == searches
