"""The stack synthesizes offline and builds the table from the shared schema."""

from __future__ import annotations

from aws_cdk import assertions

from app import build_app
from replica_pipeline.table_schema import PARTITION_KEY, REPLICA_ID_INDEX, STATUS_INDEX


def test_replicas_table_has_the_schema_key_and_both_indexes() -> None:
    app = build_app()
    stack = app.node.find_child("ReplicaPipeline-dev")
    template = assertions.Template.from_stack(stack)  # type: ignore[arg-type]

    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": assertions.Match.array_with(
                [
                    assertions.Match.object_like({"IndexName": REPLICA_ID_INDEX}),
                    assertions.Match.object_like({"IndexName": STATUS_INDEX}),
                ]
            ),
        },
    )
