"""Pre-flight check of a recording, before it is uploaded (``replicas check``).

``replicas check FILE [--consent FILE]`` runs this. Tavus trains for hours
before it says a video was unusable; this package says so in a few seconds,
with a plain verdict and the number behind it for each requirement:

- the facts the pipeline itself checks from the header (container, H.264,
  resolution, duration, size), with the pipeline's own limits
  (``ValidationLimits``) so both sides agree;
- what only decoding can tell: the frame rate Tavus asks for, and the sound —
  loudness per second, and whether the recording is talking then silence, with
  speech at the start where the consent statement belongs;
- what the pictures show, sampled about once a second: one face in view, no
  second face, no cut, the framing, steady light, moderate movement, and the
  person still there during the silence. These findings also give the seconds
  where the problem shows and the Tavus error kind they head off.

A finding that ``replicas prepare`` fixes by re-encoding (container, codecs, frame
rate, size) is marked ``fixable``, and the report then names the command.

The sound pass decodes the audio alone; the picture pass decodes key frames
alone when they are frequent enough. A two-minute 1080p30 recording is checked
in about 4 s on two cores (``bench/preflight_check.py``).

Modules by job: ``check`` runs the whole check on a file; ``decoding`` reads it
with PyAV; ``signals`` finds the talking in a loudness envelope (pure numbers);
``pictures`` samples the video and ``faces`` looks at each picture (OpenCV);
``header_findings``, ``sound_findings`` and ``picture_findings`` turn facts into
verdicts; ``report`` holds the findings and the limits; ``rendering`` writes the
text report.
"""
