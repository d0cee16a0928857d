"""Scenes with a person in them, for the pre-flight's visual checks.

The person is the astronaut photo that scikit-image ships
(``skimage/data/astronaut.png``, public domain, NASA): a frontal face that
OpenCV's cascade finds. A scene is a function from seconds to a BGR picture;
``clips.make_clip(..., scene=...)`` films it. Each scene returns the very same
array while nothing changes, so a still scene costs one picture.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files

import cv2
import numpy as np
import numpy.typing as npt

Picture = npt.NDArray[np.uint8]
Scene = Callable[[float], Picture]

# The astronaut's head and shoulders in the 512 x 512 photo (her face is at 177, 66, 95 x 95).
_PORTRAIT = (slice(20, 300), slice(110, 340))
# The person's height as a share of the picture's: a head-and-shoulders framing.
PERSON_HEIGHT = 0.8


@cache
def _portrait() -> tuple[Picture, npt.NDArray[np.float32]]:
    """The astronaut's head and shoulders, and a soft oval mask that cuts her out."""
    photo = cv2.imread(str(files("skimage") / "data" / "astronaut.png"))
    if photo is None:
        raise FileNotFoundError("skimage/data/astronaut.png: is scikit-image installed?")
    portrait = np.ascontiguousarray(photo[_PORTRAIT])
    height, width = portrait.shape[:2]
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(
        mask, (width // 2, height // 2), (width // 2 - 4, height // 2 - 4), 0, 0, 360, 1, -1
    )
    soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), 6), dtype=np.float32)
    return np.asarray(portrait, dtype=np.uint8), soft


def backdrop(width: int, height: int, room: int = 0) -> Picture:
    """A wall with a few shapes on it; ``room`` picks another wall (for a cut)."""
    rng = np.random.default_rng(room)
    ramp = np.linspace(0, 1, width if room % 2 == 0 else height, dtype=np.float32)
    base = np.array([150, 170, 185] if room % 2 == 0 else [90, 120, 70], np.float32)
    wall = base * (0.75 + 0.25 * (ramp[None, :, None] if room % 2 == 0 else ramp[:, None, None]))
    picture = np.ascontiguousarray(np.broadcast_to(wall, (height, width, 3)).astype(np.uint8))
    for _ in range(6):  # shelves, frames, a lamp: what a room has behind a person
        x, y = int(rng.integers(0, width - width // 6)), int(rng.integers(0, height - height // 6))
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        cv2.rectangle(picture, (x, y), (x + width // 7, y + height // 9), colour, -1)
    return picture


def with_person(
    picture: Picture, centre_x: float, scale: float = 1.0, mirrored: bool = False
) -> Picture:
    """A copy of ``picture`` with the person standing at ``centre_x`` (a share of the width)."""
    portrait, mask = _portrait()
    height, width = picture.shape[:2]
    aspect = portrait.shape[1] / portrait.shape[0]
    size = round(min(height * PERSON_HEIGHT, width * 0.9 / aspect) * scale)  # fits a portrait
    person_w = round(size * aspect)
    person = cv2.resize(portrait, (person_w, size), interpolation=cv2.INTER_AREA)
    alpha = np.asarray(cv2.resize(mask, (person_w, size)), dtype=np.float32)[..., None]
    if mirrored:
        person, alpha = person[:, ::-1], alpha[:, ::-1]
    left = min(max(0, round(centre_x * width - person_w / 2)), width - person_w)
    top = height - size
    out = picture.copy()
    region = out[top:, left : left + person_w].astype(np.float32)
    out[top:, left : left + person_w] = (alpha * person + (1 - alpha) * region).astype(np.uint8)
    return out


def still(picture: Picture) -> Scene:
    return lambda _seconds: picture


def one_person(width: int, height: int) -> Scene:
    return still(with_person(backdrop(width, height), 0.5))


def nobody(width: int, height: int) -> Scene:
    return still(backdrop(width, height))


def two_people(width: int, height: int) -> Scene:
    room = with_person(backdrop(width, height), 0.28)
    return still(with_person(room, 0.72, mirrored=True))


def away(width: int, height: int, start: float, end: float) -> Scene:
    """The person steps out of the frame from ``start`` to ``end``."""
    there, empty = with_person(backdrop(width, height), 0.5), backdrop(width, height)
    return lambda seconds: empty if start <= seconds < end else there


def light_drops(width: int, height: int, at: float) -> Scene:
    """A lamp goes off at ``at``: the whole picture at half its light from then on."""
    lit = with_person(backdrop(width, height), 0.5)
    dim = (lit * 0.5).astype(np.uint8)
    return lambda seconds: dim if seconds >= at else lit


def walking_across(width: int, height: int, seconds: float) -> Scene:
    """The person walks from the left edge to the right over ``seconds``."""
    room = backdrop(width, height)
    pictures: dict[int, Picture] = {}

    def scene(now: float) -> Picture:
        step = int(now)  # a new place each second: slow enough to be walking, not a cut
        if step not in pictures:
            pictures[step] = with_person(room, 0.2 + 0.6 * min(1.0, step / seconds))
        return pictures[step]

    return scene


def cut_to_another_room(width: int, height: int, at: float) -> Scene:
    """A hard cut at ``at``: the same person, in another room."""
    first = with_person(backdrop(width, height, room=0), 0.5)
    second = with_person(backdrop(width, height, room=1), 0.5)
    return lambda seconds: second if seconds >= at else first


def leaves_when_silent(width: int, height: int, at: float) -> Scene:
    """The person leaves when the talking ends, at ``at``."""
    return away(width, height, at, float("inf"))


def rotated(picture: Picture, rotation: int) -> Picture:
    """``picture`` as a phone stores it when it tags the file with ``rotation``.

    A player turns the stored picture ``rotation`` degrees counter-clockwise, so the
    stored one is the upright one turned the other way.
    """
    return np.ascontiguousarray(np.rot90(picture, -(rotation // 90) % 4))
