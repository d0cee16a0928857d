"""``replicas prepare``: turn a phone recording into a file Tavus accepts, on this machine.

Phones record HEVC in ``.mov``, often at 60 fps, 4K, with a variable frame
rate and a rotation tag instead of upright pixels. Tavus takes none of that:
it wants H.264 + AAC in an ``.mp4``, at least 25 fps, 1080p, at most 750 MB.
This module re-encodes such a recording into exactly that, and refuses, with
one sentence, what no re-encode can fix (too small a picture, no sound, too
short a recording).

It is two halves:

- planning (``probe``, ``plan_preparation``, ``FrameGrid``): pure decisions
  from facts read off the file — output size, frame rate, bit rate, or the
  refusal — unit-tested without encoding anything;
- transcoding (``transcode``): one PyAV pass that decodes, picks frames onto a
  constant-rate grid, scales and turns the picture in one FFmpeg filter graph,
  and encodes H.264 (libx264) + AAC into an ``.mp4`` with its header first.

The file is written under a temporary name next to the output and renamed when
complete, so a failed or interrupted run never leaves a half file that looks
finished. Metadata (a phone's location, its make) is not copied: only the
picture and the sound reach Tavus.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.filter import Graph
from av.stream import Discard
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from replica_pipeline.config import ValidationLimits
from replica_pipeline.preflight.decoding import frame_rate_is_constant

# Tavus's requirements page asks for 1080p: bigger pictures are brought down to it
# (smaller files, faster encodes, nothing Tavus uses is lost).
TARGET_SHORT_SIDE = 1080
# Above this a source is brought down by a whole divisor (60 -> 30, 50 -> 25) when that
# stays at or above the floor: half the frames to decode-convert-encode and to upload,
# and a talking head loses nothing Tavus needs.
MAX_FRAME_RATE = Fraction(30)
# A variable-rate recording (or one under the floor) goes onto this constant grid.
FALLBACK_FRAME_RATE = Fraction(30)
# A cap for 1080p30 H.264 (phones record it at 8-16 Mbit/s); CRF spends less on a still
# talking head. Under the floor a 1080p picture turns blocky: better to trim the video.
MAX_VIDEO_BIT_RATE = 8_000_000
MIN_VIDEO_BIT_RATE = 1_500_000
# Quality target within the cap: x264's CRF (lower is better; 18-23 is the usual range).
CRF = 21
# libx264's speed/size trade-off. Measured on 10 s of 4K60 HEVC -> 1080p30 (2 cores):
# "faster" cost ~10 % more CPU than "veryfast" for no smaller file, "superfast" ~10 %
# less; the encode is about a quarter of the pass (decoding 4K HEVC is most of it).
X264_PRESET = "veryfast"
# The VBV buffer, in seconds at the cap: the encoder may exceed the cap by this much in total.
VBV_BUFFER_SECONDS = 2
AUDIO_SAMPLE_RATE = 48_000
AUDIO_BIT_RATES = {"mono": 96_000, "stereo": 160_000}
# What the mp4 box structure and the bit rate's small overshoots cost, on top of the streams.
SIZE_HEADROOM = 0.95

# progress(seconds of the recording done, its total seconds)
Progress = Callable[[float, float], None]


class PrepareRefused(Exception):
    """The recording cannot be made acceptable by a re-encode; the message says why, in one line."""


@dataclass(frozen=True)
class SourceFacts:
    """What probing a recording found: its header, and the rotation its first frame carries."""

    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    video_codec: str  # FFmpeg's codec name: "hevc", "h264", "vp9"...
    width: int  # as stored, before any rotation
    height: int
    # Degrees counter-clockwise the picture must be turned to be shown upright (a
    # multiple of 90), as PyAV's VideoFrame.rotation reads the display matrix.
    rotation: int
    frame_rate: Fraction | None  # frames per second, on average; None when unknown
    constant_rate: bool  # every frame lasts the same (within decoding.CONSTANT_RATE_TOLERANCE)
    duration_seconds: float
    audio_codec: str | None  # None: no audio track
    audio_channels: int = 0
    audio_sample_rate: int = 0
    pixel_format: str = "yuv420p"

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as the picture is shown, after the rotation."""
        turned = self.rotation % 180 == 90
        return (self.height, self.width) if turned else (self.width, self.height)


@dataclass(frozen=True)
class Plan:
    """What the prepared file will be; every field was decided from SourceFacts alone."""

    width: int  # shown upright: the rotation is applied to the pixels
    height: int
    frame_rate: Fraction
    rotation: int  # degrees counter-clockwise to turn each picture (0: none)
    video_max_bit_rate: int  # bits per second, a cap (CRF decides below it)
    audio_layout: str  # "mono" or "stereo"
    audio_bit_rate: int
    duration_seconds: float
    changes: tuple[str, ...]  # what differs from the source, in words

    @property
    def scaled_size(self) -> tuple[int, int]:
        """The picture's size before it is turned: what the scaler produces."""
        return (self.height, self.width) if self.rotation % 180 == 90 else (self.width, self.height)

    @property
    def max_bytes(self) -> int:
        """The most the file can hold: both streams at their caps, plus the VBV buffer."""
        video = self.video_max_bit_rate * (self.duration_seconds + VBV_BUFFER_SECONDS)
        return math.ceil((video + self.audio_bit_rate * self.duration_seconds) / 8)


@dataclass(frozen=True)
class Prepared:
    """A finished preparation: where it went, what it became, and how long it took."""

    source: Path
    output: Path
    facts: SourceFacts
    plan: Plan
    size: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "prepared": True,
            "source": str(self.source),
            "output": str(self.output),
            "width": self.plan.width,
            "height": self.plan.height,
            "frame_rate": _fps_text(self.plan.frame_rate),
            "video_codec": "h264",
            "audio_codec": "aac",
            "duration_seconds": round(self.plan.duration_seconds, 3),
            "bytes": self.size,
            "changes": list(self.plan.changes),
            "seconds": round(self.seconds, 2),
        }


def default_output(source: Path) -> Path:
    """``<stem>.prepared.mp4`` next to the source: never the source itself, even for an .mp4."""
    return source.with_name(f"{source.stem}.prepared.mp4")


def prepare(
    source: Path,
    output: Path,
    limits: ValidationLimits,
    *,
    progress: Progress | None = None,
) -> Prepared:
    """Probe ``source``, plan, and write the prepared video to ``output`` (replacing it).

    Raises PrepareRefused before writing anything when the recording cannot be
    made acceptable, and ValueError when ``output`` would be the source itself.
    """
    if output.exists() and output.resolve() == source.resolve():
        raise ValueError(f"{output} is the recording itself; write the prepared video elsewhere")
    started = time.perf_counter()
    facts = probe(source)
    plan = plan_preparation(facts, limits)
    transcode(source, output, facts, plan, progress=progress)
    return Prepared(
        source, output, facts, plan, output.stat().st_size, time.perf_counter() - started
    )


# --- probing -------------------------------------------------------------------------------------


def probe(path: Path) -> SourceFacts:
    """The facts planning needs, from the header and the first decoded picture."""
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise PrepareRefused(f"not a video file that can be read ({error.strerror})") from None
    with container:
        if not container.streams.video:
            raise PrepareRefused("the file has no video track; is it an audio file?")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        constant = frame_rate_is_constant(video)
        first = _first_picture(container, video)
        return SourceFacts(
            container=container.format.name,
            video_codec=video.codec_context.name,
            width=first.width,
            height=first.height,
            rotation=_quarter_turns(first.rotation) * 90,
            frame_rate=video.average_rate or video.guessed_rate,
            constant_rate=constant if constant is not None else True,
            duration_seconds=_duration_seconds(container, video),
            audio_codec=audio.codec_context.name if audio else None,
            audio_channels=audio.codec_context.channels if audio else 0,
            audio_sample_rate=audio.sample_rate if audio else 0,
            pixel_format=first.format.name,
        )


def _first_picture(container: InputContainer, video: VideoStream) -> VideoFrame:
    try:
        for frame in container.decode(video):
            return frame
    except av.error.FFmpegError as error:
        raise PrepareRefused(f"the video could not be decoded ({error.strerror})") from None
    raise PrepareRefused("the video track holds no picture")


def _duration_seconds(container: InputContainer, video: VideoStream) -> float:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _quarter_turns(degrees: float) -> int:
    """A display matrix's angle as whole quarter turns (0-3); phones only write those."""
    return round(degrees / 90) % 4


# --- planning ------------------------------------------------------------------------------------


def plan_preparation(facts: SourceFacts, limits: ValidationLimits) -> Plan:
    """Decide the output from the facts alone, or refuse with the reason a user can act on.

    ``limits`` are the pipeline's own (``ValidationLimits``, with the model's duration
    floor), so a prepared file passes the same checks the drop will meet.
    """
    width, height = facts.display_size
    if min(width, height) < limits.min_resolution:
        raise PrepareRefused(
            f"video is {width}x{height}; Tavus needs at least {limits.min_resolution}p, and "
            "scaling it up would only invent detail: record again at 1080p or more"
        )
    if facts.audio_codec is None:
        raise PrepareRefused(
            "the video has no audio track; Tavus learns the voice from it and must hear the "
            "consent statement: record again with the microphone on"
        )
    floor = limits.min_duration_seconds
    if facts.duration_seconds < floor:
        raise PrepareRefused(
            f"video is {facts.duration_seconds:.0f} s long; at least {floor:.0f} s is needed "
            f"(record about {floor:.0f} s of talking, then as long in silence)"
        )
    out_width, out_height = fit_short_side(
        width, height, max(TARGET_SHORT_SIDE, limits.min_resolution)
    )
    rate = target_frame_rate(facts.frame_rate, facts.constant_rate, limits.min_frame_rate)
    layout = "mono" if facts.audio_channels == 1 else "stereo"
    audio_rate = AUDIO_BIT_RATES[layout]
    video_rate = video_bit_rate(facts.duration_seconds, audio_rate, limits.max_bytes)
    if video_rate < MIN_VIDEO_BIT_RATE:
        longest = _longest_fitting_seconds(audio_rate, limits.max_bytes)
        raise PrepareRefused(
            f"video is {facts.duration_seconds / 60:.0f} min long: it cannot fit Tavus's "
            f"{limits.max_bytes / 2**20:.0f} MB at a usable quality; trim it to at most "
            f"{longest / 60:.0f} min (about 2 minutes is what Tavus asks for)"
        )
    plan = Plan(
        width=out_width,
        height=out_height,
        frame_rate=rate,
        rotation=facts.rotation,
        video_max_bit_rate=video_rate,
        audio_layout=layout,
        audio_bit_rate=audio_rate,
        duration_seconds=facts.duration_seconds,
        changes=(),
    )
    return replace(plan, changes=_changes(facts, plan))


def fit_short_side(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The size with the shorter side brought down to ``short_side`` (never up), aspect
    kept, both sides even (4:2:0 video stores colour per 2x2 pixels)."""
    scale = min(1.0, short_side / min(width, height))
    return _even(width * scale), _even(height * scale)


def target_frame_rate(source: Fraction | None, constant: bool, floor: float) -> Fraction:
    """The constant output rate: the source's own when it is constant and within
    [floor, MAX_FRAME_RATE]; a whole divisor of it when that lands there (60 -> 30,
    50 -> 25); else FALLBACK_FRAME_RATE."""
    if source is None or not constant or source <= 0:
        return FALLBACK_FRAME_RATE
    divisor = max(1, math.ceil(source / MAX_FRAME_RATE))
    candidate = source / divisor
    if candidate >= floor * (1 - 1e-6):
        return candidate
    return FALLBACK_FRAME_RATE


def video_bit_rate(duration_seconds: float, audio_bit_rate: int, max_bytes: int) -> int:
    """The video cap: MAX_VIDEO_BIT_RATE, or less when the file would not fit ``max_bytes``."""
    budget_bits = max_bytes * 8 * SIZE_HEADROOM - audio_bit_rate * duration_seconds
    fitting = budget_bits / (max(duration_seconds, 1.0) + VBV_BUFFER_SECONDS)
    return max(0, min(MAX_VIDEO_BIT_RATE, math.floor(fitting)))


def _longest_fitting_seconds(audio_bit_rate: int, max_bytes: int) -> float:
    budget_bits = max_bytes * 8 * SIZE_HEADROOM - MIN_VIDEO_BIT_RATE * VBV_BUFFER_SECONDS
    return budget_bits / (MIN_VIDEO_BIT_RATE + audio_bit_rate)


def _even(length: float) -> int:
    return max(2, 2 * round(length / 2))


def _changes(facts: SourceFacts, plan: Plan) -> tuple[str, ...]:
    changes = []
    if facts.video_codec != "h264":
        changes.append(f"{facts.video_codec} video -> H.264")
    if facts.audio_codec != "aac":
        changes.append(f"{facts.audio_codec} audio -> AAC")
    if plan.rotation:
        changes.append(f"turned {plan.rotation} degrees upright (the rotation tag applied)")
    shown = facts.display_size
    if shown != (plan.width, plan.height):
        changes.append(f"{shown[0]}x{shown[1]} -> {plan.width}x{plan.height}")
    source_rate = _fps_text(facts.frame_rate) if facts.frame_rate else "unknown"
    if not facts.constant_rate:
        changes.append(f"variable {source_rate} fps -> constant {_fps_text(plan.frame_rate)} fps")
    elif facts.frame_rate != plan.frame_rate:
        changes.append(f"{source_rate} fps -> {_fps_text(plan.frame_rate)} fps")
    if not set(facts.container.split(",")) & {"mp4", "mov"}:
        changes.append(f"{facts.container} container -> MP4")
    return tuple(changes)


def _fps_text(rate: Fraction | None) -> str:
    return "unknown" if rate is None else f"{float(rate):.2f}".rstrip("0").rstrip(".")


# --- constant frame rate -------------------------------------------------------------------------


class FrameGrid:
    """Puts frames with arbitrary timestamps onto a constant-rate grid, frame by frame.

    Slot ``k`` (at ``k / rate`` seconds, on the source's own timeline so the sound
    stays in sync) shows the last frame that starts before the slot's midpoint
    with the next one (``k / rate + half a slot``). A frame that starts no slot is
    dropped; one that spans several slots is repeated. A 60 fps source onto a
    30 fps grid keeps every other frame; a constant source onto its own rate
    keeps every frame once.
    """

    def __init__(self, rate: Fraction) -> None:
        self.rate = rate
        self._half = Fraction(1, 2) / rate
        self.next_slot: int | None = None  # the first slot no frame has filled yet

    def slots_before(self, time: Fraction) -> range:
        """The slots the previous frame fills, now that the next one starts at ``time``.

        The first call (no previous frame) returns no slots: the grid starts at the
        first slot whose midpoint lies after ``time``.
        """
        if self.next_slot is None:
            self.next_slot = max(0, math.floor((time - self._half) * self.rate) + 1)
            return range(0)
        return self._fill_until(time)

    def finish(self, end: Fraction) -> range:
        """The slots the last frame fills, up to the end of the video at ``end`` seconds."""
        if self.next_slot is None:
            return range(0)
        return self._fill_until(end)

    def _fill_until(self, time: Fraction) -> range:
        first = self.next_slot or 0  # set by the first frame; both callers check
        # slot k is filled when k / rate + half <= time
        last = math.floor((time - self._half) * self.rate)
        slots = range(first, max(first, last + 1))
        self.next_slot = slots.stop
        return slots


def pick_frames(times: list[Fraction], rate: Fraction, end: Fraction) -> list[int]:
    """Which source frame (by index) each output slot shows: FrameGrid over a whole list."""
    grid = FrameGrid(rate)
    picked: list[int] = []
    for index, start in enumerate(times):
        picked += [index - 1] * len(grid.slots_before(start))
    picked += [len(times) - 1] * len(grid.finish(end))
    return picked


# --- transcoding ---------------------------------------------------------------------------------


def transcode(
    source: Path,
    output: Path,
    facts: SourceFacts,
    plan: Plan,
    *,
    progress: Progress | None = None,
) -> None:
    """Write ``plan`` for ``source`` to ``output``: one decode-convert-encode pass.

    Decoding dominates (4K HEVC costs about 15 ms of CPU a frame), so it runs on a
    thread of its own (PyAV releases the GIL inside FFmpeg), frame-threaded, while
    this thread scales, turns and encodes; the frames a 60 -> 30 fps conversion
    drops are never scaled.
    """
    partial = output.with_name(f".{output.name}.partial")
    try:
        with (
            av.open(str(source), mode="r") as inp,
            # faststart: the header (moov) moves to the front once the file is written,
            # so a player or Tavus's downloader can start without the whole file.
            av.open(str(partial), mode="w", format="mp4", options={"movflags": "faststart"}) as out,
        ):
            _Encoder(out, plan, facts.duration_seconds, progress).run(_Decoder(inp, plan))
        os.replace(partial, output)
    except av.error.FFmpegError as error:
        raise PrepareRefused(
            f"the recording could not be converted ({error.strerror}); is the file complete?"
        ) from None
    finally:
        partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Picture:
    """A decoded picture and the grid slots it fills (one or more: it is kept)."""

    frame: VideoFrame
    slots: range
    seconds: float  # where it starts in the recording, for the progress bar


_Item = _Picture | AudioFrame


class _Decoder(threading.Thread):
    """Demuxes and decodes on its own thread, placing pictures on the grid.

    Hands over only the pictures the grid keeps, and every sound frame, through a
    short queue (a few 4K pictures, so memory stays bounded).
    """

    _QUEUE_LENGTH = 6

    def __init__(self, inp: InputContainer, plan: Plan) -> None:
        super().__init__(name="prepare-decoder", daemon=True)
        self.inp = inp
        self.video = inp.streams.video[0]
        self.audio = inp.streams.audio[0]
        for stream in inp.streams:  # timecode, location and other tracks: skip their bytes
            if stream.index not in (self.video.index, self.audio.index):
                stream.discard = Discard.all
        # Frame and slice threads: a 4K HEVC decode is the pass's largest cost.
        self.video.thread_type = "AUTO"
        self.grid = FrameGrid(plan.frame_rate)
        self.fallback_frame_seconds = 1 / Fraction(self.video.average_rate or plan.frame_rate)
        self.queue: queue.Queue[_Item | BaseException | None] = queue.Queue(self._QUEUE_LENGTH)
        self.stopping = threading.Event()

    def items(self) -> Iterator[_Item]:
        """What the decoder hands over, in order, until the end; re-raises its failure."""
        self.start()
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Stop early (the encoder failed): the thread ends at its next hand-over."""
        self.stopping.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        try:
            self._decode()
        except BaseException as error:  # handed to the encoding thread, which raises it
            self._put(error)
        self._put(None)

    def _decode(self) -> None:
        previous: VideoFrame | None = None
        start = end = Fraction(0)
        for packet in self.inp.demux(self.video, self.audio):
            if self.stopping.is_set():
                return
            if packet.stream.index == self.audio.index:
                for sound in self.audio.decode(packet):
                    self._put(sound)
                continue
            for picture in self.video.decode(packet):
                start = self._seconds(picture, end)
                slots = self.grid.slots_before(start)  # none for the first picture
                if slots and previous is not None:
                    self._put(_Picture(previous, slots, float(start)))
                previous = picture
                end = start + self._frame_seconds(picture)
        last_slots = self.grid.finish(end)
        if previous is not None and last_slots:
            self._put(_Picture(previous, last_slots, float(end)))

    def _put(self, item: _Item | BaseException | None) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    @staticmethod
    def _seconds(picture: VideoFrame, after: Fraction) -> Fraction:
        if picture.pts is None or picture.time_base is None:
            return after  # no timestamp: right after the previous picture
        return Fraction(picture.pts) * picture.time_base

    def _frame_seconds(self, picture: VideoFrame) -> Fraction:
        if picture.duration and picture.time_base is not None:
            return Fraction(picture.duration) * picture.time_base
        return self.fallback_frame_seconds


class _Encoder:
    """Scales, turns and encodes what the decoder hands over, and muxes it into the mp4."""

    def __init__(
        self, out: OutputContainer, plan: Plan, total_seconds: float, progress: Progress | None
    ) -> None:
        self.out = out
        self.plan = plan
        self.progress = progress
        self.total = max(total_seconds, 1e-3)
        self.video = self._video_stream(out, plan)
        self.audio = self._audio_stream(out, plan)
        self.slot_time_base = 1 / plan.frame_rate  # one slot per tick: pts = slot number
        self.graph: _PictureGraph | None = None
        self._last_report = -1.0

    @staticmethod
    def _video_stream(out: OutputContainer, plan: Plan) -> VideoStream:
        kbps = plan.video_max_bit_rate // 1000
        stream = out.add_stream(
            "libx264",
            rate=plan.frame_rate,
            options={
                "preset": X264_PRESET,
                "crf": str(CRF),
                # A cap, not a target: a still talking head stays well under it.
                "x264-params": f"vbv-maxrate={kbps}:vbv-bufsize={kbps * VBV_BUFFER_SECONDS}",
            },
        )
        stream.width, stream.height = plan.width, plan.height
        stream.pix_fmt = "yuv420p"  # 8-bit 4:2:0: what every H.264 decoder plays
        stream.time_base = 1 / plan.frame_rate
        stream.codec_context.thread_count = 0  # x264 picks its threads from the cores
        return stream

    @staticmethod
    def _audio_stream(out: OutputContainer, plan: Plan) -> AudioStream:
        stream = out.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout=plan.audio_layout)
        stream.bit_rate = plan.audio_bit_rate
        return stream

    def run(self, decoder: _Decoder) -> None:
        try:
            for item in decoder.items():
                if isinstance(item, AudioFrame):
                    # PyAV's encoder resamples to 48 kHz and re-frames to AAC's 1024 samples.
                    self.out.mux(self.audio.encode(item))
                else:
                    self._encode(item)
        finally:
            decoder.stop()
        self.out.mux(self.video.encode(None))
        self.out.mux(self.audio.encode(None))
        if self.progress:
            self.progress(self.total, self.total)

    def _encode(self, picture: _Picture) -> None:
        """Convert a kept picture once, and encode it once for each slot it fills."""
        if self.graph is None:
            self.graph = _PictureGraph(picture.frame, self.plan)
        converted = self.graph.convert(picture.frame)
        converted.time_base = self.slot_time_base
        for slot in picture.slots:
            converted.pts = slot
            self.out.mux(self.video.encode(converted))
        self._report(picture.seconds)

    def _report(self, done: float) -> None:
        if self.progress and done - self._last_report >= 0.5:  # every half second of video
            self._last_report = done
            self.progress(min(done, self.total), self.total)


class _PictureGraph:
    """Scale (swscale, area averaging) and turn each picture in one threaded filter graph.

    Measured on 4K HEVC frames: the graph's scaler is as fast as ``VideoFrame.reformat``
    and threads itself; turning the already-scaled 1080p picture costs under 1 ms.
    """

    def __init__(self, template: VideoFrame, plan: Plan) -> None:
        self.passthrough = (
            (template.width, template.height) == plan.scaled_size
            and template.format.name == "yuv420p"
            and plan.rotation == 0
        )
        self.graph = Graph()
        if self.passthrough:  # already the right size, format and way up: nothing to do
            return
        source = self.graph.add_buffer(
            width=template.width,
            height=template.height,
            format=template.format,
            time_base=template.time_base or Fraction(1, 1000),
        )
        width, height = plan.scaled_size
        nodes = [source, self.graph.add("scale", f"{width}:{height}:flags=area")]
        nodes += [self.graph.add(name, args) for name, args in _TURNS[plan.rotation % 360]]
        nodes += [self.graph.add("format", "yuv420p"), self.graph.add("buffersink")]
        self.graph.link_nodes(*nodes)
        self.graph.configure()

    def convert(self, picture: VideoFrame) -> VideoFrame:
        if self.passthrough:
            return picture
        self.graph.vpush(picture)
        return self.graph.vpull()


# Filters that turn a picture counter-clockwise by the key's degrees (PyAV's rotation sign:
# a phone held upright writes -90, i.e. the stored picture is turned clockwise to show).
_TURNS: dict[int, tuple[tuple[str, str | None], ...]] = {
    0: (),
    90: (("transpose", "cclock"),),
    180: (("hflip", None), ("vflip", None)),
    270: (("transpose", "clock"),),
}
