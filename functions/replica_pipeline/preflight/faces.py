"""What each sampled picture shows: the faces in it, the main face's light, its layout.

Faces are found with OpenCV's frontal-face Haar cascade, which ships inside the
``opencv-python-headless`` wheel (nothing to download) and finds an upright,
frontal face of 24 px or more in a few milliseconds on a 480-pixel-wide picture.
It wants what Tavus wants: a person facing the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from replica_pipeline.preflight.pictures import SampledPicture
from replica_pipeline.preflight.report import VisualLimits

CASCADE = "haarcascade_frontalface_default.xml"
# The picture's layout, for telling a cut from movement: this small, a talking head's
# lips and eyes vanish and the room's shapes remain.
THUMBNAIL_SIZE = (32, 18)

Layout = npt.NDArray[np.float32]  # THUMBNAIL_SIZE, grey
# Compare whole pictures when less than this share of one lies outside the person.
MIN_ROOM_SHARE = 0.25


@dataclass(frozen=True)
class Face:
    """A face's box, in fractions of the picture's width and height."""

    left: float
    top: float
    width: float
    height: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2


@dataclass(frozen=True)
class Look:
    """One sampled moment: its faces (largest first), the main face's brightness, the layout."""

    seconds: float
    faces: tuple[Face, ...]
    face_brightness: float | None  # mean grey level (0-255) inside the main face's box
    layout: Layout

    @property
    def face(self) -> Face | None:
        return self.faces[0] if self.faces else None


def look(sample: SampledPicture, limits: VisualLimits) -> Look:
    """The faces in one sampled picture, the main face's brightness, and the room's layout."""
    grey = cv2.cvtColor(sample.picture, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    smallest = max(24, round(height * limits.min_face_height))
    boxes = _cascade().detectMultiScale(
        grey,
        scaleFactor=1.2,  # half the time of 1.1, and the same faces at these sizes
        minNeighbors=limits.face_min_neighbours,
        minSize=(smallest, smallest),
    )
    ordered = sorted((tuple(int(v) for v in box) for box in boxes), key=lambda b: -b[2] * b[3])
    faces = _people(
        [Face(x / width, y / height, w / width, h / height) for x, y, w, h in ordered], limits
    )
    brightness = None
    if faces:
        x, y, w, h = ordered[0]
        brightness = float(grey[y : y + h, x : x + w].mean())
    return Look(sample.seconds, tuple(faces), brightness, _layout(grey))


def _people(faces: list[Face], limits: VisualLimits) -> list[Face]:
    """The main face and any other as large as a second person's would be.

    A second person near the camera shows a face of a size like the first one's; a
    much smaller "face" is a pattern in the background that the cascade mistook.
    """
    if not faces:
        return []
    main = faces[0]
    return [main] + [
        face for face in faces[1:] if face.width >= main.width * limits.second_face_min_size
    ]


def _layout(grey: npt.NDArray[Any]) -> Layout:
    small = cv2.resize(grey, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def layout_similarity(earlier: Look, later: Look) -> float:
    """How alike two moments' rooms are: about 1 for the same shot, about 0 after a cut.

    The correlation of the two thumbnails outside where the person is in either: a
    person who moves, leaves or comes back changes only that part, a cut changes the
    rest too. Brightness and contrast are taken out (zero mean, unit variance), so a
    light going off is not a cut either.
    """
    room = ~(_person_zone(earlier) | _person_zone(later))
    if room.mean() < MIN_ROOM_SHARE:  # the person fills the frame: compare everything
        room[:] = True
    a, b = earlier.layout[room], later.layout[room]
    a, b = a - a.mean(), b - b.mean()
    spread = float(np.sqrt((a * a).mean() * (b * b).mean()))
    return float((a * b).mean() / spread) if spread > 1.0 else 1.0


def _person_zone(look: Look) -> npt.NDArray[np.bool_]:
    """Thumbnail cells where the person may be: around the face and everything below it."""
    zone = np.zeros((THUMBNAIL_SIZE[1], THUMBNAIL_SIZE[0]), dtype=np.bool_)
    for face in look.faces:
        left = max(0, int((face.left - face.width) * THUMBNAIL_SIZE[0]))
        right = int(np.ceil((face.left + 2 * face.width) * THUMBNAIL_SIZE[0]))
        top = max(0, int((face.top - face.height / 2) * THUMBNAIL_SIZE[1]))
        zone[top:, left:right] = True
    return zone


@cache
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
    if cascade.empty():
        raise RuntimeError(f"OpenCV's {CASCADE} did not load from {cv2.data.haarcascades}")  # type: ignore[attr-defined]
    return cascade
