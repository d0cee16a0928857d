"""The REST API: Tavus's callbacks (``POST /callbacks/tavus``, HMAC token, throttled) and the
status API (``GET /replicas…`` and ``POST /replicas/{id}/retry``, IAM auth), each route a
Lambda proxy integration."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import skip_checks
from infra.functions import FunctionSpec, FunctionsRuntime, PipelineFunction
from infra.nag import acknowledge, nag_reference
from infra.secrets import PipelineSecrets, grant_get_secret_value
from infra.storage import ReplicasTable
from replica_pipeline.config import CALLBACK_TIMEOUT_SECONDS, INGEST_QUEUE_URL
from replica_pipeline.contracts.routes import (
    RETRY_REPLICA,
    ROUTES,
    STATUS_FUNCTION,
    TAVUS_CALLBACK,
    Route,
)

STAGE_NAME = "v1"
CALLBACK_PATH = TAVUS_CALLBACK.path
CALLBACK_HANDLER = "replica_pipeline.handlers.callback.handler"
STATUS_HANDLER = "replica_pipeline.handlers.status_api.handler"
# Stage-wide default (the status API, used by people and the CLI); the callback route
# has its own limits from the settings.
DEFAULT_RATE_LIMIT = 20
DEFAULT_BURST_LIMIT = 40


@dataclass(frozen=True)
class PipelineApiProps:
    stage: str
    callback_rate_limit: int
    callback_burst_limit: int
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy


class PipelineApi(Construct):
    """The RestApi and its stage: JSON access logs, execution logs, tracing, throttling."""

    def __init__(self, scope: Construct, construct_id: str, props: PipelineApiProps) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        skip_checks(
            self.access_logs,
            CKV_AWS_158="Access log lines hold request ids, caller, status and latency (never "
            "the callback token or bodies); CloudWatch Logs encrypts them at rest.",
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"replica-pipeline-{props.stage}",
            description="Tavus callbacks and the replica status API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # No AWS::ApiGateway::Account here: it is one per account and region, every stage
            # would overwrite it and destroy would leak it. The logging role is set once by
            # the ReplicaPipelineAccountSetup stack (infra/account_setup.py).
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                # Errors only, and no data trace (which would log each ?token= query string);
                # the JSON access log above records every request.
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=DEFAULT_RATE_LIMIT,
                throttling_burst_limit=DEFAULT_BURST_LIMIT,
                method_options={
                    # A method's own settings replace the stage's, so repeat the logging.
                    f"{CALLBACK_PATH}/POST": apigateway.MethodDeploymentOptions(
                        throttling_rate_limit=props.callback_rate_limit,
                        throttling_burst_limit=props.callback_burst_limit,
                        logging_level=apigateway.MethodLoggingLevel.ERROR,
                        data_trace_enabled=False,
                        metrics_enabled=True,
                    )
                },
            ),
        )
        self.stage = self.rest_api.deployment_stage
        # The stack has its own ApiUrl output; drop the unnamed one RestApi adds.
        self.rest_api.node.try_remove_child("Endpoint")
        acknowledge(
            self.stage,
            "AwsSolutions-APIG3",
            "No WAF: its one job here would be capping the callback body, and the callback "
            "function already answers 413 above 64 KiB before parsing; API Gateway REST "
            "cannot limit body size without WAF, and a web ACL costs more than this API.",
        )
        skip_checks(
            self.stage,
            CKV_AWS_120="No caching: status answers must reflect the table now, and "
            "callbacks must never be served from a cache.",
        )
        # Body validation is a no-op on these routes (no body models); both flags are on so
        # the validator is a complete one.
        self.parameters_validator = self.rest_api.add_request_validator(
            "ParametersValidator",
            validate_request_parameters=True,
            validate_request_body=True,
        )

        # Built from the API's id, not from its deployment URL: the functions that need it
        # are targets of the API's methods, and the deployment depends on those methods.
        self.callback_base_url = Fn.join(
            "",
            [
                "https://",
                self.rest_api.rest_api_id,
                ".execute-api.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                f"/{STAGE_NAME}{CALLBACK_PATH}",
            ],
        )


@dataclass(frozen=True)
class CallbackEndpointProps:
    api: PipelineApi
    runtime: FunctionsRuntime
    replicas: ReplicasTable
    secrets: PipelineSecrets
    event_bus: events.IEventBus


class CallbackEndpoint(Construct):
    """``POST /callbacks/tavus``: no IAM (Tavus signs nothing), an HMAC token in the URL."""

    def __init__(self, scope: Construct, construct_id: str, props: CallbackEndpointProps) -> None:
        super().__init__(scope, construct_id)
        self.handler = PipelineFunction(
            self,
            "Handler",
            props.runtime,
            FunctionSpec(
                handler=CALLBACK_HANDLER,
                description="Verifies Tavus callbacks and applies them to the replicas table",
                # API Gateway waits at most 29 s; Get Replica is tried once, 6 s at most.
                timeout=Duration.seconds(CALLBACK_TIMEOUT_SECONDS),
                memory_size=256,
                no_dead_letter_queue_because="Invoked synchronously by API Gateway: a failure "
                "is an HTTP 5xx answered to Tavus, and the reconciler heals a lost callback; "
                "there is no asynchronous event to keep.",
            ),
        )
        function = self.handler.function

        resource = props.api.rest_api.root.resource_for_path(CALLBACK_PATH)
        self.method = resource.add_method(
            "POST",
            apigateway.LambdaIntegration(function, allow_test_invoke=False),
            authorization_type=apigateway.AuthorizationType.NONE,
        )
        acknowledge(
            self.method,
            "AwsSolutions-APIG4",
            "Tavus cannot sign requests: each callback URL carries an HMAC-SHA256 token of "
            "its submission id, which the function checks in constant time before it writes "
            "anything (401/403 otherwise); the route is throttled.",
        )
        acknowledge(
            self.method,
            "AwsSolutions-COG4",
            "Called by Tavus's servers, which hold no Cognito identity; authenticated by the "
            "HMAC token in the URL instead.",
        )
        skip_checks(
            self.method,
            CKV_AWS_59="Tavus cannot authenticate to AWS; the callback's HMAC token is "
            "verified by the function, and the route is throttled.",
        )

        role = self.handler.role
        props.replicas.grant_item_writes(role)
        grant_get_secret_value(
            role,
            "ReadCallbackSecrets",
            props.secrets.tavus_api_key,
            props.secrets.callback_hmac_key,
        )
        props.event_bus.grant_put_events_to(role)
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{nag_reference(props.replicas.table)}/index/*]",
            "Callbacks find their submission through the by-replica-id GSI; the table grant "
            "covers the table's own two GSIs with index/*.",
        )


@dataclass(frozen=True)
class StatusEndpointsProps:
    api: PipelineApi
    runtime: FunctionsRuntime
    replicas: ReplicasTable
    ingest_queue: sqs.IQueue  # where retries are queued for the ingest function
    event_bus: events.IEventBus


def request_parameters(route: Route) -> dict[str, bool]:
    """The request parameters API Gateway checks before invoking (True: required)."""
    return {
        **{f"method.request.querystring.{name}": False for name in route.query_parameters},
        **{f"method.request.path.{name}": True for name in route.path_parameters},
    }


# Path -> its request parameters, for the status API's GET routes.
STATUS_ROUTES: dict[str, dict[str, bool]] = {
    route.path: request_parameters(route)
    for route in ROUTES
    if route.function == STATUS_FUNCTION and route.method == "GET"
}
RETRY_PATH = RETRY_REPLICA.path


class StatusEndpoints(Construct):
    """``GET /replicas``, ``/replicas/{submission_id}``, ``/replicas/by-replica/{replica_id}``,
    ``/openapi.json`` and ``POST /replicas/{submission_id}/retry``: IAM-authorized.

    A retry only changes the item (error → submitting) and queues a message for the
    ingest function, which does the Tavus call: this function holds no Tavus key.
    """

    def __init__(self, scope: Construct, construct_id: str, props: StatusEndpointsProps) -> None:
        super().__init__(scope, construct_id)
        self.handler = PipelineFunction(
            self,
            "Handler",
            props.runtime,
            FunctionSpec(
                handler=STATUS_HANDLER,
                description="Answers the replica status API",
                timeout=Duration.seconds(10),
                memory_size=512,
                no_dead_letter_queue_because="Invoked synchronously by API Gateway: the "
                "caller gets any error and may repeat the request (a retry request is "
                "idempotent), nothing is left to redeliver.",
            ),
        )
        function = self.handler.function
        integration = apigateway.LambdaIntegration(function, allow_test_invoke=False)
        self.methods: dict[str, apigateway.Method] = {}
        for path, parameters in STATUS_ROUTES.items():
            method = props.api.rest_api.root.resource_for_path(path).add_method(
                "GET",
                integration,
                authorization_type=apigateway.AuthorizationType.IAM,
                request_parameters=parameters or None,
                request_validator=props.api.parameters_validator,
            )
            self._acknowledge_iam_callers(method)
            self.methods[path] = method
        retry = props.api.rest_api.root.resource_for_path(RETRY_PATH).add_method(
            RETRY_REPLICA.method,
            integration,
            authorization_type=apigateway.AuthorizationType.IAM,
            request_parameters=request_parameters(RETRY_REPLICA),
            request_validator=props.api.parameters_validator,
        )
        self._acknowledge_iam_callers(retry)
        self.methods[RETRY_PATH] = retry

        role = self.handler.role
        props.replicas.grant_item_updates(role)
        props.ingest_queue.grant_send_messages(role)
        props.event_bus.grant_put_events_to(role)
        function.add_environment(INGEST_QUEUE_URL, props.ingest_queue.queue_url)
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{nag_reference(props.replicas.table)}/index/*]",
            "Listing by status and lookup by replica id query the table's two GSIs, which the "
            "table grant names with index/*.",
        )

    @staticmethod
    def _acknowledge_iam_callers(method: apigateway.Method) -> None:
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Authorized with IAM (SigV4): its callers are operators, the replicas CLI and "
            "other AWS workloads, all holding AWS credentials, not Cognito users.",
        )
