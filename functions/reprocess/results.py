"""A backfill run's counts, summed from what its Distributed Map wrote to S3 (ResultWriter).

The Map's output is only a pointer, `{"ResultWriterDetails": {"Bucket", "Key"}}`, to a
manifest listing the result files per status; with WriterConfig OutputType JSONL and
Transformation COMPACT each SUCCEEDED line is one batch's Tally, and each FAILED line is one
batch that failed after its retries (within ToleratedFailurePercentage), with its input.
https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
Files are read line by line, so memory stays bounded however many batches ran.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from functions.reprocess.tally import KEEP, Tally


def summarize(s3: Any, execution_output: dict[str, Any]) -> dict[str, Any]:
    """Sum the batches' tallies of one backfill execution.

    `s3` is a boto3 S3 client; `execution_output` is the execution's output. Returns the
    Tally as a dict plus `batches_succeeded`, `batches_failed`, `failed_batch_errors` (first few)
    and `results` (the manifest's s3:// URI). Objects of failed batches count as `failed`.
    """
    details = (execution_output or {}).get("ResultWriterDetails") or {}
    bucket, key = details.get("Bucket"), details.get("Key")
    if not bucket or not key:
        raise ValueError(f"no ResultWriterDetails in the execution output: {execution_output!r}")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    files = manifest.get("ResultFiles", {})
    tally = Tally()
    succeeded = failed = 0
    failed_errors: list[str] = []
    for entry in files.get("SUCCEEDED", []):
        for line in _lines(s3, bucket, entry["Key"]):
            output = line.get("Output", line)
            tally.merge(json.loads(output) if isinstance(output, str) else output, keep=KEEP)
            succeeded += 1
    for entry in files.get("FAILED", []):
        for line in _lines(s3, bucket, entry["Key"]):
            failed += 1
            batch = json.loads(line.get("Input") or "{}")
            tally.failed += len(batch.get("Items", []))
            if len(failed_errors) < KEEP:
                failed_errors.append(f"{line.get('Error', '')}: {str(line.get('Cause', ''))[:300]}")
    out = tally.as_dict()
    out.update({"batches_succeeded": succeeded, "batches_failed": failed, "failed_batch_errors": failed_errors,
                "results": f"s3://{bucket}/{key}"})
    return out


def _lines(s3: Any, bucket: str, key: str) -> Iterator[dict[str, Any]]:
    """The records of one result file: JSON Lines, or (OutputType JSON) one JSON array."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    first = None
    for raw in body.iter_lines():
        text = raw.decode("utf-8").strip()
        if not text:
            continue
        if first is None and text.startswith("["):
            rest = body.read().decode("utf-8")
            yield from json.loads(text + rest)
            return
        first = text
        yield json.loads(text)
