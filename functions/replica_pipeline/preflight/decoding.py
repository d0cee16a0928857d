"""Reading a recording with PyAV: open it, its header's streams, and the audio's loudness.

Only the audio stream is decoded, and the demuxer is told to discard the others,
so the sound of a two-minute 1080p recording is measured in a quarter of a second.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Discard
from av.video.stream import VideoStream

from replica_pipeline.preflight.report import PreflightError, PreflightLimits
from replica_pipeline.preflight.signals import dbfs

# Sample formats read as they come out of the decoder; anything else is converted first.
_FLOAT_FORMATS = frozenset({"flt", "fltp"})
# A source whose frame intervals vary by less than this (relative to the median)
# is constant-rate: timestamps rounded to the container's clock jitter a little.
CONSTANT_RATE_TOLERANCE = 0.05


def file_size(path: Path) -> int:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PreflightError(f"{path}: cannot read the file ({error.strerror})") from None
    if size == 0:
        raise PreflightError(f"{path}: the file is empty (0 bytes)")
    return size


def open_container(path: Path) -> InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise PreflightError(
            f"{path}: not a video file that can be read ({error.strerror}); "
            "export the recording as an MP4 or MOV with H.264 video"
        ) from None


def first_video_stream(container: InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        raise PreflightError(f"{path}: the file has no video track; is it an audio file?")
    return container.streams.video[0]


def duration_seconds(container: InputContainer, video: VideoStream) -> float:
    if container.duration is not None:
        return container.duration / av.time_base
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


def loudness_envelope(
    container: InputContainer, audio: AudioStream, limits: PreflightLimits, path: Path
) -> tuple[float, ...]:
    """RMS level of each window of the audio track, in dBFS, decoding nothing else."""
    envelope = _Envelope(max(1, round(audio.sample_rate * limits.window_seconds)))
    resampler: AudioResampler | None = None
    # demux(audio) alone still reads every video packet and drops it; discarding
    # the other streams lets the demuxer skip their bytes altogether.
    for stream in container.streams:
        if stream.index != audio.index:
            stream.discard = Discard.all
    try:
        for packet in container.demux(audio):
            for frame in packet.decode():
                if frame.format.name not in _FLOAT_FORMATS:
                    # Integer PCM and the like: let FFmpeg convert to packed float.
                    resampler = resampler or AudioResampler(format="flt")
                    for converted in resampler.resample(frame):
                        envelope.add(converted)
                else:
                    envelope.add(frame)
        for converted in resampler.resample(None) if resampler else ():
            envelope.add(converted)
    except av.error.FFmpegError as error:
        raise PreflightError(
            f"{path}: the audio could not be decoded ({error.strerror}); is the file complete?"
        ) from None
    return envelope.levels(limits.floor_dbfs)


class _Envelope:
    """Sums of squares per window, fed frame by frame, split exactly at window edges."""

    def __init__(self, window_samples: int) -> None:
        self._window = window_samples
        self._sums: list[float] = []
        self._counts: list[int] = []
        self._position = 0  # samples (per channel) seen so far

    def add(self, frame: AudioFrame) -> None:
        channels, stride = _float_views(frame)
        done = 0
        while done < frame.samples:
            index, offset = divmod(self._position, self._window)
            take = min(frame.samples - done, self._window - offset)
            if index == len(self._sums):
                self._sums.append(0.0)
                self._counts.append(0)
            for view in channels:
                # hypot runs in C: about twice as fast as a Python sum of squares.
                self._sums[index] += math.hypot(*view[done * stride : (done + take) * stride]) ** 2
            self._counts[index] += take * stride * len(channels)
            done += take
            self._position += take

    def levels(self, floor_dbfs: float) -> tuple[float, ...]:
        windows = list(zip(self._sums, self._counts, strict=True))
        # A last window shorter than half a window is mostly encoder padding: drop it.
        partial = self._position % self._window
        if len(windows) > 1 and 0 < partial < self._window / 2:
            windows.pop()
        return tuple(dbfs(total / count, floor_dbfs) for total, count in windows)


def _float_views(frame: AudioFrame) -> tuple[list[memoryview[float]], int]:
    """The frame's samples as float views, and how many floats one sample takes in each."""
    channels = frame.layout.nb_channels
    if frame.format.is_planar:
        return [memoryview(p).cast("B")[: frame.samples * 4].cast("f") for p in frame.planes], 1
    return [memoryview(frame.planes[0]).cast("B")[: frame.samples * channels * 4].cast("f")], (
        channels
    )


def frame_rate_is_constant(video: VideoStream) -> bool | None:
    """Whether every frame lasts the same, from the container's index (no decoding).

    MP4/MOV headers list every frame's time, so this reads no picture data.
    None when the index does not list every frame (a WebM's cues hold key frames only).
    """
    entries = video.index_entries
    count = len(entries)
    if count < 3 or (video.frames and count < video.frames):
        return None
    stamps = sorted(entry.timestamp for entry in entries)
    return timestamps_are_constant(stamps)


def timestamps_are_constant(stamps: list[int]) -> bool:
    """True when consecutive timestamps are evenly spaced, up to CONSTANT_RATE_TOLERANCE."""
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(stamps))
    if not gaps:
        return True
    median = gaps[len(gaps) // 2]
    if median <= 0:
        return False
    return (gaps[-1] - gaps[0]) <= CONSTANT_RATE_TOLERANCE * median
