"""The one source of the physical names that other resources, alarms, dashboards, scaling
targets and the functions' environment refer to.

SageMaker writes endpoint and inference-component ARNs in lower case, while CloudWatch keeps a
dimension value's case and matches it case-sensitively, and Application Auto Scaling's
`inference-component/<name>` resource id is the name as created. A name cut out of an ARN is
therefore the wrong name for a mixed-case resource: metrics on it never match, and the alarm that
wakes a component scaled to zero never fires
(prometheus-community/yet-another-cloudwatch-exporter#1793 lower-cases for the same reason).
So every model resource gets an explicit name here, in lower case from the start, and every
consumer uses that name: the ARN, the metric dimension and the scaling resource id then agree.
"""
from __future__ import annotations

import re

from aws_cdk import Stack
from constructs import Construct

# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateInferenceComponent.html
# (InferenceComponentName, EndpointName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})
SAGEMAKER_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9]){0,62}$")
COMPONENT_SUFFIX = "-ic"


def _sagemaker_name(text: str) -> str:
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")
    if not SAGEMAKER_NAME.match(name):
        raise ValueError(f"{name!r} is no valid SageMaker name (63 characters of [a-z0-9-]): shorten the stack name")
    return name


def model_endpoint_name(scope: Construct, role: str) -> str:
    """The endpoint of model `role`: `<stack name>-<role>`, lower case (e.g. multimodalpipeline-dev-text-embedding)."""
    return _sagemaker_name(f"{Stack.of(scope).stack_name}-{role}")


def inference_component_name(scope: Construct, role: str) -> str:
    """The inference component of model `role` on its endpoint: the endpoint's name + '-ic'.
    What InvokeEndpoint names, what AWS/SageMaker metrics carry as InferenceComponentName, and
    what the scalable target's resource id ends in."""
    return _sagemaker_name(f"{model_endpoint_name(scope, role)}{COMPONENT_SUFFIX}")
