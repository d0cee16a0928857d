"""The one-time, account-wide setup API Gateway needs before any stage can log: the role
API Gateway writes CloudWatch Logs with, set on the account (one per account and region).

Kept out of the stage stacks on purpose: ``AWS::ApiGateway::Account`` is a singleton, so
every stage stack that declared one would overwrite the others', and CloudFormation
leaves it behind on destroy. Deploy this stack once per account and region, and only when
``aws apigateway get-account`` shows no ``cloudwatchRoleArn`` yet.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge

ACCOUNT_SETUP_STACK_NAME = "ReplicaPipelineAccountSetup"
# The managed policy AWS publishes for exactly this role.
PUSH_TO_CLOUDWATCH_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayLoggingRole(Construct):
    """The role API Gateway assumes to write execution and access logs, set on the account."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write REST API logs to CloudWatch Logs (account-wide)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH_LOGS_POLICY)
            ],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            f"{PUSH_TO_CLOUDWATCH_LOGS_POLICY}]",
            "The account-wide role API Gateway uses for execution logs of every REST API in "
            "the region; AWS publishes this managed policy for exactly that role, and it is "
            "the documented setup.",
        )
        self.account = apigateway.CfnAccount(
            self, "Account", cloud_watch_role_arn=self.role.role_arn
        )


class AccountSetupStack(Stack):
    """Deployed once per account and region, before the first stage whose API logs."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="replica-pipeline: API Gateway's CloudWatch Logs role (once per "
            "account and region)",
            **kwargs,
        )
        self.api_gateway_logging = ApiGatewayLoggingRole(self, "ApiGatewayLogging")
