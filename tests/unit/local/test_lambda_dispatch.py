"""local.lambda_dispatch: moto's interpreter reuses one Lambda client, uninstall restores moto, and each
concurrent invocation runs in a container (module instance) of its own, reused when idle."""
from __future__ import annotations

import types

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client

from local import lambda_dispatch


def test_interpreter_lambda_client_is_built_once_per_region_and_restored_on_uninstall():
    # Another test's pipeline may have installed the dispatch already: keep its routes.
    was_installed = lambda_dispatch._original_invoke is not None
    routes = dict(lambda_dispatch._registry)
    lambda_dispatch.install()
    try:
        first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
        assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is first
        other = lambda_eval_utils.boto_client_for("eu-west-1", "lambda")
        assert other is not first and other.meta.region_name == "eu-west-1"
        assert first.meta.service_model.service_name == "lambda"
    finally:
        lambda_dispatch.uninstall()
    assert lambda_eval_utils.boto_client_for is moto_boto_client.boto_client_for
    if was_installed:
        lambda_dispatch.install()
        for name, handler in routes.items():
            lambda_dispatch.register(name, handler)


def test_concurrent_invocations_run_in_containers_of_their_own_with_their_own_module_globals():
    import functions.store.handler as imported

    pool = lambda_dispatch.ContainerPool("store", "pipeline-store-test")
    first, second = pool.acquire(), pool.acquire()  # two invocations at once
    try:
        assert first is not second and first.lambda_handler is not second.lambda_handler
        assert first.__file__ == second.__file__ == imported.__file__  # the same code
        for name, value in vars(first).items():
            if name.startswith("_") or isinstance(value, (types.ModuleType, type, types.FunctionType)):
                continue
            if getattr(type(value), "__module__", "").startswith("functions."):  # made by the handler module
                assert value is not getattr(second, name) and value is not getattr(imported, name), name
    finally:
        pool.release(first)
        pool.release(second)
        pool.retire()


def test_an_idle_container_is_reused_and_a_retired_pool_cold_starts():
    lambda_dispatch.drop_containers("pipeline-embed-test")
    pool = lambda_dispatch.containers("embed", "pipeline-embed-test")
    warm = pool.acquire()
    pool.release(warm)
    assert pool.acquire() is warm and pool.started == 1
    pool.release(warm)

    lambda_dispatch.drop_containers("pipeline-embed-test")  # a new deployment, or a new pipeline

    fresh = lambda_dispatch.containers("embed", "pipeline-embed-test")
    assert fresh is not pool and fresh.acquire() is not warm
    lambda_dispatch.drop_containers("pipeline-embed-test")


def test_retiring_closes_what_a_container_opened():
    closed: list[str] = []

    class Client:
        def __init__(self, name):
            self.name = name

        def close(self, timeout=None):
            closed.append(self.name)

    pool = lambda_dispatch.ContainerPool("generate", "pipeline-generate-test")
    idle, busy = pool.acquire(), pool.acquire()
    idle.test_client, busy.test_clients = Client("idle"), {"db": Client("busy")}
    pool.release(idle)
    pool.retire()
    assert closed == ["idle"]
    pool.release(busy)  # its invocation ended after the pool was retired
    assert closed == ["idle", "busy"]
