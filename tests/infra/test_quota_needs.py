"""scripts/check_quotas.py counts what the synthesized endpoint configs ask for: the instances
each endpoint is created with and the most its managed scaling may reach, per instance type."""
from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_quotas", ROOT / "scripts" / "check_quotas.py")
check_quotas = sys.modules.setdefault("check_quotas", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(check_quotas)


def test_quota_check_counts_what_the_endpoint_configs_deploy(template_json, stack):
    at_deploy, at_max = Counter(), Counter()
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::SageMaker::EndpointConfig":
            for variant in resource["Properties"]["ProductionVariants"]:
                at_deploy[variant["InstanceType"]] += variant["InitialInstanceCount"]
                at_max[variant["InstanceType"]] += variant["ManagedInstanceScaling"]["MaxInstanceCount"]
    needs = check_quotas.instance_needs(stack.config)
    assert {t: n.at_deploy for t, n in needs.items()} == dict(at_deploy)
    assert {t: n.at_max for t, n in needs.items()} == dict(at_max)
