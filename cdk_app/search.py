"""Search: the hybrid search function (functions/search) behind an IAM-authorized function URL.

Decisions:
* AuthType AWS_IAM: every request is SigV4-signed; only principals whose identity policies in
  this account allow both `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (the latter
  when `lambda:InvokedViaFunctionUrl`) on this function get in: since October 2025 a function URL
  needs both (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html). No resource policy
  grants anyone else. `caller_policy` (output SearchCallerPolicyArn) holds exactly these two
  statements: attach it to the roles that may search.
* Results name objects of the ingest bucket only (SEARCH_BUCKETS), and, with the optional
  allow-list of the `search` context key (`npx cdk deploy -c search='{"access":
  {"arn:aws:sts::111122223333:assumed-role/Analyst/*": ["reports/"]}}'`), only keys under the
  prefixes of the caller's entries; callers on no entry are refused (functions/search/settings.py).
* In the isolated subnets with the functions' security group; the database through RDS Proxy
  as the app user with an IAM token; the query embedded by the same SageMaker endpoints as the
  embed step, of which it may invoke the two embedding endpoints only.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from pydantic import BaseModel, ConfigDict

from cdk_app.config import PipelineConfig
from cdk_app.database import Database
from cdk_app.house.python_function import PipelineFunction, PipelineLayers
from cdk_app.models import Models
from cdk_app.network import Network
from cdk_app.storage import Storage
from functions.common import constants as c

CONTEXT_KEY = "search"
# The roles whose endpoints embed a query (functions/search/core.py SPACES).
QUERY_ROLES = (c.MODEL_TEXT_EMBEDDING, c.MODEL_IMAGE_EMBEDDING)


class SearchContext(BaseModel):
    """The optional `search` context: {principal ARN pattern: [key prefixes]} (empty: every
    caller allowed to invoke the URL may search the whole ingest bucket)."""

    model_config = ConfigDict(extra="forbid")
    access: Mapping[str, list[str]] = {}


class Search(Construct):
    """Exposes `function` (PipelineFunction) and `url` (the function URL)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, network: Network,
                 storage: Storage, layers: PipelineLayers, database: Database, models: Models) -> None:
        super().__init__(scope, construct_id)
        raw = self.node.try_get_context(CONTEXT_KEY)
        settings = SearchContext.model_validate(json.loads(raw) if isinstance(raw, str) else (raw or {}))
        self.function = PipelineFunction(
            self, "Search", name=c.FN_SEARCH, config=config, network=network, layers=[layers.core],
            description="Hybrid search (full text + vectors, every modality) over the pipeline's results",
            # a query embedding (one model call, retried within the client) and three SQL queries
            memory_mb=1024, timeout=Duration.seconds(60),
            environment={
                c.ENV_SEARCH_BUCKETS: Stack.of(self).to_json_string([storage.ingest_bucket.bucket_name]),
                c.ENV_SEARCH_ACCESS: json.dumps(dict(settings.access)),
                **models.client_env(QUERY_ROLES),
                **database.connection_env,
            },
        )
        database.grant_connect(self.function.role)
        models.grant_invoke(self.function.role, QUERY_ROLES)
        self.url = self.function.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        self.caller_policy = iam.ManagedPolicy(
            self, "CallerPolicy",
            description="Attach to the roles that may call the pipeline's search function URL",
            statements=caller_statements(self.function.function.function_arn))


def caller_statements(function_arn: str) -> list[iam.PolicyStatement]:
    """What a caller of an AWS_IAM function URL needs on `function_arn`: InvokeFunctionUrl (for
    AWS_IAM URLs only) and, since October 2025, InvokeFunction when invoked through the URL
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html); neither lets it call the
    function any other way."""
    return [
        iam.PolicyStatement(actions=["lambda:InvokeFunctionUrl"], resources=[function_arn],
                            conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}),
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function_arn],
                            conditions={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}),
    ]
