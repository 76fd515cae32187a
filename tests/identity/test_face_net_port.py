"""The numpy port of dlib's face-recognition network against dlib itself.

The fixtures in tests/fixtures/identity were made by dlib (scripts/dlib-reference): its
printed network with each layer's output size, its 150x150 chips of the two portraits (and
of 3x enlarged copies, which take its image-pyramid path) from 5 given points, and its
descriptors of those chips.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartsession.vision.dlib_format import DlibFormatError, dlib_net
from smartsession.vision.face_chip import face_chip
from smartsession.vision.face_net import FaceNet, nesting
from smartsession.vision.facephotos import portraits
from smartsession.vision.models import Model, model_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "identity"
REFERENCE = json.loads((FIXTURES / "dlib_reference.json").read_text())


def _dlib_chip(name: str) -> np.ndarray:
    bgr = cv2.imread(str(FIXTURES / f"{name}_dlib_chip.png"), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(bgr[:, :, ::-1])


def test_the_file_reads_as_the_definition_says() -> None:
    net = dlib_net(model_bytes(Model.FACE_RECOGNITION), tuple(node.is_layer for node in nesting()))
    names = [record.name for record in net.layers]
    assert names[0] == "input_rgb_image_sized"
    assert net.layers[0].numbers["avg_red"] == pytest.approx(122.782, abs=1e-4)
    assert net.layers[0].numbers["avg_blue"] == pytest.approx(104.298, abs=1e-4)
    assert [
        names.count(n) for n in ("con_4", "affine_", "relu_", "add_prev_", "avg_pool_2", "max_pool_2", "fc_2")
    ] == [
        29,
        29,
        29,
        14,
        5,
        1,
        1,
    ]
    assert net.loss.numbers["dist_thresh"] == pytest.approx(0.6)
    fc = net.layers[-1]
    assert fc.shapes["weights"][:2] == (256, 128)
    weights = sum(t.size for record in net.layers for t in record.tensors.values())
    assert weights == _parameters_of_the_definition()
    assert len(model_bytes(Model.FACE_RECOGNITION)) - 4 * weights < 20_000  # the rest is small fields


def _parameters_of_the_definition() -> int:
    """Weights the definition implies: every con (k*k*C_in*C_out + C_out), its affine
    (2*C_out), and the 256x128 matrix."""
    total, channels = 0, 3
    for node in reversed(nesting()):
        if node.kind == "con":
            total += node.size * node.size * channels * node.filters + node.filters + 2 * node.filters
            channels = node.filters
    return total + 256 * 128


def test_a_wrong_definition_is_refused() -> None:
    wrong = tuple(node.is_layer for node in nesting())[1:]
    with pytest.raises(DlibFormatError):
        dlib_net(model_bytes(Model.FACE_RECOGNITION), wrong)


def _dlib_shapes() -> list[tuple[str, tuple[int, int, int]]]:
    """dlib's printed layers, bottom up: (kind, (nr, nc, k)), affine layers left out (folded here)."""
    shapes = []
    pattern = re.compile(r"output size=\(num:1, k:(\d+),\s+nr:(\d+),\s+nc:(\d+)\)\s+(\w+)(.*)")
    for line in (FIXTURES / "dlib_net.txt").read_text().splitlines():
        match = pattern.search(line)
        if match is None:
            continue
        k, nr, nc, kind, rest = match.groups()
        if kind == "affine":
            continue
        kind = {
            "fc_no_bias": "fc",
            "add_prev1": "add_prev",
            "add_prev2": "add_prev",
            "tag1": "tag",
            "tag2": "tag",
            "skip1": "skip",
        }.get(kind, kind)
        if kind == "avg_pool" and "nr=0" in rest:
            kind = "avg_pool_all"
        shapes.append((kind, (int(nr), int(nc), int(k))))
    return list(reversed(shapes))


def test_every_layer_has_the_output_size_dlib_prints(net: FaceNet) -> None:
    trace: list[tuple[str, tuple[int, ...]]] = []
    net.forward(_dlib_chip("grace_hopper"), trace)
    assert trace == _dlib_shapes()
    # The two places where dlib's add of unequal tensors decides the size.
    assert ("add_prev", (4, 4, 256)) in trace and trace[-3] == ("relu", (2, 2, 256))


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_descriptors_equal_dlibs_own(net: FaceNet, case: str) -> None:
    expected = np.asarray(REFERENCE[case]["descriptor"], dtype=np.float32)
    got = net.descriptor(_dlib_chip(case))
    assert got.shape == (128,)
    assert np.abs(got - expected).max() < 1e-5
    assert 1.2 < float(np.linalg.norm(got)) < 1.7  # dlib does not normalise its descriptors


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_chips_equal_dlibs_own(case: str) -> None:
    """Same photo, same 5 points: the chip is dlib's within one grey level on a few pixels."""
    ref = REFERENCE[case]
    photo = next(p for p in portraits() if p.name == ref["photo"])
    factor = ref["upscale"]
    image = photo.image.repeat(factor, axis=0).repeat(factor, axis=1)
    chip = face_chip(image, np.asarray(ref["points"], dtype=np.float64))
    diff = np.abs(chip.astype(int) - _dlib_chip(case).astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001


def test_a_check_costs_under_100_ms_of_cpu(net: FaceNet) -> None:
    import time

    chip = _dlib_chip("astronaut")
    net.descriptor(chip)
    start = time.process_time()
    for _ in range(5):
        net.descriptor(chip)
    assert (time.process_time() - start) / 5 < 0.100
