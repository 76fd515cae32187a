"""``smartsession enroll [-c CONFIG] [--delete]``: the student enrols for the seat check, or erases it.

Run on the lab machine by the student, with the rights of the agent's service user (for
example ``sudo -u smartsession smartsession enroll``, as the sysadmin sets it up): the
template is sealed with the machine key, which only that user can read. It says what is
stored, where, what for and how to delete it, asks for consent (the word ``yes`` typed on
stdin; anything else, or no answer, stores nothing), then takes a few frames through the
agent's camera (``camera.device``: a camera, or a video file for tests), with the process
cut off from the network as the vision process is, and stores the mean face descriptor.
No image is kept. ``--delete`` erases the template.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from smartsession.config import Config
from smartsession.config_layers import Locations, load_layers
from smartsession.errors import SmartSessionError
from smartsession.keys import agent_identity
from smartsession.seat_template import Template, delete_template, write_template

#: Frames whose descriptors make the template, and how many frames to look at for them.
FRAMES = 5
MAX_FRAMES = 150

EXIT_NO_CONSENT = 7
EXIT_NO_FACE = 8


class EnrolError(SmartSessionError):
    """Enrolment could not take a usable template; nothing was stored."""

    exit_code = EXIT_NO_FACE


def notice(config: Config) -> str:
    """What the student reads before consenting."""
    return (
        "SmartSession seat check: enrolment\n"
        "\n"
        "What: this takes a few pictures from this machine's camera and keeps only 128 numbers\n"
        "  computed from your face (a face template). The pictures themselves are never stored.\n"
        f"Where: only on this machine, in {config.template_path}, encrypted with this machine's\n"
        "  key and readable only by the SmartSession service. It is never sent to the teacher\n"
        "  or anywhere else.\n"
        "What for: during classes that turn the seat check on (exams), this machine compares the\n"
        "  face in front of it with your template now and then and tells the teacher only\n"
        "  'match', 'mismatch' or 'not enrolled' with a distance. A mismatch is a hint for a person\n"
        "  to look at, never a decision.\n"
        "Delete: run 'smartsession enroll --delete' at any time; the template is erased. If you\n"
        "  do not enrol, nothing changes for you.\n"
    )


def _ask(stdin: TextIO, stdout: TextIO) -> bool:
    stdout.write("Type yes to agree and enrol (anything else stores nothing): ")
    stdout.flush()
    answer = stdin.readline()
    stdout.write("\n")
    return answer.strip().lower() == "yes"


def capture_template(config: Config, frames: int = FRAMES) -> Template:
    """Read frames from ``camera.device`` until ``frames`` have exactly one face; their mean
    descriptor. Raises `EnrolError` when the camera gives too few such frames or they differ."""
    from smartsession.core.identity import DEFAULT_THRESHOLD
    from smartsession.vision.capture import CaptureError, VideoSource
    from smartsession.vision.face_chip import chip_from_landmarks
    from smartsession.vision.face_net import FaceNet, distance
    from smartsession.vision.landmarks import FaceLandmarker
    from smartsession.vision.native_log import native_stderr_to_log

    net = FaceNet.load()
    found: list[np.ndarray] = []
    camera = config.camera
    source = VideoSource(camera.device, width=camera.width or None, height=camera.height or None)
    try:
        try:
            source.open()
        except CaptureError as exc:
            raise EnrolError(f"{exc.reason} (nothing was stored)") from exc
        with native_stderr_to_log(), FaceLandmarker(max_faces=2, details=False) as landmarker:
            for _ in range(MAX_FRAMES):
                ok, frame = source.read()
                if not ok or frame is None:
                    break
                faces = landmarker.detect(frame)
                if len(faces) == 1:
                    found.append(net.descriptor(chip_from_landmarks(frame, faces[0].landmarks)))
                if len(found) >= frames:
                    break
    finally:
        source.close()
    if len(found) < frames:
        raise EnrolError(
            f"the camera showed exactly one face in {len(found)} frames, {frames} are needed; "
            "sit alone in front of the camera in good light and try again (nothing was stored)"
        )
    mean = np.mean(np.stack(found), axis=0)
    spread = max(distance(d, mean) for d in found)
    if spread >= DEFAULT_THRESHOLD / 2:
        raise EnrolError(
            f"the frames did not agree (distance {spread:.2f} from their mean); keep still and "
            "try again (nothing was stored)"
        )
    return Template(tuple(float(v) for v in mean), len(found), time.time())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsession enroll", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, help="the agent's config file")
    parser.add_argument("--delete", action="store_true", help="erase this machine's template")
    parser.add_argument("--frames", type=int, default=FRAMES, help=f"frames to average (default {FRAMES})")
    return parser


def main(argv: list[str], stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run ``smartsession enroll``; returns the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    args = _parser().parse_args(argv)
    try:
        config = load_layers(args.config, locations=Locations.standard()).config
        if args.delete:
            erased = delete_template(config.template_path)
            stdout.write(
                f"seat-check template {config.template_path} erased\n"
                if erased
                else f"no seat-check template at {config.template_path}; nothing to erase\n"
            )
            return 0
        config, key = agent_identity(config)
        stdout.write(notice(config) + "\n")
        if not _ask(stdin, stdout):
            stdout.write("No consent given: nothing was taken or stored.\n")
            return EXIT_NO_CONSENT
        from smartsession.agent.isolation import isolate_network

        isolated = isolate_network()  # as the vision process: no network while the camera is open
        if not isolated.isolated:
            stdout.write(f"note: the camera could not be cut off from the network here ({isolated.detail})\n")
        template = capture_template(config, args.frames)
        write_template(config.template_path, template, key)
    except SmartSessionError as exc:
        print(f"smartsession: {exc}", file=sys.stderr)
        return exc.exit_code
    stdout.write(
        f"Enrolled: a template from {template.frames} frames is stored in {config.template_path} "
        "(only on this machine). 'smartsession enroll --delete' erases it.\n"
    )
    return 0
