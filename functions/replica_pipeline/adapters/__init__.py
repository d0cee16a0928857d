"""Adapters: everything that talks to the outside world.

DynamoDB (the replicas table, its outbox), S3 (heads and ranged reads of a
drop, the media probes that read a header through them), Tavus's HTTP API,
the URL signers (S3 pre-signing, CloudFront) and EventBridge. They translate;
the decisions they carry out belong to ``rules`` and ``services``.
"""
