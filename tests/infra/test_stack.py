"""What the synthesized stack promises: secure storage, least-privilege roles, the routes' auth,
the event source settings, the schedule, the alarms and the outputs a user needs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import assertions
from constructs import IConstruct

from infra import api, ingest
from infra.functions import POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME
from infra.secrets import HMAC_KEY_LENGTH
from infra.settings import UPLOAD_PREFIX, StackSettings
from replica_pipeline import config
from replica_pipeline.config import INGEST_QUEUE_URL, TAVUS_API_KEY_PLACEHOLDER
from replica_pipeline.contracts.table_schema import (
    EVENT_PENDING_ATTRIBUTE,
    PARTITION_KEY,
    PENDING_EVENT_INDEX,
    REPLICA_ID_INDEX,
    STATUS_INDEX,
    UPDATED_AT_ATTRIBUTE,
)
from replica_pipeline.observability import METRICS_NAMESPACE, TAVUS_SUSPECT
from tests.infra.cfn import function_role, method_paths, render, role_statements, statements
from tests.infra.conftest import ALTERNATIVE_CONTEXT, Synthesized

Match = assertions.Match
DEFAULTS = StackSettings()
HANDLERS = {
    "ingest": "replica_pipeline.handlers.ingest.handler",
    "callback": "replica_pipeline.handlers.callback.handler",
    "status_api": "replica_pipeline.handlers.status_api.handler",
    "reconciler": "replica_pipeline.handlers.reconciler.handler",
}
SQS_CONSUME = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
)
TABLE_READS = ("dynamodb:GetItem", "dynamodb:Query")
# The status API changes items for a retry; it never adds or deletes one.
TABLE_UPDATES = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem")
TABLE_WRITES = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
XRAY = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
NO_CONDITION = repr({})


def made_buckets(synth: Synthesized) -> tuple[IConstruct, IConstruct]:
    """The uploads bucket and its access-log bucket, both made by the stack."""
    uploads = synth.pipeline.uploads
    assert uploads.access_logs is not None  # the repository's app makes its own bucket
    return uploads.bucket, uploads.access_logs


def functions_by_handler(synth: Synthesized) -> dict[str, str]:
    """Handler module name ("ingest", ...) -> logical id of its function."""
    found = {}
    for logical_id, resource in synth.of_type("AWS::Lambda::Function").items():
        handler = resource["Properties"].get("Handler", "")
        for name, path in HANDLERS.items():
            if handler == path:
                found[name] = logical_id
    assert set(found) == set(HANDLERS)
    return found


# --- storage -----------------------------------------------------------------------------


def test_uploads_bucket_is_private_encrypted_versioned_logged_and_has_no_cors(
    synth: Synthesized,
) -> None:
    bucket = synth.resources[synth.logical_id(synth.pipeline.uploads.bucket)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": synth.logical_id(made_buckets(synth)[1])
    }
    assert "CorsConfiguration" not in bucket
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30
    }
    assert "expire-uploads" not in rules  # upload_expiry_days is unset by default


def test_both_buckets_refuse_plain_http(synth: Synthesized) -> None:
    for bucket in made_buckets(synth):
        assert synth.matching(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": synth.logical_id(bucket)},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_new_uploads_under_the_prefix_notify_the_ingest_queue(synth: Synthesized) -> None:
    assert synth.matching(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": synth.logical_id(synth.pipeline.uploads.bucket)},
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}
                        },
                        "QueueArn": {
                            "Fn::GetAtt": [synth.logical_id(synth.pipeline.ingest.queue), "Arn"]
                        },
                    }
                ]
            },
        },
    )


def test_replicas_table_has_the_schema_key_its_indexes_pitr_and_deletion_protection(
    synth: Synthesized,
) -> None:
    assert synth.matching(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": Match.array_with(
                [
                    Match.object_like({"IndexName": REPLICA_ID_INDEX}),
                    Match.object_like({"IndexName": STATUS_INDEX}),
                    # the outbox sweep's index: keys only, the sweep reads each item itself
                    {
                        "IndexName": PENDING_EVENT_INDEX,
                        "KeySchema": [
                            {"AttributeName": EVENT_PENDING_ATTRIBUTE, "KeyType": "HASH"},
                            {"AttributeName": UPDATED_AT_ATTRIBUTE, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    },
                ]
            ),
            "Replicas": [
                Match.object_like(
                    {
                        "DeletionProtectionEnabled": True,
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    }
                )
            ],
        },
    )
    # No Powertools idempotency table: the ingest claim lives in the replicas item.
    assert len(synth.of_type("AWS::DynamoDB::GlobalTable")) == 1
    assert len(synth.of_type("AWS::DynamoDB::Table")) == 0


def test_destroy_removal_policy_drops_deletion_protection(
    synth_alternative: Synthesized,
) -> None:
    assert synth_alternative.matching_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "DeletionPolicy": "Delete",
            "Properties": {"Replicas": [Match.object_like({"DeletionProtectionEnabled": False})]},
        },
    )


def test_destroy_empties_and_deletes_both_buckets(synth_alternative: Synthesized) -> None:
    # Versioned buckets cannot be deleted while they hold versions: auto-delete empties them.
    auto_deletes = synth_alternative.of_type("Custom::S3AutoDeleteObjects")
    for bucket in made_buckets(synth_alternative):
        logical_id = synth_alternative.logical_id(bucket)
        assert synth_alternative.resources[logical_id]["DeletionPolicy"] == "Delete"
        emptying = [
            resource
            for resource in auto_deletes.values()
            if resource["Properties"]["BucketName"] == {"Ref": logical_id}
        ]
        assert len(emptying) == 1, bucket.node.path
    assert len(auto_deletes) == 2


def test_retained_buckets_are_never_emptied(synth: Synthesized) -> None:
    assert not synth.of_type("Custom::S3AutoDeleteObjects")
    for bucket in made_buckets(synth):
        resource = synth.resources[synth.logical_id(bucket)]
        assert resource["DeletionPolicy"] == "Retain", bucket.node.path


def test_upload_expiry_adds_a_lifecycle_rule_for_the_prefix(
    synth_alternative: Synthesized,
) -> None:
    bucket = synth_alternative.resources[
        synth_alternative.logical_id(synth_alternative.pipeline.uploads.bucket)
    ]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-uploads"]["Prefix"] == UPLOAD_PREFIX
    assert rules["expire-uploads"]["ExpirationInDays"] == ALTERNATIVE_CONTEXT["upload_expiry_days"]


def test_bucket_kms_encrypts_uploads_with_a_rotated_key(synth_alternative: Synthesized) -> None:
    key = synth_alternative.pipeline.uploads.key
    assert key is not None
    key_id = synth_alternative.logical_id(key)
    assert synth_alternative.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    bucket = synth_alternative.resources[
        synth_alternative.logical_id(synth_alternative.pipeline.uploads.bucket)
    ]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]


# --- queues --------------------------------------------------------------------------------


def test_ingest_queue_outlasts_six_ingest_timeouts_and_redrives_to_its_dlq(
    synth: Synthesized,
) -> None:
    functions = functions_by_handler(synth)
    ingest_timeout = synth.resources[functions["ingest"]]["Properties"]["Timeout"]
    queue = synth.resources[synth.logical_id(synth.pipeline.ingest.queue)]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * ingest_timeout
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {
            "Fn::GetAtt": [synth.logical_id(synth.pipeline.ingest.dead_letter_queue), "Arn"]
        },
        "maxReceiveCount": DEFAULTS.dlq_max_receive_count,
    }
    dlq = synth.resources[synth.logical_id(synth.pipeline.ingest.dead_letter_queue)]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True


def test_dlq_max_receive_count_comes_from_context(synth_alternative: Synthesized) -> None:
    queue = synth_alternative.resources[
        synth_alternative.logical_id(synth_alternative.pipeline.ingest.queue)
    ]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == ALTERNATIVE_CONTEXT["dlq_max_receive_count"]


def test_every_queue_refuses_plain_http(synth: Synthesized) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(queues) == 3  # ingest, its DLQ, the reconciler's DLQ
    for logical_id in queues:
        assert synth.matching(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": logical_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


# --- functions ------------------------------------------------------------------------------


def test_every_function_runs_arm64_python_with_tracing_logs_and_limits(
    synth: Synthesized,
) -> None:
    functions = functions_by_handler(synth)
    code_keys = set()
    for logical_id in functions.values():
        function = synth.resources[logical_id]["Properties"]
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["Timeout"] > 3
        assert function["MemorySize"] >= 256
        assert "Layers" not in function, "Powertools is bundled (tests/infra/test_powertools.py)"
        log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
        assert synth.resources[log_group]["Properties"]["RetentionInDays"] == (
            DEFAULTS.log_retention_days
        )
        code_keys.add(json.dumps(function["Code"]))
    assert len(code_keys) == 1, "all four functions share one code asset"


def test_functions_get_every_setting_by_its_config_name(synth: Synthesized) -> None:
    stack = synth.pipeline
    callback_url = {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": synth.logical_id(stack.api.rest_api)},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                f"/{api.STAGE_NAME}{api.CALLBACK_PATH}",
            ],
        ]
    }
    expected = {
        config.TABLE_NAME: {"Ref": synth.logical_id(stack.replicas.table)},
        config.UPLOAD_PREFIX: UPLOAD_PREFIX,
        config.TAVUS_API_URL: DEFAULTS.tavus_api_url,
        config.TAVUS_API_VOCABULARY: DEFAULTS.tavus_api_vocabulary,
        config.TAVUS_API_KEY_SECRET_ARN: {"Ref": synth.logical_id(stack.secrets.tavus_api_key)},
        config.CALLBACK_BASE_URL: callback_url,
        config.CALLBACK_HMAC_SECRET_ARN: {"Ref": synth.logical_id(stack.secrets.callback_hmac_key)},
        config.SIGNER_SECRET_ARN: {"Ref": synth.logical_id(stack.secrets.signer_credentials)},
        config.PRESIGN_HOURS: str(DEFAULTS.presign_hours),
        config.EVENT_BUS_NAME: "replica-pipeline-dev",
        config.PAIR_TIMEOUT_HOURS: str(DEFAULTS.pair_timeout_hours),
        config.SUBMIT_LEASE_SECONDS: str(int(ingest.SUBMIT_LEASE.to_seconds())),
        POWERTOOLS_SERVICE_NAME: "replica-pipeline-dev",
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    }
    for handler, logical_id in functions_by_handler(synth).items():
        environment = synth.resources[logical_id]["Properties"]["Environment"]["Variables"]
        if handler in ("status_api", "ingest"):  # they queue retries and deferrals
            expected_here = {
                **expected,
                INGEST_QUEUE_URL: {"Ref": synth.logical_id(stack.ingest.queue)},
            }
            assert environment == expected_here
        else:
            assert environment == expected
    assert synth.template.to_json()["Outputs"]["CallbackBaseUrl"]["Value"] == callback_url


def test_the_ingest_claim_lease_outlives_an_ingest_invocation(synth: Synthesized) -> None:
    ingest_id = functions_by_handler(synth)["ingest"]
    function = synth.resources[ingest_id]["Properties"]
    assert (
        int(function["Environment"]["Variables"][config.SUBMIT_LEASE_SECONDS])
        > (function["Timeout"])
    )


def test_ingest_consumes_the_queue_in_batches_with_partial_failures(synth: Synthesized) -> None:
    assert synth.matching(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {
                "Fn::GetAtt": [synth.logical_id(synth.pipeline.ingest.queue), "Arn"]
            },
            "FunctionName": {"Ref": functions_by_handler(synth)["ingest"]},
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": DEFAULTS.ingest_max_concurrency},
        },
    )


def test_ingest_max_concurrency_comes_from_context(synth_alternative: Synthesized) -> None:
    assert synth_alternative.matching(
        "AWS::Lambda::EventSourceMapping",
        {"ScalingConfig": {"MaximumConcurrency": ALTERNATIVE_CONTEXT["ingest_max_concurrency"]}},
    )


def test_reconciler_runs_on_schedule_with_a_dead_letter_queue(synth: Synthesized) -> None:
    reconciler = functions_by_handler(synth)["reconciler"]
    dlq = synth.logical_id(synth.pipeline.reconciler.dead_letter_queue)
    assert synth.matching(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": f"rate({DEFAULTS.reconcile_every_minutes} minutes)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [reconciler, "Arn"]},
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}},
                    }
                )
            ],
        },
    )
    function = synth.resources[reconciler]["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}


def test_reconciler_runs_are_never_retried_so_they_cannot_overlap(synth: Synthesized) -> None:
    reconciler = functions_by_handler(synth)["reconciler"]
    invoke_configs = synth.matching(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": reconciler}, "MaximumRetryAttempts": 0},
    )
    assert len(invoke_configs) == 1
    assert synth.matching(
        "AWS::Events::Rule",
        {
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [reconciler, "Arn"]},
                        "RetryPolicy": Match.object_like({"MaximumRetryAttempts": 0}),
                    }
                )
            ]
        },
    )


def test_reconcile_rate_comes_from_context(synth_alternative: Synthesized) -> None:
    assert synth_alternative.matching(
        "AWS::Events::Rule",
        {"ScheduleExpression": f"rate({ALTERNATIVE_CONTEXT['reconcile_every_minutes']} minutes)"},
    )


# --- least privilege ------------------------------------------------------------------------


def _expected_roles(synth: Synthesized) -> dict[str, set[Any]]:
    stack = synth.pipeline
    functions = functions_by_handler(synth)
    table = synth.logical_id(stack.replicas.table)
    bucket = synth.logical_id(stack.uploads.bucket)
    bus = synth.logical_id(stack.status_events.bus)
    tavus_key = f"Ref:{synth.logical_id(stack.secrets.tavus_api_key)}"
    hmac_key = f"Ref:{synth.logical_id(stack.secrets.callback_hmac_key)}"
    signer = f"Ref:{synth.logical_id(stack.secrets.signer_credentials)}"
    table_resources = (f"{table}.Arn", f"{table}.Arn/index/*")

    def logs(function: str) -> Any:
        log_group = synth.resources[functions[function]]["Properties"]["LoggingConfig"]
        return (LOGS, (f"{log_group['LogGroup']['Ref']}.Arn",), NO_CONDITION)

    xray = (XRAY, ("*",), NO_CONDITION)
    put_events = (("events:PutEvents",), (f"{bus}.Arn",), NO_CONDITION)
    return {
        "ingest": {
            logs("ingest"),
            xray,
            (SQS_CONSUME, (f"{synth.logical_id(stack.ingest.queue)}.Arn",), NO_CONDITION),
            (
                ("s3:GetObject", "s3:GetObjectVersion"),
                (f"{bucket}.Arn/{UPLOAD_PREFIX}*",),
                NO_CONDITION,
            ),
            (
                ("s3:ListBucket",),
                (f"{bucket}.Arn",),
                repr({"StringLike": {"s3:prefix": [f"{UPLOAD_PREFIX}*"]}}),
            ),
            (TABLE_WRITES, table_resources, NO_CONDITION),
            (
                ("secretsmanager:GetSecretValue",),
                tuple(sorted((tavus_key, hmac_key, signer))),
                NO_CONDITION,
            ),
            put_events,
            # deferred records go back on its own queue
            (("sqs:SendMessage",), (f"{synth.logical_id(stack.ingest.queue)}.Arn",), NO_CONDITION),
        },
        "callback": {
            logs("callback"),
            xray,
            (TABLE_WRITES, table_resources, NO_CONDITION),
            (
                ("secretsmanager:GetSecretValue",),
                tuple(sorted((tavus_key, hmac_key))),
                NO_CONDITION,
            ),
            put_events,
        },
        "status_api": {
            logs("status_api"),
            xray,
            (TABLE_UPDATES, table_resources, NO_CONDITION),
            (
                ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"),
                (f"{synth.logical_id(stack.ingest.queue)}.Arn",),
                NO_CONDITION,
            ),
            put_events,
        },
        "reconciler": {
            logs("reconciler"),
            xray,
            (
                ("sqs:SendMessage",),
                (f"{synth.logical_id(stack.reconciler.dead_letter_queue)}.Arn",),
                NO_CONDITION,
            ),
            (TABLE_WRITES, table_resources, NO_CONDITION),
            (("secretsmanager:GetSecretValue",), (tavus_key,), NO_CONDITION),
            put_events,
        },
    }


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_function_role_allows_exactly_what_its_handler_needs(
    synth: Synthesized, function: str
) -> None:
    role = function_role(synth.resources, functions_by_handler(synth)[function])
    assert role_statements(synth.resources, role) == _expected_roles(synth)[function]


def test_no_policy_grants_a_service_wildcard_or_star_outside_xray(synth: Synthesized) -> None:
    for logical_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for actions, resources, _ in statements(policy["Properties"]["PolicyDocument"]):
            assert not any(action.endswith(":*") or action == "*" for action in actions), logical_id
            if "*" in resources:
                assert actions == XRAY, logical_id


def test_signer_user_can_only_read_uploads(synth: Synthesized) -> None:
    secrets = synth.pipeline.secrets
    user = synth.resources[synth.logical_id(secrets.signer)]["Properties"]
    group = synth.logical_id(secrets.signer_group)
    assert user["Groups"] == [{"Ref": group}]
    assert "Policies" not in user
    assert "ManagedPolicyArns" not in user
    attached = [
        policy["Properties"]
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": group} in policy["Properties"].get("Groups", [])
        or {"Ref": synth.logical_id(secrets.signer)} in policy["Properties"].get("Users", [])
    ]
    assert len(attached) == 1
    bucket = synth.logical_id(synth.pipeline.uploads.bucket)
    assert statements(attached[0]["PolicyDocument"]) == {
        (("s3:GetObject", "s3:GetObjectVersion"), (f"{bucket}.Arn/{UPLOAD_PREFIX}*",), "{}")
    }
    group_resource = synth.resources[group].get("Properties", {})
    assert "Policies" not in group_resource
    assert "ManagedPolicyArns" not in group_resource


def test_signer_with_a_kms_bucket_may_also_decrypt_with_that_key_only(
    synth_alternative: Synthesized,
) -> None:
    synth = synth_alternative
    key = synth.pipeline.uploads.key
    assert key is not None
    group = synth.logical_id(synth.pipeline.secrets.signer_group)
    (policy,) = [
        policy["Properties"]
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": group} in policy["Properties"].get("Groups", [])
    ]
    assert (
        ("kms:Decrypt",),
        (f"{synth.logical_id(key)}.Arn",),
        "{}",
    ) in statements(policy["PolicyDocument"])
    assert len(policy["PolicyDocument"]["Statement"]) == 2


def test_signer_secret_holds_the_access_key_under_the_names_the_presigner_reads(
    synth: Synthesized,
) -> None:
    secrets = synth.pipeline.secrets
    secret = synth.resources[synth.logical_id(secrets.signer_credentials)]["Properties"]
    access_key = synth.logical_id(secrets.signer_key)
    text = render(secret["SecretString"])
    value = json.loads(text)
    assert value == {
        "access_key_id": f"Ref:{access_key}",
        "secret_access_key": f"{access_key}.SecretAccessKey",
    }
    key = synth.resources[access_key]["Properties"]
    assert key["UserName"] == {"Ref": synth.logical_id(secrets.signer)}
    assert key["Serial"] == DEFAULTS.signer_key_serial


def test_tavus_key_starts_as_a_placeholder_and_hmac_key_is_generated(synth: Synthesized) -> None:
    secrets = synth.pipeline.secrets
    tavus = synth.resources[synth.logical_id(secrets.tavus_api_key)]["Properties"]
    assert tavus["SecretString"] == TAVUS_API_KEY_PLACEHOLDER
    hmac = synth.resources[synth.logical_id(secrets.callback_hmac_key)]["Properties"]
    assert hmac["GenerateSecretString"] == {
        "ExcludePunctuation": True,
        "PasswordLength": HMAC_KEY_LENGTH,
    }


def test_default_event_bus_is_used_when_asked(synth_alternative: Synthesized) -> None:
    synth = synth_alternative
    assert len(synth.of_type("AWS::Events::EventBus")) == 0
    for resource in synth.of_type("AWS::Lambda::Function").values():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if config.EVENT_BUS_NAME in variables:
            assert variables[config.EVENT_BUS_NAME] == "default"
    assert synth.matching(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "events:PutEvents",
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        Match.array_with([":event-bus/default"]),
                                    ]
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


# --- API -----------------------------------------------------------------------------------


def test_routes_and_their_authorization(synth: Synthesized) -> None:
    routes = method_paths(synth.resources)
    assert {route: method["AuthorizationType"] for route, method in routes.items()} == {
        ("POST", "/callbacks/tavus"): "NONE",
        ("GET", "/replicas"): "AWS_IAM",
        ("GET", "/replicas/{submission_id}"): "AWS_IAM",
        ("GET", "/replicas/by-replica/{replica_id}"): "AWS_IAM",
        ("GET", "/openapi.json"): "AWS_IAM",
        ("POST", "/replicas/{submission_id}/retry"): "AWS_IAM",
    }
    functions = functions_by_handler(synth)
    for (_, path), method in routes.items():
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        target = functions["callback"] if path.startswith("/callbacks") else functions["status_api"]
        assert {"Fn::GetAtt": [target, "Arn"]} in integration["Uri"]["Fn::Join"][1]


def test_status_routes_validate_their_parameters(synth: Synthesized) -> None:
    routes = method_paths(synth.resources)
    validator = synth.of_type("AWS::ApiGateway::RequestValidator")
    ((validator_id, resource),) = validator.items()
    assert resource["Properties"]["ValidateRequestParameters"] is True
    for (_, path), method in routes.items():
        if path.startswith("/replicas") or path == "/openapi.json":
            assert method["RequestValidatorId"] == {"Ref": validator_id}
    assert routes[("GET", "/replicas/{submission_id}")]["RequestParameters"] == {
        "method.request.path.submission_id": True
    }
    assert routes[("GET", "/replicas/by-replica/{replica_id}")]["RequestParameters"] == {
        "method.request.path.replica_id": True
    }
    assert routes[("POST", "/replicas/{submission_id}/retry")]["RequestParameters"] == {
        "method.request.path.submission_id": True
    }


def test_stage_logs_traces_and_throttles_the_callback_route(synth: Synthesized) -> None:
    assert synth.matching(
        "AWS::ApiGateway::Stage",
        {
            "StageName": api.STAGE_NAME,
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"Format": Match.string_like_regexp("^{")}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "LoggingLevel": "ERROR",
                            "DataTraceEnabled": False,
                        }
                    ),
                    Match.object_like(
                        {
                            "HttpMethod": "POST",
                            "ResourcePath": "/~1callbacks~1tavus",
                            "ThrottlingRateLimit": DEFAULTS.callback_rate_limit,
                            "ThrottlingBurstLimit": DEFAULTS.callback_burst_limit,
                        }
                    ),
                ]
            ),
        },
    )


def test_stage_stacks_leave_the_account_wide_api_gateway_settings_alone(
    synth: Synthesized, synth_alternative: Synthesized
) -> None:
    # AWS::ApiGateway::Account is one per account and region: no stage may own it.
    for stage in (synth, synth_alternative):
        assert not stage.of_type("AWS::ApiGateway::Account"), stage.stack.stack_name
        assert not [
            role
            for role in stage.of_type("AWS::IAM::Role").values()
            if "apigateway.amazonaws.com" in json.dumps(role["Properties"])
        ], stage.stack.stack_name


def test_account_setup_sets_one_api_gateway_logging_role_on_the_account(
    account_setup_template: assertions.Template,
) -> None:
    resources = account_setup_template.to_json()["Resources"]
    accounts = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Account"]
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert len(accounts) == 1
    ((role_id, role),) = roles.items()
    assert accounts[0]["Properties"] == {"CloudWatchRoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
        }
    ]
    (policy,) = role["Properties"]["ManagedPolicyArns"]
    assert render(policy).endswith(
        ":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )


def test_callback_throttling_comes_from_context(synth_alternative: Synthesized) -> None:
    assert synth_alternative.matching(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ResourcePath": "/~1callbacks~1tavus",
                            "ThrottlingRateLimit": ALTERNATIVE_CONTEXT["callback_rate_limit"],
                            "ThrottlingBurstLimit": ALTERNATIVE_CONTEXT["callback_burst_limit"],
                        }
                    )
                ]
            )
        },
    )


# --- operations -----------------------------------------------------------------------------


def _alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        name: synth.resources[synth.logical_id(alarm)]["Properties"]
        for name, alarm in synth.pipeline.operations.alarms.items()
    }


def test_every_alarm_fires_above_zero_and_notifies_the_encrypted_topic(
    synth: Synthesized,
) -> None:
    topic = synth.logical_id(synth.pipeline.operations.topic)
    alarms = _alarms(synth)
    assert set(alarms) == {
        "IngestDeadLetters",
        "ReconcilerDeadLetters",
        *(f"{name}{kind}" for name in ("Ingest", "Callback", "StatusApi", "Reconciler")
          for kind in ("Errors", "Throttles")),
        "ApiServerErrors",
        "StuckTrainings",
        "TavusForgotReplicas",
    }  # fmt: skip
    for alarm in alarms.values():
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [{"Ref": topic}]
    topic_properties = synth.resources[topic]["Properties"]
    assert topic_properties["KmsMasterKeyId"] == {
        "Fn::GetAtt": [synth.logical_id(synth.pipeline.operations.alarm_key), "Arn"]
    }


def test_alarm_metrics_are_the_dlq_depth_function_errors_api_5xx_and_stuck_trainings(
    synth: Synthesized,
) -> None:
    alarms = _alarms(synth)
    dlq = alarms["IngestDeadLetters"]
    assert (dlq["Namespace"], dlq["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert dlq["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {
                "Fn::GetAtt": [
                    synth.logical_id(synth.pipeline.ingest.dead_letter_queue),
                    "QueueName",
                ]
            },
        }
    ]
    assert (alarms["IngestErrors"]["Namespace"], alarms["IngestErrors"]["MetricName"]) == (
        "AWS/Lambda",
        "Errors",
    )
    assert alarms["CallbackThrottles"]["MetricName"] == "Throttles"
    assert (alarms["ApiServerErrors"]["Namespace"], alarms["ApiServerErrors"]["MetricName"]) == (
        "AWS/ApiGateway",
        "5XXError",
    )
    stuck = alarms["StuckTrainings"]
    assert (stuck["Namespace"], stuck["MetricName"]) == (METRICS_NAMESPACE, "StuckTrainings")
    # Powertools adds the dimension "service" from POWERTOOLS_SERVICE_NAME.
    assert stuck["Dimensions"] == [{"Name": "service", "Value": "replica-pipeline-dev"}]
    assert stuck["Period"] == DEFAULTS.reconcile_every_minutes * 60
    forgot = alarms["TavusForgotReplicas"]
    assert (forgot["Namespace"], forgot["MetricName"]) == (METRICS_NAMESPACE, TAVUS_SUSPECT)
    assert forgot["Period"] == DEFAULTS.reconcile_every_minutes * 60


def test_alarm_email_subscribes_to_the_topic(
    synth: Synthesized, synth_alternative: Synthesized
) -> None:
    assert len(synth.of_type("AWS::SNS::Subscription")) == 0
    assert synth_alternative.matching(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": ALTERNATIVE_CONTEXT["alarm_email"]},
    )


def test_dashboard_shows_queues_functions_api_and_app_metrics(synth: Synthesized) -> None:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        '"Errors"',
        '"Duration"',
        '"4XXError"',
        '"5XXError"',
        '"Latency"',
        '"DropsSubmitted"',
        '"DropsRejected"',
        '"CallbacksApplied"',
        '"StuckTrainings"',
    ):
        assert needle in body, needle


def test_outputs_name_everything_a_user_or_the_cli_needs(synth: Synthesized) -> None:
    outputs = synth.template.to_json()["Outputs"]
    assert set(outputs) == {
        "UploadsBucketName",
        "UploadPrefix",
        "ReplicasTableName",
        "ApiUrl",
        "CallbackBaseUrl",
        "TavusApiKeySecretArn",
        "CallbackHmacSecretArn",
        "SignerSecretArn",
        "SignerUserName",
        "EventBusName",
        "DashboardUrl",
        "AlarmTopicArn",
        "IngestQueueUrl",
        "IngestDlqUrl",
    }
    assert outputs["UploadPrefix"]["Value"] == UPLOAD_PREFIX
    assert outputs["IngestDlqUrl"]["Value"] == {
        "Ref": synth.logical_id(synth.pipeline.ingest.dead_letter_queue)
    }
    assert outputs["EventBusName"]["Value"] == "replica-pipeline-dev"


def test_the_cli_finds_each_output_it_reads_by_its_exact_id(synth: Synthesized) -> None:
    # The CLI (targets) reads a deployed stack's outputs by the ids in the shared contract.
    from replica_pipeline.contracts.stack_outputs import READ_BY_THE_CLI

    outputs = list(synth.template.to_json()["Outputs"])
    assert READ_BY_THE_CLI
    for output_id in READ_BY_THE_CLI:
        assert outputs.count(output_id) == 1, output_id


def test_data_outlives_the_stack_by_default_but_the_named_bus_does_not(
    synth: Synthesized,
) -> None:
    stack = synth.pipeline
    kept = [
        *made_buckets(synth),
        stack.replicas.table,
        *stack.secrets.all_secrets,
    ]
    for construct in kept:
        resource = synth.resources[synth.logical_id(construct)]
        assert resource["DeletionPolicy"] == "Retain", construct.node.path
    bus = synth.resources[synth.logical_id(stack.status_events.bus)]
    assert bus.get("DeletionPolicy", "Delete") == "Delete"
