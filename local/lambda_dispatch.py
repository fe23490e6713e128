"""Run the state machine's Lambda invocations in-process, with our real handlers.

moto's Lambda runs code in Docker, which the local run does not have. We patch moto's
Lambda backend `invoke` (what both the HTTP API and moto's Step Functions interpreter reach)
so that a registered function name calls `functions.<step>.handler.lambda_handler` in this
process. A handler exception comes back the way Lambda reports it: FunctionError "Unhandled"
with {"errorType": <exception class name>, "errorMessage": ...}, so the ASL's Retry/Catch
match our error class names exactly as on AWS.

Each invocation runs in a "container", as on Lambda: a module instance of its own of
`functions.<step>.handler`, loaded from the handler's file under a unique module name, so its
module-level clients (its functions.common.lazy.PerContainer values) belong to that container
alone, whichever thread of moto's interpreter runs the invocation.
Each container also has the credentials of its function's role, as Lambda gives a container its
execution role's credentials in its environment: a boto3 default session of its own, whose
access key (`set_role_keys`) tells the stand-ins' IAM (local/iam) which role signs its calls.
A container runs one invocation at a time
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html); concurrent invocations
of a function each get one, idle ones are reused (warm starts). Registering a function again
(a new deployment) and installing or uninstalling the dispatch retire the containers, so the
next invocation cold-starts and reads the environment again.
"""
from __future__ import annotations

import contextvars
import dataclasses
import importlib.util
import inspect
import io
import itertools
import json
import sys
import threading
import traceback
import types
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

Handler = Callable[[Any, Any], Any]

_lock = threading.Lock()
_registry: dict[str, Handler] = {}
_pools: dict[tuple[str, str], ContainerPool] = {}  # (step, function name) -> its containers
_pools_lock = threading.Lock()
_container_numbers = itertools.count(1)
CLOSE_TIMEOUT_S = 5  # for a retired container's clients that flush on close (the Kafka producer)
_original_invoke: Optional[Callable[..., Any]] = None
_original_client_for: Optional[Callable[..., Any]] = None
DEFAULT_ROLE_NAME = "local-pipeline-lambda"
# The boto3 session of the container running an invocation in this thread (None: the harness's).
_container_session: contextvars.ContextVar[Any] = contextvars.ContextVar("lambda_container_session", default=None)
_role_keys: dict[str, str] = {}  # step -> access key of its function's role
_original_default_session: Optional[Callable[[], Any]] = None
LOCAL_SECRET_KEY = "local"


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


class ContainerPool:
    """The containers of one function: module instances of `functions.<step>.handler`.

    acquire() hands out an idle container or starts one (a cold start: the handler module's
    code runs afresh, so its module globals are new); release() returns it for reuse. Once
    retired, the pool starts no container and closes those it gets back.
    """

    def __init__(self, step: str, function_name: str) -> None:
        self.step, self.function_name = step, function_name
        self.started = 0  # cold starts
        self._idle: list[types.ModuleType] = []
        self._lock = threading.Lock()
        self._retired = False

    def acquire(self) -> types.ModuleType:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.started += 1
        return _load_container(self.step)

    def release(self, container: types.ModuleType) -> None:
        with self._lock:
            if not self._retired:
                self._idle.append(container)
                return
        _shutdown(container)

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            idle, self._idle = self._idle, []
        for container in idle:
            _shutdown(container)


def _load_container(step: str) -> types.ModuleType:
    """A new instance of functions.<step>.handler (its own globals), run from the handler's file."""
    spec = importlib.util.find_spec(f"functions.{step}.handler")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"no handler module functions.{step}.handler")
    name = f"functions.{step}.handler__container{next(_container_numbers)}"
    container_spec = importlib.util.spec_from_file_location(name, spec.origin)
    module = importlib.util.module_from_spec(container_spec)
    # In sys.modules while it runs, as an import would be (pydantic and dataclasses look up
    # the defining module by name); taken out again when the container is shut down.
    sys.modules[name] = module
    try:
        container_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _shutdown(container: types.ModuleType) -> None:
    """On Lambda a retired container's process ends and its sockets close with it. In one
    process we close what the container holds instead: each object in its module globals (or
    made by a functions.common.lazy.PerContainer there, or one level inside a dict, tuple,
    list or dataclass there) that has a close() method."""
    sys.modules.pop(container.__name__, None)
    for name, value in list(vars(container).items()):
        if name.startswith("__") or isinstance(value, (types.ModuleType, type, types.FunctionType,
                                                       types.BuiltinFunctionType)):
            continue
        if not isinstance(value, dict) and callable(getattr(value, "get", None)) and callable(getattr(value, "clear", None)):
            value = value.clear()  # a PerContainer: what it made, or None
        if isinstance(value, dict):
            held = list(value.values())
        elif isinstance(value, (tuple, list)):
            held = list(value)
        elif dataclasses.is_dataclass(value):
            held = [getattr(value, f.name) for f in dataclasses.fields(value)]
        else:
            held = []
        for obj in (value, *held):
            _close(obj)


def _close(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if isinstance(obj, (type, types.ModuleType)) or not callable(close):
        return
    try:
        params = inspect.signature(close).parameters
    except (TypeError, ValueError):
        params = {}
    try:
        close(timeout=CLOSE_TIMEOUT_S) if "timeout" in params else close()
    except Exception:  # noqa: BLE001 - the stand-ins it talked to may be gone already
        pass


def _pool(step: str, function_name: str) -> ContainerPool:
    with _pools_lock:
        pool = _pools.get((step, function_name))
        if pool is None:
            pool = _pools[(step, function_name)] = ContainerPool(step, function_name)
        return pool


def containers(step: str, function_name: str) -> ContainerPool:
    """The container pool of `function_name` running functions.<step>.handler (made on first use)."""
    return _pool(step, function_name_of(function_name))


def drop_containers(function_name: Optional[str] = None) -> None:
    """Retire the containers of `function_name` (every function when None): the next
    invocations cold-start. Containers busy with an invocation are closed when it returns."""
    name = None if function_name is None else function_name_of(function_name)
    with _pools_lock:
        dropped = [key for key in _pools if name is None or key[1] == name]
        pools = [_pools.pop(key) for key in dropped]
    for pool in pools:
        pool.retire()


def step_handler(step: str) -> Handler:
    """The production handler of one step: functions.<step>.handler.lambda_handler, run in a
    container of the invoked function (context.function_name) of its own."""

    def call(event: Any, context: Any) -> Any:
        pool = containers(step, getattr(context, "function_name", "") or step)
        container = pool.acquire()
        token = _container_session.set(_session_of(container, step))
        try:
            return container.lambda_handler(event, context)
        finally:
            _container_session.reset(token)
            pool.release(container)

    call.__qualname__ = f"functions.{step}.handler.lambda_handler"
    return call


def set_role_keys(keys: dict[str, str]) -> None:
    """Sign each step's calls with the access key of its function's role ({step: key}); steps
    not named sign as the harness. Every container starts again (new credentials)."""
    with _lock:
        _role_keys.clear()
        _role_keys.update(keys)
    drop_containers()


def _session_of(container: types.ModuleType, step: str) -> Any:
    """The container's own boto3 session, made on its first invocation with its role's key."""
    session = getattr(container, "__lambda_session__", None)
    if session is None:
        import boto3
        import botocore.session

        # Each container parses botocore's service models again (0.1-0.2 s of CPU per client); on
        # Lambda that is each container's own CPU, here every container shares this process's
        # and its GIL, so tens of containers starting together serialise on it. The parsed
        # models are read-only: containers share the loader, never a session or a client.
        core = botocore.session.Session()
        core.register_component("data_loader", _shared_loader())
        session = boto3.session.Session(aws_access_key_id=_role_keys.get(step, "testing"),
                                        aws_secret_access_key=LOCAL_SECRET_KEY, botocore_session=core)
        container.__lambda_session__ = session
    return session


_loader: Any = None
_loader_lock = threading.Lock()


def _shared_loader() -> Any:
    """One botocore data loader (the parsed service models) for every container of this process."""
    global _loader
    with _loader_lock:
        if _loader is None:
            import botocore.session

            _loader = botocore.session.Session().get_component("data_loader")
        return _loader


def _install_container_sessions() -> None:
    """boto3.client() in a container uses the container's session (its role's credentials)."""
    global _original_default_session
    import boto3

    if _original_default_session is None:
        _original_default_session = boto3._get_default_session

        def default_session() -> Any:
            session = _container_session.get()
            return session if session is not None else _original_default_session()

        boto3._get_default_session = default_session


def _uninstall_container_sessions() -> None:
    global _original_default_session
    import boto3

    if _original_default_session is not None:
        boto3._get_default_session = _original_default_session
        _original_default_session = None


def register(function_name: str, handler: Handler) -> None:
    """Route invocations of `function_name` (name or ARN) to `handler(event, context)`; like a
    new deployment of the function, its next invocations start in new containers."""
    install()
    with _lock:
        _registry[function_name_of(function_name)] = handler
    drop_containers(function_name)



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
        drop_containers()  # a new pipeline: every function cold-starts

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
        _install_container_sessions()


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
        _uninstall_container_sessions()
        _registry.clear()
        _role_keys.clear()
    drop_containers()  # their clients point at stand-ins that are going away


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
