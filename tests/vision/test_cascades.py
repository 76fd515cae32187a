"""The second opinion: Haar cascades confirm a face the landmarker cannot fit, and no lettering."""

from __future__ import annotations

import pytest

from smartsession.vision.cascades import CascadeCheck
from smartsession.vision.confirm import FaceCheck, same_face
from smartsession.vision.faceset import PLAN, Scene, make_scene, scenes
from smartsession.vision.people import PeopleCounter
from smartsession.vision.pipeline import CANDIDATE_SCORE


@pytest.fixture(scope="module")
def check() -> FaceCheck:
    with_check = FaceCheck()
    yield with_check  # type: ignore[misc]
    with_check.close()


def held_out_scene(maker: str, number: int) -> Scene:
    """Scene ``number`` of ``maker`` in the held-out split, made alone."""
    index = 0
    for name, kind, count, _ in PLAN:
        if name == maker:
            return make_scene("heldout", maker, kind, number, index + number)
        index += count
    raise KeyError(maker)


def test_a_face_half_hidden_behind_a_camera_is_confirmed_by_the_second_opinion(check: FaceCheck) -> None:
    # The cameraman, 86 px wide on a wall: the counter finds him, the landmarker does not.
    scene = held_out_scene("one", 251)
    assert scene.people == ("cameraman",)
    frame, face = scene.frames[0], scene.faces[0]
    detection = next(d for d in PeopleCounter().detect(frame) if same_face(d.box, face))
    assert not check.confirms(frame, detection.box)
    assert check.confirms(frame, detection.box, second_opinion=True)
    assert check.cascade_runs == 1


def test_the_cascades_confirm_no_candidate_the_counter_finds_in_lettering() -> None:
    counter = PeopleCounter(min_score=CANDIDATE_SCORE)
    cascades = CascadeCheck()
    candidates = 0
    for scene in scenes("tune", kinds=("empty",)):
        if scene.maker != "letters":
            continue
        for frame in scene.frames[:1]:
            for detection in counter.detect(frame):
                candidates += 1
                assert not cascades.confirms(frame, detection.box), (scene.name, detection)
    assert candidates >= 10
