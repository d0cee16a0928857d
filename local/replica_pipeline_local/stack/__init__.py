"""The local stack: the whole pipeline on one machine, with no AWS account and no Tavus key.

moto's server stands in for AWS, ``tavus_emulator`` for Tavus, ``api_gateway`` and
``cloudfront_edge`` for API Gateway and CloudFront, and the pumps and the Lambda
runtime run the real handlers. ``python -m replica_pipeline_local.stack up`` starts it.
"""
