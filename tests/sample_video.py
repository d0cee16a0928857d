"""Write ``samples/sample.mp4``, the recording ``make run`` and the tests drop.

Two minutes of 1080p25 H.264 + AAC: a person facing the camera (``tests.faces``),
a minute of a speech-like voice and then a minute of room tone, the shape Tavus
asks for, so it passes every check ``replicas check`` makes. Encoded slowly for
size (about 1.7 MB), header first. Run: ``.venv/bin/python -m tests.sample_video``.
"""

from __future__ import annotations

from pathlib import Path

from tests.clips import make_clip

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


def main() -> None:
    make_clip(
        SAMPLE,
        width=1920,
        height=1080,
        fps=25,
        seconds=120,
        speech=[(0, 60)],
        small_file=True,
        key_frame_seconds=2,
    )
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
