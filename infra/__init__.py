"""The CDK constructs and the stack that deploy replica-pipeline to AWS."""
