"""Read an MP4/MOV container header from S3 without downloading the video.

(A WebM's header is read by ``matroska_probe`` through the same reader.)

The header (``moov``) is found by walking the top-level boxes through a
seekable reader that fetches fixed-size blocks with ranged GETs and caches
them. Only the box headers and the ``moov`` box are read, so the bytes read per
drop do not grow with the video's size; a video whose ``moov`` sits at the end
costs a second ranged read, not a download. A byte budget caps the total.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from replica_pipeline.adapters.matroska_probe import EBML_MAGIC, MatroskaUnreadable, probe_matroska
from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.validation import VideoFacts, check_video

BLOCK_SIZE = 128 * 1024

# fetch(first_byte, last_byte) -> bytes, inclusive, like an HTTP Range header.
RangeFetcher = Callable[[int, int], bytes]


class ProbeError(Exception):
    """The header could not be read; the message says why in plain words."""


class ByteBudgetExceeded(ProbeError):
    pass


class HeaderUnreadable(Exception):
    """Reading the header failed on the way (a broken stream, a 5xx, a throttle): transient.

    Not a ProbeError: it says nothing about the video, so it must never reject it.
    """


class NotAVideoContainer(ProbeError):
    pass


class RangedReader(io.RawIOBase):
    """A read-only, seekable file over ranged fetches, in cached blocks, within a budget."""

    def __init__(
        self, size: int, fetch: RangeFetcher, *, budget: int, block_size: int = BLOCK_SIZE
    ) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._budget = budget
        self._block_size = block_size
        self._blocks: dict[int, bytes] = {}
        self._position = 0
        self.bytes_fetched = 0
        self.requests = 0
        # The first failed fetch: the parser may swallow it, so it is kept here.
        self.failure: Exception | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        written = 0
        while written < wanted:
            index, offset = divmod(self._position, self._block_size)
            block = self._block(index)
            chunk = block[offset : offset + wanted - written]
            if not chunk:
                break
            view[written : written + len(chunk)] = chunk
            written += len(chunk)
            self._position += len(chunk)
        return written

    def _block(self, index: int) -> bytes:
        if index not in self._blocks:
            start = index * self._block_size
            end = min(start + self._block_size, self._size) - 1
            if self.bytes_fetched + (end - start + 1) > self._budget:
                raise ByteBudgetExceeded(
                    f"the video header was not found within the first "
                    f"{self._budget // (1024 * 1024)} MiB read; is this a complete MP4/MOV file?"
                )
            try:
                data = self._fetch(start, end)
            except Exception as error:
                self.failure = self.failure or error
                raise
            if len(data) != end - start + 1:
                self.failure = self.failure or HeaderUnreadable(
                    f"asked for bytes {start}-{end}, got {len(data)} bytes"
                )
                raise self.failure
            self.requests += 1
            self.bytes_fetched += len(data)
            self._blocks[index] = data
        return self._blocks[index]


def probe_video(reader: io.RawIOBase, name: str) -> VideoFacts:
    """Facts about the first video track of an MP4/MOV or a WebM, whichever the file is."""
    from hachoir.field import FieldError
    from hachoir.stream import StreamError

    magic = reader.read(len(EBML_MAGIC))
    reader.seek(0)
    if magic != EBML_MAGIC:
        return _probe_mp4(reader, name)
    try:
        return probe_matroska(reader, name)
    except ByteBudgetExceeded:
        raise
    except MatroskaUnreadable as error:
        raise NotAVideoContainer(str(error)) from None
    except (FieldError, StreamError, KeyError, ValueError, AttributeError) as error:
        raise NotAVideoContainer(
            f"the WebM header could not be read ({type(error).__name__}); "
            "is the file complete and not corrupted?"
        ) from None


def _probe_mp4(reader: io.RawIOBase, name: str) -> VideoFacts:
    """Facts about the first video track, read through the maintained hachoir parser."""
    # hachoir is imported here, not at module level: only drops that reach this
    # point pay for it, and the handler's cold start stays lean.
    from hachoir.core import config as hachoir_config
    from hachoir.field import FieldError
    from hachoir.parser.container.mp4 import MP4File
    from hachoir.stream import InputIOStream, StreamError

    hachoir_config.quiet = True
    try:
        parser = MP4File(InputIOStream(reader, source=name, tags=[("filename", name)]))
        if parser.validate() is not True:
            raise NotAVideoContainer("the file is not an MP4/MOV video container")
        file_size = reader.seek(0, io.SEEK_END)
        reader.seek(0)
        _refuse_truncated(parser, file_size)
        movie = _first(_atoms(parser, "moov"))
        if movie is None:
            raise NotAVideoContainer("the file has no movie header (moov box); is it complete?")
        header = _first(_atoms(movie, "mvhd"))
        if header is None:
            raise NotAVideoContainer("the file has no movie header (mvhd box)")
        time_scale = header["movie_hdr/time_scale"].value or 1
        duration = header["movie_hdr/duration"].value / time_scale
        video: VideoFacts | None = None
        audio_codec: str | None = None
        has_audio = False
        for track in _atoms(movie, "trak"):
            handler = _first(_atoms(track, "hdlr"))
            kind = handler["hdlr/subtype"].value if handler is not None else None
            entry = _sample_entry(track)
            if kind == "soun" and not has_audio:
                has_audio = True
                audio_codec = _audio_codec(entry) if entry is not None else None
            if kind != "vide" or entry is None or video is not None:
                continue
            width = entry["width"].value if "width" in entry else 0
            height = entry["height"].value if "height" in entry else 0
            video = VideoFacts(
                video_codec=_format(entry),
                width=int(width),
                height=int(height),
                duration_seconds=float(duration),
                frame_rate=_frame_rate(track),
            )
        if video is None:
            return VideoFacts(video_codec=None, width=0, height=0, duration_seconds=float(duration))
        return replace(video, has_audio=has_audio, audio_codec=audio_codec)
    except ByteBudgetExceeded:
        raise
    except (FieldError, StreamError, KeyError, ValueError, AttributeError) as error:
        raise NotAVideoContainer(
            f"the MP4/MOV header could not be read ({type(error).__name__}); "
            "is the file complete and not corrupted?"
        ) from None


def _sample_entry(track: Any) -> Any | None:
    descriptions = _first(_atoms(track, "stsd"))
    if descriptions is None or "stsd/sample_entry[0]" not in descriptions:
        return None
    return descriptions["stsd/sample_entry[0]"]


def _format(entry: Any) -> str:
    return str(entry["format"].value.decode("latin-1").strip())


def _audio_codec(entry: Any) -> str:
    """The sound's codec: the sample entry, but MP3 for an ``mp4a`` that carries MP3.

    ``mp4a`` only says "MPEG-4 audio"; its ``esds`` object type says which:
    0x40 and 0x66-0x68 are AAC, 0x69 and 0x6B MP3. An unreadable ``esds`` is
    given the benefit of the doubt (AAC is what ``mp4a`` nearly always holds).
    """
    sample_entry = _format(entry)
    if sample_entry != "mp4a":
        return sample_entry
    for child in entry:
        if not child.is_field_set or "tag" not in child or child["tag"].value != "esds":
            continue
        path = "esds/ES/decConfigDescr/objectTypeIndication"
        object_type = child[path].value if path in child else None
        if object_type in _MP3_OBJECT_TYPES:
            return "mp3"
    return sample_entry


_MP3_OBJECT_TYPES = frozenset({0x69, 0x6B})


def _frame_rate(track: Any) -> float | None:
    """Frames per second on average: the sample count over the media duration.

    The count is the sample size box's header field (``stsz``), so the sample
    tables themselves are never walked; None when the header does not say.
    """
    media_header = _first(_atoms(track, "mdhd"))
    sizes = _first(_atoms(track, "stsz"))
    if media_header is None or sizes is None:
        return None
    time_scale = media_header["media_hdr/time_scale"].value
    duration = media_header["media_hdr/duration"].value
    count = sizes["stsz/count"].value if "stsz/count" in sizes else None
    if not time_scale or not duration or not count:
        return None
    return float(count) * float(time_scale) / float(duration)


def _refuse_truncated(parser: Any, file_size: int) -> None:
    """A cut-short upload still has a readable header; Tavus would fail on it later."""
    for atom in parser:
        declared = atom["size"].value
        if declared == 1 and "size64" in atom:
            declared = atom["size64"].value
        if declared == 0:  # "to the end of the file"
            continue
        end = atom.absolute_address // 8 + declared
        if end > file_size:
            raise NotAVideoContainer(
                f"the file is cut short: its {atom['tag'].value} box needs {end:,} bytes "
                f"but the file has {file_size:,}; upload the complete video"
            )


def container_rejection(reader: RangedReader, name: str, limits: ValidationLimits) -> str | None:
    """Why the video in ``reader`` would be rejected from its header, or None.

    One home for the header check: the ingest reads through S3 ranged GETs, the
    CLI through the local file, both through this.
    """
    rejection: str | None = None
    try:
        rejection = check_video(probe_video(reader, name), limits)
    except ProbeError as error:
        rejection = str(error)
    except Exception:
        if reader.failure is None:
            raise
    if reader.failure is not None:
        # Whatever the parser concluded, it concluded it from a read that broke.
        raise HeaderUnreadable(
            f"reading the video header failed ({type(reader.failure).__name__}: "
            f"{reader.failure}); the record will be retried"
        ) from reader.failure
    return rejection


# Only the boxes on the path to what we read are descended into; the media
# data (mdat) and the sample tables are never read.
_CONTAINERS = frozenset({"moov", "trak", "mdia", "minf", "stbl"})


def _atoms(node: Any, tag: str) -> Iterator[Any]:
    """Depth-first search for boxes named ``tag`` below ``node``."""
    for child in node:
        if not child.is_field_set:
            continue
        if "tag" not in child:  # the payload of a container box
            yield from _atoms(child, tag)
        elif child["tag"].value == tag:
            yield child
        elif child["tag"].value in _CONTAINERS:
            yield from _atoms(child, tag)


def _first(atoms: Iterator[Any]) -> Any | None:
    return next(atoms, None)
