"""Fixtures: the app synthesized once per session from cdk.json, with cdk-nag applied."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parents[2]


def cdk_context(**overrides) -> dict:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["pipeline"] = {**context["pipeline"], **overrides}
    return context


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    import aws_cdk as cdk

    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(cdk.App(context=cdk_context(), outdir=str(outdir)))
    assembly = app.synth()
    return stack, assembly, outdir


@pytest.fixture(scope="session")
def stack(synthesized):
    return synthesized[0]


@pytest.fixture(scope="session")
def template(stack):
    from aws_cdk.assertions import Template

    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def template_json(template) -> dict:
    return template.to_json()


@pytest.fixture(scope="session")
def template_path(synthesized, stack) -> Path:
    return synthesized[2] / f"{stack.stack_name}.template.json"
