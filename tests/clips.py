"""Synthetic recordings for tests, encoded with PyAV (no system ffmpeg needed).

``make_clip`` writes a video of a still picture (a person facing the camera, from
``tests.faces``) with a soundtrack of room tone
and, during the given spans, a speech-like voice: harmonics of a gliding
pitch, amplitude-modulated at syllable rate (4 Hz), with a short pause every
two seconds, at a conversational level. Both sounds are built once as
two-second tables and tiled, so a two-minute soundtrack costs no per-sample
Python work.

Encoding 1080p H.264 costs about 55 ms per second of video at 25 fps
(ultrafast, 2 cores), so only the first key frame interval (a second, unless
told) is encoded and its packets are repeated: a two-minute 1080p25 clip takes
about as long as its sound. A ``scene`` that changes is encoded frame by frame.
"""

from __future__ import annotations

import array
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream
from av.video.stream import VideoStream

from tests import faces

# A fixture's clip maker: make(name, **make_clip options) -> the clip's path.
ClipMaker = Callable[..., Path]

SAMPLE_RATE = 48_000
# RMS of a voice near a camera microphone; about -20 dBFS is a conversational level.
SPEECH_LEVEL_DB = -20.0
# One period of both sound tables: whole cycles of the pitch glide and the syllables.
TABLE_SECONDS = 2
AUDIO_FRAME_SAMPLES = 1024  # what the AAC encoder takes per frame
# With camera_noise: a realistic bit rate for 1080p30 from a phone or webcam.
CAMERA_BIT_RATE = 8_000_000
_NOISE_PICTURES = 8
# Grain of a phone sensor indoors (standard deviation, of 255): enough to cost a camera's
# bit rate, too little to hide a face from the cascade.
CAMERA_NOISE_LEVEL = 24.0
_FLOAT_BYTES = 4
SMALL_FILE_AUDIO_BIT_RATE = 32_000  # a voice and room tone need no more


def make_clip(
    path: Path,
    *,
    width: int,
    height: int,
    seconds: float,
    speech: Sequence[tuple[float, float]],
    codec: str = "h264",
    fps: int = 2,
    audio: bool = True,
    silence_level_db: float = -60.0,
    audio_codec: str = "aac",
    camera_noise: bool = False,
    stereo: bool = False,
    rotation: int = 0,
    variable_frame_rate: bool = False,
    scene: Callable[[float], npt.NDArray[np.uint8]] | None = None,
    small_file: bool = False,
    key_frame_seconds: int = 1,
    picture: npt.NDArray[np.uint8] | None = None,
) -> Path:
    """Write a clip to ``path`` (its suffix picks the container) and return the path.

    ``speech`` lists (start, end) spans in seconds where the voice talks; room
    tone at ``silence_level_db`` (RMS dBFS; ``-math.inf`` for digital silence)
    plays throughout. ``codec`` is "h264" (libx264, ultrafast) or any FFmpeg
    video encoder name (e.g. "mpeg4"). ``camera_noise`` films the picture with changing
    sensor noise, so the file is about as large as a real
    recording's (8-10 Mbit/s). ``stereo`` puts the same sound on two channels, as
    a phone records it. ``codec="hevc"`` encodes HEVC (libx265) tagged ``hvc1``, as
    iPhones do. ``rotation`` writes a display matrix turning the picture that many
    degrees counter-clockwise (PyAV's ``VideoFrame.rotation``; a phone held upright
    writes -90), and stores the person turned the other way, as a phone does.
    ``variable_frame_rate`` spaces the frames unevenly (from 0.2 to 1.8
    frame intervals apart, ``fps`` on average), as phones do when the light changes.
    ``scene`` films a changing picture instead (``tests.faces``: seconds -> BGR picture),
    every frame encoded; ``picture`` films a still one (``tests.faces``' BGR pictures), one
    block encoded and repeated, which is as quick as the default person. A key frame starts
    every ``key_frame_seconds`` (phones write
    one every second or two). ``small_file`` encodes slowly for size, header first
    (``samples/sample.mp4``: 1.7 MB for two minutes of 1080p).
    """
    soundtrack = _soundtrack(seconds, speech, silence_level_db) if audio else b""
    # small_file: the header first too ("faststart"), as a recording meant for the web has it.
    muxing = {"movflags": "+faststart"} if small_file else {}
    with av.open(str(path), mode="w", options=muxing) as container:
        video = _video_stream(container, codec, width, height, fps, camera_noise, small_file)
        block = fps * key_frame_seconds
        if rotation:
            video.set_display_rotation(rotation)
        layout = "stereo" if stereo else "mono"
        sound = _audio_stream(container, audio_codec, layout) if audio else None
        if sound is not None and small_file:
            sound.bit_rate = SMALL_FILE_AUDIO_BIT_RATE
        audio_frames = _audio_frames(soundtrack, layout)
        if scene is not None:
            video.codec_context.gop_size = block
        one_block = (
            []
            if scene
            else _encode_one_block(
                video, _pictures(width, height, block, camera_noise, rotation, picture)
            )
        )
        for index in range(round(seconds * fps)):
            if scene is not None:
                container.mux(_filmed(video, scene, index, fps))
            else:
                packet = _repeated(one_block, index, block, fps, video)
                container.mux(
                    _unevenly_timed(packet, index, fps) if variable_frame_rate else packet
                )
            if sound is not None:
                # Interleave as a camera does: sound up to the end of this picture.
                _encode_audio_until(container, sound, audio_frames, (index + 1) / fps)
        if scene is not None:
            container.mux(video.encode(None))
        if sound is not None:
            _encode_audio_until(container, sound, audio_frames, math.inf)
            container.mux(sound.encode(None))
    return path


# --- video ----------------------------------------------------------------------------------


def _video_stream(
    container: OutputContainer,
    codec: str,
    width: int,
    height: int,
    fps: int,
    noisy: bool,
    small_file: bool = False,
) -> VideoStream:
    if codec == "h264":
        options = {"preset": "ultrafast"}
        if small_file:  # no B-frames: the repeated blocks stay a valid stream
            options = {"preset": "veryslow", "crf": "38", "x264-params": "bframes=0"}
        if noisy:
            # Without a VBV cap, x264 spends ~3x the bit rate on a first second of noise.
            kbps = CAMERA_BIT_RATE // 1000
            options["x264-params"] = f"vbv-maxrate={kbps}:vbv-bufsize={kbps}"
        stream = container.add_stream("libx264", rate=fps, options=options)
    elif codec == "hevc":
        # No B-frames, so one block's packets repeat as a valid stream (as with x264).
        params = "log-level=error:bframes=0"
        stream = container.add_stream(
            "libx265", rate=fps, options={"preset": "ultrafast", "x265-params": params}
        )
        stream.codec_tag = "hvc1"  # what iPhones write (FFmpeg's default is hev1)
    else:
        added = container.add_stream(codec, rate=fps)
        if not isinstance(added, VideoStream):
            raise ValueError(f"{codec} is not a video encoder")
        stream = added
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1, fps)
    if noisy:
        stream.bit_rate = CAMERA_BIT_RATE
    return stream


def _filmed(
    stream: VideoStream, scene: Callable[[float], npt.NDArray[np.uint8]], index: int, fps: int
) -> list[Packet[Stream]]:
    picture = av.VideoFrame.from_ndarray(scene(index / fps), format="bgr24")
    picture = picture.reformat(stream.width, stream.height, "yuv420p")
    picture.pts = index
    return stream.encode(picture)


def _encode_one_block(
    stream: VideoStream, pictures: Iterable[av.VideoFrame]
) -> list[Packet[Stream]]:
    """The packets of one key frame interval, to be repeated for the whole clip.

    Each block starts with a key frame and no encoder here makes B-frames, so
    the repeats form a valid stream, at the cost of encoding one block only.
    """
    packets: list[Packet[Stream]] = []
    for index, picture in enumerate(pictures):
        picture.pts = index
        packets += stream.encode(picture)
    packets += stream.encode(None)
    if not packets[0].is_keyframe:
        raise RuntimeError(f"{stream.codec_context.name} did not start with a key frame")
    return packets


def _repeated(
    one_block: Sequence[Packet[Stream]], index: int, block: int, fps: int, stream: VideoStream
) -> Packet[Stream]:
    """A fresh copy of picture ``index``'s packet (muxing consumes a packet's data)."""
    repeat, position = divmod(index, block)
    source = one_block[position]
    packet = Packet(bytes(source))
    packet.stream = stream
    packet.time_base = source.time_base
    packet.is_keyframe = source.is_keyframe
    offset = round(Fraction(repeat * block, fps) / source.time_base)
    packet.pts = None if source.pts is None else source.pts + offset
    packet.dts = None if source.dts is None else source.dts + offset
    return packet


# Where each frame starts, in frame intervals from its even place: uneven gaps, same average.
_UNEVEN_OFFSETS = (0.0, 0.4, -0.3, 0.25, -0.4, 0.1)
_UNEVEN_CLOCK = Fraction(1, 90_000)  # the MPEG clock: fine enough for the offsets


def _unevenly_timed(packet: Packet[Stream], index: int, fps: int) -> Packet[Stream]:
    """``packet`` (picture ``index``) moved off the even grid: a variable-frame-rate stream.

    Every picture is a key frame or refers only to the one before (no B-frames), so
    only the times change: the decoder still sees every picture in order.
    """
    start = (index + _UNEVEN_OFFSETS[index % len(_UNEVEN_OFFSETS)]) / fps
    packet.time_base = _UNEVEN_CLOCK
    packet.pts = packet.dts = round(start / _UNEVEN_CLOCK)
    return packet


def _pictures(
    width: int,
    height: int,
    count: int,
    noisy: bool,
    rotation: int = 0,
    picture: npt.NDArray[np.uint8] | None = None,
) -> Iterator[av.VideoFrame]:
    """``count`` pictures of a person in a room (``tests.faces``), or of ``picture``: still,
    or with sensor noise.

    With a ``rotation`` tag the person is stored turned, so that a player shows her upright.
    """
    upright = (height, width) if rotation % 180 else (width, height)
    shown = picture if picture is not None else faces.one_person(*upright)(0)
    person = faces.rotated(shown, rotation)
    if noisy:
        rng = np.random.default_rng(1080)
        pool = [
            _frame(np.clip(person + rng.normal(0, CAMERA_NOISE_LEVEL, person.shape), 0, 255))
            for _ in range(_NOISE_PICTURES)
        ]
    else:
        pool = [_frame(person)]
    for index in range(count):
        yield pool[index % len(pool)]


def _frame(picture: npt.NDArray[np.floating] | npt.NDArray[np.uint8]) -> av.VideoFrame:
    bgr = np.ascontiguousarray(picture.astype(np.uint8))
    return av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")


def _fit(data: bytes, size: int) -> bytes:
    """``data`` cut or repeated to exactly ``size`` bytes (planes may have padded lines)."""
    return (data * (size // len(data) + 1))[:size]


# --- audio ----------------------------------------------------------------------------------


def _audio_stream(container: OutputContainer, codec: str, layout: str) -> AudioStream:
    stream = container.add_stream(codec, rate=SAMPLE_RATE, layout=layout)
    if not isinstance(stream, AudioStream):
        raise ValueError(f"{codec} is not an audio encoder")
    return stream


def _audio_frames(soundtrack: bytes, layout: str) -> Iterator[av.AudioFrame]:
    """Planar float frames: each channel's plane gets the same samples, with no interleaving."""
    step = AUDIO_FRAME_SAMPLES * _FLOAT_BYTES
    for offset in range(0, len(soundtrack), step):
        chunk = soundtrack[offset : offset + step]
        frame = av.AudioFrame(format="fltp", layout=layout, samples=len(chunk) // _FLOAT_BYTES)
        for plane in frame.planes:
            plane.update(_fit(chunk, plane.buffer_size))
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frame.pts = offset // _FLOAT_BYTES
        yield frame


def _encode_audio_until(
    container: OutputContainer, stream: AudioStream, frames: Iterator[av.AudioFrame], until: float
) -> None:
    for frame in frames:
        container.mux(stream.encode(frame))
        if frame.pts is not None and (frame.pts + frame.samples) / SAMPLE_RATE >= until:
            return


def _soundtrack(
    seconds: float, speech: Sequence[tuple[float, float]], silence_level_db: float
) -> bytes:
    """Mono float32 samples: room tone, with the voice over it during the speech spans."""
    total = round(seconds * SAMPLE_RATE)
    room, talking = _room_tone(silence_level_db), _talking(silence_level_db)
    out = bytearray()
    position = 0
    for start, end in sorted(speech):
        first, last = (min(total, max(position, round(t * SAMPLE_RATE))) for t in (start, end))
        out += _tiled(room, position, first) + _tiled(talking, first, last)
        position = last
    out += _tiled(room, position, total)
    return bytes(out)


def _tiled(table: bytes, first: int, last: int) -> bytes:
    """Samples [first, last) of ``table`` repeated forever."""
    period = len(table) // _FLOAT_BYTES
    if last <= first:
        return b""
    offset = first % period
    repeats = (offset + last - first) // period + 1
    return (table * repeats)[offset * _FLOAT_BYTES : (offset + last - first) * _FLOAT_BYTES]


@cache
def _room_tone(level_db: float) -> bytes:
    """Uniform white noise with an RMS of ``level_db`` dBFS (zeros for -inf)."""
    amplitude = 10 ** (level_db / 20) * math.sqrt(3)  # uniform on [-a, a] has RMS a/sqrt(3)
    rng = random.Random(60)  # noqa: S311 - test noise, not secrets
    count = TABLE_SECONDS * SAMPLE_RATE
    return array.array("f", (amplitude * (2 * rng.random() - 1) for _ in range(count))).tobytes()


@cache
def _talking(level_db: float) -> bytes:
    """The voice plus room tone, sample by sample."""
    voice = _voice()
    room = array.array("f", _room_tone(level_db))
    return array.array("f", map(sum, zip(voice, room, strict=True))).tobytes()


@cache
def _voice() -> tuple[float, ...]:
    """Two seconds of a speech-like voice at SPEECH_LEVEL_DB RMS.

    Pitch glides 120-160 Hz (0.5 Hz), eight harmonics falling off as 1/k;
    loudness follows 4 syllables a second for 1.5 s, then 0.5 s of pause.
    """
    count = TABLE_SECONDS * SAMPLE_RATE
    phase, samples = 0.0, []
    for n in range(count):
        t = n / SAMPLE_RATE
        phase += 2 * math.pi * (140 + 20 * math.sin(math.pi * t)) / SAMPLE_RATE
        syllables = math.sin(4 * math.pi * t) ** 2 if t < 1.5 else 0.0
        samples.append(syllables * sum(math.sin(k * phase) / k for k in range(1, 9)))
    rms = math.sqrt(sum(x * x for x in samples) / count)
    scale = 10 ** (SPEECH_LEVEL_DB / 20) / rms
    return tuple(x * scale for x in samples)
