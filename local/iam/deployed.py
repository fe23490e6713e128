"""The deployed stack as the local run sees it: the synthesized template, and which of its
resources each local stand-in resource stands for.

`synthesized_template()` synthesizes the app (cdk.json's context, asset bundling skipped: the
policies do not depend on the code's bytes) in a subprocess and caches the template under
.build/local-template/, keyed by the sources that shape it, so only the first run after a change
pays for the synth. `LocalDeployment.from_template` maps the template's logical ids onto the
local run's names (functions by handler, buckets by the stack's outputs, the state machine and the
model endpoints by the names the template gives them) and builds the `Authorizer`.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from functions.common import constants as c
from local.iam.authorizer import STATES_SERVICE_KEY, Authorizer, Identity, TemplateResources
from local.iam.template import TemplatePolicies

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".build" / "local-template"
# What the template is made of: the CDK app, its context, the definitions and catalogs it reads.
_SOURCES = ("app.py", "cdk.json", "cdk_app", "step_functions", "model_artifacts", "functions/common",
            "functions/requirements")
_HANDLER_SUFFIX = ".handler.lambda_handler"

_SYNTH = """
import json, os, sys
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
import aws_cdk as cdk
from app import build_app
context = json.load(open("cdk.json"))["context"]
context["aws:cdk:bundling-stacks"] = []  # no asset bundling: the policies do not depend on it
app, stack = build_app(cdk.App(context=context, outdir=sys.argv[1]))
app.synth()
print(stack.stack_name)
"""


def sources_digest(root: Path = ROOT) -> str:
    """sha256 over the sources the template is synthesized from (paths and bytes)."""
    digest = hashlib.sha256()
    for name in _SOURCES:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                     and "__pycache__" not in p.parts and p.suffix != ".pyc")
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def synthesized_template(root: Path = ROOT) -> dict:
    """The stack's template, from the cache when the sources have not changed.

    Raises RuntimeError with the synth's output when the app does not synthesize."""
    cached = CACHE / f"{sources_digest(root)}.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    out = CACHE / "cdk.out"
    print("synthesizing the stack for its policies (once per change of cdk_app/, about a minute)", file=sys.stderr)
    done = subprocess.run([sys.executable, "-c", _SYNTH, str(out)], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{done.stderr[-4000:]}")
    stack_name = done.stdout.strip().splitlines()[-1]
    template = json.loads((out / f"{stack_name}.template.json").read_text(encoding="utf-8"))
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("*.json"):
        old.unlink()
    cached.write_text(json.dumps(template), encoding="utf-8")
    return template


def access_key(role_logical_id: str) -> str:
    """The local access key id of a template role (what its containers sign with)."""
    return f"LOCAL{hashlib.sha256(role_logical_id.encode()).hexdigest()[:16].upper()}"


def _ref(value: Any) -> Optional[str]:
    return value.get("Ref") if isinstance(value, dict) else None


@dataclass
class LocalDeployment:
    """The template's resources as the local run names them, and the authorizer over them."""

    template: dict
    policies: TemplatePolicies
    authorizer: Authorizer
    state_machine_name: str
    model_names: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (endpoint, component)
    role_keys: dict[str, str] = field(default_factory=dict)  # step -> access key of its function's role
    function_roles: dict[str, str] = field(default_factory=dict)  # step -> role logical id

    @classmethod
    def from_template(cls, template: dict, *, buckets: Mapping[str, str], function_names: Mapping[str, str],
                      region: str, account: str) -> LocalDeployment:
        """`buckets`: {"ingest"|"staging"|"failed": local bucket name}; `function_names`:
        {step: local function name}. Raises KeyError when the template lacks what the local
        run stands in for (an output, a function of a step)."""
        resources = template["Resources"]
        outputs = template.get("Outputs", {})
        physical: dict[str, str] = {}
        steps: dict[str, str] = {}  # step -> function logical id
        for logical_id, resource in resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function" and str(props.get("Handler", "")).endswith(_HANDLER_SUFFIX):
                step = props["Handler"][: -len(_HANDLER_SUFFIX)].removeprefix("functions.")
                steps[step] = logical_id
        for step, logical_id in steps.items():
            if step in function_names:
                physical[logical_id] = function_names[step]
        for kind, output in (("ingest", c.OUTPUT_INGEST_BUCKET), ("staging", c.OUTPUT_STAGING_BUCKET)):
            physical[_ref(outputs[output]["Value"])] = buckets[kind]
        dispatcher = resources[steps[c.FN_DISPATCHER]]["Properties"]["Environment"]["Variables"]
        physical[_ref(dispatcher[c.ENV_FAILED_BUCKET])] = buckets["failed"]
        machine_id = _ref(outputs[c.OUTPUT_STATE_MACHINE_ARN]["Value"])
        machine = resources[machine_id]["Properties"]
        machine_name = machine["StateMachineName"]
        physical[machine_id] = f"arn:aws:states:{region}:{account}:stateMachine:{machine_name}"
        policies = TemplatePolicies.from_template(template, account=account, region=region, partition="aws",
                                                  physical=physical)
        authorizer = Authorizer(policies, TemplateResources(template, policies), region=region, account=account)
        deployment = cls(template, policies, authorizer, machine_name, model_names(template))
        for step, logical_id in steps.items():
            role_id = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
            deployment.function_roles[step] = role_id
            deployment.role_keys[step] = access_key(role_id)
            authorizer.register(access_key(role_id), Identity(policies.role_arn(role_id), f"function {step}"))
        machine_role = machine["RoleArn"]["Fn::GetAtt"][0]
        authorizer.register(STATES_SERVICE_KEY, Identity(policies.role_arn(machine_role), "pipeline state machine",
                                                         state_machine_arn=physical[machine_id]))
        return deployment


def model_names(template: dict) -> dict[str, tuple[str, str]]:
    """{model role: (endpoint name, inference component name)} as the template names them
    (cdk_app/house/names.py: `<stack>-<role>` in lower case, and the component after it)."""
    resources = template["Resources"]
    endpoints = {logical_id: r["Properties"]["EndpointName"] for logical_id, r in resources.items()
                 if r["Type"] == "AWS::SageMaker::Endpoint" and isinstance(r["Properties"].get("EndpointName"), str)}
    names = {}
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::SageMaker::InferenceComponent":
            continue
        endpoint = endpoints.get((props.get("EndpointName") or {}).get("Fn::GetAtt", [""])[0])
        role = next((r for r in sorted(c.MODEL_ROLES, key=len, reverse=True)
                     if endpoint and endpoint.endswith("-" + r.replace("_", "-"))), None)
        if role and isinstance(props.get("InferenceComponentName"), str):
            names[role] = (endpoint, props["InferenceComponentName"])
    return names
