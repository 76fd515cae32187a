"""The third opinion: MTCNN's ONet takes a turned face for a face, and no lettering or photo."""

from __future__ import annotations

import numpy as np
import pytest
from blazeface_boxes import blazeface_boxes

from smartsession.vision.confirm import FaceCheck, same_face
from smartsession.vision.faceset import scene_named, scenes
from smartsession.vision.onet import MIN_SCORE, OnetCheck
from smartsession.vision.people import PeopleCounter
from smartsession.vision.pipeline import CANDIDATE_SCORE


@pytest.fixture(scope="module")
def onet() -> OnetCheck:
    return OnetCheck()


def test_real_faces_score_as_faces(
    onet: OnetCheck, people_counter: PeopleCounter, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    for image in (grace_hopper, astronaut):
        detection = people_counter.detect(image)[0]
        assert onet.score(image, detection.box) > MIN_SCORE
    assert onet.runs == 2


def test_a_cameraman_the_other_checks_miss_is_confirmed_by_onet(onet: OnetCheck) -> None:
    scene = scene_named("heldout/many/074")
    frame, face = scene.frames[0], scene.faces[scene.people.index("cameraman")]
    counter = PeopleCounter(min_score=CANDIDATE_SCORE)
    boxes = blazeface_boxes(counter, frame)
    box = next(b for b in boxes if same_face(b, face))
    check = FaceCheck(onet=onet)
    try:
        assert not check.confirms(frame, box)  # the landmarker alone
        assert check.confirms(frame, box, second_opinion=True)
        assert check.cascade_runs == 1 and check.onet_runs == 1  # the cascades said no too
    finally:
        check.close()


def test_onet_confirms_nothing_the_counter_finds_in_face_free_scenes(onet: OnetCheck) -> None:
    counter = PeopleCounter(min_score=0.2)  # the fine pass's floor on a tile
    candidates = 0
    for scene in scenes("tune", kinds=("empty",)):
        if scene.maker not in ("letters", "photo", "wall"):
            continue
        frame = scene.frames[0]
        for box in blazeface_boxes(counter, frame):
            candidates += 1
            assert not onet.confirms(frame, box), (scene.name, box)
    assert candidates >= 20
