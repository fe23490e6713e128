"""Checkpoints below the segment: each model request's answer is kept in staging as it arrives,
so a step retried after a request failed for good asks the model only what is still missing."""
from __future__ import annotations

import json

import pytest
from media_files import ffmpeg

from functions.common.constants import ENV_MODEL_BATCH_ITEMS, MODEL_SPEECH
from functions.common.errors import ModelUnavailableError
from functions.common.staging import object_prefix


@pytest.fixture
def speech_requests(model_profile):
    """Arms the SageMaker Runtime stand-in: `fail` lists request bodies answered with the 60 s
    invocation timeout; every speech request is recorded in `seen` (bodies, in order)."""

    class Gate:
        seen: list[bytes] = []
        fail_nth: int | None = None  # the n-th distinct request (1-based) times out for good

        def __call__(self, endpoint: str, body: bytes):
            if endpoint != model_profile.endpoints[MODEL_SPEECH]:
                return None
            self.seen.append(body)
            distinct = list(dict.fromkeys(self.seen))
            if self.fail_nth is not None and len(distinct) >= self.fail_nth and body == distinct[self.fail_nth - 1]:
                return "timeout"
            return None

    gate = Gate()
    gate.seen = []
    model_profile.runtime.interceptor = gate
    yield gate
    model_profile.runtime.interceptor = None


def test_a_retry_asks_the_speech_model_only_the_windows_the_failed_attempt_had_not_heard(
        pipeline, monkeypatch, media_dir, wav, speech_requests, s3, staging_bucket):
    long = media_dir / "seventy-seconds.wav"  # three 30-second windows: speech in the first
    ffmpeg("-i", str(wav), "-af", "apad=whole_dur=70", "-ar", "16000", "-ac", "1", str(long))
    monkeypatch.setenv(ENV_MODEL_BATCH_ITEMS, json.dumps({MODEL_SPEECH: 1}))  # one window per request
    pipeline.new_containers()
    obj = pipeline.put("talks/checkpointed.wav", long.read_bytes(), "audio", "audio/wav")
    item = pipeline.item(obj)

    speech_requests.fail_nth = 2  # the second window's request times out on every attempt
    with pytest.raises(ModelUnavailableError):
        pipeline.invoke("extract", item)
    first_attempt = list(dict.fromkeys(speech_requests.seen))
    assert len(first_attempt) == 2  # window 1 answered, window 2 never; window 3 not reached

    speech_requests.fail_nth = None  # the endpoint recovered: Step Functions' Retry runs extract again
    speech_requests.seen.clear()
    pipeline.invoke("extract", item)

    retried = list(dict.fromkeys(speech_requests.seen))
    assert len(retried) == 2 and retried[0] == first_attempt[1]  # windows 2 and 3; window 1 from its checkpoint
    kept = s3.list_objects_v2(Bucket=staging_bucket, Prefix=f"{object_prefix(pipeline.version, obj)}/model-calls/{MODEL_SPEECH}/")
    assert kept["KeyCount"] == 3
    speech_requests.seen.clear()
    result = pipeline.run(obj)  # the whole object once more (a rerun after a crash): nothing asked twice
    assert result["status"] == "succeeded", result
    assert speech_requests.seen == []
    rows = pipeline.rows(obj)
    assert rows["chunks"] and rows["chunks"][0]["text"]  # the speech of window 1, from its checkpoint
    assert rows["chunks"][-1]["time_end"] == pytest.approx(70.0, abs=0.1)
