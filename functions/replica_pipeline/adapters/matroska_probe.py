"""Read a WebM (Matroska) header without downloading the video.

A WebM starts with its EBML header, then the Segment: ``Info`` (time scale and
duration) and ``Tracks`` (codec ids, picture size, frame duration) come before
the first ``Cluster`` of media, so the walk stops there and the bytes read stay
a few kilobytes whatever the video's size. Browsers write WebM as it streams:
such a file has no ``Duration`` and often no ``DefaultDuration``, and then the
facts say None rather than guess.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from replica_pipeline.rules.validation import WEBM, VideoFacts

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
VIDEO_TRACK = 1  # Matroska TrackType
AUDIO_TRACK = 2
NANOSECONDS = 1_000_000_000
DEFAULT_TIMECODE_SCALE = 1_000_000  # the spec's default: milliseconds
# An element size of all ones (here, for the 8-byte form) means "unknown".
UNKNOWN_SIZE = 2**56 - 1


class MatroskaUnreadable(ValueError):
    """The header is not a Matroska header we can read; the message says why."""


def probe_matroska(reader: io.RawIOBase, name: str) -> VideoFacts:
    """Facts about the first video and first audio track of a WebM."""
    # Imported here, as for MP4: only WebM drops pay for this parser.
    from hachoir.core import config as hachoir_config
    from hachoir.parser.container.mkv import MkvFile
    from hachoir.stream import InputIOStream

    hachoir_config.quiet = True
    parser = MkvFile(InputIOStream(reader, source=name, tags=[("filename", name)]))
    if parser.validate() is not True:
        raise MatroskaUnreadable("the file is not a WebM video container")
    segment = _child(parser, "Segment[0]")
    if segment is None:
        raise MatroskaUnreadable("the WebM has no Segment; is the file complete?")
    file_size = reader.seek(0, io.SEEK_END)
    reader.seek(0)
    _refuse_truncated(segment, file_size)
    info, tracks = None, None
    for element in segment:
        if element.name.startswith("Cluster"):
            break  # the media begins: everything the header says has been said
        if element.name.startswith("Info") and info is None:
            info = element
        elif element.name.startswith("Tracks") and tracks is None:
            tracks = element
    if tracks is None:
        raise MatroskaUnreadable("the WebM has no track list before its media")
    duration = _duration_seconds(info)
    video: VideoFacts | None = None
    audio_codec: str | None = None
    has_audio = False
    for entry in (child for child in tracks if child.name.startswith("TrackEntry")):
        kind = _value(entry, "TrackType/enum")
        codec = _value(entry, "CodecID/string")
        if kind == AUDIO_TRACK and not has_audio:
            has_audio, audio_codec = True, codec
        elif kind == VIDEO_TRACK and video is None:
            frame_ns = _value(entry, "DefaultDuration/unsigned")
            video = VideoFacts(
                video_codec=codec or "unknown",
                width=int(_value(entry, "Video/PixelWidth/unsigned") or 0),
                height=int(_value(entry, "Video/PixelHeight/unsigned") or 0),
                duration_seconds=duration,
                frame_rate=NANOSECONDS / frame_ns if frame_ns else None,
                container=WEBM,
            )
    if video is None:
        return VideoFacts(None, 0, 0, duration, container=WEBM)
    return replace(video, has_audio=has_audio, audio_codec=audio_codec)


def _refuse_truncated(segment: Any, file_size: int) -> None:
    """A cut-short upload still has a readable header; Tavus would fail on it later."""
    size = segment["size"]
    declared = size.value
    if declared is None or declared >= UNKNOWN_SIZE:  # written as it streamed: never known
        return
    end = (size.absolute_address + size.size) // 8 + declared
    if end > file_size:
        raise MatroskaUnreadable(
            f"the file is cut short: its Segment needs {end:,} bytes but the file has "
            f"{file_size:,}; upload the complete video"
        )


def _duration_seconds(info: Any | None) -> float | None:
    if info is None:
        return None
    ticks = _value(info, "Duration/double")
    if ticks is None:
        return None
    scale = _value(info, "TimecodeScale/unsigned") or DEFAULT_TIMECODE_SCALE
    return float(ticks) * float(scale) / NANOSECONDS


def _child(node: Any, path: str) -> Any | None:
    return node[path] if path in node else None  # noqa: SIM401 - hachoir has no get()


def _value(node: Any, path: str) -> Any | None:
    """The value at ``path`` under ``node``, or None when the element is absent."""
    field = _child(node, path)
    return None if field is None else field.value
