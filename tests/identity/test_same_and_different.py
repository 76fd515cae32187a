"""Real faces through the whole path (FaceMesh, the chip, the network): the same person stays
close through light, blur, noise, tilt, turn, size and JPEG; two people stay apart."""

from __future__ import annotations

from smartsession.core.identity import DEFAULT_THRESHOLD
from smartsession.vision.face_net import distance
from smartsession.vision.identity_set import ALTERATIONS, Descriptors, different_distances, same_distances


def test_every_altered_copy_is_found(people: list[Descriptors]) -> None:
    assert [p.person for p in people] == ["grace_hopper", "astronaut"]
    for person in people:
        assert sorted(person.copies) == sorted(name for name, _ in ALTERATIONS)


def test_grace_hopper_and_the_astronaut_are_far_apart(people: list[Descriptors]) -> None:
    grace, astronaut = people
    assert distance(grace.original, astronaut.original) > 0.65
    assert min(different_distances(people)) > DEFAULT_THRESHOLD


def test_each_is_close_to_her_own_altered_copies(people: list[Descriptors]) -> None:
    for person, by_copy in same_distances(people).items():
        assert max(by_copy.values()) < DEFAULT_THRESHOLD, (person, by_copy)
        # Mild changes stay well inside.
        assert by_copy["tilt +10"] < 0.15 and by_copy["warm light"] < 0.15 and by_copy["darker"] < 0.2


def test_the_threshold_sits_in_the_gap(people: list[Descriptors]) -> None:
    same = [d for by_copy in same_distances(people).values() for d in by_copy.values()]
    different = different_distances(people)
    assert max(same) < DEFAULT_THRESHOLD < min(different)
    assert min(different) - max(same) > 0.08
