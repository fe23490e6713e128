"""Run the state machine's Lambda invocations in-process, with our real handlers.

moto's Lambda runs code in Docker, which the local run does not have. We patch moto's
Lambda backend `invoke` (what both the HTTP API and moto's Step Functions interpreter reach)
so that a registered function name calls `functions.<step>.handler.lambda_handler` in this
process. A handler exception comes back the way Lambda reports it: FunctionError "Unhandled"
with {"errorType": <exception class name>, "errorMessage": ...}, so the ASL's Retry/Catch
match our error class names exactly as on AWS.
"""
from __future__ import annotations

import importlib
import io
import json
import threading
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

Handler = Callable[[Any, Any], Any]

_lock = threading.Lock()
_registry: dict[str, Handler] = {}
_original_invoke: Optional[Callable[..., Any]] = None
_original_client_for: Optional[Callable[..., Any]] = None
DEFAULT_ROLE_NAME = "local-pipeline-lambda"


@dataclass
class FakeLambdaContext:
    """Enough of the Lambda context object for Powertools and our handlers."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    timeout_ms: int = 900_000
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def function_name_of(name_or_arn: str) -> str:
    """'arn:aws:lambda:r:a:function:NAME[:qualifier]' or 'NAME' -> 'NAME'."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn


def step_handler(step: str) -> Handler:
    """The production handler of one step: functions.<step>.handler.lambda_handler (imported lazily)."""

    def call(event: Any, context: Any) -> Any:
        module = importlib.import_module(f"functions.{step}.handler")
        return module.lambda_handler(event, context)

    call.__qualname__ = f"functions.{step}.handler.lambda_handler"
    return call


def register(function_name: str, handler: Handler) -> None:
    """Route invocations of `function_name` (name or ARN) to `handler(event, context)`."""
    install()
    with _lock:
        _registry[function_name_of(function_name)] = handler


def unregister(function_name: str) -> None:
    with _lock:
        _registry.pop(function_name_of(function_name), None)


def invoke_in_process(handler: Handler, function_name: str, body: Any, region: str = "us-east-1",
                      account_id: str = "123456789012") -> tuple[bytes, Optional[str]]:
    """Run one invocation; return (payload bytes, FunctionError or None)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    context = FakeLambdaContext(function_name=function_name, region=region, account_id=account_id)
    try:
        result = handler(event, context)
    except Exception as exc:  # noqa: BLE001 - every handler error is reported, as Lambda does
        payload = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(payload).encode("utf-8"), "Unhandled"
    return json.dumps(result).encode("utf-8"), None


def install() -> None:
    """Patch moto's LambdaBackend.invoke once; unregistered functions keep moto's behaviour."""
    global _original_invoke
    from moto.awslambda.models import LambdaBackend

    with _lock:
        if _original_invoke is not None:
            return
        _original_invoke = LambdaBackend.invoke

        def invoke(self, function_name, qualifier, body, headers, response_headers):
            with _lock:
                handler = _registry.get(function_name_of(function_name))
            if handler is None:
                return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
            self.get_function(function_name, qualifier)  # 404 like Lambda when it does not exist
            payload, function_error = invoke_in_process(
                handler, function_name_of(function_name), body, self.region_name, self.account_id
            )
            if function_error:
                response_headers["x-amz-function-error"] = function_error
            response_headers["Content-Length"] = str(len(payload))
            return payload

        LambdaBackend.invoke = invoke
        _cache_interpreter_clients()


def _cache_interpreter_clients() -> None:
    """Reuse the boto3 client moto's ASL interpreter builds for every Lambda task.

    moto creates a new client per invocation (boto_client_for); building one parses the
    service model and held the GIL for ~11 s of a 200-file run, CPU a real Step Functions does
    not spend in our process. Clients are thread-safe, so one per (region, service, port) is
    enough. Called with `_lock` held.
    """
    global _original_client_for
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    _original_client_for = lambda_eval_utils.boto_client_for
    clients: dict[tuple, Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        key = (region, service, moto_server_port(), botocore_stubber.enabled)
        with clients_lock:
            if key not in clients:
                clients[key] = _original_client_for(region, service, state_credentials)
            return clients[key]

    lambda_eval_utils.boto_client_for = boto_client_for


def uninstall() -> None:
    global _original_invoke, _original_client_for
    from moto.awslambda.models import LambdaBackend

    with _lock:
        if _original_invoke is not None:
            LambdaBackend.invoke = _original_invoke
            _original_invoke = None
        if _original_client_for is not None:
            from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

            lambda_eval_utils.boto_client_for = _original_client_for
            _original_client_for = None
        _registry.clear()


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def lambda_handler(event, context):\n    raise RuntimeError('runs in-process')\n")
    return buf.getvalue()


def create_functions(lambda_client: Any, iam_client: Any, functions: dict[str, Handler], timeout_s: int = 900) -> dict[str, str]:
    """Create each function in moto (so its ARN exists) and route it in-process.

    `functions` maps function name -> handler. Returns function name -> ARN. Idempotent.
    """
    try:
        role_arn = iam_client.get_role(RoleName=DEFAULT_ROLE_NAME)["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role_arn = iam_client.create_role(RoleName=DEFAULT_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    arns: dict[str, str] = {}
    code = _placeholder_zip()
    for name, handler in functions.items():
        try:
            arn = lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        except lambda_client.exceptions.ResourceNotFoundException:
            arn = lambda_client.create_function(
                FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="handler.lambda_handler",
                Code={"ZipFile": code}, Timeout=timeout_s, MemorySize=1024,
            )["FunctionArn"]
        register(name, handler)
        arns[name] = arn
    return arns
