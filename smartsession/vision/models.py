"""The model files shipped in `smartsession.models`, located and verified by sha256.

Call `model_path` (or `model_bytes`) to get a verified model; a file that is missing or
does not match its recorded digest raises `ModelError` naming the file.
"""

from __future__ import annotations

import enum
import hashlib
from importlib import resources
from pathlib import Path

from smartsession.errors import SmartSessionError


class Model(enum.StrEnum):
    """The shipped models, by file name."""

    FACE_LANDMARKER = "face_landmarker.task"
    FER = "emotion_model_quantized.tflite"
    FACE_DETECTOR_FULL_RANGE = "face_detection_full_range_sparse.tflite"
    FACE_DETECTOR_SHORT_RANGE = "face_detection_short_range.tflite"
    FACE_RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"
    MTCNN_PNET = "mtcnn_pnet.onnx"
    MTCNN_RNET = "mtcnn_rnet.onnx"
    MTCNN_ONET = "mtcnn_onet.onnx"


#: sha256 of each shipped file, as recorded in PROVENANCE.md.
SHA256: dict[Model, str] = {
    Model.FACE_LANDMARKER: "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    Model.FER: "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
    Model.FACE_DETECTOR_FULL_RANGE: "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    Model.FACE_DETECTOR_SHORT_RANGE: "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    Model.FACE_RECOGNITION: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    Model.MTCNN_PNET: "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
    Model.MTCNN_RNET: "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
    Model.MTCNN_ONET: "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
}


class ModelError(SmartSessionError):
    """A shipped model file is missing or corrupt; reinstall SmartSession to fix it."""

    exit_code = 5

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"model file {path}: {problem}; reinstall smartsession to restore it")


def models_dir() -> Path:
    """The folder holding the shipped model files."""
    return Path(str(resources.files("smartsession.models")))


def verify(path: Path, expected_sha256: str) -> bytes:
    """Read ``path`` and return its bytes if its sha256 matches, else raise `ModelError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(path, f"cannot be read ({exc.strerror or exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ModelError(path, f"sha256 is {digest}, expected {expected_sha256} (file corrupt or replaced)")
    return data


def model_bytes(model: Model) -> bytes:
    """The verified contents of ``model``; raises `ModelError` if missing or corrupt."""
    return verify(models_dir() / model.value, SHA256[model])


def model_path(model: Model) -> Path:
    """The verified path of ``model``; raises `ModelError` if missing or corrupt.

    The file is read once to check it; prefer `model_bytes` where the loader accepts a
    buffer, so the checked bytes are the ones used.
    """
    path = models_dir() / model.value
    verify(path, SHA256[model])
    return path
