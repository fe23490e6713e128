"""local.lambda_dispatch: moto's interpreter reuses one Lambda client, and uninstall restores moto."""
from __future__ import annotations

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
