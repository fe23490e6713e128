"""Model answers kept in the object's staging area, below the segment.

A segment of an hour of media is dozens of model requests. When one of them fails for good (the
endpoint timed out under load, the Lambda ran out of time), Step Functions retries the segment;
with these checkpoints the retry asks only what is still missing. Keys are
`model-calls/<role>/<digest>.json` (functions.common.model_client.request_digest: the endpoint, the
parameters and the inputs by their staging keys), so they are as deterministic as the staging keys
themselves and go away with the object's staging prefix (its lifecycle rule).
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from functions.common.aws_errors import is_not_found
from functions.common.model_client import ModelResult
from functions.common.staging import Staging

PREFIX = "model-calls"


class StagedCheckpoints:
    """`functions.common.model_client.Checkpoints` over one object's staging area."""

    def __init__(self, staging: Staging) -> None:
        self._staging = staging
        self.loaded = 0  # answers served from a checkpoint (the step's manifest reports them)

    @staticmethod
    def name(role: str, digest: str) -> str:
        return f"{PREFIX}/{role}/{digest}.json"

    def load(self, role: str, digest: str) -> ModelResult | None:
        try:
            doc = self._staging.get_json(self.name(role, digest))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
            return None  # not ours (or cut short): ask the model again
        self.loaded += 1
        return ModelResult(outputs=doc["outputs"], model=dict(doc.get("model") or {}))

    def save(self, role: str, digest: str, result: ModelResult) -> None:
        self._staging.put_json(self.name(role, digest), {"outputs": result.outputs, "model": result.model})
