"""Rules: the pipeline's decisions as pure code (no AWS, no HTTP, no clock reads).

What a key means, which status may follow which, whether a video is acceptable,
what a Tavus error means, and how a submission is identified. Services apply
them; adapters never decide them.
"""
