"""``smartsession bench vision [--quick] [--split tune|heldout|check]``: is what the camera reports true?

Runs the agent's own pipeline (`FrameAnalyzer`: landmarker, people counter and its crop
check, FER) on the labelled face-presence set (`smartsession.vision.faceset`), clip by clip
at 5 fps, and prints one JSON document with, per split:

* ``face_free_frames``, ``false_faces`` (face-free frames on which a face was reported) and
  ``false_faces_per_1000``; ``counter_alone_false_faces_per_1000``: the same for the people
  counter's own detections (score 0.5 and up, from its latest run), which the pipeline
  reported as faces before a face that only the counter sees had to be confirmed;
* ``recall_by_size``: per band of face width (pixels of the analysed frame), the true faces
  and the share found on each clip's last frame (after the persistence window), matched
  one to one to the boxes behind the count; ``recall_60px_up``, also per face photo
  (``recall_60px_up_by_face``);
* ``multi_face_clips`` and ``count_exact_share``: clips with two or three faces whose last
  frame has the exact count; ``overcounted_frames``: frames with faces reporting too many;
* ``cpu_ms_per_frame`` (process CPU, face-free and face frames) and
  ``confirmations_per_1000_frames`` (crops the landmarker checked),
  ``second_opinions_per_1000_frames`` (crops the Haar cascades checked after it) and
  ``third_opinions_per_1000_frames`` (boxes MTCNN's ONet checked after both);
  ``mtcnn_searches_per_1000_frames``: regions the second detector, MTCNN, searched (the
  whole frame on a clip's first counter run, tiles, zooms);
* ``false_face_scenes`` and ``missed_face_scenes``: the first few, to look at.

``tune`` is the split the thresholds were chosen on; ``heldout`` was made with other seeds,
photos, faces, words and fonts, and was first a blind check; the fine pass (tiles and zooms)
was then shaped on it too. ``check`` (``heldout``'s photos with seeds and words of its own)
was run once that was done. ``targets_met`` is true when every split
meets every target (``--quick`` runs a small slice of each split, too small for the
2,000-frame target, which it then leaves out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from smartsession.vision.facephotos import SPLITS, Split
from smartsession.vision.faceset import FRAME_STEP, Scene, scenes
from smartsession.vision.images import Box
from smartsession.vision.people import MIN_SCORE

#: Face width bands (pixels of the analysed frame): (name, low, high).
BANDS: tuple[tuple[str, float, float], ...] = (
    ("under 40", 0, 40),
    ("40-60", 40, 60),
    ("60-100", 60, 100),
    ("100-200", 100, 200),
    ("200+", 200, float("inf")),
)
TARGETS = {
    "false_faces": 0,
    "face_free_frames_at_least": 2000,
    "recall_60px_up_at_least": 0.95,
    "count_exact_share_at_least": 0.95,
}
#: Scene names listed per kind of mistake.
LISTED = 10


def band_of(width: float) -> str:
    """The name of the size band a face ``width`` px wide falls in."""
    return next(name for name, low, high in BANDS if low <= width < high)


def matched(truth: Iterable[Box], found: Iterable[Box]) -> list[bool]:
    """For each true face, whether a found box (each used once) covers it."""
    left = list(found)
    out = []
    for face in truth:
        hit = next((box for box in left if _covers(box, face)), None)
        if hit is not None:
            left.remove(hit)
        out.append(hit is not None)
    return out


def _covers(found: Box, face: Box) -> bool:
    cx, cy = found.centre
    return face.x0 <= cx <= face.x1 and face.y0 <= cy <= face.y1


class SplitScore:
    """Running tallies over one split's scenes; `result` gives the JSON object."""

    def __init__(self) -> None:
        self.frames = 0
        self.face_free = 0
        self.false_faces = 0
        self.counter_false = 0
        self.overcounted = 0
        self.face_frames = 0
        self.bands: dict[str, list[int]] = {name: [0, 0] for name, _, _ in BANDS}
        self.people: dict[str, list[int]] = {}
        self.multi = 0
        self.exact = 0
        self.cpu = {"face_free": 0.0, "faces": 0.0}
        self.cpu_frames = {"face_free": 0, "faces": 0}
        self.confirmations = 0
        self.second_opinions = 0
        self.third_opinions = 0
        self.mtcnn_searches = 0
        self.false_scenes: list[str] = []
        self.missed_scenes: list[str] = []

    def add_frame(self, scene: Scene, count: int, people: int, cpu_seconds: float) -> None:
        """One analysed frame: its count, the counter's raw count and the CPU it took."""
        self.frames += 1
        key = "face_free" if not scene.faces else "faces"
        self.cpu[key] += cpu_seconds
        self.cpu_frames[key] += 1
        if not scene.faces:
            self.face_free += 1
            self.counter_false += people > 0
            if count > 0:
                self.false_faces += 1
                if scene.name not in self.false_scenes and len(self.false_scenes) < LISTED:
                    self.false_scenes.append(scene.name)
        else:
            self.face_frames += 1
            self.overcounted += count > len(scene.faces)

    def add_last(self, scene: Scene, count: int, found: tuple[Box, ...]) -> None:
        """A clip's last frame: recall by size, and the count of multi-face clips."""
        hits = matched(scene.faces, found)
        for width, who, hit in zip(scene.widths, scene.people, hits, strict=True):
            band = self.bands[band_of(width)]
            band[0] += 1
            band[1] += hit
            if width >= 60:
                person = self.people.setdefault(who, [0, 0])
                person[0] += 1
                person[1] += hit
            if not hit and width >= 60 and len(self.missed_scenes) < LISTED:
                self.missed_scenes.append(f"{scene.name} ({width:.0f} px)")
        if len(scene.faces) > 1:
            self.multi += 1
            self.exact += count == len(scene.faces)

    def result(self) -> dict[str, Any]:
        """The split's numbers as a JSON-ready dict."""
        big = [self.bands[name] for name, low, _ in BANDS if low >= 60]
        faces_60, found_60 = sum(b[0] for b in big), sum(b[1] for b in big)
        return {
            "frames": self.frames,
            "face_free_frames": self.face_free,
            "false_faces": self.false_faces,
            "false_faces_per_1000": _per_1000(self.false_faces, self.face_free),
            "counter_alone_false_faces_per_1000": _per_1000(self.counter_false, self.face_free),
            "face_frames": self.face_frames,
            "overcounted_frames": self.overcounted,
            "recall_by_size": {
                name: {"faces": total, "recall": round(found / total, 3) if total else None}
                for name, (total, found) in self.bands.items()
            },
            "recall_60px_up": round(found_60 / faces_60, 3) if faces_60 else None,
            "recall_60px_up_by_face": {
                who: {"faces": total, "recall": round(found / total, 3)}
                for who, (total, found) in sorted(self.people.items())
            },
            "multi_face_clips": self.multi,
            "count_exact_share": round(self.exact / self.multi, 3) if self.multi else None,
            "cpu_ms_per_frame": {
                key: round(1000 * self.cpu[key] / self.cpu_frames[key], 2) if self.cpu_frames[key] else None
                for key in ("face_free", "faces")
            },
            "confirmations_per_1000_frames": _per_1000(self.confirmations, self.frames),
            "second_opinions_per_1000_frames": _per_1000(self.second_opinions, self.frames),
            "third_opinions_per_1000_frames": _per_1000(self.third_opinions, self.frames),
            "mtcnn_searches_per_1000_frames": _per_1000(self.mtcnn_searches, self.frames),
            "false_face_scenes": self.false_scenes,
            "missed_face_scenes": self.missed_scenes,
        }


def _per_1000(count: int, total: int) -> float | None:
    return round(1000 * count / total, 2) if total else None


def score_split(split: Split, analyzer: Any, *, quick: bool) -> dict[str, Any]:
    """Run every scene of ``split`` through ``analyzer`` (a `FrameAnalyzer`); its numbers."""
    score = SplitScore()
    confirmations, second_opinions = analyzer.confirmation_runs, analyzer.second_opinion_runs
    third_opinions, mtcnn_searches = analyzer.third_opinion_runs, analyzer.mtcnn_runs
    for scene in scenes(split, quick=quick):
        analyzer.reset()
        count = 0
        for index, frame in enumerate(scene.frames):
            start = time.process_time()
            count = analyzer.analyze(frame, index * FRAME_STEP).faces
            alone = sum(d.score >= MIN_SCORE for d in analyzer.found.people)
            score.add_frame(scene, count, alone, time.process_time() - start)
        found = analyzer.found
        score.add_last(scene, count, found.marked + found.counted)
    score.confirmations = analyzer.confirmation_runs - confirmations
    score.second_opinions = analyzer.second_opinion_runs - second_opinions
    score.third_opinions = analyzer.third_opinion_runs - third_opinions
    score.mtcnn_searches = analyzer.mtcnn_runs - mtcnn_searches
    return score.result()


def meets(result: dict[str, Any], *, quick: bool) -> bool:
    """Whether one split's numbers meet `TARGETS` (without the frame count when ``quick``)."""
    return (
        result["false_faces"] <= TARGETS["false_faces"]
        and (quick or result["face_free_frames"] >= TARGETS["face_free_frames_at_least"])
        and (result["recall_60px_up"] or 0.0) >= TARGETS["recall_60px_up_at_least"]
        and (result["count_exact_share"] or 0.0) >= TARGETS["count_exact_share_at_least"]
    )


def main(argv: list[str]) -> int:
    """Run the benchmark and print one JSON document; exit 0."""
    parser = argparse.ArgumentParser(prog="smartsession bench vision", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small slice of each split (for tests)")
    parser.add_argument("--split", choices=SPLITS, action="append", help="only this split (repeatable)")
    args = parser.parse_args(argv)
    from smartsession.vision.native_log import native_stderr_to_log
    from smartsession.vision.pipeline import FrameAnalyzer

    started = time.monotonic()
    splits: dict[str, Any] = {}
    with native_stderr_to_log(), FrameAnalyzer(tracking=True) as analyzer:  # as the agent runs it
        for split in args.split or SPLITS:
            splits[split] = score_split(split, analyzer, quick=args.quick)
    result = {
        "benchmark": "vision",
        "quick": args.quick,
        "splits": splits,
        "targets": TARGETS,
        "targets_met": all(meets(s, quick=args.quick) for s in splits.values()),
        "seconds": round(time.monotonic() - started, 1),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
