"""The deployed stack's output ids: written by the CDK stack, read by ``replicas --stack NAME``.

The CLI finds a deployed stack's bucket, queues and API from these outputs (in CDK's
outputs file or CloudFormation's answer), matched by these exact ids.
"""

from __future__ import annotations

UPLOADS_BUCKET_NAME = "UploadsBucketName"
UPLOAD_PREFIX = "UploadPrefix"
REPLICAS_TABLE_NAME = "ReplicasTableName"
API_URL = "ApiUrl"
CALLBACK_BASE_URL = "CallbackBaseUrl"
TAVUS_API_KEY_SECRET_ARN = "TavusApiKeySecretArn"  # nosec B105 # noqa: S105 - an output id
CALLBACK_HMAC_SECRET_ARN = "CallbackHmacSecretArn"  # nosec B105 # noqa: S105 - an output id
EVENT_BUS_NAME = "EventBusName"
DASHBOARD_URL = "DashboardUrl"
ALARM_TOPIC_ARN = "AlarmTopicArn"
INGEST_QUEUE_URL = "IngestQueueUrl"
INGEST_DLQ_URL = "IngestDlqUrl"
# Only with deep_check on: the deep check's queue and its dead-letter queue.
DEEP_CHECK_QUEUE_URL = "DeepCheckQueueUrl"
DEEP_CHECK_DLQ_URL = "DeepCheckDlqUrl"
# The signer's outputs: the pre-signing IAM user's by default, the CloudFront ones with
# SIGNER=cloudfront.
SIGNER_SECRET_ARN = "SignerSecretArn"  # nosec B105 # noqa: S105 - an output id
SIGNER_USER_NAME = "SignerUserName"
SIGNER_DISTRIBUTION_DOMAIN = "SignerDistributionDomain"
SIGNER_KEY_SECRET_ARN = "SignerKeySecretArn"  # nosec B105 # noqa: S105 - an output id
# Optional, and not written by our stack: a stack that outputs its region saves the CLI
# guessing it from the URLs.
REGION = "Region"

# What the CLI needs of a deployed stack; each must be among the stack's outputs.
READ_BY_THE_CLI = (
    UPLOADS_BUCKET_NAME,
    UPLOAD_PREFIX,
    REPLICAS_TABLE_NAME,
    API_URL,
    INGEST_QUEUE_URL,
    INGEST_DLQ_URL,
)
