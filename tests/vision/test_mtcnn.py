"""MTCNN, the second detector: it finds the turned faces BlazeFace does not, and no lettering,
photo or wall (real networks on frames of the labelled set)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from blazeface_boxes import blazeface_boxes

from smartsession.vision.confirm import same_face
from smartsession.vision.faceset import scene_named, scenes
from smartsession.vision.fine_pass import TILE_SCORE
from smartsession.vision.images import Box
from smartsession.vision.mtcnn import Mtcnn, nms, scales, squared
from smartsession.vision.onet import MIN_SCORE
from smartsession.vision.people import PeopleCounter


@pytest.fixture(scope="module")
def mtcnn() -> Mtcnn:
    return Mtcnn()


def test_the_pyramid_runs_from_the_smallest_face_to_the_largest() -> None:
    pyramid = scales(640, 480, min_face=20.0)
    assert pyramid[0] == pytest.approx(12 / 20)
    assert all(b == pytest.approx(a * 0.709) for a, b in itertools.pairwise(pyramid))
    assert 12 / pyramid[-1] <= 480 < 12 / (pyramid[-1] * 0.709)
    assert len(scales(640, 480, min_face=20.0, max_face=100.0)) < len(pyramid)
    assert scales(640, 480, min_face=50.0, max_face=40.0) == []


def test_suppression_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10, 0.6], [1, 1, 11, 11, 0.9], [50, 50, 60, 60, 0.7], [2, 2, 6, 6, 0.95]], float
    )
    assert list(nms(boxes, 0.5)) == [3, 1, 2]  # the small one overlaps the others little
    assert list(nms(boxes, 0.7, smaller=True)) == [3, 2]  # but lies inside them
    assert squared(np.array([[0, 0, 10, 20, 1.0]]))[0, :4].tolist() == [-5, 0, 15, 20]


def test_it_finds_turned_faces_the_full_range_detector_does_not_see(
    mtcnn: Mtcnn, people_counter: PeopleCounter
) -> None:
    scene = scene_named("heldout/many/029")  # the astronaut, Grace Hopper, and the cameraman at 51 px
    frame = scene.frames[0]
    blaze = blazeface_boxes(people_counter, frame, TILE_SCORE)
    found = [d for d in mtcnn.detect(frame) if d.score >= MIN_SCORE]
    missed = [face for face in scene.faces if not any(same_face(b, face) for b in blaze)]
    assert missed
    assert all(any(same_face(d.box, face) for d in found) for face in scene.faces)
    assert len(found) == len(scene.faces)
    assert all(d.by_mtcnn for d in found)


def test_a_region_gives_boxes_in_the_frames_pixels_and_known_faces_are_skipped(mtcnn: Mtcnn) -> None:
    scene = scene_named("heldout/many/029")
    frame = scene.frames[0]
    whole = mtcnn.detect(frame)
    face = scene.faces[scene.people.index("astronaut")]
    region = Box(face.x0 - 60, face.y0 - 60, face.x1 + 60, face.y1 + 60)
    near = [d for d in mtcnn.detect(frame, region) if same_face(d.box, face)]
    assert len(near) == 1
    best = next(d for d in whole if same_face(d.box, face))
    assert abs(near[0].box.x0 - best.box.x0) < 4 and abs(near[0].box.y1 - best.box.y1) < 4
    assert not any(same_face(d.box, face) for d in mtcnn.detect(frame, known=(face,)))
    runs = mtcnn.runs
    assert mtcnn.detect(frame, Box(0, 0, 8, 8)) == []
    assert mtcnn.runs == runs + 1


def test_it_finds_no_face_in_face_free_scenes(mtcnn: Mtcnn) -> None:
    frames = [frame for scene in scenes("tune", quick=True, kinds=("empty",)) for frame in scene.frames]
    assert len(frames) >= 80
    assert not [d for frame in frames for d in mtcnn.detect(frame) if d.score >= MIN_SCORE]
