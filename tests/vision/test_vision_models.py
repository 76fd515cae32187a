"""Shipped model files are found through importlib.resources and checked by sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartsession.vision import models
from smartsession.vision.models import Model, ModelError


def test_every_shipped_model_verifies() -> None:
    for model in Model:
        path = models.model_path(model)
        assert path.is_file()
        assert path.parent == models.models_dir()
    assert (models.models_dir() / "licenses").is_dir()
    assert (models.models_dir() / "PROVENANCE.md").is_file()


def test_a_corrupt_file_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "emotion_model_quantized.tflite"
    bad.write_bytes(models.model_bytes(Model.FER)[:-1] + b"\x00")
    with pytest.raises(ModelError, match=r"emotion_model_quantized\.tflite.*sha256") as info:
        models.verify(bad, models.SHA256[Model.FER])
    assert info.value.path == bad
    assert "reinstall" in str(info.value)


def test_a_missing_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.task.*cannot be read"):
        models.verify(tmp_path / "missing.task", "0" * 64)
