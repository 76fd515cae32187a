"""``smartsession enroll`` in a subprocess on a real clip of a real face, and the sealed template."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartsession.keys import MachineKey
from smartsession.seat_template import MAGIC, Template, TemplateError, read_template, seal, unseal
from smartsession.vision.face_net import FaceNet, distance
from smartsession.vision.facephotos import portraits
from smartsession.vision.identity_set import describe
from smartsession.vision.landmarks import FaceLandmarker

CLASS_KEY = bytes(range(32))


def _key(student: str = "s07", class_id: str = "cs101") -> MachineKey:
    return MachineKey.derive(CLASS_KEY, class_id, student)


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """A lab machine's folder: its config, its machine key, a 2 s clip of Grace Hopper as the camera."""
    from smartsession.keys import write_machine_key

    write_machine_key(tmp_path / "machine.key", _key())
    clip = tmp_path / "camera.avi"
    image = portraits()[0].image
    frame = np.zeros((480, 640, 3), dtype=np.uint8)  # the portrait kept in shape, as a camera frame
    scaled = cv2.resize(image, (410, 480), interpolation=cv2.INTER_AREA)
    frame[:, 115:525] = scaled
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(20):
        writer.write(frame)
    writer.release()
    (tmp_path / "agent.toml").write_text(
        '[class]\nid = "cs101"\n\n[agent]\nkey_file = "machine.key"\n\n'
        f'[camera]\ndevice = "{clip}"\n\n[identity]\nenabled = true\n'
    )
    return tmp_path


def _enroll(machine: Path, answer: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(machine), "XDG_CONFIG_HOME": str(machine / "xdg")}
    return subprocess.run(
        [sys.executable, "-m", "smartsession", "enroll", "-c", str(machine / "agent.toml"), *extra],
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL if answer is None else None,
    )


def test_without_consent_nothing_is_taken(machine: Path) -> None:
    for answer in (None, "", "no\n", "y\n", "I agree\n"):
        result = _enroll(machine, answer)
        assert result.returncode == 7, result.stderr
        assert (
            "What:" in result.stdout
            and "Delete:" in result.stdout
            and "smartsession enroll --delete" in result.stdout
        )
        assert "nothing was taken or stored" in result.stdout
        assert not (machine / "seat-template.bin").exists()


def test_enrolment_stores_an_owner_only_sealed_template_and_delete_erases_it(
    machine: Path, net: FaceNet
) -> None:
    result = _enroll(machine, "yes\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Enrolled" in result.stdout
    path = machine / "seat-template.bin"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert data.startswith(MAGIC) and len(data) < 1500  # 128 numbers sealed (a chip alone would be 67 KB)
    template = read_template(path, _key())
    assert template is not None and template.frames == 5
    # The template is Grace Hopper's face: her portrait matches it, the astronaut does not.
    with FaceLandmarker(max_faces=1, details=False) as landmarker:
        grace, astronaut = (describe(p.image, landmarker, net) for p in portraits())
    assert grace is not None and astronaut is not None
    stored = np.asarray(template.descriptor, dtype=np.float32)
    assert distance(stored, grace) < 0.3 and distance(stored, astronaut) > 0.52

    result = _enroll(machine, None, "--delete")
    assert result.returncode == 0 and "erased" in result.stdout
    assert not path.exists()
    result = _enroll(machine, None, "--delete")
    assert result.returncode == 0 and "nothing to erase" in result.stdout


def test_the_template_does_not_open_without_this_machines_key() -> None:
    template = Template(tuple(float(i) / 128 for i in range(128)), 5, 1.7e9)
    data = seal(template, _key())
    assert unseal(data, _key(), Path("t")) == template
    for other in (_key("s08"), _key(class_id="cs102"), MachineKey.derive(bytes(32), "cs101", "s07")):
        with pytest.raises(TemplateError, match="does not open"):
            unseal(data, other, Path("t"))
    tampered = bytearray(data)
    tampered[-1] ^= 1
    with pytest.raises(TemplateError):
        unseal(bytes(tampered), _key(), Path("t"))
    # Nothing of the descriptor is readable in the file.
    assert np.float32(template.descriptor[5]).tobytes() not in data


def test_a_clip_without_a_face_stores_nothing(machine: Path) -> None:
    import skimage.data

    clip = machine / "camera.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    coffee = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    for _ in range(10):
        writer.write(coffee)
    writer.release()
    result = _enroll(machine, "yes\n")
    assert result.returncode == 8
    assert "nothing was stored" in result.stderr
    assert not (machine / "seat-template.bin").exists()
