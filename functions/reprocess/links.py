"""Links to the Step Functions console, for the task log and the run's report."""
from __future__ import annotations


def console_link(execution_arn: str) -> str:
    """The Step Functions console page of one execution."""
    region = execution_arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
