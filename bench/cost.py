"""What the deployed stack costs: at rest (a month with no files) and per million files, per setting.

    .venv/bin/python bench/cost.py [--settings current,warm-endpoints,mwaa-off,dev-idle] [--json]
                                   [--template cdk.out/MultimodalPipeline-dev.template.json]
                                   [--figures bench/out/pipeline-mixed.json] [--mode design|naive]

What is deployed is read from the *synthesized template* of each setting (the app is built in
this process as tests/infra/conftest.py does, one synth per setting, 1-2 minutes each), never
from a hand-kept list. The walk (`at_rest`) prices every resource that is billed by the hour:

* AWS::SageMaker::Endpoint -> its EndpointConfig's variants (instance type). Instances at rest:
  for a variant hosting inference components, the ManagedInstanceScaling MinInstanceCount, and
  0 when every component's scalable target (DesiredCopyCount) has MinCapacity 0; for a plain
  variant, the MinCapacity of its scalable target (DesiredInstanceCount), else its
  InitialInstanceCount. A minimum of 0 costs 0 at rest.
* AWS::MWAA::Environment: EnvironmentClass (includes 1 worker and 2 schedulers), MinWorkers and
  Schedulers above those.
* AWS::EC2::VPCEndpoint: Interface endpoints x their subnets (one ENI per AZ); Gateway free.
* AWS::RDS::DBCluster / DBInstance: db.serverless instances x the cluster's
  ServerlessV2ScalingConfiguration MinCapacity; AWS::RDS::DBProxy at its 8-ACU minimum.
* AWS::MSK::ServerlessCluster cluster-hours and the partitions of the topics the stack creates
  (the topic custom resource's `Partitions`, else cdk.json `kafka.partitions`).
* AWS::Lambda::EventSourceMapping in provisioned mode (MinimumPollers -> event poller units).
* AWS::EC2::NatGateway, AWS::EC2::EIP, AWS::KMS::Key, AWS::SecretsManager::Secret,
  AWS::CloudWatch::Alarm (per metric), AWS::CloudWatch::Dashboard.
Everything else (S3 buckets, SQS, SNS, state machines, functions, IAM, log groups) has no hourly
price: it is listed as such and its per-use price goes into the per-million-files figure.

Per million files (`per_million`) is the marginal cost of processing them on top of the stack
at rest: Step Functions transitions, Lambda GB-s and requests (memory and architecture of each
function read from the template), SageMaker instance-hours while busy (items / measured
throughput / target utilisation, priced at each role's instance type in the template: with
always-on instances part of that is already paid at rest, so it is an upper bound), MSK data,
S3 requests and a month of storage of the files, KMS requests, CloudWatch Logs ingestion,
Aurora storage and I/O. Per-file counts come from bench/README.md's measured mixed run (or a
bench/pipeline.py JSON via --figures); the mix and sizes are the named assumptions below.

Prices: us-east-1 on-demand public prices as of PRICES_AS_OF, each with the AWS page it comes
from; nothing is fetched. Free tiers are ignored.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.common import constants as c  # noqa: E402

HOURS_PER_MONTH = 730.0
GOAL_AT_REST_USD = 1_000.0  # issue 18: idle for a month with endpoints at zero and MWAA off

# -- prices --------------------------------------------------------------------------------
PRICES_AS_OF = "2025-06"  # as last read from the pages below; re-read them before relying on a figure


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    as_of: str = PRICES_AS_OF


_SM = "https://aws.amazon.com/sagemaker/pricing/"  # Real-Time Inference, us-east-1
_MWAA = "https://aws.amazon.com/managed-workflows-for-apache-airflow/pricing/"
_PL = "https://aws.amazon.com/privatelink/pricing/"
_VPC = "https://aws.amazon.com/vpc/pricing/"
_AURORA = "https://aws.amazon.com/rds/aurora/pricing/"
_PROXY = "https://aws.amazon.com/rds/proxy/pricing/"
_MSK = "https://aws.amazon.com/msk/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"

PRICES: dict[str, Price] = {
    # hourly, at rest
    "interface_endpoint_az_hour": Price(0.01, "endpoint-AZ-hour", _PL),
    "nat_gateway_hour": Price(0.045, "NAT gateway-hour", _VPC),
    "public_ipv4_hour": Price(0.005, "IPv4 address-hour", _VPC),
    "aurora_acu_hour": Price(0.12, "ACU-hour", _AURORA),  # Serverless v2, Aurora Standard
    "aurora_iopt_acu_hour": Price(0.156, "ACU-hour", _AURORA),  # Serverless v2, I/O-Optimized
    "rds_proxy_acu_hour": Price(0.015, "ACU-hour", _PROXY),  # Serverless v2 targets, 8 ACU minimum
    "msk_serverless_cluster_hour": Price(0.75, "cluster-hour", _MSK),
    "msk_serverless_partition_hour": Price(0.0015, "partition-hour", _MSK),
    "lambda_epu_hour": Price(0.185, "EPU-hour", _LAMBDA),  # provisioned mode for event source mappings
    "lambda_provisioned_gb_s": Price(0.0000041667, "GB-s", _LAMBDA),  # provisioned concurrency, x86_64
    "kms_key_month": Price(1.00, "key-month", "https://aws.amazon.com/kms/pricing/"),
    "secret_month": Price(0.40, "secret-month", "https://aws.amazon.com/secrets-manager/pricing/"),
    "alarm_metric_month": Price(0.10, "alarm metric-month", _CW),  # standard resolution
    "alarm_metric_high_res_month": Price(0.30, "alarm metric-month", _CW),
    "dashboard_month": Price(3.00, "dashboard-month", _CW),
    # per use
    "sfn_transition": Price(0.025 / 1000, "state transition", "https://aws.amazon.com/step-functions/pricing/"),
    "lambda_gb_s_x86_64": Price(0.0000166667, "GB-s", _LAMBDA),
    "lambda_gb_s_arm64": Price(0.0000133334, "GB-s", _LAMBDA),
    "lambda_request": Price(0.20 / 1_000_000, "request", _LAMBDA),
    "msk_gb_in": Price(0.10, "GB", _MSK),
    "msk_gb_out": Price(0.05, "GB", _MSK),
    "s3_put": Price(0.005 / 1000, "request", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004 / 1000, "request", "https://aws.amazon.com/s3/pricing/"),
    "s3_gb_month": Price(0.023, "GB-month", "https://aws.amazon.com/s3/pricing/"),  # Standard, first 50 TB
    "kms_request": Price(0.03 / 10_000, "request", "https://aws.amazon.com/kms/pricing/"),
    "logs_gb_ingested": Price(0.50, "GB", _CW),
    "aurora_gb_month": Price(0.10, "GB-month", _AURORA),
    "aurora_io": Price(0.20 / 1_000_000, "I/O request", _AURORA),
}
SAGEMAKER_INSTANCE_HOUR: dict[str, Price] = {
    t: Price(usd, "instance-hour", _SM) for t, usd in {
        "ml.g5.xlarge": 1.408, "ml.g5.2xlarge": 1.515, "ml.g4dn.xlarge": 0.7364,
        "ml.c6i.large": 0.102, "ml.c6i.xlarge": 0.204, "ml.c6i.2xlarge": 0.408,
        "ml.c5.xlarge": 0.204, "ml.m5.xlarge": 0.23,
    }.items()
}
# The environment's hourly price includes its 1 worker and 2 schedulers; more are priced apart.
MWAA_ENVIRONMENT_HOUR = {k: Price(v, "environment-hour", _MWAA) for k, v in {
    "mw1.small": 0.49, "mw1.medium": 0.74, "mw1.large": 0.99, "mw1.xlarge": 1.98, "mw1.2xlarge": 3.96}.items()}
MWAA_WORKER_HOUR = {k: Price(v, "worker-hour", _MWAA) for k, v in {
    "mw1.small": 0.055, "mw1.medium": 0.11, "mw1.large": 0.22, "mw1.xlarge": 0.44, "mw1.2xlarge": 0.88}.items()}
MWAA_SCHEDULER_HOUR = {k: Price(v, "scheduler-hour", _MWAA) for k, v in {
    "mw1.small": 0.055, "mw1.medium": 0.11, "mw1.large": 0.22, "mw1.xlarge": 0.44, "mw1.2xlarge": 0.88}.items()}
MWAA_INCLUDED_WORKERS, MWAA_INCLUDED_SCHEDULERS = 1, 2
# RDS Proxy in front of Aurora Serverless v2 is billed on the cluster's ACUs, at least 8
# (https://aws.amazon.com/rds/proxy/pricing/).
RDS_PROXY_MIN_ACU = 8
# One event poller unit (EPU) carries several pollers; MinimumPollers 1 is one EPU either way
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-provisioned-mode).
POLLERS_PER_EPU = 10


def _price(table: Mapping[str, Price], key: str, what: str) -> Price:
    try:
        return table[key]
    except KeyError:
        raise KeyError(f"no price for {what} {key!r}: add it, with its pricing page, to bench/cost.py") from None


# -- the walk ------------------------------------------------------------------------------
@dataclass
class Line:
    """One priced item: `quantity` `unit`s a month at `unit_price` USD each."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    note: str = ""

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


def _short(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)  # CDK's hash suffix


def _refers_to(value: Any, logical_id: str) -> bool:
    """Whether a property value (Ref, Fn::GetAtt, Fn::Join ...) names the resource `logical_id`."""
    return f'"{logical_id}"' in json.dumps(value) or f'"{logical_id}.' in json.dumps(value)


def _targets_component(target: Mapping[str, Any], ic_id: str, component: Mapping[str, Any]) -> bool:
    """Whether a scalable target scales this inference component: by reference, or by the
    explicit name it was given (cdk_app/house/names.py), as `inference-component/<name>`."""
    name = component.get("InferenceComponentName")
    return _refers_to(target.get("ResourceId"), ic_id) or (
        isinstance(name, str) and target.get("ResourceId") == f"inference-component/{name}")


def _of_type(resources: Mapping[str, Any], type_: str) -> dict[str, dict]:
    return {k: r.get("Properties", {}) for k, r in resources.items() if r.get("Type") == type_}


def _endpoint_lines(resources: Mapping[str, Any]) -> list[Line]:
    configs = _of_type(resources, "AWS::SageMaker::EndpointConfig")
    targets = _of_type(resources, "AWS::ApplicationAutoScaling::ScalableTarget")
    components = _of_type(resources, "AWS::SageMaker::InferenceComponent")
    lines = []
    for endpoint_id, endpoint in sorted(_of_type(resources, "AWS::SageMaker::Endpoint").items()):
        config_id = next(k for k in configs if _refers_to(endpoint.get("EndpointConfigName"), k))
        for variant in configs[config_id].get("ProductionVariants", []):
            if "ServerlessConfig" in variant:
                continue  # serverless inference: per use only
            itype = variant["InstanceType"]
            hosted = [k for k, ic in components.items() if _refers_to(ic.get("EndpointName"), endpoint_id)
                      and ic.get("VariantName", variant.get("VariantName")) == variant.get("VariantName")]
            scaling = variant.get("ManagedInstanceScaling") or {}
            if hosted:
                copies = 0
                for ic_id in hosted:
                    target = next((t for t in targets.values() if _targets_component(t, ic_id, components[ic_id])), None)
                    copies += int(target["MinCapacity"]) if target else int(
                        components[ic_id].get("RuntimeConfig", {}).get("CopyCount", 1))
                floor = (int(scaling.get("MinInstanceCount", 0)) if scaling.get("Status") == "ENABLED"
                         else int(variant.get("InitialInstanceCount", 1)))
                instances = floor if copies == 0 else max(floor, 1)
                note = f"{len(hosted)} inference component(s), {copies} cop(ies) and {floor} instance(s) at minimum"
            else:
                target = next((t for t in targets.values() if _refers_to(t.get("ResourceId"), endpoint_id)
                               and t.get("ScalableDimension") == "sagemaker:variant:DesiredInstanceCount"), None)
                instances = int(target["MinCapacity"]) if target else int(variant.get("InitialInstanceCount", 1))
                note = "scalable target MinCapacity" if target else "InitialInstanceCount, no autoscaling"
            lines.append(Line(f"SageMaker endpoint {_short(endpoint_id)} ({itype})", instances * HOURS_PER_MONTH,
                              "instance-hour", _price(SAGEMAKER_INSTANCE_HOUR, itype, "SageMaker instance type").usd,
                              f"{instances} at rest: {note}"))
    return lines


def _mwaa_lines(resources: Mapping[str, Any]) -> list[Line]:
    lines = []
    for env_id, env in sorted(_of_type(resources, "AWS::MWAA::Environment").items()):
        cls = env.get("EnvironmentClass", "mw1.small")  # CloudFormation's default
        name = f"MWAA {_short(env_id)} ({cls})"
        lines.append(Line(name, HOURS_PER_MONTH, "environment-hour",
                          _price(MWAA_ENVIRONMENT_HOUR, cls, "MWAA environment class").usd,
                          f"includes {MWAA_INCLUDED_WORKERS} worker, {MWAA_INCLUDED_SCHEDULERS} schedulers"))
        extra_workers = int(env.get("MinWorkers", 1)) - MWAA_INCLUDED_WORKERS
        if extra_workers > 0:
            lines.append(Line(f"{name}: MinWorkers above {MWAA_INCLUDED_WORKERS}", extra_workers * HOURS_PER_MONTH,
                              "worker-hour", MWAA_WORKER_HOUR[cls].usd))
        extra_schedulers = int(env.get("Schedulers", MWAA_INCLUDED_SCHEDULERS)) - MWAA_INCLUDED_SCHEDULERS
        if extra_schedulers > 0:
            lines.append(Line(f"{name}: schedulers above {MWAA_INCLUDED_SCHEDULERS}", extra_schedulers * HOURS_PER_MONTH,
                              "scheduler-hour", MWAA_SCHEDULER_HOUR[cls].usd))
    return lines


def _service(name: Any) -> str:
    """`sts` of com.amazonaws.<region>.sts, written as a string or an Fn::Join with the region."""
    last = re.findall(r'"\.?([a-z0-9.-]+)"', json.dumps(name))[-1]
    return re.sub(r"^com\.amazonaws\.[a-z0-9-]+\.", "", last)


def _vpc_endpoint_lines(resources: Mapping[str, Any]) -> list[Line]:
    interface = {k: p for k, p in _of_type(resources, "AWS::EC2::VPCEndpoint").items()
                 if p.get("VpcEndpointType", "Gateway") == "Interface"}
    if not interface:
        return []
    azs = sum(max(1, len(p.get("SubnetIds", []))) for p in interface.values())
    services = sorted(_service(p.get("ServiceName")) for p in interface.values())
    return [Line(f"Interface VPC endpoints ({len(interface)}: {', '.join(services)})", azs * HOURS_PER_MONTH,
                 "endpoint-AZ-hour", PRICES["interface_endpoint_az_hour"].usd,
                 f"{len(interface)} endpoints x their subnets = {azs} endpoint-AZs; gateway endpoints free")]


def _database_lines(resources: Mapping[str, Any]) -> list[Line]:
    lines, total_min_acu = [], 0.0
    instances = _of_type(resources, "AWS::RDS::DBInstance")
    for cluster_id, cluster in sorted(_of_type(resources, "AWS::RDS::DBCluster").items()):
        members = [i for i in instances.values() if _refers_to(i.get("DBClusterIdentifier"), cluster_id)]
        serverless = [i for i in members if i.get("DBInstanceClass") == "db.serverless"]
        for other in members:
            if other not in serverless:
                raise KeyError(f"no price for DB instance class {other.get('DBInstanceClass')!r}: add it to bench/cost.py")
        min_acu = float((cluster.get("ServerlessV2ScalingConfiguration") or {}).get("MinCapacity", 0.5))
        total_min_acu += len(serverless) * min_acu
        key = "aurora_iopt_acu_hour" if cluster.get("StorageType") == "aurora-iopt1" else "aurora_acu_hour"
        lines.append(Line(f"Aurora Serverless v2 {_short(cluster_id)}: {len(serverless)} instance(s) at min {min_acu:g} ACU",
                          len(serverless) * min_acu * HOURS_PER_MONTH, "ACU-hour", PRICES[key].usd,
                          "0 ACU pauses the instance (auto-pause)" if min_acu == 0 else ""))
    for proxy_id in sorted(_of_type(resources, "AWS::RDS::DBProxy")):
        acu = max(RDS_PROXY_MIN_ACU, total_min_acu)
        lines.append(Line(f"RDS Proxy {_short(proxy_id)}", acu * HOURS_PER_MONTH, "ACU-hour",
                          PRICES["rds_proxy_acu_hour"].usd, f"billed on max({RDS_PROXY_MIN_ACU}, cluster ACUs) = {acu:g}"))
    return lines


def _partitions(resources: Mapping[str, Any], pipeline_context: Mapping[str, Any] | None) -> tuple[int, str]:
    """Partitions of the topics the stack creates (the topic custom resource's property), else cdk.json."""
    found = [int(r["Properties"]["Partitions"]) for r in resources.values()
             if r.get("Type", "").startswith(("Custom::", "AWS::CloudFormation::CustomResource"))
             and "Partitions" in r.get("Properties", {})]
    if found:
        return sum(found), f"{len(found)} topic(s) in the template"
    if pipeline_context and "kafka" in pipeline_context:
        return int(pipeline_context["kafka"]["partitions"]), "cdk.json kafka.partitions"
    return 0, "no topic found"


def _msk_lines(resources: Mapping[str, Any], pipeline_context: Mapping[str, Any] | None) -> list[Line]:
    clusters = _of_type(resources, "AWS::MSK::ServerlessCluster")
    if not clusters:
        return []
    partitions, where = _partitions(resources, pipeline_context)
    return [Line(f"MSK Serverless cluster{'s' if len(clusters) > 1 else ''}", len(clusters) * HOURS_PER_MONTH,
                 "cluster-hour", PRICES["msk_serverless_cluster_hour"].usd),
            Line(f"MSK Serverless partitions ({where})", partitions * HOURS_PER_MONTH, "partition-hour",
                 PRICES["msk_serverless_partition_hour"].usd)]


def _small_lines(resources: Mapping[str, Any]) -> list[Line]:
    lines = []
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping")
    epus = sum(math.ceil(int(m["ProvisionedPollerConfig"].get("MinimumPollers", 1)) / POLLERS_PER_EPU)
               for m in mappings.values() if m.get("ProvisionedPollerConfig"))
    if epus:
        lines.append(Line("Lambda event source mappings in provisioned mode (MinimumPollers)", epus * HOURS_PER_MONTH,
                          "EPU-hour", PRICES["lambda_epu_hour"].usd))
    provisioned_gb = sum(int(p.get("ProvisionedConcurrencyConfig", {}).get("ProvisionedConcurrentExecutions", 0))
                         for t in ("AWS::Lambda::Alias", "AWS::Lambda::Version") for p in _of_type(resources, t).values())
    if provisioned_gb:
        lines.append(Line("Lambda provisioned concurrency (counted at 1 GB each)", provisioned_gb * HOURS_PER_MONTH * 3600,
                          "GB-s", PRICES["lambda_provisioned_gb_s"].usd))
    counted = {
        "AWS::EC2::NatGateway": ("NAT gateways", HOURS_PER_MONTH, "nat_gateway_hour"),
        "AWS::EC2::EIP": ("Elastic IPs (public IPv4)", HOURS_PER_MONTH, "public_ipv4_hour"),
        "AWS::KMS::Key": ("KMS customer managed keys", 1, "kms_key_month"),
        "AWS::SecretsManager::Secret": ("Secrets Manager secrets", 1, "secret_month"),
        "AWS::CloudWatch::Dashboard": ("CloudWatch dashboards", 1, "dashboard_month"),
    }
    for type_, (name, per_each, key) in counted.items():
        n = len(_of_type(resources, type_))
        if n:
            lines.append(Line(f"{name} ({n})", n * per_each, PRICES[key].unit, PRICES[key].usd))
    standard = high_res = 0
    for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values():
        metrics = [m for m in alarm.get("Metrics", []) if "MetricStat" in m] or [alarm]
        for m in metrics:
            period = m.get("MetricStat", {}).get("Period", m.get("Period", 60))
            if int(period) < 60:
                high_res += 1
            else:
                standard += 1
    if standard:
        lines.append(Line(f"CloudWatch alarm metrics ({len(_of_type(resources, 'AWS::CloudWatch::Alarm'))} alarms)",
                          standard, "alarm metric-month", PRICES["alarm_metric_month"].usd, "metric-math alarms: per metric"))
    if high_res:
        lines.append(Line("CloudWatch high-resolution alarm metrics", high_res, "alarm metric-month",
                          PRICES["alarm_metric_high_res_month"].usd))
    return lines


PRICED_TYPES = {
    "AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::InferenceComponent",
    "AWS::MWAA::Environment", "AWS::EC2::VPCEndpoint", "AWS::RDS::DBCluster", "AWS::RDS::DBInstance",
    "AWS::RDS::DBProxy", "AWS::MSK::ServerlessCluster", "AWS::Lambda::EventSourceMapping", "AWS::EC2::NatGateway",
    "AWS::EC2::EIP", "AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard", "AWS::ApplicationAutoScaling::ScalableTarget",
}


def at_rest(template: Mapping[str, Any], pipeline_context: Mapping[str, Any] | None = None) -> list[Line]:
    """Price a month with no files of the synthesized `template` (a CloudFormation dict).

    `pipeline_context` (cdk.json's `pipeline`) is consulted only for what the template cannot
    say (the Kafka partitions when no topic resource carries them). Raises KeyError for an
    instance type or class the price table does not list.
    """
    resources = template.get("Resources", {})
    return [*_endpoint_lines(resources), *_mwaa_lines(resources), *_vpc_endpoint_lines(resources),
            *_database_lines(resources), *_msk_lines(resources, pipeline_context), *_small_lines(resources)]


def unpriced_at_rest(template: Mapping[str, Any]) -> dict[str, int]:
    """Resource types in the template with no hourly price (per use only, or free), with counts."""
    counts: dict[str, int] = {}
    for r in template.get("Resources", {}).values():
        if r.get("Type") not in PRICED_TYPES:
            counts[r["Type"]] = counts.get(r["Type"], 0) + 1
    return dict(sorted(counts.items()))


# -- per million files ---------------------------------------------------------------------
# Assumptions, stated: the mix, 1-minute audio and video, average bytes per file.
MIX = {"image": 0.60, "document": 0.20, "text": 0.10, "audio": 0.05, "video": 0.05}
MEDIA_SECONDS = 60.0
LOCAL_MEDIA_SECONDS = 7.8  # the mixed set's audio/video clips (bench/README.md, "Cost per million files")
MB_PER_FILE = {"image": 2.0, "document": 1.0, "text": 0.05, "audio": 1.0, "video": 40.0}  # 1 min: 128 kbit/s, ~5 Mbit/s
S3_PUTS_PER_FILE = 4  # staged outputs of extract, generate, embed and the manifest (ingest PUT is the uploader's)
S3_GETS_PER_FILE = 6  # the object once, then each step reads the pointers it is given
KMS_REQUESTS_PER_FILE = 2  # S3 bucket keys: a data key per object, not per request
LOG_KB_PER_FILE = 10.0  # Powertools JSON lines of 4 steps plus the state machine's execution log
AURORA_IOS_PER_FILE = 50.0
MESSAGE_BYTES = 1024
VECTOR_BYTES_STORED = 3 * 1024  # a 384/512-dim float4 vector, its row and its HNSW entry, roughly
FORWARDER_SECONDS = 0.1  # assumption: one Kafka produce per S3 event
DISPATCHER_SECONDS = 1.0  # assumption: per batch of up to 100 records (StartExecution)

# items/s per role, from bench/model_figures.json (written by bench/models.py --figures-out):
# `naive` is the chain at batch 1, `design` the chain at the batch the client sends, both from
# DESIGN_SOURCE (measured on the 2-core build machine). OCR on AWS is a Florence-2 pass, about
# twice the caption rate (catalog.py's own assumption). CPU rates priced at the template's GPU
# instance types: an upper bound on instance-hours.
MODEL_FIGURES = ROOT / "bench" / "model_figures.json"
DESIGN_SOURCE = "cpu-2core-2026-11"
OCR_VS_CAPTION = 2.0


def load_model_figures(path: Path = MODEL_FIGURES) -> dict:
    """The figures document: {"sources": {name: {...}}, "figures": {name: {role: {...}}}}."""
    return json.loads(Path(path).read_text())


def throughput_modes(doc: Mapping[str, Any], source: str = DESIGN_SOURCE) -> dict[str, dict[str, float]]:
    """{"naive": {role: items/s}, "design": {role: items/s}} of `source`'s chain figures."""
    figures = doc["figures"][source]
    out: dict[str, dict[str, float]] = {"naive": {}, "design": {}}
    for mode, key in (("naive", "batch_1_items_per_s"), ("design", "chain_items_per_s")):
        for role, f in figures.items():
            if f.get(key):
                out[mode][role] = float(f[key])
        if c.MODEL_GENERATION in out[mode]:
            out[mode][c.MODEL_OCR] = OCR_VS_CAPTION * out[mode][c.MODEL_GENERATION]
    return out


THROUGHPUT = throughput_modes(load_model_figures())
TARGET_UTILISATION = 0.5


@dataclass
class FileFigures:
    """What one file of a modality costs in work."""

    transitions: float
    lambda_invocations: Mapping[str, float]  # function -> invocations per file
    lambda_seconds: Mapping[str, float]  # function -> mean seconds per invocation
    endpoint_items: Mapping[str, float]  # role -> items per file
    dispatcher_per_file: float = 0.0
    vectors: float = 0.0


_STEPS = (c.STEP_EXTRACT, c.STEP_GENERATE, c.STEP_EMBED, c.STEP_STORE)


def _measured(seconds: tuple[float, float, float, float], items: Mapping[str, float]) -> FileFigures:
    return FileFigures(transitions=4.07, lambda_invocations=dict.fromkeys(_STEPS, 1.0),
                       lambda_seconds={**dict(zip(_STEPS, seconds)), c.FN_FORWARDER: FORWARDER_SECONDS,
                                       c.FN_DISPATCHER: DISPATCHER_SECONDS},
                       endpoint_items=items, dispatcher_per_file=0.01,
                       vectors=items.get(c.MODEL_TEXT_EMBEDDING, 0.0) + items.get(c.MODEL_IMAGE_EMBEDDING, 0.0))


_A = MEDIA_SECONDS / LOCAL_MEDIA_SECONDS
# bench/README.md, mixed run measured 2026-11-26, design: 4.07 transitions and 4 step invocations
# per file, 0.01 dispatcher invocations per file; step seconds from the naive run (one at a time);
# endpoint items split by role from the measured totals (image 4, document 2.8, text 7.2) by
# what each modality calls; audio and video at 1 minute (30 s speech windows and video chunks:
# 2 each; video: per chunk a keyframe embedding, OCR, caption, transcript, text embedding, plus
# one summary), extract time scaled from the 7.8 s local clips.
MEASURED = {
    "image": _measured((0.30, 0.03, 0.06, 0.06), {c.MODEL_IMAGE_EMBEDDING: 1, c.MODEL_GENERATION: 1,
                                                   c.MODEL_OCR: 1, c.MODEL_TEXT_EMBEDDING: 1}),
    "document": _measured((0.12, 0.03, 0.08, 0.06), {c.MODEL_GENERATION: 1, c.MODEL_TEXT_EMBEDDING: 1.6, c.MODEL_OCR: 0.2}),
    "text": _measured((0.07, 0.04, 0.81, 0.09), {c.MODEL_GENERATION: 1, c.MODEL_TEXT_EMBEDDING: 6.2}),
    "audio": _measured((1.60 * _A, 0.03, 0.06, 0.05), {c.MODEL_SPEECH: 2, c.MODEL_GENERATION: 1, c.MODEL_TEXT_EMBEDDING: 2}),
    "video": _measured((1.17 * _A, 0.05, 0.11, 0.06), {c.MODEL_IMAGE_EMBEDDING: 2, c.MODEL_OCR: 2, c.MODEL_GENERATION: 3,
                                                        c.MODEL_SPEECH: 2, c.MODEL_TEXT_EMBEDDING: 2}),
}


def lambda_sizing(template: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """{function name (constants.STEP_* / FN_*): (memory MB, architecture)} from the template's functions."""
    functions = _of_type(template.get("Resources", {}), "AWS::Lambda::Function")
    out = {}
    for name in (*_STEPS, c.FN_FORWARDER, c.FN_DISPATCHER):
        camel = "".join(part.title() for part in name.split("_")) + "Function"
        match = [p for k, p in functions.items() if camel in k]
        if match:
            out[name] = (int(match[0].get("MemorySize", 128)), (match[0].get("Architectures") or ["x86_64"])[0])
    return out


def endpoint_instance_types(template: Mapping[str, Any]) -> dict[str, str]:
    """{role: instance type} of the template's endpoints (roles from constants.MODEL_ROLES)."""
    resources = template.get("Resources", {})
    configs = _of_type(resources, "AWS::SageMaker::EndpointConfig")
    out = {}
    for config_id, config in configs.items():
        for role in c.MODEL_ROLES:
            if "".join(p.title() for p in role.split("_")) + "Endpoint" in config_id:
                out[role] = config["ProductionVariants"][0]["InstanceType"]
    return out


def file_cost(f: FileFigures, mode: str, sizing: Mapping[str, tuple[int, str]], instances: Mapping[str, str],
              mb_per_file: float = 0.0, throughput: Mapping[str, float] | None = None) -> dict[str, float]:
    """USD per file by component (processing, plus a month of storage of the file and its vectors).
    `throughput` ({role: items/s on its instance}) replaces THROUGHPUT[mode] where given."""
    invocations = {**f.lambda_invocations, c.FN_FORWARDER: 1.0, c.FN_DISPATCHER: f.dispatcher_per_file}
    lambda_usd = 0.0
    for fn, n in invocations.items():
        memory, arch = sizing[fn]
        lambda_usd += n * f.lambda_seconds.get(fn, 0.0) * memory / 1024 * PRICES[f"lambda_gb_s_{arch}"].usd
    lambda_usd += sum(invocations.values()) * PRICES["lambda_request"].usd
    sagemaker = sum(h * _price(SAGEMAKER_INSTANCE_HOUR, instances[role], "SageMaker instance type").usd
                    for role, h in endpoint_hours(f, mode, throughput).items() if role in instances)
    return {
        "Step Functions transitions": f.transitions * PRICES["sfn_transition"].usd,
        "Lambda GB-s and requests": lambda_usd,
        "SageMaker instance-hours while busy": sagemaker,
        "MSK data in and out": MESSAGE_BYTES / 1024**3 * (PRICES["msk_gb_in"].usd + PRICES["msk_gb_out"].usd),
        "S3 requests": S3_PUTS_PER_FILE * PRICES["s3_put"].usd + S3_GETS_PER_FILE * PRICES["s3_get"].usd,
        "S3 storage of the file (1 month)": mb_per_file / 1024 * PRICES["s3_gb_month"].usd,
        "KMS requests": KMS_REQUESTS_PER_FILE * PRICES["kms_request"].usd,
        "CloudWatch Logs ingestion": LOG_KB_PER_FILE / 1024**2 * PRICES["logs_gb_ingested"].usd,
        "Aurora storage (1 month) and I/O": (f.vectors * VECTOR_BYTES_STORED / 1024**3 * PRICES["aurora_gb_month"].usd
                                             + AURORA_IOS_PER_FILE * PRICES["aurora_io"].usd),
    }


def endpoint_hours(f: FileFigures, mode: str, throughput: Mapping[str, float] | None = None) -> dict[str, float]:
    rates = throughput or THROUGHPUT[mode]
    return {role: items / (rates[role] * TARGET_UTILISATION) / 3600 for role, items in f.endpoint_items.items()
            if role in rates}


def per_million(template: Mapping[str, Any], figures: Mapping[str, FileFigures] = MEASURED, mode: str = "design",
                mix: Mapping[str, float] = MIX, choice: Mapping[str, Choice] | None = None) -> dict[str, float]:
    """USD for a million files of `mix` by component, sized from `template`'s functions and endpoints.
    Roles without an endpoint in the template cost nothing (the steps record "model not available").
    With `choice`, each role runs on its chosen instance at its chosen throughput instead."""
    sizing, instances = lambda_sizing(template), endpoint_instance_types(template)
    throughput = None
    if choice:
        instances = {role: ch.instance for role, ch in choice.items() if role in instances}
        throughput = {role: ch.items_per_s for role, ch in choice.items()}
    out: dict[str, float] = {}
    for modality, share in mix.items():
        for k, v in file_cost(figures[modality], mode, sizing, instances, MB_PER_FILE[modality], throughput).items():
            out[k] = out.get(k, 0.0) + 1e6 * share * v
    return out


def figures_from_run(mode: str, run: Mapping[str, Any], naive: Mapping[str, Any]) -> dict[str, FileFigures]:
    """FileFigures per modality from bench/pipeline.py's JSON; Lambda durations from the naive run."""
    out = {}
    dispatcher_per_file = run["dispatcher_invocations"] / run["files"]
    pipeline = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    for modality in MIX:
        m = run["modalities"][modality]
        seconds = {**dict(naive["modalities"][modality]["lambda_mean_s"]),
                   c.FN_FORWARDER: FORWARDER_SECONDS, c.FN_DISPATCHER: DISPATCHER_SECONDS}
        items = dict(m["endpoint_items_per_file"])
        if modality in ("audio", "video") and m.get("media_s"):
            seconds[c.STEP_EXTRACT] = seconds.get(c.STEP_EXTRACT, 0.0) * MEDIA_SECONDS / m["media_s"]
            local_units = max(1.0, m["chunks"] if modality == "video" else math.ceil(m["media_s"] / 30.0))
            window = 30.0 if modality == "audio" else float(pipeline["video_chunk_seconds"])
            scale = math.ceil(MEDIA_SECONDS / window) / local_units
            for role in list(items):
                if role == c.MODEL_GENERATION and modality == "video":  # captions per chunk + one summary
                    items[role] = (items[role] - 1) * scale + 1
                elif role != c.MODEL_GENERATION:
                    items[role] *= scale
        vectors = items.get(c.MODEL_TEXT_EMBEDDING, 0.0) + items.get(c.MODEL_IMAGE_EMBEDDING, 0.0)
        out[modality] = FileFigures(transitions=m["transitions_per_file"], lambda_invocations=m["lambda_invocations_per_file"],
                                    lambda_seconds=seconds, endpoint_items=items,
                                    dispatcher_per_file=dispatcher_per_file, vectors=vectors)
    return out


# -- each role's instance type by cost per item ---------------------------------------------
@dataclass(frozen=True)
class Instance:
    vcpus: int
    gpu: str | None = None


# Candidates, each priced in SAGEMAKER_INSTANCE_HOUR (vCPUs and GPUs: https://aws.amazon.com/sagemaker/pricing/,
# "Instance details"). No instance with an H200 is priced here: its figures only enter as projections.
INSTANCES: dict[str, Instance] = {
    "ml.c6i.large": Instance(2), "ml.c6i.xlarge": Instance(4), "ml.c6i.2xlarge": Instance(8), "ml.m5.xlarge": Instance(4),
    "ml.g4dn.xlarge": Instance(4, "T4"), "ml.g5.xlarge": Instance(4, "A10G"), "ml.g5.2xlarge": Instance(8, "A10G"),
}
# PROJECTION ONLY: each GPU's dense 16-bit tensor throughput over an H200's (NVIDIA data sheets:
# H200 989 TFLOPS bf16, A10 125 TFLOPS (AWS's A10G is a variant of it, likely slower), T4 65
# TFLOPS fp16). A model's speed on a smaller GPU is taken as its H200 speed times this ratio.
GPU_VS_H200 = {"H200": 1.0, "A10G": 125 / 989, "T4": 65 / 989}
GPU_SOURCE = "h200-issue-29"
BASES = ("measured", "projected")
GOAL_PER_MILLION_USD = 300.0  # issue 29: a million mixed files


@dataclass(frozen=True)
class Choice:
    """A role on one instance type: its items/s there, where that figure comes from, USD per million items."""

    role: str
    instance: str
    items_per_s: float
    how: str
    measured: bool

    @property
    def usd_per_million_items(self) -> float:
        price = _price(SAGEMAKER_INSTANCE_HOUR, self.instance, "SageMaker instance type").usd
        return price / (self.items_per_s * TARGET_UTILISATION * 3600) * 1e6


def candidates(doc: Mapping[str, Any], cpu_source: str = DESIGN_SOURCE, gpu_source: str = GPU_SOURCE,
               basis: str = "measured") -> list[Choice]:
    """Every (role, instance) pair with a throughput on `basis`.

    CPU instances: `cpu_source`'s chain figure (measured on its `cpus` cores), scaled linearly to
    the instance's vCPUs (an assumption: one core of the build machine counted as one vCPU).
    GPU instances: measured only when `gpu_source` ran on that GPU (none of the candidates so
    far); with basis "projected", `gpu_source`'s model-alone figure (its chain where it has none)
    times GPU_VS_H200: a projection, and for the model-alone figure an upper bound that assumes
    the optimised chain keeps up with the model.
    """
    sources, figures = doc["sources"], doc["figures"]
    cpu_cores = int(sources[cpu_source].get("cpus") or 2)
    gpu_name = sources.get(gpu_source, {}).get("accelerator")
    out = []
    for instance, spec in INSTANCES.items():
        for role in c.MODEL_ROLES:
            base_role = c.MODEL_GENERATION if role == c.MODEL_OCR else role
            factor = OCR_VS_CAPTION if role == c.MODEL_OCR else 1.0
            if spec.gpu is None:
                f = figures[cpu_source].get(base_role, {})
                if f.get("chain_items_per_s"):
                    rate = f["chain_items_per_s"] * factor * spec.vcpus / cpu_cores
                    out.append(Choice(role, instance, rate, f"{cpu_source} chain x {spec.vcpus}/{cpu_cores} cores",
                                      bool(sources[cpu_source].get("measured"))))
            else:
                f = figures.get(gpu_source, {}).get(base_role, {})
                if spec.gpu == gpu_name and f.get("chain_items_per_s") and sources[gpu_source].get("measured"):
                    out.append(Choice(role, instance, f["chain_items_per_s"] * factor, f"{gpu_source} chain", True))
                elif basis == "projected" and gpu_name in GPU_VS_H200 and (f.get("model_items_per_s") or f.get("chain_items_per_s")):
                    what = "model alone" if f.get("model_items_per_s") else "old chain"
                    ratio = GPU_VS_H200[spec.gpu] / GPU_VS_H200[gpu_name]
                    rate = (f.get("model_items_per_s") or f["chain_items_per_s"]) * factor * ratio
                    out.append(Choice(role, instance, rate, f"PROJECTION: {gpu_source} {what} x {ratio:.3f}", False))
    return out


def choose_instances(doc: Mapping[str, Any], basis: str = "measured", cpu_source: str = DESIGN_SOURCE,
                     gpu_source: str = GPU_SOURCE) -> dict[str, Choice]:
    """{role: the candidate with the lowest USD per item on `basis`} (roles with no candidate left out)."""
    best: dict[str, Choice] = {}
    for choice in candidates(doc, cpu_source, gpu_source, basis):
        if choice.role not in best or choice.usd_per_million_items < best[choice.role].usd_per_million_items:
            best[choice.role] = choice
    return best


# -- settings: one synthesized template each -----------------------------------------------
def pipeline_context(**overrides: Any) -> dict:
    """cdk.json's context with `overrides` merged into `pipeline` (dicts merged key by key)."""
    def merge(base: dict, extra: Mapping[str, Any]) -> dict:
        out = dict(base)
        for k, v in extra.items():
            out[k] = merge(out.get(k, {}), v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
        return out

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["pipeline"] = merge(context["pipeline"], overrides)
    return context


def synthesize(context: Mapping[str, Any]) -> dict:
    """The stack's template as `cdk synth` would write it for `context` (in-process, no account)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
    import aws_cdk as cdk

    from app import build_app

    with tempfile.TemporaryDirectory(prefix="cost-cdk.out-") as outdir:
        app, stack = build_app(cdk.App(context=dict(context), outdir=outdir))
        app.synth()
        return json.loads((Path(outdir) / f"{stack.stack_name}.template.json").read_text())


@dataclass
class Setting:
    title: str
    overrides: Callable[[Mapping[str, Any]], dict]  # cdk.json pipeline -> overrides


def _warm_models(p: Mapping[str, Any]) -> dict:
    return {"models": {role: {"min_instances": 1} for role in p["models"]}}


def _mwaa_off(p: Mapping[str, Any]) -> dict:
    return {"backfill": {"mwaa": False}}


SETTINGS: dict[str, Setting] = {
    "current": Setting("as cdk.json is now", lambda p: {}),
    # What the stack cost before issue 18: one instance per model endpoint around the clock.
    "warm-endpoints": Setting("every model endpoint kept at one instance (models.<role>.min_instances 1)",
                              _warm_models),
    "mwaa-off": Setting("backfill.mwaa: false (Airflow off, reconciliation on EventBridge Scheduler)", _mwaa_off),
    # A team's dev / test stack: no Airflow, no reader instance (the writer serves the searches).
    "dev-idle": Setting("Airflow off and no database reader (backfill.mwaa false, database.readers 0)",
                        lambda p: {**_mwaa_off(p), "database": {"readers": 0}}),
}


@dataclass
class Result:
    name: str
    title: str
    lines: list[Line]
    per_million: dict[str, float]
    unpriced: dict[str, int] = field(default_factory=dict)
    # basis ("measured" / "projected") -> per-million lines with each role on its cheapest instance
    chosen: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def at_rest_total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def per_million_total(self) -> float:
        return sum(self.per_million.values())

    @property
    def meets_goal(self) -> bool:
        return self.at_rest_total <= GOAL_AT_REST_USD


def evaluate(names: Iterable[str], template_path: Path | None = None,
             figures: Mapping[str, FileFigures] = MEASURED, mode: str = "design",
             choices: Mapping[str, Mapping[str, Choice]] | None = None) -> list[Result]:
    """Synthesize each named setting's template and price it (`template_path`: the current
    setting's template from an earlier `cdk synth`, instead of synthesizing it); `choices`
    ({basis: {role: Choice}}) adds the per-million cost with each role on its chosen instance."""
    base_context = pipeline_context()["pipeline"]
    results = []
    for name in names:
        setting = SETTINGS[name]
        overrides = setting.overrides(base_context)
        if not overrides and template_path:
            template = json.loads(template_path.read_text())
        else:
            template = synthesize(pipeline_context(**overrides))
        chosen = {basis: per_million(template, figures, mode, choice=choice) for basis, choice in (choices or {}).items()}
        results.append(Result(name, setting.title, at_rest(template, base_context),
                              per_million(template, figures, mode), unpriced_at_rest(template), chosen))
    return results


# -- output --------------------------------------------------------------------------------
def _usd(x: float) -> str:
    return f"${x:,.2f}" if x < 100 else f"${x:,.0f}"


def markdown(results: list[Result]) -> str:
    out = []
    for r in results:
        out.append(f"### {r.name}: {r.title}\n")
        out.append("| item | quantity | unit price | monthly |\n|---|---:|---:|---:|")
        for line in r.lines:
            q = f"{line.quantity:,.1f}".removesuffix(".0")
            note = f" ({line.note})" if line.note else ""
            out.append(f"| {line.item}{note} | {q} {line.unit}s | ${line.unit_price:,.4g} | {_usd(line.monthly)} |")
        out.append(f"| **at rest, a month with no files** | | | **{_usd(r.at_rest_total)}** |\n")
        out.append("| per million files (marginal) | USD |\n|---|---:|")
        out.extend(f"| {k} | {_usd(v)} |" for k, v in r.per_million.items())
        out.append(f"| **total** | **{_usd(r.per_million_total)}** |\n")
    out.append(f"### summary (goal: at rest <= {_usd(GOAL_AT_REST_USD)} a month with endpoints at zero and MWAA off)\n")
    out.append("| setting | at rest / month | per million files | at rest <= $1,000 |\n|---|---:|---:|---|")
    for r in results:
        out.append(f"| {r.name}: {r.title} | {_usd(r.at_rest_total)} "
                   f"| {_usd(r.per_million_total)} | {'yes' if r.meets_goal else 'no'} |")
    out.append(f"\nPrices: us-east-1 on-demand, as of {PRICES_AS_OF}, free tiers ignored (bench/cost.py `PRICES`). "
               f"Mix {', '.join(f'{int(v * 100)} % {k}' for k, v in MIX.items())}; audio and video of "
               f"{MEDIA_SECONDS:.0f} s. No hourly price (per use only or free): "
               + ", ".join(f"{n} {t.split('::', 1)[1]}" for t, n in (results[0].unpriced if results else {}).items()) + ".")
    return "\n".join(out)


def instances_markdown(doc: Mapping[str, Any], choices: Mapping[str, Mapping[str, Choice]], results: list[Result],
                       figures_path: Path = MODEL_FIGURES) -> str:
    """Each role's candidates and chosen instance per basis, and the per-million totals they give."""
    out = [f"### model instances by cost per item (figures: {figures_path.name}; utilisation {TARGET_UTILISATION:.0%})\n"]
    for basis, choice in choices.items():
        out.append(f"| role ({basis}) | instance | items/s | from | USD per million items |\n|---|---|---:|---|---:|")
        for role in c.MODEL_ROLES:
            if role in choice:
                ch = choice[role]
                out.append(f"| {role} | {ch.instance} | {ch.items_per_s:,.2f} | {ch.how} | {_usd(ch.usd_per_million_items)} |")
        out.append("")
    out.append("| setting | per million files, template's instances | " + " | ".join(
        f"each role on its cheapest instance ({b})" for b in choices) + " |\n|---|---:|" + "---:|" * len(choices))
    for r in results:
        out.append(f"| {r.name} | {_usd(r.per_million_total)} | "
                   + " | ".join(_usd(sum(r.chosen[b].values())) for b in choices) + " |")
    measured = [sum(r.chosen["measured"].values()) for r in results if "measured" in r.chosen]
    verdict = ("met" if measured and min(measured) <= GOAL_PER_MILLION_USD else "not met") if measured else "not computed"
    out.append(f"\nTarget {_usd(GOAL_PER_MILLION_USD)} per million mixed files: **{verdict}** on measured figures. "
               "Projected figures scale an H200's figures (issue 29, not re-measured) by GPU_VS_H200 and are no "
               "measurement: they say what a GPU measurement would have to confirm. Sources: "
               + "; ".join(f"{name}: {src.get('device')}, {src.get('date')}, "
                           f"{'measured' if src.get('measured') else 'quoted, not re-measured'}"
                           for name, src in doc["sources"].items()) + ".")
    return "\n".join(out)


def as_json(results: list[Result]) -> dict:
    return {
        "prices_as_of": PRICES_AS_OF,
        "goal_at_rest_usd": GOAL_AT_REST_USD,
        "prices": {k: asdict(v) for k, v in {**PRICES, **{f"sagemaker {t}": p for t, p in SAGEMAKER_INSTANCE_HOUR.items()},
                                             **{f"mwaa {t}": p for t, p in MWAA_ENVIRONMENT_HOUR.items()}}.items()},
        "settings": {r.name: {
            "title": r.title,
            "at_rest": {"lines": [{**asdict(line), "monthly": line.monthly} for line in r.lines], "total": r.at_rest_total},
            "per_million_files": {"lines": r.per_million, "total": r.per_million_total},
            "meets_goal": r.meets_goal, "unpriced_resource_types": r.unpriced,
            "per_million_files_on_chosen_instances": {b: {"lines": lines, "total": sum(lines.values())}
                                                      for b, lines in r.chosen.items()},
        } for r in results},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="current,warm-endpoints,mwaa-off,dev-idle",
                        help=f"comma-separated, of {', '.join(SETTINGS)}")
    parser.add_argument("--template", type=Path, help="price this synthesized template as 'current' instead of synthesizing it")
    parser.add_argument("--figures", type=Path, help="bench/pipeline.py JSON to take per-file counts from (default: bench/README.md's)")
    parser.add_argument("--mode", default="design", choices=("design", "naive"))
    parser.add_argument("--model-figures", type=Path, default=MODEL_FIGURES,
                        help="bench/models.py figures JSON: throughputs for choosing each role's instance")
    parser.add_argument("--cpu-source", default=DESIGN_SOURCE, help="source in --model-figures for CPU instances")
    parser.add_argument("--gpu-source", default=GPU_SOURCE, help="source in --model-figures for GPU instances")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args()
    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {list(SETTINGS)}")
    figures = MEASURED
    if args.figures:
        runs = json.loads(args.figures.read_text())
        figures = figures_from_run(args.mode, runs[args.mode], runs["naive"])
    elif args.mode != "design":
        parser.error("--mode naive needs --figures")
    doc = load_model_figures(args.model_figures)
    for source in (args.cpu_source, args.gpu_source):
        if source not in doc.get("sources", {}):
            parser.error(f"no source {source!r} in {args.model_figures}; it has {sorted(doc.get('sources', {}))}")
    choices = {basis: choose_instances(doc, basis, args.cpu_source, args.gpu_source) for basis in BASES}
    results = evaluate(names, args.template, figures, args.mode, choices)
    if args.json:
        print(json.dumps({**as_json(results), "model_instances": {
            b: {role: {**asdict(ch), "usd_per_million_items": ch.usd_per_million_items} for role, ch in choice.items()}
            for b, choice in choices.items()}, "model_figures_sources": doc["sources"]}, indent=2))
    else:
        print(markdown(results) + "\n\n" + instances_markdown(doc, choices, results, args.model_figures))


if __name__ == "__main__":
    main()
