"""Regenerate tests/fixtures/identity from dlib itself (see docs/identity.md).

Needs the `reference` program built from reference.cpp against dlib's source:
    git clone https://github.com/davisking/dlib && cd dlib
    g++ -std=c++17 -O2 -DDLIB_NO_GUI_SUPPORT -I. PATH/reference.cpp dlib/all/source.cpp -lpthread -o reference
then: python scripts/dlib-reference/make_fixture.py PATH/TO/reference
For each test portrait (and a 3x enlarged copy, which takes dlib's pyramid path) it gives
dlib the photo and 5 points (from MediaPipe here, rounded), keeps dlib's 150x150 chip as a
PNG and dlib's descriptor of it in dlib_reference.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from smartsession.vision.face_chip import five_points
from smartsession.vision.facephotos import portraits
from smartsession.vision.landmarks import FaceLandmarker
from smartsession.vision.models import Model, model_path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "identity"


def main(reference: str) -> None:
    cases: dict[str, dict[str, object]] = {}
    with FaceLandmarker(max_faces=1, details=False) as landmarker, tempfile.TemporaryDirectory() as tmp:
        for photo in portraits():
            height, width = photo.image.shape[:2]
            points = np.rint(five_points(landmarker.detect(photo.image)[0].landmarks, width, height)).astype(
                int
            )
            for factor in (1, 3):
                name = photo.name if factor == 1 else f"{photo.name}_x{factor}"
                image = photo.image.repeat(factor, axis=0).repeat(factor, axis=1)
                pts = points * factor + (factor - 1) // 2
                raw, chip = Path(tmp) / "image.raw", Path(tmp) / "chip.raw"
                np.ascontiguousarray(image[:, :, ::-1]).tofile(raw)
                args = [reference, str(model_path(Model.FACE_RECOGNITION)), "align", str(raw)]
                args += [str(image.shape[0]), str(image.shape[1]), *map(str, pts.reshape(-1)), str(chip)]
                out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
                rgb = np.fromfile(chip, dtype=np.uint8).reshape(150, 150, 3)
                cv2.imwrite(str(FIXTURES / f"{name}_dlib_chip.png"), rgb[:, :, ::-1])
                cases[name] = {
                    "photo": photo.name,
                    "upscale": factor,
                    "points": pts.tolist(),
                    "descriptor": [float(v) for v in out.split()],
                }
    (FIXTURES / "dlib_reference.json").write_text(json.dumps(cases, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
