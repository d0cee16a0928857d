"""The ``replicas`` command line: submit, list, watch, retry, check, prepare, console.

It works against the local stack or a deployed one (``targets``), and its
pre-flight (``preflight``) and ``prepare`` run on the user's machine alone.
"""
