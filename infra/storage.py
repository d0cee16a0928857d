"""The replicas table, built from the one schema definition in ``replica_pipeline.table_schema``."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from replica_pipeline.table_schema import INDEXES, PARTITION_KEY


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class ReplicasTable(Construct):
    """On-demand, point-in-time recovery, deletion protection, and the schema's two GSIs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=_string(PARTITION_KEY),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=removal_policy is RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_string(index.partition_key),
                    sort_key=_string(index.sort_key) if index.sort_key else None,
                )
                for index in INDEXES
            ],
        )
