"""A second, independent opinion on a face candidate: OpenCV's Haar cascades on a crop.

The landmarker on an enlarged crop (`smartsession.vision.confirm.FaceCheck`) misses faces
it cannot fit its mesh to: a three-quarter face half hidden behind a camera, a hand or a
cup. The people counter still sees them. Viola-Jones cascades are another kind of detector
altogether (boosted Haar features on grey levels, trained on other data), so they share
few of the counter's mistakes: on the lettering, clouds and textures the counter scores at
0.5-0.65 they found nothing centred on the box. `CascadeCheck` runs the frontal cascade and
the profile cascade (both ways round) on a grey, equalised crop around the counter's box
and says whether one of them finds a face centred on it, of about its size.

The cascades ship with OpenCV (``cv2.data.haarcascades``); nothing is downloaded.
"""

from __future__ import annotations

import cv2
import numpy as np

from smartsession.vision.images import BGRImage, Box, crop_around

#: The crop's side, as a multiple of the box's larger side, and the pixels it is resized to.
CROP_GROW = 3.0
CROP_SIZE = 192
#: The cascades' scale step and the neighbours a detection needs (OpenCV's usual values).
SCALE_FACTOR = 1.1
MIN_NEIGHBOURS = 3
#: Where a cascade's face must lie: centre within this share of the box's side from the
#: box's centre, width between these multiples of the box's width.
CENTRE_TOLERANCE = 0.35
WIDTH_RANGE = (0.5, 2.0)
#: The cascades asked, by file name; the profile one also on the mirrored crop (it is
#: trained on faces turned one way only).
FRONTAL = "haarcascade_frontalface_alt2.xml"
PROFILE = "haarcascade_profileface.xml"


class CascadeCheck:
    """Confirms a box when a Haar cascade finds a face centred on it (see the module docstring)."""

    def __init__(self, grow: float = CROP_GROW, size: int = CROP_SIZE) -> None:
        folder = str(cv2.data.haarcascades)  # type: ignore[attr-defined]
        self._frontal = cv2.CascadeClassifier(folder + FRONTAL)
        self._profile = cv2.CascadeClassifier(folder + PROFILE)
        if self._frontal.empty() or self._profile.empty():
            raise FileNotFoundError(f"OpenCV's Haar cascades are missing from {folder}")
        self.grow = grow
        self.size = size
        #: How many crops the cascades have looked at.
        self.runs = 0

    def confirms(self, bgr: BGRImage, box: Box) -> bool:
        """True when a cascade finds a face of about ``box``'s size centred on it."""
        self.runs += 1
        crop = crop_around(bgr, box, self.grow, self.size)
        grey = cv2.equalizeHist(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
        expected = self.size / self.grow * box.width / max(box.width, box.height, 1.0)
        smallest = max(1, int(WIDTH_RANGE[0] * expected))
        mirrored = np.ascontiguousarray(grey[:, ::-1])
        for cascade, image in ((self._frontal, grey), (self._profile, grey), (self._profile, mirrored)):
            found = cascade.detectMultiScale(
                image, SCALE_FACTOR, MIN_NEIGHBOURS, minSize=(smallest, smallest)
            )
            for x, y, w, h in found:
                if self._fits(x + w / 2, y + h / 2, w, expected):
                    return True
        return False

    def _fits(self, cx: float, cy: float, width: float, expected: float) -> bool:
        centre = self.size / 2
        reach = CENTRE_TOLERANCE * self.size / self.grow
        return (
            abs(cx - centre) <= reach
            and abs(cy - centre) <= reach
            and WIDTH_RANGE[0] * expected <= width <= WIDTH_RANGE[1] * expected
        )
