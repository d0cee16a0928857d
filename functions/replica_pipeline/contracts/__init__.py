"""Plain data shared by the functions, the CDK app and the local stack."""
