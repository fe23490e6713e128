"""moto in server mode with Step Functions executing the real ASL, and our Lambdas in-process."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

from functions.common.constants import (
    FN_DISPATCHER,
    FN_FORWARDER,
    STEP_EMBED,
    STEP_EXTRACT,
    STEP_GENERATE,
    STEP_RECORD_FAILURE,
    STEP_SCAN,
    STEP_STORE,
)
from local import lambda_dispatch, sfn_quotas

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"  # moto's default account
LOCAL_STATE_MACHINE_NAME = "multimodal-pipeline"
LOCAL_SFN_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/local-pipeline-states"
# The functions the state machine invokes, by step (the Lambda function names in moto).
STATE_MACHINE_STEPS = (STEP_EXTRACT, STEP_SCAN, STEP_GENERATE, STEP_EMBED, STEP_STORE, STEP_RECORD_FAILURE)
LOCAL_FUNCTION_PREFIX = "pipeline-"


def local_function_name(step: str) -> str:
    return f"{LOCAL_FUNCTION_PREFIX}{step.replace('_', '-')}"


class MotoServer:
    """moto's server on a free port behind the authorizing gateway (local/iam/gateway.py), with
    Step Functions' execute mode on.

    start() sets MOTO_PORT (moto's Step Functions interpreter calls Lambda through it)
    and returns the endpoint URL; pass it to boto3 clients or set AWS_ENDPOINT_URL.
    `authorize(authorizer)` makes the gateway check every call against the template's
    policies from then on (local.iam); until then every call passes, as moto alone would.
    `journal` (a local.s3_state.S3Journal) keeps the objects of its buckets on disk as they are written.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, journal: Any = None):
        self.host, self.port = host, port
        self.journal = journal
        self._server: Any = None
        self._thread: Any = None
        self._saved_env: dict[str, Optional[str]] = {}
        self._saved_sfn_config: Any = None
        self.endpoint_url = ""
        self.gateway: Any = None

    def start(self) -> str:
        import threading

        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from local.iam.gateway import AuthorizingGateway, serve

        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.journal is not None:
            self.journal.install()
            app = self.journal.app(app)
        self.gateway = AuthorizingGateway(app, None, region=LOCAL_REGION, account=LOCAL_ACCOUNT)
        self._server = serve(self.gateway, self.host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        self._saved_env["MOTO_PORT"] = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        self._saved_sfn_config = dict(default_user_config.get("stepfunctions", {}))
        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})
        lambda_dispatch.install()
        sfn_quotas.install()  # Step Functions' history and payload quotas, as AWS enforces them
        return self.endpoint_url

    def authorize(self, authorizer: Any) -> None:
        """Check every later call against `authorizer` (a local.iam.Authorizer); None stops it."""
        self.gateway.authorizer = authorizer

    def client(self, service: str, region: str = LOCAL_REGION) -> Any:
        import boto3

        return boto3.client(
            service, region_name=region, endpoint_url=self.endpoint_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def reset(self) -> None:
        """Forget every resource (moto's reset API); in-process routes stay."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def stop(self) -> None:
        from moto.core.config import default_user_config

        if self._server is not None:
            self._server.shutdown()
            self._thread.join()
            self._server = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self._saved_sfn_config is not None:
            default_user_config["stepfunctions"] = self._saved_sfn_config
        lambda_dispatch.uninstall()
        sfn_quotas.uninstall()
        if self.journal is not None:
            self.journal.uninstall()

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def create_pipeline_functions(
    lambda_client: Any,
    iam_client: Any,
    handlers: Optional[Mapping[str, lambda_dispatch.Handler]] = None,
) -> dict[str, str]:
    """Create the state machine's functions in moto; return step -> function ARN.

    By default each step runs its production handler (functions.<step>.handler) in-process;
    `handlers` overrides some steps (tests).
    """
    handlers = dict(handlers or {})
    by_name = {local_function_name(step): handlers.get(step) or lambda_dispatch.step_handler(step) for step in STATE_MACHINE_STEPS}
    arns = lambda_dispatch.create_functions(lambda_client, iam_client, by_name)
    return {step: arns[local_function_name(step)] for step in STATE_MACHINE_STEPS}


def create_edge_functions(lambda_client: Any, iam_client: Any) -> dict[str, str]:
    """The forwarder and dispatcher as moto functions too (for a local S3 -> Lambda wiring)."""
    by_name = {local_function_name(fn): lambda_dispatch.step_handler(fn) for fn in (FN_FORWARDER, FN_DISPATCHER)}
    arns = lambda_dispatch.create_functions(lambda_client, iam_client, by_name)
    return {fn: arns[local_function_name(fn)] for fn in (FN_FORWARDER, FN_DISPATCHER)}


def create_state_machine(
    sfn_client: Any,
    function_arns: Mapping[str, str],
    name: str = LOCAL_STATE_MACHINE_NAME,
    max_concurrency: Optional[Mapping[str, int]] = None,
    role_arn: str = LOCAL_SFN_ROLE_ARN,
    segment_concurrency: Optional[int] = None,
) -> str:
    """Create (or update) the pipeline state machine from step_functions/pipeline.asl.json.

    `function_arns` maps step -> Lambda ARN (from create_pipeline_functions). Returns its ARN.
    `max_concurrency` / `segment_concurrency`: the Maps' limits, as cdk.json sets them when deployed.
    """
    from step_functions.definition import FUNCTION_ARN_KEYS, render, substitute

    values = {FUNCTION_ARN_KEYS[step]: arn for step, arn in function_arns.items() if step in FUNCTION_ARN_KEYS}
    definition = substitute(render(max_concurrency, segment_concurrency), values)
    for machine in sfn_client.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            sfn_client.update_state_machine(stateMachineArn=machine["stateMachineArn"], definition=definition)
            return machine["stateMachineArn"]
    return sfn_client.create_state_machine(name=name, definition=definition, roleArn=role_arn, type="STANDARD")["stateMachineArn"]


def setup_pipeline(
    server: MotoServer,
    handlers: Optional[Mapping[str, lambda_dispatch.Handler]] = None,
    max_concurrency: Optional[Mapping[str, int]] = None,
    segment_concurrency: Optional[int] = None,
    name: str = LOCAL_STATE_MACHINE_NAME,
) -> str:
    """Functions + state machine in one call; returns the state machine ARN. `name`: the
    template's StateMachineName when the run authorizes against the template (its key grants
    name the machine)."""
    arns = create_pipeline_functions(server.client("lambda"), server.client("iam"), handlers)
    return create_state_machine(server.client("stepfunctions"), arns, name=name, max_concurrency=max_concurrency,
                                segment_concurrency=segment_concurrency)
