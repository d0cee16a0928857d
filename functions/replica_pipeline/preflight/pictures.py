"""Pictures sampled from a recording's video, about one a second, small and upright.

Decoding every frame of a two-minute 1080p30 recording takes longer than the
whole check may (5 s), so the decoder is told to skip everything but key
frames: phones and editors write one every one or two seconds, and a key frame
decodes on its own. When the key frames are further apart than the check can
afford to miss (a long group of pictures), every frame is decoded and one a
second is kept: slower, and only for such files.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from replica_pipeline.preflight.decoding import first_video_stream, open_container
from replica_pipeline.preflight.report import PreflightError, VisualLimits

Picture = npt.NDArray[np.uint8]  # height x width x 3, BGR (OpenCV's order)


@dataclass(frozen=True)
class SampledPicture:
    seconds: float
    picture: Picture


def widest_gap(times: Sequence[float]) -> float:
    """The longest stretch between two sampled moments, in seconds."""
    return max((later - earlier for earlier, later in itertools.pairwise(times)), default=0.0)


def decode_pictures(
    path: Path, limits: VisualLimits, *, key_frames_only: bool
) -> Iterator[SampledPicture]:
    """The sampled pictures one by one, as they are decoded (key frames only, or every frame)."""
    with open_container(path) as container:
        video = first_video_stream(container, path)
        for stream in container.streams:
            if stream.index != video.index:
                stream.discard = av.stream.Discard.all
        context = video.codec_context
        context.thread_type = "AUTO"  # frame and slice threads: both cores on one stream
        if key_frames_only:
            context.skip_frame = "NONKEY"
        size = _analysis_size(video.width, video.height, limits.analysis_width)
        interval, due = limits.sample_every_seconds, -math.inf
        try:
            for frame in container.decode(video):
                if frame.pts is None:
                    continue  # no time to place it at
                seconds = float(frame.time)
                # Keep the first frame at or after each whole interval (0 s, 1 s, 2 s...) when
                # every frame is decoded; the key frames' own times when only they are. A
                # millisecond of slack for timestamps rounded to the container's clock.
                if seconds < due - 1e-3:
                    continue
                due = (math.floor(seconds / interval + 1e-6) + 1) * interval
                picture = np.asarray(
                    frame.to_ndarray(format="bgr24", width=size[0], height=size[1]), dtype=np.uint8
                )
                yield SampledPicture(seconds, _upright(picture, frame.rotation))
        except av.error.FFmpegError as error:
            raise PreflightError(
                f"{path}: the video could not be decoded ({error.strerror}); is the file complete?"
            ) from None


def _analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """Scaled to ``analysis_width`` across the stored picture (never up), even sizes."""
    if width <= analysis_width:
        return width, height
    scaled_height = max(2, round(height * analysis_width / width / 2) * 2)
    return analysis_width, scaled_height


def _upright(picture: Picture, rotation: int) -> Picture:
    """The picture as a player shows it: ``rotation`` degrees counter-clockwise (phones: -90)."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(picture, turns)) if turns else picture
