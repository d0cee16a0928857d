"""Pre-flight check of a recording on the user's machine, before it is uploaded.

``replicas check FILE [--consent FILE]`` runs this. Tavus trains for hours
before it says a video was unusable; this package says so in about a second,
with a plain verdict and the number behind it for each requirement:

- the facts the pipeline itself checks from the header (container, H.264,
  resolution, duration, size), with the pipeline's own limits
  (``ValidationLimits``) so both sides agree;
- what only decoding can tell: the frame rate Tavus asks for, and the sound —
  loudness per second, and whether the recording is talking then silence, with
  speech at the start where the consent statement belongs.

A finding that ``replicas prepare`` fixes by re-encoding (container, codecs, frame
rate, size) is marked ``fixable``, and the report then names the command.

Only the audio stream is decoded, and the demuxer is told to discard the
others, so a two-minute 1080p30 recording is checked in about a quarter of a
second (``bench/preflight_check.py``).

Modules by job: ``check`` runs the whole check on a file; ``decoding`` reads it
with PyAV; ``signals`` finds the talking in a loudness envelope (pure numbers);
``header_findings`` and ``sound_findings`` turn facts into verdicts; ``report``
holds the findings and the limits; ``rendering`` writes the text report.
"""
