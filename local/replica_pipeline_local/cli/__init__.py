"""The ``replicas`` command line: submit, list, watch, retry, check, prepare, console.

It works against the local stack or a deployed one (``targets``), and its
pre-flight (``replica_pipeline.preflight``, shared with the deep-check function) and
``prepare`` run on the user's machine alone.
"""
