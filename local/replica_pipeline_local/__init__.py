"""What runs on your machine, in two parts that never import each other.

- ``stack/``: the local stack, the whole pipeline with no AWS account and no Tavus
  key (moto's server, the Tavus emulator, stand-ins for API Gateway and CloudFront,
  the queue pumps and a Lambda runtime that runs the real handlers).
- ``cli/``: the ``replicas`` command line, its console and its pre-flight and
  ``prepare`` of a recording, for the local stack or a deployed one.

Beside them: ``stack_description`` (``.local/stack.json``, which the stack writes and
the CLI reads), ``loopback`` (the small HTTP server the stand-ins and the console
share) and ``demo`` (what ``make run`` shows).
"""
