"""Summing a backfill run from what its Distributed Map's ResultWriter wrote (moto S3)."""
from __future__ import annotations

import json

STAGING_BUCKET = "test-staging-bucket"  # made by the `s3` fixture (tests/conftest.py)
PREFIX = "backfill-results/run-1"


def _write(s3, manifest_files: dict, files: dict[str, str]) -> dict:
    for key, body in files.items():
        s3.put_object(Bucket=STAGING_BUCKET, Key=key, Body=body.encode())
    manifest = {"DestinationBucket": STAGING_BUCKET, "MapRunArn": "arn:aws:states:us-east-1:1:mapRun:x/y:z",
                "ResultFiles": manifest_files}
    s3.put_object(Bucket=STAGING_BUCKET, Key=f"{PREFIX}/manifest.json", Body=json.dumps(manifest).encode())
    return {"MapRunArn": manifest["MapRunArn"],
            "ResultWriterDetails": {"Bucket": STAGING_BUCKET, "Key": f"{PREFIX}/manifest.json"}}


def test_batch_tallies_add_up_and_failed_batches_count_their_objects(s3):
    from functions.reprocess.results import summarize

    a = {"listed": 1000, "selected": 900, "stale": 10, "sent": 10, "stale_by_modality": {"image": 10},
         "execution_arns": ["arn:1"]}
    b = {"listed": 500, "selected": 400, "stale": 5, "sent": 3, "already_sent": 2,
         "stale_by_modality": {"image": 1, "text": 4}, "execution_arns": ["arn:2"]}
    failed = {"Error": "DatabaseUnavailableError", "Cause": "proxy down",
              "Input": json.dumps({"Items": [{"Key": "k1"}, {"Key": "k2"}], "BatchInput": {}})}
    output = _write(s3, {
        "SUCCEEDED": [{"Key": f"{PREFIX}/SUCCEEDED_0.json", "Size": 1}],
        "FAILED": [{"Key": f"{PREFIX}/FAILED_0.json", "Size": 1}],
        "PENDING": [],
    }, {
        f"{PREFIX}/SUCCEEDED_0.json": json.dumps(a) + "\n" + json.dumps(b) + "\n",
        f"{PREFIX}/FAILED_0.json": json.dumps(failed) + "\n",
    })

    result = summarize(s3, output)

    assert (result["listed"], result["selected"], result["stale"], result["sent"], result["already_sent"]) == (
        1500, 1300, 15, 13, 2)
    assert result["stale_by_modality"] == {"image": 11, "text": 4}
    assert result["execution_arns"] == ["arn:1", "arn:2"]
    assert (result["batches_succeeded"], result["batches_failed"], result["failed"]) == (2, 1, 2)
    assert "DatabaseUnavailableError" in result["failed_batch_errors"][0]


def test_held_back_failures_add_up_by_error_name_across_batches(s3):
    from functions.reprocess.results import summarize

    a = {"held_back": 2, "held_back_by_error": {"InvalidObjectError": 2}}
    b = {"held_back": 3, "held_back_by_error": {"InvalidObjectError": 1, "ModelInputError": 2}}
    output = _write(s3, {"SUCCEEDED": [{"Key": f"{PREFIX}/SUCCEEDED_0.json", "Size": 1}], "FAILED": [], "PENDING": []},
                    {f"{PREFIX}/SUCCEEDED_0.json": json.dumps(a) + "\n" + json.dumps(b) + "\n"})

    result = summarize(s3, output)

    assert result["held_back"] == 5
    assert result["held_back_by_error"] == {"InvalidObjectError": 3, "ModelInputError": 2}


def test_output_without_result_writer_details_is_an_error(s3):
    import pytest

    from functions.reprocess.results import summarize

    with pytest.raises(ValueError, match="ResultWriterDetails"):
        summarize(s3, {"MapRunArn": "x"})
