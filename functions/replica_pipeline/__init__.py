"""replica-pipeline: turn videos dropped into S3 into Tavus replicas and track them.

The domain modules here are shared by every Lambda handler (``handlers/``), the
CDK stack (``infra/``), the local stack and the CLI (``local/``).
"""
