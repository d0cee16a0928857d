"""Services: the use cases, each a function of its dependencies.

Ingest a drop, apply a callback, reconcile with Tavus, retry a failed
submission, answer status queries. They call rules to decide and adapters to
act, and are handed their adapters (so tests pass real ones built on moto and
the Tavus emulator).
"""
