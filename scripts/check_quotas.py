#!/usr/bin/env python3
"""Does this account have the SageMaker instances a deploy of the pipeline needs? (make preflight)

    python scripts/check_quotas.py [--region R] [--profile P] [--pipeline JSON] [--deploy-only]

A deploy creates every enabled model's endpoint at once, each with max(1, min_instances)
instances (its InitialInstanceCount), and under load each endpoint scales to max_instances.
Both are counted per instance type from the configuration the CDK app reads (cdk.json's
context.pipeline, or --pipeline as with `cdk deploy -c pipeline=...`, applied to
model_artifacts/catalog.py by cdk_app.models.effective_spec) and compared with the account's
applied Service Quotas quota "<instance type> for endpoint usage" (service code sagemaker) in
the region. Endpoint instances of other stacks and teams count against the same quota.

Exit status: 0 every quota suffices; 1 a quota is short at deploy (or at max scale, unless
--deploy-only); 2 a quota could not be found (instance type not offered in the region?).
Needs servicequotas:ListServiceQuotas and servicequotas:ListAWSDefaultServiceQuotas.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVICE_CODE = "sagemaker"
QUOTA_NAME = "{} for endpoint usage"
OK, SHORT_AT_DEPLOY, SHORT_AT_MAX, UNKNOWN = "ok", "SHORT at deploy", "short at max scale", "no quota found"


@dataclass(frozen=True)
class Need:
    """Instances of one type that the enabled models use together."""

    instance_type: str
    roles: tuple[str, ...]
    at_deploy: int  # sum of each endpoint's InitialInstanceCount, max(1, min_instances)
    at_max: int  # sum of max_instances

    @property
    def quota_name(self) -> str:
        return QUOTA_NAME.format(self.instance_type)


def load_pipeline_config(cdk_json: Path = ROOT / "cdk.json", pipeline: str | Mapping[str, Any] | None = None):
    """The validated PipelineConfig the app would synthesize: cdk.json's context.pipeline, or
    `pipeline` instead (a JSON string or a dict, as `-c pipeline=...` replaces the key).
    Raises cdk_app.config.ConfigError on an invalid configuration."""
    from cdk_app.config import CONTEXT_KEY, load_config

    if pipeline is None:
        pipeline = json.loads(Path(cdk_json).read_text())["context"].get(CONTEXT_KEY)
    return load_config(pipeline)


def instance_needs(config) -> dict[str, Need]:
    """{instance type: Need} for the enabled models of `config` (a PipelineConfig), with the
    catalog's defaults and cdk.json's overrides applied exactly as cdk_app.models applies them."""
    from cdk_app.models import effective_spec
    from model_artifacts.catalog import CATALOG

    grouped: dict[str, list] = {}
    for role, overrides in config.models.items():
        if overrides.enabled:
            spec = effective_spec(CATALOG[role], overrides)
            grouped.setdefault(spec.instance_type, []).append(spec)
    return {
        instance_type: Need(
            instance_type=instance_type,
            roles=tuple(spec.role for spec in specs),
            # The same expression as the endpoint config's InitialInstanceCount (cdk_app/models.py).
            at_deploy=sum(max(1, spec.min_instances) for spec in specs),
            at_max=sum(spec.max_instances for spec in specs),
        )
        for instance_type, specs in sorted(grouped.items())
    }


def _quota_values(client, operation: str, names: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for page in client.get_paginator(operation).paginate(ServiceCode=SERVICE_CODE):
        for quota in page["Quotas"]:
            if quota["QuotaName"] in names:
                found[quota["QuotaName"]] = quota["Value"]
    return found


def quota_values(client, names: set[str]) -> dict[str, float]:
    """{quota name: value} for `names`: the applied value where Service Quotas has one, else the
    AWS default (ListServiceQuotas omits quotas whose applied value is not available:
    https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html).
    Names found in neither are absent. `client` is a boto3 service-quotas client."""
    found = _quota_values(client, "list_service_quotas", names)
    missing = names - set(found)
    if missing:
        found.update(_quota_values(client, "list_aws_default_service_quotas", missing))
    return found


def verdict(need: Need, quota: float | None) -> str:
    """OK, SHORT_AT_DEPLOY, SHORT_AT_MAX or UNKNOWN for one instance type."""
    if quota is None:
        return UNKNOWN
    if quota < need.at_deploy:
        return SHORT_AT_DEPLOY
    if quota < need.at_max:
        return SHORT_AT_MAX
    return OK


def exit_status(verdicts: list[str], *, deploy_only: bool = False) -> int:
    """0 when every verdict passes; 2 when a quota is unknown; else 1 when one is short."""
    if UNKNOWN in verdicts:
        return 2
    failing = {SHORT_AT_DEPLOY} if deploy_only else {SHORT_AT_DEPLOY, SHORT_AT_MAX}
    return 1 if failing.intersection(verdicts) else 0


def render(rows: list[tuple[Need, float | None, str]]) -> str:
    """The table printed for the user."""
    header = ("instance type", "at deploy", "at max scale", "quota", "status", "models")
    lines = [header] + [
        (n.instance_type, str(n.at_deploy), str(n.at_max), "?" if q is None else f"{q:g}", v, ", ".join(n.roles))
        for n, q, v in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def check(config, client, *, deploy_only: bool = False, out=sys.stdout) -> int:
    """Print the table for `config` against `client`'s quotas; return the exit status."""
    needs = instance_needs(config)
    values = quota_values(client, {need.quota_name for need in needs.values()})
    rows = [(need, values.get(need.quota_name), verdict(need, values.get(need.quota_name))) for need in needs.values()]
    print(render(rows), file=out)
    status = exit_status([v for _, _, v in rows], deploy_only=deploy_only)
    if status:
        print("\nRequest increases of the quotas above in the Service Quotas console (service: Amazon "
              "SageMaker, quota '<instance type> for endpoint usage'), or lower models.<role>.max_instances / "
              "min_instances or change models.<role>.instance_type in cdk.json.", file=out)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check_quotas.py",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--region", help="AWS region to check (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="AWS CLI profile to use")
    parser.add_argument("--cdk-json", type=Path, default=ROOT / "cdk.json", help="cdk.json to read (default: %(default)s)")
    parser.add_argument("--pipeline", help="the pipeline configuration as JSON, instead of cdk.json's "
                                           "(as `cdk deploy -c pipeline='{...}'`)")
    parser.add_argument("--deploy-only", action="store_true",
                        help="fail only when the deploy itself would exceed a quota, not scaling to max")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from cdk_app.config import ConfigError

    try:  # a bad configuration fails before any AWS call
        config = load_pipeline_config(args.cdk_json, args.pipeline)
    except (ConfigError, OSError, json.JSONDecodeError) as exc:
        print(f"check_quotas: {exc}", file=sys.stderr)
        return 2
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if not session.region_name:
        print("check_quotas: no region: pass --region or set AWS_REGION", file=sys.stderr)
        return 2
    print(f"SageMaker endpoint instances for {config.environment} in {session.region_name}:\n")
    return check(config, session.client("service-quotas"), deploy_only=args.deploy_only)


if __name__ == "__main__":
    sys.exit(main())
