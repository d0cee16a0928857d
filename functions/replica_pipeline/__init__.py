"""replica-pipeline: turn videos dropped into S3 into Tavus replicas and track them.

Layers (imports point down this list, never up):

- ``handlers/``: one thin module per Lambda: parse the event, call a service,
  shape the answer, emit metrics.
- ``services/``: the use cases (ingest a drop, apply a callback, reconcile,
  retry, answer status queries), each handed the adapters it uses.
- ``rules/``: the decisions as pure code: keys, states, validation, identity,
  Tavus's error vocabulary, deferral.
- ``adapters/``: DynamoDB, S3, Tavus's API, the URL signers, EventBridge.
- ``contracts/``: plain data the functions share with the CDK app and the
  local stack (table schema, HTTP routes, stack outputs).
- ``preflight/``: the deep check of a recording (sound and picture), run by
  ``replicas check``; it needs PyAV, numpy and OpenCV, which the other
  functions do not bundle, so nothing above imports it.
- Beside them: ``config`` (every setting, read once), ``runtime`` (builds the
  adapters a handler needs, once per container), ``observability`` (metric
  names, tracing) and ``clock``.

Glossary (the same words mean the same things everywhere):

- **drop**: an upload under ``uploads/`` that the pipeline acts on: one video
  (``uploads/<name>.mp4``) or one half of a pair (``uploads/<name>/train.mp4``,
  ``uploads/<name>/consent.mp4``).
- **part**: one object of a drop as inspected (its key, version, ETag,
  metadata and header facts).
- **submission**: what becomes one Tavus replica, and one item in the table: a
  single-video drop, or a training and consent pair. Its id comes from the
  bucket, the name and the parts' ETags, so the same bytes dropped again are
  the same submission. A half pair waiting for its other half is a submission
  of kind ``part``.
- **attempt**: one try of a submission at Tavus. A retry starts the next
  attempt; a replica of an earlier attempt is never adopted.
- **claim**: the lease on a submission's current attempt that lets exactly one
  invocation call Create Replica.
- **replica**: Tavus's object (``replica_id``) that one attempt's Create
  Replica made, and whose training the item tracks.
"""
